// The explorer's builder: the form controls for one query (table, time
// range, view, aggregates, filters, group by, granularity, heatmap column,
// order, limit, top N, compare, stacked). Every control is a native,
// labelled form element, so the form works from the keyboard: Tab moves,
// arrows pick in selects and the view radios, Enter runs.
//
// The form only reads `model` and reports edits through
// `edit(mutate, { structural })`; the explorer owns the state.

import { AGGREGATES, columnsFor } from './aggregates.js';
import { h } from './dom.js';
import { operatorsFor, takesValue, SQL_OP } from './filters.js';
import { parseAgg, formatAgg, VIEWS } from './url_state.js';
import { rangePicker } from './range_picker.js';
import { STEPS } from './time_range.js';

const VIEW_LABELS = { timeseries: 'Time series', table: 'Table', bar: 'Top-N bars', samples: 'Samples', heatmap: 'Heatmap' };
const RAW_VIEWS = ['table', 'timeseries', 'bar'];

function field(id, label, control, hint) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

function select(id, options, value, onChange, attributes = {}) {
  return h('select', { id, onchange: (e) => onChange(e.target.value), ...attributes },
    options.map((o) => {
      const [optionValue, label] = Array.isArray(o) ? o : [o, o];
      return h('option', { value: optionValue, selected: optionValue === value }, label);
    }));
}

function removeButton(label, onClick) {
  return h('button', { type: 'button', class: 'icon-button', 'aria-label': label, title: label, onclick: onClick }, '✕');
}

function tablePicker(model, edit) {
  const { catalog, state } = model;
  const options = catalog.tables.map((t) => h('option', { value: t.name, selected: t.name === state.table }, `${t.label} (${t.rows.toLocaleString()} rows)`));
  const groups = catalog.groups.length
    ? h('optgroup', { label: 'Daily table groups' }, catalog.groups.map((g) => h('option', { value: g.name, selected: g.name === state.table }, g.label)))
    : null;
  const missing = state.table && !catalog.find(state.table) ? h('option', { value: state.table, selected: true }, `${state.table} (not found)`) : null;
  const control = h('select', { id: 'b-table', onchange: (e) => edit((s) => { s.table = e.target.value; }, { structural: true, tableChanged: true }) },
    !state.table ? h('option', { value: '', selected: true }, 'Choose a table') : null, missing, options, groups);
  return field('b-table', 'Table', control);
}

function rangeSection(model, edit) {
  return rangePicker(model.state.range, (range) => edit((s) => { s.range = range; }, { structural: true }), { idPrefix: 'b' });
}

function viewPicker(model, edit) {
  const { state } = model;
  const views = state.sql ? RAW_VIEWS : VIEWS;
  return h('fieldset', { class: 'views' }, h('legend', {}, 'View'),
    h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'View' }, views.map((view) => {
      const id = `b-view-${view}`;
      return h('span', { class: 'segment' },
        h('input', { type: 'radio', name: 'view', id, value: view, checked: state.view === view, onchange: () => edit((s) => { s.view = view; }, { structural: true }) }),
        h('label', { for: id }, VIEW_LABELS[view]));
    })));
}

function aggregatesSection(model, edit) {
  const { state, table } = model;
  const columns = table ? table.columns : [];
  const rows = state.aggs.map((text, i) => {
    const agg = parseAgg(text);
    const allowed = columnsFor(agg.fn, columns);
    const fnSelect = select(`b-agg-fn-${i}`, AGGREGATES.map((a) => [a.fn, a.label]), agg.fn, (fn) => edit((s) => {
      const choices = columnsFor(fn, columns);
      const column = choices.some((c) => c.name === agg.column) ? agg.column : (choices[0]?.name || '');
      s.aggs[i] = formatAgg({ fn, column });
    }, { structural: true }), { 'aria-label': `aggregate ${i + 1}` });
    const columnSelect = agg.fn === 'count'
      ? null
      : select(`b-agg-col-${i}`, allowed.length ? allowed.map((c) => [c.name, c.name]) : [['', 'no column fits']], agg.column,
        (column) => edit((s) => { s.aggs[i] = formatAgg({ fn: agg.fn, column }); }, { structural: true }), { 'aria-label': `column of aggregate ${i + 1}` });
    return h('div', { class: 'row' }, fnSelect, columnSelect,
      state.aggs.length > 1 ? removeButton(`remove aggregate ${text}`, () => edit((s) => { s.aggs.splice(i, 1); }, { structural: true, focus: 'b-agg-add' })) : null);
  });
  return h('fieldset', {}, h('legend', {}, 'Aggregates'), rows,
    h('button', { type: 'button', id: 'b-agg-add', class: 'link-button', onclick: () => edit((s) => {
      const numeric = columns.find((c) => c.type === 'integer' || c.type === 'float');
      s.aggs.push(numeric ? formatAgg({ fn: 'p99', column: numeric.name }) : 'count');
    }, { structural: true, focus: `b-agg-fn-${state.aggs.length}` }) }, '+ aggregate'));
}

