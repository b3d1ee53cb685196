// Each explorer view opened by its URL (table, timeseries, bar, samples,
// heatmap, ...): waits for the panel's final answer and prints, per URL,
// what it drew (hooks, SQL, answer shape, drawn data), which the test
// checks against the same SQL's HTTP answer.
//
//   node views.mjs --url BASE --path '/explore?table=T&view=table&...' [--path ...]

import { list, main, panelReport, waitForFinal, withPage } from './lib.mjs';

const PANEL = '[data-shoal-panel="explore"]';

main(async (args) => withPage({}, async (page) => {
  const views = [];
  for (const path of list(args.path)) {
    await page.goto(`${args.url}${path}`);
    await waitForFinal(page, PANEL);
    const [panel] = await panelReport(page, PANEL);
    views.push({ path, url: page.url(), panel });
  }
  return { views };
}));
