// The explorer page (/explore, and / for browsers): the builder on the
// left, the SQL it runs (editable) and the result panel on the right. The
// URL is the state: every edit replaces it (history.replaceState), a zoom
// by drag pushes a new one, so Back undoes the zoom.

import { catalog } from './catalog.js';
import { h, replaceChildrenKeepingFocus } from './dom.js';
import { builderControls } from './builder_form.js';
import { addToDashboardForm } from './add_to_dashboard.js';
import { describeState } from './describe.js';
import { filterSql, parseFilter, SQL_OP } from './filters.js';
import { Panel } from './panel.js';
import { buildPlan } from './sql_builder.js';
import { parseState, stateQuery } from './url_state.js';
import { absoluteRange } from './time_range.js';

const RUN_DELAY_MS = 250;

// A where= parameter as a filter row; SQL the builder cannot show as
// `column op value` stays a free SQL filter.
function filterRow(sql, types) {
  const row = parseFilter(sql);
  if (row.op === SQL_OP) return row;
  const type = types.get(row.column);
  if (!type) return { column: '', op: SQL_OP, value: sql };
  try {
    filterSql(row, type);
    return row;
  } catch {
    return { column: '', op: SQL_OP, value: sql };
  }
}

export class Explorer {
  constructor(root) {
    this.root = root;
    this.state = parseState(location.search);
    this.filterRows = [];
    this.form = h('form', { class: 'builder', 'aria-label': 'Query builder', onsubmit: (e) => { e.preventDefault(); this.runNow(); } });
    this.sqlText = h('textarea', { id: 'sql', class: 'sql', spellcheck: false, rows: 7, 'aria-describedby': 'sql-help',
      oninput: () => this.sqlEdited(), onkeydown: (e) => this.sqlKey(e) });
    this.sqlNote = h('p', { id: 'sql-help', class: 'hint' });
    this.sqlButtons = h('div', { class: 'row' });
    this.dashboardSlot = h('div', { class: 'dashboard-slot' });
    this.panel = new Panel({ id: 'explore', onZoom: (from, to) => this.zoom(from, to), height: 340 });
    root.replaceChildren(h('div', { class: 'explorer' },
      this.form,
      h('div', { class: 'explorer-main' },
        h('section', { class: 'sql-box', 'aria-label': 'SQL' },
          h('label', { for: 'sql' }, 'SQL'), this.sqlText, this.sqlNote, this.sqlButtons),
        this.dashboardSlot,
        this.panel.element)));
    this.onPopState = () => { this.state = parseState(location.search); this.start(); };
    window.addEventListener('popstate', this.onPopState);
  }

