// SQL text pieces the builder writes: quoted identifiers, escaped string
// literals, numbers, timestamps and intervals. Values a person typed only
// ever reach SQL through these.

// Words DataFusion's parser reserves; a column so named must be quoted.
const RESERVED = new Set(`all and any array as asc between both by case cast check collate column
constraint create cross current_date current_time current_timestamp default desc distinct drop
else end except exists false fetch filter for foreign from full group having in inner intersect
interval into is join lateral leading left like limit natural not null offset on or order outer
over partition primary qualify references right select session_user some table then to trailing
true union unique user using values when where window with`.split(/\s+/));

// A name as SQL: plain when it is a lower-case identifier that is not a
// keyword, else in double quotes with inner quotes doubled.
export function identifier(name) {
  if (/^[a-z_][a-z0-9_]*$/.test(name) && !RESERVED.has(name)) return name;
  return `"${String(name).replaceAll('"', '""')}"`;
}

export function stringLiteral(value) {
  return `'${String(value).replaceAll("'", "''")}'`;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function isNumber(text) {
  return NUMBER.test(String(text).trim());
}

// A number typed by a person, as SQL; throws when it is not one.
export function numberLiteral(text) {
  const value = String(text).trim();
  if (!NUMBER.test(value)) throw new Error(`"${text}" is not a number`);
  return value;
}

// A point in time as SQL: epoch ms, or text a person typed (ISO, or a
// datetime-local value, taken as local time).
export function timestampLiteral(value) {
  const ms = typeof value === 'number' ? value : Date.parse(String(value).trim());
  if (!Number.isFinite(ms)) throw new Error(`"${value}" is not a time (write 2026-11-29T10:00:00Z)`);
  return `TIMESTAMP '${new Date(ms).toISOString()}'`;
}

// 60000 -> INTERVAL '1 minute'.
export function intervalLiteral(ms) {
  const units = [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000], ['second', 1000]];
  for (const [unit, size] of units) {
    if (ms >= size && ms % size === 0) {
      const count = ms / size;
      return `INTERVAL '${count} ${unit}${count === 1 ? '' : 's'}'`;
    }
  }
  return `INTERVAL '${ms} milliseconds'`;
}
