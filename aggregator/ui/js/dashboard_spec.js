// The saved dashboard's shape (stored by the aggregator as given):
// { title, range: "1h" | {from_ms, to_ms}, refresh: "off"|"5s"|"10s"|"30s"|"1m",
//   panels: [{ title, explore: "<explorer query string without range>" }] }

import { absoluteRange, parseRange } from './time_range.js';

export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_PANELS = 24;

export function newSpec(name, title = '') {
  return { title: title || name, range: '1h', refresh: 'off', panels: [] };
}

// The spec's range as the URL form ("1h" or "FROM..TO").
export function rangeText(range) {
  if (range && typeof range === 'object' && Number.isFinite(range.from_ms) && Number.isFinite(range.to_ms)) {
    return absoluteRange(range.from_ms, range.to_ms);
  }
  return typeof range === 'string' && parseRange(range) ? range : '1h';
}

// The URL form as the spec's range.
export function rangeSpec(text) {
  const range = parseRange(text);
  if (range && range.kind === 'absolute') return { from_ms: range.fromMs, to_ms: range.toMs };
  return range ? text : '1h';
}
