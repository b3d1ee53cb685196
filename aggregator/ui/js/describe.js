// A short title for an explorer view ("p99(latency_ms) by service · requests"),
// used for panels added to dashboards and the page title.

export function describeState(state) {
  if (state.sql) return `SQL · ${state.sql.replace(/\s+/g, ' ').slice(0, 60)}`;
  const table = state.table || 'no table';
  if (state.view === 'samples') return `Samples · ${table}`;
  if (state.view === 'heatmap') return `Distribution of ${state.column || 'a column'} · ${table}`;
  const by = state.groups.length ? ` by ${state.groups.join(', ')}` : '';
  return `${state.aggs.join(', ')}${by} · ${table}`;
}
