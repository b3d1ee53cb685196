// The dashboards list (/dashboards): every saved dashboard with its panel
// count and last change, a form to create one, and delete (after a
// confirmation). Dashboards are kept by the aggregators' leaves, so every
// aggregator lists the same ones.

import { deleteDashboard, listDashboards, putDashboard } from './api.js';
import { h } from './dom.js';
import { NAME_PATTERN, newSpec } from './dashboard_spec.js';

export class DashboardList {
  constructor(root) {
    this.root = root;
    this.list = h('div', { class: 'dashboard-list', 'aria-live': 'polite' }, 'Loading…');
    this.status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
    const name = h('input', { id: 'new-dashboard-name', required: true, placeholder: 'service-health', autocomplete: 'off' });
    const title = h('input', { id: 'new-dashboard-title', placeholder: 'Service health' });
    const create = async (event) => {
      event.preventDefault();
      const value = name.value.trim();
      if (!NAME_PATTERN.test(value)) {
        this.status.textContent = 'A name is 1 to 64 letters, digits, "_", "-" or ".".';
        name.focus();
        return;
      }
      try {
        await putDashboard(value, newSpec(value, title.value.trim()));
        location.href = `/dashboards/${encodeURIComponent(value)}?edit=1`;
      } catch (error) {
        this.status.textContent = `Not created: ${error.message}`;
      }
    };
    root.replaceChildren(h('div', { class: 'page' },
      h('h1', {}, 'Dashboards'),
      this.list,
      h('form', { class: 'create-dashboard', 'aria-label': 'New dashboard', onsubmit: create },
        h('h2', {}, 'New dashboard'),
        h('div', { class: 'row' },
          h('div', { class: 'field' }, h('label', { for: 'new-dashboard-name' }, 'Name (in its URL)'), name),
          h('div', { class: 'field grow' }, h('label', { for: 'new-dashboard-title' }, 'Title'), title),
          h('button', { type: 'submit' }, 'Create')),
        h('p', { class: 'hint' }, 'Or build a view in the ', h('a', { href: '/explore' }, 'explorer'), ' and use "Add to dashboard…".'),
        this.status)));
  }

  async start() {
    let body;
    try {
      body = await listDashboards();
    } catch (error) {
      this.list.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Dashboards could not be listed: ${error.message}`));
      return;
    }
    const dashboards = body.dashboards || [];
    if (!dashboards.length) {
      this.list.replaceChildren(h('p', { class: 'muted' }, 'No dashboards yet.'));
      return;
    }
    this.list.replaceChildren(h('table', { class: 'result' },
      h('thead', {}, h('tr', {}, ['Name', 'Title', 'Panels', 'Changed', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, dashboards.map((d) => h('tr', {},
        h('td', {}, h('a', { href: `/dashboards/${encodeURIComponent(d.name)}` }, d.name)),
        h('td', {}, d.title || ''),
        h('td', { class: 'number' }, String(d.panels ?? '')),
        h('td', {}, d.updated_ms ? new Date(d.updated_ms).toLocaleString() : ''),
        h('td', {}, h('button', { type: 'button', class: 'secondary danger', 'aria-label': `delete dashboard ${d.name}`, onclick: () => this.remove(d.name) }, 'Delete')))))));
  }

  async remove(name) {
    if (!window.confirm(`Delete the dashboard "${name}"?`)) return;
    try {
      await deleteDashboard(name);
      this.status.textContent = `Deleted ${name}.`;
    } catch (error) {
      this.status.textContent = `Not deleted: ${error.message}`;
    }
    this.start();
  }

  redraw() {}

  destroy() {}
}
