// The samples view: raw rows of the table, newest first
// (SELECT * ... ORDER BY time DESC LIMIT n), as a table.

import { renderTable } from './table.js';

export function renderSamples(body, { answer }) {
  return renderTable(body, { answer, caption: 'Raw rows, newest first' });
}