function filtersSection(model, edit) {
  const { filterRows, table } = model;
  const columns = table ? table.columns : [];
  const rows = filterRows.map((row, i) => {
    const type = row.op === SQL_OP ? null : table?.types.get(row.column) || 'string';
    const columnSelect = select(`b-where-col-${i}`, [...columns.map((c) => [c.name, c.name]), [SQL_OP, 'SQL…']],
      row.op === SQL_OP ? SQL_OP : row.column, (value) => edit(() => {
        if (value === SQL_OP) filterRows[i] = { column: '', op: SQL_OP, value: '' };
        else filterRows[i] = { column: value, op: operatorsFor(table.types.get(value))[0], value: '' };
      }, { structural: true, filters: true }), { 'aria-label': `filter ${i + 1} column` });
    const opSelect = row.op === SQL_OP ? null : select(`b-where-op-${i}`, operatorsFor(type), row.op,
      (op) => edit(() => { filterRows[i] = { ...row, op }; }, { structural: true, filters: true }), { 'aria-label': `filter ${i + 1} operator` });
    const needsValue = row.op === SQL_OP || takesValue(row.op);
    const placeholder = row.op === SQL_OP ? "SQL, e.g. status >= 500 OR region = 'eu'"
      : row.op === 'in' || row.op === 'not in' ? 'a, b, c'
        : type === 'timestamp' ? '2026-11-29T10:00:00Z' : 'value';
    const value = needsValue ? h('input', {
      id: `b-where-val-${i}`, type: 'text', value: row.value, placeholder, 'aria-label': `filter ${i + 1} value`,
      'aria-invalid': row.error ? 'true' : null, class: row.op === SQL_OP ? 'wide' : '', title: row.op === SQL_OP ? row.value : '',
      onchange: (e) => edit(() => { filterRows[i] = { ...row, value: e.target.value }; }, { filters: true }),
    }) : null;
    return h('div', { class: 'filter' }, h('div', { class: 'row' }, columnSelect, opSelect, value,
      removeButton(`remove filter ${i + 1}`, () => edit(() => { filterRows.splice(i, 1); }, { structural: true, filters: true, focus: 'b-where-add' }))),
    row.error ? h('small', { class: 'field-error', role: 'alert' }, row.error) : null);
  });
  return h('fieldset', {}, h('legend', {}, 'Where'), rows,
    h('button', { type: 'button', id: 'b-where-add', class: 'link-button', onclick: () => edit(() => {
      const first = columns.find((c) => c.type === 'string') || columns.find((c) => c.name !== 'time') || columns[0];
      filterRows.push(first ? { column: first.name, op: operatorsFor(first.type)[0], value: '' } : { column: '', op: SQL_OP, value: '' });
    }, { structural: true, filters: true, focus: `b-where-col-${filterRows.length}` }) }, '+ filter'));
}