  async start() {
    this.form.replaceChildren(h('p', { class: 'muted' }, 'Loading tables…'));
    try {
      this.catalog = await catalog();
    } catch (error) {
      this.form.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Tables could not be listed: ${error.message}`));
      this.panel.showError(error.message);
      return;
    }
    if (!this.state.table && !this.state.sql) {
      const first = this.catalog.find('requests') || this.catalog.tables[0] || this.catalog.groups[0];
      if (first) this.state.table = first.name;
    }
    this.filterRows = this.state.wheres.map((w) => filterRow(w, this.table()?.types || new Map()));
    this.render();
    this.writeUrl();
    this.runNow();
  }

  table() {
    return this.catalog ? this.catalog.find(this.state.table) : null;
  }

  // Applies an edit from the builder. `structural`: controls appear or go,
  // so the form is drawn again (keeping the focused control).
  edit(mutate, { structural = false, filters = false, tableChanged = false, focus = null } = {}) {
    mutate(this.state);
    if (tableChanged) {
      const table = this.table();
      const has = (name) => table && table.types.has(name);
      this.state.groups = this.state.groups.filter(has);
      this.state.aggs = this.state.aggs.filter((a) => a === 'count' || has(/\((.*)\)$/.exec(a)?.[1]));
      if (!this.state.aggs.length) this.state.aggs = ['count'];
      this.filterRows = this.filterRows.filter((r) => r.op === SQL_OP || has(r.column));
      if (this.state.column && !has(this.state.column)) this.state.column = '';
      filters = true;
    }
    if (filters) this.syncFilters();
    if (structural) this.renderForm(focus);
    this.writeUrl();
    this.showSql();
    this.scheduleRun();
  }

  // state.wheres from the filter rows that are whole; the others say why not.
  syncFilters() {
    const types = this.table()?.types || new Map();
    const wheres = [];
    const errorsBefore = this.filterRows.map((row) => row.error || null).join('\n');
    this.filterRows.forEach((row, i) => {
      const incomplete = row.op !== SQL_OP && row.value === '' && !['is null', 'is not null', 'is true', 'is false'].includes(row.op);
      if (incomplete || (row.op === SQL_OP && !row.value.trim())) {
        this.filterRows[i] = { ...row, error: null };
        return;
      }
      try {
        wheres.push(filterSql(row, types.get(row.column) || 'string'));
        this.filterRows[i] = { ...row, error: null };
      } catch (error) {
        this.filterRows[i] = { ...row, error: error.message };
      }
    });
    this.state.wheres = wheres;
    if (this.filterRows.map((row) => row.error || null).join('\n') !== errorsBefore) this.renderForm();
  }

  render() {
    this.renderForm();
    this.showSql();
  }

  // Draws the form again; the focused control stays in place
  // (replaceChildrenKeepingFocus), else `focus` (an id) gets the focus.
  renderForm(focus = null) {
    const model = { state: this.state, table: this.table(), catalog: this.catalog, filterRows: this.filterRows };
    const edit = (mutate, options) => this.edit(mutate, options);
    const children = [
      ...builderControls(model, edit),
      h('div', { class: 'row actions' },
        h('button', { type: 'submit', id: 'b-run', title: 'Run (Enter)' }, 'Run'),
        h('button', { type: 'button', id: 'b-add-dashboard', class: 'secondary', 'aria-expanded': String(Boolean(this.addForm)), onclick: () => this.toggleAddToDashboard() }, 'Add to dashboard…')),
    ];
    const focused = document.activeElement?.id;
    if (focus) {
      this.form.replaceChildren(...children);
      document.getElementById(focus)?.focus();
    } else if (!replaceChildrenKeepingFocus(this.form, children) && focused) {
      document.getElementById(focused)?.focus();
    }
  }

  toggleAddToDashboard() {
    if (this.addForm) {
      this.addForm = null;
      this.dashboardSlot.replaceChildren();
      this.renderForm('b-add-dashboard');
      return;
    }
    this.addForm = addToDashboardForm(() => this.state, () => this.toggleAddToDashboard());
    this.dashboardSlot.replaceChildren(this.addForm);
    this.renderForm();
    document.getElementById('add-dashboard-name')?.focus();
  }

  writeUrl(push = false) {
    const url = `/explore?${stateQuery(this.state)}`;
    if (url === `${location.pathname}${location.search}`) return;
    if (push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
    document.title = `${describeState(this.state)} — Shoal`;
  }

  // The SQL box shows what runs: the raw SQL, or what the builder wrote.
  showSql() {
    const raw = Boolean(this.state.sql);
    if (raw) {
      this.sqlText.value = this.state.sql;
      this.sqlNote.textContent = 'Your SQL runs as written (the builder is off). Ctrl+Enter runs it.';
    } else {
      try {
        this.sqlText.value = buildPlan(this.state, this.table()).sql;
      } catch (error) {
        this.sqlText.value = `-- ${error.message}`;
      }
      this.generatedSql = this.sqlText.value;
      this.sqlText.rows = Math.min(14, Math.max(4, this.sqlText.value.split('\n').length));
      this.sqlNote.textContent = 'Edit the SQL and press Ctrl+Enter (or "Run this SQL") to run it as written; SQL the builder cannot show runs as a table.';
    }
    const back = h('button', { type: 'button', id: 'sql-back', class: 'secondary', onclick: () => this.backToBuilder() }, 'Back to the builder');
    const run = h('button', { type: 'button', id: 'sql-run', onclick: () => this.runSql() }, 'Run this SQL');
    this.sqlButtons.replaceChildren(...(raw ? [run, back] : [run]));
  }

  sqlEdited() {
    this.sqlNote.textContent = 'Edited: Ctrl+Enter runs it as written.';
  }

  sqlKey(event) {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      this.runSql();
    }
  }

  runSql() {
    const text = this.sqlText.value.trim();
    if (!this.state.sql && text === (this.generatedSql || '').trim()) {
      this.runNow();
      return;
    }
    this.state.sql = text;
    if (!['table', 'timeseries', 'bar'].includes(this.state.view) || !this.state.sql) this.state.view = 'table';
    this.renderForm('sql');
    this.writeUrl(true);
    this.showSql();
    this.runNow();
  }

  backToBuilder() {
    this.state.sql = '';
    this.renderForm('sql');
    this.writeUrl(true);
    this.showSql();
    this.runNow();
  }

  zoom(fromMs, toMs) {
    if (!(toMs > fromMs)) return;
    this.state.range = absoluteRange(fromMs, toMs);
    this.renderForm();
    this.writeUrl(true);
    this.showSql();
    this.runNow();
  }

  scheduleRun() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.runNow(), RUN_DELAY_MS);
  }

  runNow() {
    clearTimeout(this.timer);
    this.panel.setTitle(describeState(this.state));
    return this.panel.run(this.state, this.table());
  }

  redraw() {
    this.panel.redraw();
  }

  destroy() {
    window.removeEventListener('popstate', this.onPopState);
    clearTimeout(this.timer);
    this.panel.destroy();
  }
}
