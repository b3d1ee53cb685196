// The app's entry: the top bar (navigation and the token field) and the
// page for the path: /explore or / -> explorer, /dashboards -> the list,
// /dashboards/NAME -> that dashboard. Charts are drawn again when the
// system switches between light and dark.

import { setToken, token } from './api.js';
import { h } from './dom.js';
import { Explorer } from './explorer.js';
import { DashboardList } from './dashboards.js';
import { Dashboard } from './dashboard.js';

function topBar(current) {
  const link = (href, label, page) => h('a', { href, class: 'nav-link', 'aria-current': current === page ? 'page' : null }, label);
  const field = h('input', { id: 'token', type: 'password', size: 24, value: token(), placeholder: 'if the server asks', autocomplete: 'off',
    onchange: (e) => { setToken(e.target.value); location.reload(); } });
  return h('header', { class: 'top-bar' },
    h('a', { href: '/explore', class: 'brand' }, 'Shoal'),
    h('nav', { 'aria-label': 'Pages' }, link('/explore', 'Explore', 'explore'), link('/dashboards', 'Dashboards', 'dashboards')),
    h('div', { class: 'token' }, h('label', { for: 'token' }, 'Token'), field));
}

// A path segment as text; a malformed escape ("%E0%A4%A") stays as typed
// (the server then refuses the name, and the page says so) instead of stopping
// the app before it draws anything.
function segment(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function page(root) {
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const dashboard = /^\/dashboards\/([^/]+)$/.exec(path);
  if (dashboard) return { name: 'dashboards', view: new Dashboard(root, segment(dashboard[1])) };
  if (path === '/dashboards') return { name: 'dashboards', view: new DashboardList(root) };
  return { name: 'explore', view: new Explorer(root) };
}

const main = h('main', { id: 'app' });
const { name, view } = page(main);
document.body.replaceChildren(h('a', { href: '#app', class: 'skip-link' }, 'Skip to content'), topBar(name), main);
view.start();
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => view.redraw());
window.shoal = { view };
