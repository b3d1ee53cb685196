// One dashboard (/dashboards/NAME): its panels in a grid, each an explorer
// view run over the dashboard's time range; a refresh interval (live mode
// re-runs every panel over the moving range); an edit mode to add a panel
// from an explorer URL, retitle, reorder and remove panels, and save.
//
// `?range=` and `?refresh=` in the page's URL override the saved ones for
// this visit (a drag-zoom on a panel sets `range`); Save keeps them.
// The page's root element carries `data-shoal-dashboard`, `data-state`
// (`loading` until every panel has its final answer, then `done`) and
// `data-drawn-ms` (from the start of the run to the last panel drawn).

import { getDashboard, putDashboard } from './api.js';
import { catalog } from './catalog.js';
import { h } from './dom.js';
import { MAX_PANELS, rangeSpec, rangeText } from './dashboard_spec.js';
import { Panel } from './panel.js';
import { rangePicker } from './range_picker.js';
import { REFRESH_INTERVALS, absoluteRange, describeRange, parseDuration, parseRange } from './time_range.js';
import { describeState } from './describe.js';
import { parseState, stateQuery } from './url_state.js';

// An explorer URL or query string, as a panel's `explore` (range dropped).
function exploreQuery(text) {
  const query = text.trim().replace(/^[^?]*\?/, '');
  const state = parseState(query);
  return { state, explore: stateQuery(state, { withRange: false }) };
}

export class Dashboard {
  constructor(root, name) {
    this.root = root;
    this.name = name;
    const params = new URLSearchParams(location.search);
    this.editing = params.get('edit') === '1';
    this.rangeOverride = params.get('range');
    this.refreshOverride = params.get('refresh');
    this.panels = [];
    this.header = h('div', { class: 'dashboard-header' });
    this.grid = h('div', { class: 'panel-grid' });
    this.editor = h('div', { class: 'dashboard-editor' });
    this.status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
    this.element = h('div', { class: 'page dashboard', 'data-shoal-dashboard': name, 'data-state': 'loading' },
      this.header, this.status, this.grid, this.editor);
    root.replaceChildren(this.element);
  }

  async start() {
    try {
      const [stored, tables] = await Promise.all([getDashboard(this.name), catalog()]);
      this.spec = stored.spec || {};
      this.catalog = tables;
    } catch (error) {
      this.header.replaceChildren(h('h1', {}, this.name));
      this.status.replaceChildren(h('span', { class: 'error', role: 'alert' }, error.status === 404
        ? `There is no dashboard named ${this.name}. `
        : `The dashboard could not be read: ${error.message} `), h('a', { href: '/dashboards' }, 'All dashboards'));
      this.element.setAttribute('data-state', 'error');
      return;
    }
    this.spec.panels = Array.isArray(this.spec.panels) ? this.spec.panels : [];
    this.range = this.rangeOverride && parseRange(this.rangeOverride) ? this.rangeOverride : rangeText(this.spec.range);
    this.refresh = REFRESH_INTERVALS.includes(this.refreshOverride) ? this.refreshOverride : (REFRESH_INTERVALS.includes(this.spec.refresh) ? this.spec.refresh : 'off');
    this.render();
    this.runAll();
    this.setTimer();
  }

  render() {
    this.renderHeader();
    this.renderPanels();
    this.renderEditor();
  }

