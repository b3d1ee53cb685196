// "Add to dashboard…": appends the explorer's current view (without its
// range: the dashboard's applies) as a panel to a saved dashboard, or to a
// new one, through GET and PUT /api/v1/dashboards/{name}.

import { getDashboard, listDashboards, putDashboard } from './api.js';
import { h } from './dom.js';
import { stateQuery } from './url_state.js';
import { describeState } from './describe.js';
import { NAME_PATTERN, newSpec } from './dashboard_spec.js';

export function addToDashboardForm(getState, onClose) {
  const state = getState();
  const status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
  const names = h('datalist', { id: 'add-dashboard-names' });
  const nameInput = h('input', { id: 'add-dashboard-name', list: 'add-dashboard-names', required: true, placeholder: 'e.g. service-health', autocomplete: 'off' });
  const titleInput = h('input', { id: 'add-dashboard-title', value: describeState(state) });
  listDashboards().then((body) => {
    names.replaceChildren(...(body.dashboards || []).map((d) => h('option', { value: d.name }, d.title || d.name)));
  }).catch(() => {});
  const submit = async (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!NAME_PATTERN.test(name)) {
      status.textContent = 'A name is 1 to 64 letters, digits, "_", "-" or ".".';
      nameInput.focus();
      return;
    }
    status.textContent = 'Saving…';
    try {
      let spec;
      try {
        spec = (await getDashboard(name)).spec;
      } catch (error) {
        if (error.status !== 404) throw error;
        spec = newSpec(name);
      }
      spec.panels = [...(spec.panels || []), { title: titleInput.value.trim() || describeState(getState()), explore: stateQuery(getState(), { withRange: false }) }];
      await putDashboard(name, spec);
      status.replaceChildren(`Added as panel ${spec.panels.length} of `, h('a', { href: `/dashboards/${encodeURIComponent(name)}` }, name), '.');
    } catch (error) {
      status.textContent = `Not saved: ${error.message}`;
    }
  };
  return h('form', { class: 'add-to-dashboard', 'aria-label': 'Add to dashboard', onsubmit: submit,
    onkeydown: (e) => { if (e.key === 'Escape') onClose(); } },
  h('div', { class: 'row' },
    h('div', { class: 'field' }, h('label', { for: 'add-dashboard-name' }, 'Dashboard (new or existing)'), nameInput, names),
    h('div', { class: 'field grow' }, h('label', { for: 'add-dashboard-title' }, 'Panel title'), titleInput)),
  h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Add panel'), h('button', { type: 'button', class: 'secondary', onclick: onClose }, 'Close')),
  status);
}
