// Everything the app asks the aggregator, in one place: the bearer token
// (kept in sessionStorage, for this tab only, as the first dashboard did),
// tables, dashboards, and queries, which are read as a progressive NDJSON
// stream (one answer per line, the last marked "final").

const TOKEN_KEY = 'shoal-token';

// `deadline=5s` in the page's URL when it was opened: every query of this
// page load is sent with `x-shoal-deadline` (otherwise the aggregator's
// --deadline applies). Read once, as the explorer rewrites its URL.
const DEADLINE = new URLSearchParams(location.search).get('deadline');

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim());
}

function headers(extra = {}) {
  const value = token();
  return value ? { authorization: `Bearer ${value}`, ...extra } : { ...extra };
}

// An error the server (or the stream) gave, with its HTTP status.
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) message = body.error;
  } catch {
    // Not JSON: the status line says enough.
  }
  if (response.status === 401) message += ' (set a token with a read role in the Token field)';
  return new ApiError(message, response.status);
}

// A GET that prefetch.js started for this page, if it answered well.
async function prefetched(path) {
  const started = window.shoalPrefetched && window.shoalPrefetched.get(path);
  if (!started) return null;
  window.shoalPrefetched.delete(path);
  const response = await started;
  return response && response.ok ? response : null;
}

async function call(method, path, body) {
  const early = method === 'GET' ? await prefetched(path) : null;
  if (early) return early.json();
  const init = { method, headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export const getTables = () => call('GET', '/api/v1/tables');
export const listDashboards = () => call('GET', '/api/v1/dashboards');
export const getDashboard = (name) => call('GET', `/api/v1/dashboards/${encodeURIComponent(name)}`);
export const putDashboard = (name, spec) => call('PUT', `/api/v1/dashboards/${encodeURIComponent(name)}`, spec);
export const deleteDashboard = (name) => call('DELETE', `/api/v1/dashboards/${encodeURIComponent(name)}`);

// Runs `sql` progressively: `onAnswer(answer)` is called for every answer
// (each has `final`); resolves with the final one. A server that answers
// with plain JSON (no streaming) gives one final answer.
export async function runQuery({ sql, timeBuckets, signal, onAnswer = () => {} }) {
  const body = { sql, progressive: true };
  if (timeBuckets) body.time_buckets = timeBuckets;
  const response = await fetch('/api/v1/query', {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json', ...(DEADLINE ? { 'x-shoal-deadline': DEADLINE } : {}) }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  if (!(response.headers.get('content-type') || '').includes('ndjson')) {
    const answer = { ...(await response.json()), final: true };
    onAnswer(answer);
    return answer;
  }
  let last = null;
  for await (const line of lines(response.body)) {
    const answer = JSON.parse(line);
    if (answer.error) throw new ApiError(answer.error, response.status);
    last = answer;
    onAnswer(answer);
    if (answer.final) return answer;
  }
  throw new ApiError(last ? 'the answer stream ended before its final answer' : 'the server sent no answer', 0);
}

async function* lines(stream) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) yield line;
    }
    if (done) break;
  }
  if (buffer.trim()) yield buffer.trim();
}