function groupsSection(model, edit) {
  const { state, table } = model;
  const columns = (table ? table.columns : []).filter((c) => c.name !== 'time');
  const rows = state.groups.map((group, i) => h('div', { class: 'row' },
    select(`b-group-${i}`, columns.map((c) => [c.name, c.name]), group, (value) => edit((s) => { s.groups[i] = value; }, { structural: true }), { 'aria-label': `group by column ${i + 1}` }),
    removeButton(`remove group by ${group}`, () => edit((s) => { s.groups.splice(i, 1); }, { structural: true, focus: 'b-group-add' }))));
  const unused = columns.filter((c) => !state.groups.includes(c.name));
  const preferred = unused.find((c) => c.type === 'string') || unused[0];
  return h('fieldset', {}, h('legend', {}, 'Group by'), rows,
    preferred ? h('button', { type: 'button', id: 'b-group-add', class: 'link-button', onclick: () => edit((s) => { s.groups.push(preferred.name); }, { structural: true, focus: `b-group-${state.groups.length}` }) }, '+ group by') : null);
}

function optionsSection(model, edit) {
  const { state, table } = model;
  const view = state.view;
  const parts = [];
  if (view === 'timeseries' || view === 'heatmap') {
    parts.push(field('b-granularity', 'Granularity', select('b-granularity', [['auto', 'auto'], ...STEPS.map((s) => [s, s])], state.granularity,
      (value) => edit((s) => { s.granularity = value; }, { structural: true }))));
  }
  if (view === 'heatmap') {
    const numeric = (table ? table.columns : []).filter((c) => c.type === 'integer' || c.type === 'float');
    parts.push(field('b-column', 'Column', select('b-column', [['', 'auto'], ...numeric.map((c) => [c.name, c.name])], state.column,
      (value) => edit((s) => { s.column = value; }, { structural: true }))));
  }
  if (view === 'table' || view === 'bar') {
    const outputs = [...state.aggs, ...state.groups];
    const options = [['', `${state.aggs[0]} desc (default)`], ...outputs.flatMap((o) => [[`${o} desc`, `${o} desc`], [`${o} asc`, `${o} asc`]])];
    parts.push(field('b-order', 'Order by', select('b-order', options, state.order, (value) => edit((s) => { s.order = value; }, { structural: true }))));
  }
  if (view === 'table' || view === 'samples') {
    parts.push(field('b-limit', 'Limit', h('input', { id: 'b-limit', type: 'number', min: '1', max: '100000', value: state.limit, placeholder: '100',
      onchange: (e) => edit((s) => { s.limit = e.target.value; }) })));
  }
  if (view === 'timeseries' || view === 'bar') {
    parts.push(field('b-top', view === 'bar' ? 'Bars (top N)' : 'Series (top N groups)', h('input', { id: 'b-top', type: 'number', min: '1', max: '100', value: state.top, placeholder: '10',
      onchange: (e) => edit((s) => { s.top = e.target.value; }) })));
  }
  if (view === 'timeseries') {
    parts.push(field('b-compare', 'Compare with', select('b-compare', [['', 'nothing'], ['1d', 'a day earlier'], ['1w', 'a week earlier']], state.compare,
      (value) => edit((s) => { s.compare = value; }, { structural: true }))));
    parts.push(h('div', { class: 'field checkbox' }, h('input', { id: 'b-stacked', type: 'checkbox', checked: state.stacked,
      onchange: (e) => edit((s) => { s.stacked = e.target.checked; }, { structural: true }) }), h('label', { for: 'b-stacked' }, 'Stacked areas')));
  }
  return parts.length ? h('fieldset', { class: 'options' }, h('legend', {}, 'Options'), parts) : null;
}

// The form's contents for `model` ({ state, table, catalog, filterRows }).
export function builderControls(model, edit) {
  const { state } = model;
  const raw = Boolean(state.sql);
  const source = h('fieldset', { class: 'structured', disabled: raw },
    h('legend', { class: 'visually-hidden' }, 'Table'),
    tablePicker(model, edit));
  const structured = h('fieldset', { class: 'structured', disabled: raw },
    h('legend', { class: 'visually-hidden' }, 'Query'),
    rangeSection(model, edit),
    state.view !== 'samples' && state.view !== 'heatmap' ? aggregatesSection(model, edit) : null,
    filtersSection(model, edit),
    ['timeseries', 'table', 'bar'].includes(state.view) ? groupsSection(model, edit) : null,
    optionsSection(model, edit));
  return [source, viewPicker(model, edit), structured];
}
