// A saved dashboard opened by its URL: waits until every panel has its
// final answer and prints the page's state, each panel's, and when the
// page was done (performance.now() from navigation start: `done_ms`, and
// the page's own data-drawn-ms from the start of the panels' run).
//
//   node open_dashboard.mjs --url BASE --name NAME [--query 'range=...'] [--repeat N]
//
// --repeat N opens it N times (a new page each time) and prints every run.

import { main, newPage, launch } from './lib.mjs';
import { dashboardReport, recordDone, waitForDashboard } from './dashboard_report.mjs';

main(async (args) => {
  const { url, name, query } = args;
  const repeat = Math.max(1, Number(args.repeat) || 1);
  const { browser, close } = await launch();
  try {
    const runs = [];
    for (let i = 0; i < repeat; i += 1) {
      const page = await newPage(browser);
      await recordDone(page);
      await page.goto(`${url}/dashboards/${encodeURIComponent(name)}${query ? `?${query}` : ''}`);
      await waitForDashboard(page);
      runs.push(await dashboardReport(page));
      await page.context().close();
    }
    return repeat === 1 ? runs[0] : { runs };
  } finally {
    await close();
  }
});
