// The one DOM helper the app uses: h('tag', {attributes}, ...children).
// Attributes named on* become listeners; `class`, `for`, `list`, data-*,
// aria-* and a few more are set as attributes; other keys are set as properties (value, checked,
// disabled...). Children may be strings, nodes, arrays, null or false.

const AS_ATTRIBUTE = new Set(['class', 'for', 'role', 'style', 'list', 'tabindex', 'pattern']);

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (AS_ATTRIBUTE.has(key) || key.startsWith('data-') || key.startsWith('aria-')) {
      element.setAttribute(key, value === true ? '' : String(value));
    } else {
      element[key] = value;
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

// A counter for ids that tie labels to controls.
let nextId = 0;
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

// Replaces `root`'s children with `children`, except that the element
// that has the focus (if inside `root`, and if the new children hold an
// element of the same id and tag) stays where it is: its ancestors' other
// children are swapped around it. Moving a focused element would blur it,
// and a select would lose its type-ahead and the keyboard user's place.
export function replaceChildrenKeepingFocus(root, children) {
  const keep = document.activeElement;
  const fresh = h('div', {}, children);
  const counterpart = keep && keep.id && root.contains(keep) ? fresh.querySelector(`#${CSS.escape(keep.id)}`) : null;
  if (!counterpart || counterpart.tagName !== keep.tagName || counterpart.type !== keep.type) {
    root.replaceChildren(...fresh.childNodes);
    return false;
  }
  const chain = (node, top) => {
    const out = [];
    for (let n = node; n && n !== top; n = n.parentNode) out.unshift(n);
    return out;
  };
  const oldChain = chain(keep, root);
  const newChain = chain(counterpart, fresh);
  if (oldChain.length !== newChain.length || oldChain.some((n, i) => n.tagName !== newChain[i].tagName)) {
    root.replaceChildren(...fresh.childNodes);
    return false;
  }
  let oldParent = root;
  let newParent = fresh;
  oldChain.forEach((oldChild, level) => {
    const newChild = newChain[level];
    const siblings = [...newParent.childNodes];
    const index = siblings.indexOf(newChild);
    for (const child of [...oldParent.childNodes]) if (child !== oldChild) child.remove();
    oldChild.before(...siblings.slice(0, index));
    oldChild.after(...siblings.slice(index + 1));
    for (const { name } of [...oldChild.attributes]) if (!newChild.hasAttribute(name)) oldChild.removeAttribute(name);
    for (const { name, value } of [...newChild.attributes]) oldChild.setAttribute(name, value);
    if ('disabled' in newChild) oldChild.disabled = newChild.disabled;
    oldParent = oldChild;
    newParent = newChild;
  });
  return true;
}
