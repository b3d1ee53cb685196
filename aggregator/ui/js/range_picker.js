// The time range control the explorer and dashboards share: the relative
// ranges (last 15m ... 7d) and an absolute one from two
// <input type=datetime-local> (local time); it reports the range in the URL
// form ("1h" or "FROM_MS..TO_MS").

import { h } from './dom.js';
import { RELATIVE_RANGES, absoluteRange, localInputValue, parseRange } from './time_range.js';

const HOUR_MS = 3_600_000;

function bounds(text) {
  const range = parseRange(text);
  const now = Date.now();
  if (range && range.kind === 'absolute') return [range.fromMs, range.toMs];
  return [now - (range ? range.ms : HOUR_MS), now];
}

export function rangePicker(rangeText, onRange, { idPrefix = 'range', legend = 'Time range' } = {}) {
  const range = parseRange(rangeText);
  const absolute = range && range.kind === 'absolute';
  const [fromMs, toMs] = bounds(rangeText);
  // The other end is read from its input: the range may have changed
  // since this control was made.
  const setEnd = (which, value) => {
    const ms = Date.parse(value);
    if (!Number.isFinite(ms)) return;
    const other = Date.parse(document.getElementById(`${idPrefix}-${which === 'from' ? 'to' : 'from'}`)?.value || '');
    const [from, to] = Number.isFinite(other) ? (which === 'from' ? [ms, other] : [other, ms]) : bounds(rangeText);
    const next = which === 'from' ? [ms, Math.max(to, ms + 60_000)] : [Math.min(from, ms - 60_000), ms];
    onRange(absoluteRange(next[0], next[1]));
  };
  const selectId = `${idPrefix}-range`;
  const options = [...RELATIVE_RANGES.map((r) => [r, `Last ${r}`]), ['custom', 'Custom (from – to)']];
  const chosen = absolute ? 'custom' : (range ? rangeText : '1h');
  const rangeSelect = h('select', {
    id: selectId,
    onchange: (e) => onRange(e.target.value === 'custom' ? absoluteRange(fromMs, toMs) : e.target.value),
  }, options.map(([value, label]) => h('option', { value, selected: value === chosen }, label)));
  const input = (which, ms) => h('div', { class: 'field' },
    h('label', { for: `${idPrefix}-${which}` }, which === 'from' ? 'From' : 'To'),
    h('input', { id: `${idPrefix}-${which}`, type: 'datetime-local', value: localInputValue(ms), onchange: (e) => setEnd(which, e.target.value) }));
  return h('fieldset', { class: 'range' }, h('legend', {}, legend),
    h('div', { class: 'row' },
      h('div', { class: 'field' }, h('label', { for: selectId }, 'Range'), rangeSelect),
      input('from', fromMs), input('to', toMs)));
}
