// Time ranges and steps: the relative ranges (15m ... 7d), absolute ones
// written FROM_MS..TO_MS, durations like "5m", and the automatic step
// (about a 120th of the range, rounded up to a nice step).

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export const RELATIVE_RANGES = ['15m', '1h', '6h', '24h', '7d'];

export const STEPS = ['1s', '5s', '10s', '15s', '30s', '1m', '5m', '10m', '15m', '30m',
  '1h', '3h', '6h', '12h', '1d', '7d'];

export const REFRESH_INTERVALS = ['off', '5s', '10s', '30s', '1m'];

// "5m" -> 300000; null when it is not a duration.
export function parseDuration(text) {
  const match = /^(\d+)([smhdw])$/.exec(String(text || '').trim());
  return match ? Number(match[1]) * UNIT_MS[match[2]] : null;
}

// 300000 -> "5m" (the largest unit that divides it).
export function formatDuration(ms) {
  for (const unit of ['w', 'd', 'h', 'm', 's']) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

// { kind: 'relative', ms } | { kind: 'absolute', fromMs, toMs } | null.
export function parseRange(text) {
  const value = String(text || '').trim();
  const absolute = /^(\d+)\.\.(\d+)$/.exec(value);
  if (absolute) {
    const fromMs = Number(absolute[1]);
    const toMs = Number(absolute[2]);
    return toMs > fromMs ? { kind: 'absolute', fromMs, toMs } : null;
  }
  const ms = parseDuration(value);
  return ms ? { kind: 'relative', ms } : null;
}

export function absoluteRange(fromMs, toMs) {
  return `${Math.round(fromMs)}..${Math.round(toMs)}`;
}

// Buckets a chart has at most (the aggregator's time_completeness has at
// most as many): a range from a URL or a saved dashboard ("0..9e15", or
// 7d at 1s) would otherwise make arrays of millions per series.
export const MAX_BUCKETS = 10_000;

// The step for a range: `granularity` when it is a duration, else about
// range/120 rounded up to the next nice step; never so small that the
// range has more than MAX_BUCKETS buckets.
export function stepFor(spanMs, granularity) {
  const smallest = spanMs / MAX_BUCKETS;
  const chosen = parseDuration(granularity);
  if (chosen && chosen >= smallest) return chosen;
  const target = chosen ? smallest : spanMs / 120;
  for (const step of STEPS) {
    const ms = parseDuration(step);
    if (ms >= target) return ms;
  }
  const largest = parseDuration(STEPS[STEPS.length - 1]);
  return largest >= smallest ? largest : Math.ceil(smallest / UNIT_MS.d) * UNIT_MS.d;
}

// The range as epoch milliseconds, and the buckets over it. A relative
// range ends now and starts at a bucket boundary, so its first bucket is
// whole; an absolute one is taken as given. `buckets` is what the query's
// "time_buckets" option and the chart's x axis use.
export function resolveRange(text, granularity, now = Date.now()) {
  const range = parseRange(text) || parseRange('1h');
  let fromMs = range.kind === 'relative' ? now - range.ms : range.fromMs;
  const toMs = range.kind === 'relative' ? now : range.toMs;
  const stepMs = stepFor(toMs - fromMs, granularity);
  const startMs = Math.floor(fromMs / stepMs) * stepMs;
  if (range.kind === 'relative') fromMs = startMs;
  const count = Math.max(1, Math.ceil((toMs - startMs) / stepMs));
  return { fromMs, toMs, stepMs, startMs, endMs: startMs + count * stepMs, count };
}

// A range for people: "last 1h", or the two local times.
export function describeRange(text) {
  const range = parseRange(text);
  if (!range) return text;
  if (range.kind === 'relative') return `last ${text}`;
  return `${localInputValue(range.fromMs).replace('T', ' ')} – ${localInputValue(range.toMs).replace('T', ' ')}`;
}

// Epoch ms as a <input type=datetime-local> value (local time, to the minute).
export function localInputValue(ms) {
  const date = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// Arrow-json writes timestamps without a zone ("2026-11-29T10:00:00"):
// they are UTC.
export function parseTimestamp(value) {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return NaN;
  const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(value);
  return Date.parse(zoned ? value : `${value}Z`);
}

export function looksLikeTimestamp(value) {
  return typeof value === 'string' && /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d/.test(value);
}
