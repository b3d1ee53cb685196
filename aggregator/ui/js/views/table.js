// The table view (and the samples view's rows): the answer as an HTML
// table. Times are shown in local time (the raw UTC value in the cell's
// title), numbers right-aligned, string sets as comma-separated lists.

import { h } from '../dom.js';
import { looksLikeTimestamp, parseTimestamp } from '../time_range.js';
import { formatValue } from './chart.js';

const SHOWN_ROWS = 1000;

const pad = (n, width = 2) => String(n).padStart(width, '0');

export function formatTime(value) {
  const ms = parseTimestamp(value);
  if (!Number.isFinite(ms)) return String(value);
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function cell(value) {
  if (value === null || value === undefined) return h('td', { class: 'null' }, '∅');
  if (typeof value === 'number') return h('td', { class: 'number' }, formatValue(value));
  if (Array.isArray(value)) return h('td', {}, value.join(', '));
  if (typeof value === 'object') return h('td', {}, JSON.stringify(value));
  if (looksLikeTimestamp(value)) return h('td', { title: `${value} UTC` }, formatTime(value));
  return h('td', {}, String(value));
}

export function renderTable(body, { answer, caption }) {
  const shown = answer.rows.slice(0, SHOWN_ROWS);
  const table = h('table', { class: 'result' },
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, answer.columns.map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, shown.map((row) => h('tr', {}, row.map(cell)))));
  body.append(h('div', { class: 'table-scroll', tabindex: '0', 'aria-label': 'answer rows' }, table));
  const notes = [];
  if (answer.rows.length > SHOWN_ROWS) notes.push(`showing the first ${SHOWN_ROWS.toLocaleString()} of ${answer.rows.length.toLocaleString()} rows`);
  if (!answer.rows.length) notes.push('no rows');
  return { notes, data: { columns: answer.columns, rows: answer.rows.length } };
}
