// The tables the builder can pick, from GET /api/v1/tables: every table,
// and every group of daily tables (read as one with shoal_tables('glob'),
// which adds a `_table` column), named by its label (`logstash-*`; its
// exact pattern is accepted too). Each entry: { name, sqlName, label,
// columns: [{name, type}], types: Map(name -> type), rows }.

import { getTables } from './api.js';

let loading = null;

function entry(name, sqlName, label, columns, rows) {
  const sorted = [...columns].sort((a, b) => (a.name === 'time' ? -1 : b.name === 'time' ? 1 : a.name.localeCompare(b.name)));
  return { name, sqlName, label, columns: sorted, types: new Map(sorted.map((c) => [c.name, c.type])), rows };
}

async function load() {
  const body = await getTables();
  const tables = (body.tables || []).map((t) => entry(t.name, t.sql_name || t.name, t.name, t.columns || [], t.rows || 0));
  const byName = new Map(tables.map((t) => [t.name, t]));
  const groups = (body.groups || []).map((g) => {
    const members = (g.tables || []).map((name) => byName.get(name)).filter(Boolean);
    const columns = new Map([['_table', 'string']]);
    for (const member of members) for (const c of member.columns) if (!columns.has(c.name)) columns.set(c.name, c.type);
    const rows = members.reduce((n, m) => n + m.rows, 0);
    const group = entry(g.label || g.pattern, g.sql_name, `${g.label || g.pattern} (${members.length} daily tables)`,
      [...columns].map(([name, type]) => ({ name, type })), rows);
    group.pattern = g.pattern;
    return group;
  });
  const find = (name) => byName.get(name) || groups.find((g) => g.name === name || g.pattern === name) || null;
  return { tables, groups, find };
}

// The catalog, loaded once per page (reload with `fresh`).
export function catalog({ fresh = false } = {}) {
  if (!loading || fresh) {
    loading = load();
    loading.catch(() => { loading = null; });
  }
  return loading;
}
