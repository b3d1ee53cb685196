// An explorer view as URL parameters and back. The URL is the whole state:
// /explore?table=T&range=24h&view=timeseries&agg=count&agg=p99(latency_ms)
//   &group=service&where=<SQL boolean>&granularity=auto&order=count desc
//   &limit=100&column=latency_ms&compare=1d&stacked=1&top=10&sql=<raw SQL>
// Repeated parameters (agg, group, where) keep their order; several
// `where`s are joined with AND.

export const VIEWS = ['timeseries', 'table', 'bar', 'samples', 'heatmap'];

export const DEFAULTS = {
  table: '',
  range: '1h',
  view: 'timeseries',
  aggs: ['count'],
  groups: [],
  wheres: [],
  granularity: 'auto',
  order: '',
  limit: '',
  column: '',
  compare: '',
  stacked: false,
  top: '',
  sql: '',
};

export function parseState(search) {
  const params = new URLSearchParams(search);
  const text = (name) => (params.get(name) || '').trim();
  const view = text('view');
  const aggs = params.getAll('agg').map((a) => a.trim()).filter(Boolean);
  return {
    ...DEFAULTS,
    table: text('table'),
    range: text('range') || DEFAULTS.range,
    view: VIEWS.includes(view) ? view : DEFAULTS.view,
    aggs: aggs.length ? aggs : [...DEFAULTS.aggs],
    groups: params.getAll('group').map((g) => g.trim()).filter(Boolean),
    wheres: params.getAll('where').map((w) => w.trim()).filter(Boolean),
    granularity: text('granularity') || DEFAULTS.granularity,
    order: text('order'),
    limit: text('limit'),
    column: text('column'),
    compare: ['1d', '1w'].includes(text('compare')) ? text('compare') : '',
    stacked: ['1', 'true'].includes(text('stacked')),
    top: text('top'),
    sql: params.get('sql') || '',
  };
}

// The state as a query string (without "?"). `withRange: false` leaves the
// range out, as dashboard panels store their view (the dashboard's range
// applies).
export function stateQuery(state, { withRange = true } = {}) {
  const params = new URLSearchParams();
  if (state.table) params.set('table', state.table);
  if (withRange && state.range) params.set('range', state.range);
  params.set('view', state.view);
  if (state.sql) {
    params.set('sql', state.sql);
    return params.toString();
  }
  for (const agg of state.aggs) params.append('agg', agg);
  for (const group of state.groups) params.append('group', group);
  for (const where of state.wheres) params.append('where', where);
  if (state.granularity && state.granularity !== 'auto') params.set('granularity', state.granularity);
  if (state.order) params.set('order', state.order);
  if (state.limit) params.set('limit', state.limit);
  if (state.column) params.set('column', state.column);
  if (state.compare) params.set('compare', state.compare);
  if (state.stacked) params.set('stacked', '1');
  if (state.top) params.set('top', state.top);
  return params.toString();
}

export function explorerUrl(state) {
  return `/explore?${stateQuery(state)}`;
}

// "sum(bytes_sent)" -> { fn: 'sum', column: 'bytes_sent' }; "count" -> { fn: 'count' }.
export function parseAgg(text) {
  const match = /^([a-z0-9_]+)\((.*)\)$/i.exec(text.trim());
  if (!match) return { fn: text.trim().toLowerCase(), column: '' };
  return { fn: match[1].toLowerCase(), column: match[2] };
}

export function formatAgg({ fn, column }) {
  return fn === 'count' ? 'count' : `${fn}(${column})`;
}