  renderHeader(focus = null) {
    const refreshId = 'd-refresh';
    const live = this.refresh !== 'off';
    this.header.replaceChildren(
      h('div', { class: 'row title-row' },
        h('h1', {}, this.spec.title || this.name),
        live ? h('span', { class: 'badge badge-live', title: `re-runs every ${this.refresh}` }, `● live · ${this.refresh}`) : null,
        h('span', { class: 'muted' }, describeRange(this.range))),
      h('div', { class: 'row controls' },
        rangePicker(this.range, (range) => this.setRange(range), { idPrefix: 'd' }),
        h('div', { class: 'field' }, h('label', { for: refreshId }, 'Refresh'),
          h('select', { id: refreshId, onchange: (e) => this.setRefresh(e.target.value) },
            REFRESH_INTERVALS.map((r) => h('option', { value: r, selected: r === this.refresh }, r === 'off' ? 'off' : `every ${r}`)))),
        h('button', { type: 'button', id: 'd-run', onclick: () => this.runAll() }, 'Refresh now'),
        h('button', { type: 'button', id: 'd-edit', class: 'secondary', 'aria-pressed': String(this.editing), onclick: () => this.toggleEdit() }, this.editing ? 'Done editing' : 'Edit'),
        h('button', { type: 'button', id: 'd-save', class: this.dirty ? '' : 'secondary', onclick: () => this.save() }, this.dirty ? 'Save changes' : 'Save'),
        h('a', { href: '/dashboards', class: 'nav-link' }, 'All dashboards')));
    if (focus) document.getElementById(focus)?.focus();
  }

  writeUrl() {
    const params = new URLSearchParams();
    if (this.range !== rangeText(this.spec.range)) params.set('range', this.range);
    if (this.refresh !== (this.spec.refresh || 'off')) params.set('refresh', this.refresh);
    if (this.editing) params.set('edit', '1');
    const query = params.toString();
    history.replaceState(null, '', `/dashboards/${encodeURIComponent(this.name)}${query ? `?${query}` : ''}`);
  }

  setRange(range) {
    this.range = range;
    this.dirty = true;
    this.writeUrl();
    this.renderHeader(document.activeElement?.id);
    this.runAll();
  }

  setRefresh(refresh) {
    this.refresh = refresh;
    this.dirty = true;
    this.writeUrl();
    this.renderHeader('d-refresh');
    this.setTimer();
  }

  setTimer() {
    clearInterval(this.timer);
    const ms = parseDuration(this.refresh);
    if (ms) this.timer = setInterval(() => this.runAll({ skipBusy: true }), ms);
  }

  toggleEdit() {
    this.editing = !this.editing;
    this.writeUrl();
    this.render();
    this.runAll();
    document.getElementById('d-edit')?.focus();
  }

  renderPanels() {
    for (const panel of this.panels) panel.destroy();
    this.panels = this.spec.panels.map((spec, index) => {
      const state = parseState(spec.explore || '');
      const title = spec.title || describeState(state);
      const open = h('a', { class: 'nav-link', href: `/explore?${stateQuery({ ...state, range: this.range })}`, title: 'Open this panel in the explorer' }, 'Explore ↗');
      const actions = this.editing ? this.panelEditControls(index, title) : [open];
      const panel = new Panel({ id: index, title, actions, height: 220, onZoom: (from, to) => this.setRange(absoluteRange(from, to)) });
      panel.spec = spec;
      return panel;
    });
    this.grid.replaceChildren(...this.panels.map((p) => p.element));
    if (!this.panels.length) {
      this.grid.replaceChildren(h('p', { class: 'muted' }, 'No panels yet. ', this.editing ? 'Add one below.' : 'Choose Edit to add one.'));
    }
  }

  panelEditControls(index, title) {
    const move = (delta) => () => {
      const panels = this.spec.panels;
      const target = index + delta;
      if (target < 0 || target >= panels.length) return;
      [panels[index], panels[target]] = [panels[target], panels[index]];
      this.changed(`d-panel-${delta < 0 ? 'up' : 'down'}-${target}`);
    };
    return [
      h('label', { class: 'visually-hidden', for: `d-panel-title-${index}` }, `title of panel ${index + 1}`),
      h('input', { id: `d-panel-title-${index}`, value: title, onchange: (e) => { this.spec.panels[index].title = e.target.value; this.dirty = true; this.renderHeader(); } }),
      h('button', { type: 'button', id: `d-panel-up-${index}`, class: 'icon-button', 'aria-label': `move panel ${index + 1} up`, disabled: index === 0, onclick: move(-1) }, '↑'),
      h('button', { type: 'button', id: `d-panel-down-${index}`, class: 'icon-button', 'aria-label': `move panel ${index + 1} down`, disabled: index === this.spec.panels.length - 1, onclick: move(1) }, '↓'),
      h('button', { type: 'button', id: `d-panel-remove-${index}`, class: 'icon-button', 'aria-label': `remove panel ${index + 1}`, onclick: () => { this.spec.panels.splice(index, 1); this.changed('d-add-url'); } }, '✕'),
    ];
  }

