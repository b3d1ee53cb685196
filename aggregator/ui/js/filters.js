// Filters: `column op value`, the operators each column type offers, the
// SQL each writes, and the way back (a `where=` URL parameter the builder
// wrote is read back into a filter row; any other SQL stays a free-form
// SQL filter). String sets are tested with array_has.

import { identifier, stringLiteral, numberLiteral, timestampLiteral } from './sql.js';

const NULL_OPS = ['is null', 'is not null'];

export const OPERATORS = {
  string: ['=', '!=', 'in', 'not in', 'like', 'not like', ...NULL_OPS],
  integer: ['=', '!=', '<', '<=', '>', '>=', 'in', 'not in', ...NULL_OPS],
  float: ['=', '!=', '<', '<=', '>', '>=', ...NULL_OPS],
  boolean: ['is true', 'is false', ...NULL_OPS],
  timestamp: ['>=', '<', '>', '<=', ...NULL_OPS],
  string_set: ['contains', 'not contains', ...NULL_OPS],
};

// The free-form filter: its value is a SQL boolean expression.
export const SQL_OP = 'sql';

export function operatorsFor(type) {
  return OPERATORS[type] || OPERATORS.string;
}

export function takesValue(op) {
  return !NULL_OPS.includes(op) && op !== 'is true' && op !== 'is false';
}

function valueLiteral(value, type) {
  if (type === 'integer' || type === 'float') return numberLiteral(value);
  if (type === 'timestamp') return timestampLiteral(value);
  return stringLiteral(value);
}

// A filter row as SQL; throws an Error saying what is wrong with it.
export function filterSql(filter, type) {
  if (filter.op === SQL_OP) {
    if (!filter.value.trim()) throw new Error('the SQL filter is empty');
    return filter.value.trim();
  }
  if (!filter.column) throw new Error('choose a column to filter on');
  const column = identifier(filter.column);
  const op = filter.op;
  if (op === 'is null' || op === 'is not null') return `${column} ${op.toUpperCase()}`;
  if (op === 'is true' || op === 'is false') return `${column} ${op.toUpperCase()}`;
  if (op === 'contains') return `array_has(${column}, ${stringLiteral(filter.value)})`;
  if (op === 'not contains') return `NOT array_has(${column}, ${stringLiteral(filter.value)})`;
  if (op === 'in' || op === 'not in') {
    const values = String(filter.value).split(',').map((v) => v.trim()).filter((v) => v !== '');
    if (!values.length) throw new Error(`give ${filter.column} ${op} a list of values separated by commas`);
    return `${column} ${op.toUpperCase()} (${values.map((v) => valueLiteral(v, type)).join(', ')})`;
  }
  if (op === 'like' || op === 'not like') return `${column} ${op.toUpperCase()} ${stringLiteral(filter.value)}`;
  if (!operatorsFor(type).includes(op)) throw new Error(`${op} does not apply to ${type} column ${filter.column}`);
  return `${column} ${op} ${valueLiteral(filter.value, type)}`;
}

// --- reading a where= parameter back into a filter row ---

const TOKEN = /\s*(?:"((?:[^"]|"")*)"|'((?:[^']|'')*)'|([A-Za-z_][A-Za-z0-9_]*)|([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(<=|>=|!=|<>|=|<|>|\(|\)|,))/y;

function tokens(text) {
  const out = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const start = TOKEN.lastIndex;
    const match = TOKEN.exec(text);
    if (!match) {
      if (!text.slice(start).trim()) break;
      return null;
    }
    if (match[1] !== undefined) out.push({ kind: 'name', text: match[1].replaceAll('""', '"') });
    else if (match[2] !== undefined) out.push({ kind: 'string', text: match[2].replaceAll("''", "'") });
    else if (match[3] !== undefined) out.push({ kind: 'word', text: match[3] });
    else if (match[4] !== undefined) out.push({ kind: 'number', text: match[4] });
    else out.push({ kind: 'symbol', text: match[5] });
  }
  return out;
}

const word = (t, w) => t && t.kind === 'word' && t.text.toLowerCase() === w;
const columnOf = (t) => (t && (t.kind === 'name' || t.kind === 'word') ? t.text : null);

function literalOf(list, index) {
  const t = list[index];
  if (!t) return null;
  if (t.kind === 'string' || t.kind === 'number') return { value: t.text, next: index + 1 };
  if (word(t, 'timestamp') && list[index + 1] && list[index + 1].kind === 'string') {
    return { value: list[index + 1].text, next: index + 2 };
  }
  return null;
}

// `where` SQL -> { column, op, value }, or a free SQL filter.
export function parseFilter(sql) {
  const free = { column: '', op: SQL_OP, value: sql };
  const list = tokens(sql);
  if (!list || !list.length) return free;
  let negated = false;
  let i = 0;
  if (word(list[0], 'not')) { negated = true; i = 1; }
  if (word(list[i], 'array_has') && list[i + 1]?.text === '(' && list[i + 3]?.text === ','
      && list[i + 4]?.kind === 'string' && list[i + 5]?.text === ')' && list.length === i + 6) {
    const column = columnOf(list[i + 2]);
    if (column !== null) return { column, op: negated ? 'not contains' : 'contains', value: list[i + 4].text };
  }
  if (negated) return free;
  const column = columnOf(list[0]);
  if (column === null || word(list[0], 'array_has')) return free;
  const rest = list.slice(1);
  if (word(rest[0], 'is')) {
    const not = word(rest[1], 'not');
    const what = rest[not ? 2 : 1];
    if (rest.length !== (not ? 3 : 2)) return free;
    if (word(what, 'null')) return { column, op: not ? 'is not null' : 'is null', value: '' };
    if (!not && (word(what, 'true') || word(what, 'false'))) return { column, op: `is ${what.text.toLowerCase()}`, value: '' };
    return free;
  }
  const notIn = word(rest[0], 'not');
  const keyword = rest[notIn ? 1 : 0];
  if (word(keyword, 'like')) {
    const literal = rest[notIn ? 2 : 1];
    if (literal && literal.kind === 'string' && rest.length === (notIn ? 3 : 2)) {
      return { column, op: notIn ? 'not like' : 'like', value: literal.text };
    }
    return free;
  }
  if (word(keyword, 'in')) {
    let j = notIn ? 2 : 1;
    if (rest[j]?.text !== '(') return free;
    const values = [];
    j += 1;
    for (;;) {
      const literal = literalOf(rest, j);
      if (!literal) return free;
      values.push(literal.value);
      j = literal.next;
      if (rest[j]?.text === ',') { j += 1; continue; }
      if (rest[j]?.text === ')' && j === rest.length - 1) break;
      return free;
    }
    return { column, op: notIn ? 'not in' : 'in', value: values.join(', ') };
  }
  if (notIn) return free;
  const op = rest[0] && rest[0].kind === 'symbol' ? (rest[0].text === '<>' ? '!=' : rest[0].text) : null;
  if (!op || ['(', ')', ','].includes(op)) return free;
  const literal = literalOf(rest, 1);
  if (!literal || literal.next !== rest.length) return free;
  return { column, op, value: literal.value };
}
