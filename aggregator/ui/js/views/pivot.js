// Answer rows -> time series: one series per (group, aggregate), on the
// grid of the plan's buckets; the top N groups by their total of the first
// aggregate, and the rest summed as "other" for aggregates that add up
// (count, sum). Raw SQL answers are read by their values: the first
// timestamp column is time, numeric columns are values, the rest groups.

import { looksLikeTimestamp, parseTimestamp } from '../time_range.js';

export const OTHER = 'other';
const SEPARATOR = ' · ';

// { time, groups, values } column names of an answer the builder did not write.
export function inferShape(answer) {
  const { columns, rows } = answer;
  const sample = (i) => rows.find((row) => row[i] !== null && row[i] !== undefined)?.[i];
  const time = columns.find((_, i) => looksLikeTimestamp(sample(i))) || null;
  const values = columns.filter((c, i) => c !== time && typeof sample(i) === 'number');
  const groups = columns.filter((c) => c !== time && !values.includes(c));
  return { time, groups, values };
}

function groupKey(row, groupIndexes) {
  return groupIndexes.map((i) => (row[i] === null || row[i] === undefined ? '∅' : String(row[i]))).join(SEPARATOR);
}

// The x values: the plan's bucket grid, or the answer's distinct times.
export function timeGrid(answer, shape, range) {
  if (range) return Array.from({ length: range.count }, (_, i) => range.startMs + i * range.stepMs);
  const index = answer.columns.indexOf(shape.time);
  const times = new Set(answer.rows.map((row) => parseTimestamp(row[index])).filter(Number.isFinite));
  return [...times].sort((a, b) => a - b);
}

// Values per group key and aggregate: Map(groupKey -> Map(agg -> array)).
function collect(answer, shape, xs, additive, shiftMs) {
  const columns = answer.columns;
  const timeIndex = columns.indexOf(shape.time);
  const groupIndexes = shape.groups.map((g) => columns.indexOf(g));
  const valueIndexes = shape.values.map((v) => columns.indexOf(v));
  const position = new Map(xs.map((x, i) => [x, i]));
  const step = xs.length > 1 ? xs[1] - xs[0] : 0;
  const groups = new Map();
  for (const row of answer.rows) {
    const time = parseTimestamp(row[timeIndex]) + shiftMs;
    let i = position.get(time);
    if (i === undefined && step) {
      const guess = Math.round((time - xs[0]) / step);
      if (guess >= 0 && guess < xs.length) i = guess;
    }
    if (i === undefined) continue;
    const key = groupKey(row, groupIndexes);
    if (!groups.has(key)) {
      groups.set(key, shape.values.map((_, v) => new Array(xs.length).fill(additive[v] ? 0 : null)));
    }
    const arrays = groups.get(key);
    valueIndexes.forEach((column, v) => {
      const value = row[column];
      arrays[v][i] = typeof value === 'number' ? value : (value === null ? arrays[v][i] : Number(value));
    });
  }
  return groups;
}

function total(values) {
  let sum = 0;
  for (const v of values) if (Number.isFinite(v)) sum += Math.abs(v);
  return sum;
}

function sumArrays(arrays, length) {
  const out = new Array(length).fill(0);
  for (const array of arrays) array.forEach((v, i) => { if (Number.isFinite(v)) out[i] += v; });
  return out;
}

// The top groups of an answer, "other" for the rest where it adds up.
// Returns { xs, series: [{ label, group, agg, values }], groupsHidden, groupKeys }.
export function pivot(answer, { shape, range, additive, top = 10, keepGroups = null, shiftMs = 0 }) {
  const xs = timeGrid(answer, shape, range);
  const adds = additive || shape.values.map(() => false);
  const groups = collect(answer, shape, xs, adds, shiftMs);
  const ranked = keepGroups || [...groups.keys()]
    .map((key) => [key, total(groups.get(key)[0] || [])])
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, top)
    .map(([key]) => key);
  const kept = new Set(ranked);
  const rest = [...groups.keys()].filter((key) => !kept.has(key));
  const label = (group, agg) => {
    const parts = [];
    if (shape.groups.length) parts.push(group);
    if (shape.values.length > 1 || !shape.groups.length) parts.push(agg);
    return parts.join(SEPARATOR);
  };
  const series = [];
  for (const key of ranked) {
    shape.values.forEach((agg, v) => {
      const values = groups.get(key)?.[v] || new Array(xs.length).fill(adds[v] ? 0 : null);
      series.push({ label: label(key, agg), group: key, agg, values });
    });
  }
  if (rest.length && shape.groups.length) {
    shape.values.forEach((agg, v) => {
      if (!adds[v]) return;
      series.push({ label: label(OTHER, agg), group: OTHER, agg, values: sumArrays(rest.map((key) => groups.get(key)[v]), xs.length) });
    });
  }
  const summedAll = shape.values.every((_, v) => adds[v]);
  return { xs, series, groupKeys: ranked, groupsHidden: summedAll ? 0 : rest.length, groupsOther: rest.length };
}
