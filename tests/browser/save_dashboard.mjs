// A dashboard made and saved through the app: "New dashboard" on
// /dashboards, then on its page (edit mode) one panel per explorer URL
// through "Add a panel", the dashboard's range chosen, and Save. Prints
// the saved page's state and its panels once every panel has its final
// answer.
//
//   node save_dashboard.mjs --url BASE --name NAME --title TITLE --range 6h \
//       --panel '/explore?table=T&view=...' --panel-title 'Requests' [--panel ... --panel-title ...]

import { list, main, withPage } from './lib.mjs';
import { dashboardReport, waitForDashboard } from './dashboard_report.mjs';

main(async (args) => withPage({}, async (page) => {
  const { url, name, title = name, range = '6h' } = args;
  const panels = list(args.panel);
  const titles = list(args['panel-title']);
  await page.goto(`${url}/dashboards`);
  await page.fill('#new-dashboard-name', name);
  await page.fill('#new-dashboard-title', title);
  await Promise.all([
    page.waitForURL(`**/dashboards/${name}?edit=1`),
    page.press('#new-dashboard-title', 'Enter'),
  ]);
  await page.waitForSelector('#d-add-url');
  for (const [index, panel] of panels.entries()) {
    await page.fill('#d-add-url', panel);
    await page.fill('#d-add-title', titles[index] || '');
    await page.click('#d-add');
    await page.waitForFunction((count) => document.querySelectorAll('[data-shoal-panel]').length === count, index + 1);
  }
  await page.selectOption('#d-range', range);
  await page.click('#d-save');
  await page.waitForFunction(() => /^Saved at /.test(document.querySelector('.dashboard .form-status')?.textContent || ''));
  const status = await page.$eval('.dashboard .form-status', (p) => p.textContent);
  await waitForDashboard(page);
  return { status, ...(await dashboardReport(page)) };
}));