  changed(focus) {
    this.dirty = true;
    this.render();
    this.runAll();
    if (focus) document.getElementById(focus)?.focus();
  }

  renderEditor() {
    if (!this.editing) {
      this.editor.replaceChildren();
      return;
    }
    const title = h('input', { id: 'd-title', value: this.spec.title || '', onchange: (e) => { this.spec.title = e.target.value; this.dirty = true; this.renderHeader(); } });
    const url = h('input', { id: 'd-add-url', class: 'wide', placeholder: '/explore?table=requests&view=timeseries&agg=count&group=service' });
    const panelTitle = h('input', { id: 'd-add-title', placeholder: 'automatic' });
    const add = (event) => {
      event.preventDefault();
      if (this.spec.panels.length >= MAX_PANELS) {
        this.status.textContent = `A dashboard holds at most ${MAX_PANELS} panels.`;
        return;
      }
      const { state, explore } = exploreQuery(url.value);
      if (!state.table && !state.sql) {
        this.status.textContent = 'Paste an explorer URL (it names a table, or has sql=).';
        url.focus();
        return;
      }
      this.spec.panels.push({ title: panelTitle.value.trim() || describeState(state), explore });
      this.changed('d-add-url');
    };
    this.editor.replaceChildren(h('form', { class: 'editor-form', 'aria-label': 'Edit dashboard', onsubmit: add },
      h('h2', {}, 'Edit'),
      h('div', { class: 'row' }, h('div', { class: 'field grow' }, h('label', { for: 'd-title' }, 'Dashboard title'), title)),
      h('div', { class: 'row' },
        h('div', { class: 'field grow' }, h('label', { for: 'd-add-url' }, 'Add a panel: an explorer URL'), url),
        h('div', { class: 'field' }, h('label', { for: 'd-add-title' }, 'Its title'), panelTitle),
        h('button', { type: 'submit', id: 'd-add' }, 'Add panel')),
      h('p', { class: 'hint' }, 'The explorer\'s "Add to dashboard…" adds its current view too. Save keeps panels, order, titles, range and refresh.')));
  }

  async save() {
    const spec = { ...this.spec, range: rangeSpec(this.range), refresh: this.refresh };
    this.status.textContent = 'Saving…';
    try {
      await putDashboard(this.name, spec);
      this.spec = spec;
      this.dirty = false;
      this.status.textContent = `Saved at ${new Date().toLocaleTimeString()}.`;
      this.writeUrl();
      this.renderHeader('d-save');
    } catch (error) {
      this.status.textContent = `Not saved: ${error.message}`;
    }
  }

  // Runs every panel over the same moment's range; `skipBusy` leaves a
  // panel whose last run has not finished (a refresh tick).
  async runAll({ skipBusy = false } = {}) {
    const now = Date.now();
    const started = performance.now();
    this.element.setAttribute('data-state', 'loading');
    const runs = this.panels.map((panel) => {
      if (skipBusy && panel.busy) return panel.busy;
      const state = { ...parseState(panel.spec.explore || ''), range: this.range };
      panel.busy = panel.run(state, this.catalog.find(state.table), { now }).finally(() => { panel.busy = null; });
      return panel.busy;
    });
    const generation = (this.generation || 0) + 1;
    this.generation = generation;
    await Promise.all(runs);
    if (generation !== this.generation) return;
    this.element.setAttribute('data-state', 'done');
    this.element.setAttribute('data-drawn-ms', String(Math.round(performance.now() - started)));
  }

  redraw() {
    for (const panel of this.panels) panel.redraw();
  }

  destroy() {
    clearInterval(this.timer);
    for (const panel of this.panels) panel.destroy();
  }
}
