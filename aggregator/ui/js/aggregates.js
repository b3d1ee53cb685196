// The aggregates the builder offers and the SQL each is: count, sum, avg,
// min, max, p50/p90/p99 (DataFusion's approx_percentile_cont, a t-digest
// whose partial states merge across leaves) and the approximate distinct
// count (approx_distinct, HyperLogLog). `additive` ones can be summed over
// groups, so a time series can show the groups beyond the top N as "other".

import { identifier } from './sql.js';

const NUMERIC = ['integer', 'float'];

const percentile = (fraction) => (column) => `approx_percentile_cont(${column}, ${fraction})`;

export const AGGREGATES = [
  { fn: 'count', label: 'count', types: null, additive: true, sql: () => 'count(*)' },
  { fn: 'sum', label: 'sum', types: NUMERIC, additive: true, sql: (c) => `sum(${c})` },
  { fn: 'avg', label: 'average', types: NUMERIC, additive: false, sql: (c) => `avg(${c})` },
  { fn: 'min', label: 'min', types: [...NUMERIC, 'timestamp'], additive: false, sql: (c) => `min(${c})` },
  { fn: 'max', label: 'max', types: [...NUMERIC, 'timestamp'], additive: false, sql: (c) => `max(${c})` },
  { fn: 'p50', label: 'p50', types: NUMERIC, additive: false, sql: percentile(0.5) },
  { fn: 'p90', label: 'p90', types: NUMERIC, additive: false, sql: percentile(0.9) },
  { fn: 'p99', label: 'p99', types: NUMERIC, additive: false, sql: percentile(0.99) },
  { fn: 'distinct', label: 'approx. distinct count', types: ['integer', 'float', 'string', 'boolean', 'timestamp'], additive: false, sql: (c) => `approx_distinct(${c})` },
];

export function aggregate(fn) {
  return AGGREGATES.find((a) => a.fn === fn) || null;
}

// Columns of `columns` ([{name, type}]) that `fn` takes.
export function columnsFor(fn, columns) {
  const definition = aggregate(fn);
  if (!definition || !definition.types) return [];
  return columns.filter((c) => definition.types.includes(c.type));
}

// { fn, column } -> SQL for its value (throws when it cannot be built).
export function aggregateSql({ fn, column }, types) {
  const definition = aggregate(fn);
  if (!definition) throw new Error(`unknown aggregate ${fn} (use ${AGGREGATES.map((a) => a.fn).join(', ')})`);
  if (!definition.types) return definition.sql();
  if (!column) throw new Error(`${fn} needs a column`);
  const type = types.get(column);
  if (!type) throw new Error(`no column ${column}`);
  if (!definition.types.includes(type)) throw new Error(`${fn} does not apply to ${type} column ${column}`);
  return definition.sql(identifier(column));
}
