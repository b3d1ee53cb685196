// From an explorer state to the SQL that answers it. One plan per view:
//
//   timeseries  SELECT date_bin(step, time, origin) AS bucket, groups, aggregates
//               ... GROUP BY bucket, groups ORDER BY bucket   (+ the same, shifted, to compare)
//   table, bar  SELECT groups, aggregates ... GROUP BY groups ORDER BY o LIMIT n
//   samples     SELECT * ... ORDER BY time DESC LIMIT n
//   heatmap     bounds of the column, then counts per (bucket, value bin)
//   raw SQL     run as written (the `sql` parameter)
//
// Every plan filters on the time range and the `where`s. Time series and
// heatmaps send `time_buckets` so the answer's time_completeness lines up
// with the chart's buckets.

import { aggregateSql, aggregate } from './aggregates.js';
import { parseAgg } from './url_state.js';
import { identifier, intervalLiteral, timestampLiteral } from './sql.js';
import { resolveRange, parseDuration } from './time_range.js';

export const HEATMAP_BINS = 20;
const SERIES_ROW_LIMIT = 100_000;
const DEFAULT_LIMIT = { table: 100, bar: 10, samples: 100 };
const ORIGIN = "TIMESTAMP '1970-01-01T00:00:00Z'";

// How a table is named in FROM: its sql_name, or shoal_tables('glob') for
// a group of daily tables.
export function fromClause(table) {
  return table.sqlName;
}

function whereClause(state, fromMs, toMs) {
  const parts = [`time >= ${timestampLiteral(fromMs)}`, `time < ${timestampLiteral(toMs)}`];
  for (const where of state.wheres) parts.push(`(${where})`);
  return parts.join('\n  AND ');
}

function bucketExpression(stepMs) {
  return `date_bin(${intervalLiteral(stepMs)}, time, ${ORIGIN})`;
}

// A positive whole number from a URL parameter, at most `max`; else null
// ("-1", "1e400", "0.5" and "x" are no LIMIT).
function positiveInt(text, max) {
  const value = Number.parseInt(text, 10);
  return Number.isFinite(value) && value > 0 ? Math.min(value, max) : null;
}

export function limitOf(state) {
  const fallback = state.view === 'bar' ? positiveInt(state.top, 100_000) || DEFAULT_LIMIT.bar : DEFAULT_LIMIT[state.view] || 100;
  return positiveInt(state.limit, 100_000) || fallback;
}

// "count desc" -> ORDER BY text over the answer's columns.
function orderClause(state, outputs) {
  const [first] = outputs;
  const match = /^(.*?)(?:\s+(asc|desc))?$/i.exec(state.order.trim());
  const column = match && match[1] && outputs.includes(match[1]) ? match[1] : first;
  const direction = match && match[2] ? match[2].toUpperCase() : 'DESC';
  return `${identifier(column)} ${direction}`;
}

function selectParts(state, table) {
  const aggs = state.aggs.map(parseAgg);
  const values = state.aggs.map((name, i) => `${aggregateSql(aggs[i], table.types)} AS ${identifier(name)}`);
  for (const group of state.groups) {
    if (!table.types.has(group)) throw new Error(`no column ${group} in ${table.name}`);
  }
  return { groups: state.groups.map(identifier), values, aggs };
}

function seriesSql(state, table, fromMs, toMs, stepMs) {
  const { groups, values } = selectParts(state, table);
  return `SELECT ${[`${bucketExpression(stepMs)} AS bucket`, ...groups, ...values].join(', ')}
FROM ${fromClause(table)}
WHERE ${whereClause(state, fromMs, toMs)}
GROUP BY ${['bucket', ...groups].join(', ')}
ORDER BY bucket
LIMIT ${SERIES_ROW_LIMIT}`;
}

// The plan for `state` over `table` ({name, sqlName, columns, types}).
export function buildPlan(state, table, now = Date.now()) {
  if (state.sql.trim()) {
    const view = ['table', 'timeseries', 'bar'].includes(state.view) ? state.view : 'table';
    return { view, raw: true, sql: state.sql.trim() };
  }
  if (!table) throw new Error(state.table ? `no table ${state.table}` : 'choose a table');
  const range = resolveRange(state.range, state.granularity, now);
  const timeBuckets = { column: 'bucket', start_ms: range.startMs, end_ms: range.endMs, step_ms: range.stepMs };
  const plan = { view: state.view, raw: false, range, table };
  if (state.view === 'timeseries') {
    plan.sql = seriesSql(state, table, range.fromMs, range.toMs, range.stepMs);
    plan.timeBuckets = timeBuckets;
    plan.rowLimit = SERIES_ROW_LIMIT;
    plan.shape = { time: 'bucket', groups: state.groups, values: state.aggs };
    plan.additive = state.aggs.map((a) => Boolean(aggregate(parseAgg(a).fn)?.additive));
    const shiftMs = parseDuration(state.compare);
    if (shiftMs) {
      plan.compare = { shiftMs, label: state.compare, sql: seriesSql(state, table, range.fromMs - shiftMs, range.toMs - shiftMs, range.stepMs) };
    }
    return plan;
  }
  if (state.view === 'table' || state.view === 'bar') {
    const { groups, values } = selectParts(state, table);
    const outputs = [...state.aggs, ...state.groups];
    plan.sql = `SELECT ${[...groups, ...values].join(', ')}
FROM ${fromClause(table)}
WHERE ${whereClause(state, range.fromMs, range.toMs)}${groups.length ? `\nGROUP BY ${groups.join(', ')}` : ''}
ORDER BY ${orderClause(state, outputs)}
LIMIT ${limitOf(state)}`;
    plan.shape = { groups: state.groups, values: state.aggs };
    return plan;
  }
  if (state.view === 'samples') {
    plan.sql = `SELECT *
FROM ${fromClause(table)}
WHERE ${whereClause(state, range.fromMs, range.toMs)}
ORDER BY time DESC
LIMIT ${limitOf(state)}`;
    return plan;
  }
  if (state.view === 'heatmap') {
    const column = heatmapColumn(state, table);
    const where = whereClause(state, range.fromMs, range.toMs);
    const quoted = identifier(column);
    plan.column = column;
    plan.timeBuckets = timeBuckets;
    plan.boundsSql = `SELECT min(${quoted}) AS low, max(${quoted}) AS high, approx_percentile_cont(${quoted}, 0.99) AS p99
FROM ${fromClause(table)}
WHERE ${where}`;
    // The bin is clamped as a float, then cast: an outlier far past the top
    // (or NaN) lands in the last bin instead of overflowing the cast, and
    // truncating a value >= 0 is its floor.
    plan.histogramSql = ({ low, width }) => `SELECT ${bucketExpression(range.stepMs)} AS bucket,
  CAST(least(greatest((CAST(${quoted} AS DOUBLE) - ${low}) / ${width}, 0), ${HEATMAP_BINS - 1}) AS BIGINT) AS bin,
  count(*) AS count
FROM ${fromClause(table)}
WHERE ${where}
  AND ${quoted} IS NOT NULL
GROUP BY bucket, bin
ORDER BY bucket`;
    plan.sql = `${plan.boundsSql};\n-- then counts per time bucket and value bin:\n${plan.histogramSql({ low: 'low', width: `((high - low) / ${HEATMAP_BINS})` })}`;
    return plan;
  }
  throw new Error(`unknown view ${state.view}`);
}

// The heatmap's numeric column: the `column` parameter, else the first
// numeric column of an aggregate, else the table's first numeric column.
export function heatmapColumn(state, table) {
  const numeric = (name) => ['integer', 'float'].includes(table.types.get(name));
  if (state.column) {
    if (!numeric(state.column)) throw new Error(`the heatmap needs a numeric column; ${state.column} is not one`);
    return state.column;
  }
  const fromAgg = state.aggs.map(parseAgg).find((a) => a.column && numeric(a.column));
  if (fromAgg) return fromAgg.column;
  const first = table.columns.find((c) => numeric(c.name));
  if (!first) throw new Error(`${table.name} has no numeric column for a heatmap`);
  return first.name;
}

// Value bins from the bounds answer: [low, high) split in HEATMAP_BINS;
// the top is the p99 when the maximum is far above it (outliers land in
// the last bin, drawn as "≥").
export function heatmapBins(boundsRow) {
  const [low, high, p99] = boundsRow.map(Number);
  if (!Number.isFinite(low) || !Number.isFinite(high)) return null;
  const top = Number.isFinite(p99) && high > 2 * p99 && p99 > low ? p99 : high;
  const width = top > low ? (top - low) / HEATMAP_BINS : 1;
  return { low, high: low + width * HEATMAP_BINS, width, clipped: top < high };
}
