// A grouped time series built through the explorer's controls, as a
// person does it from the keyboard alone (no URL parameters, no mouse):
// choose the table, the range, the time series view, count, and a
// group-by column, then run with Enter on the Run button. Prints the SQL
// the page shows, the URL the page wrote, and what the panel drew (its
// hooks and series), which the test compares with the same SQL's HTTP
// answer.
//
//   node builder_timeseries.mjs --url BASE --table T --range 6h --group service

import { main, panelReport, waitForFinal, waitForRun, withPage } from './lib.mjs';

const PANEL = '[data-shoal-panel="explore"]';

main(async (args) => withPage({}, async (page) => {
  const { url, table, range = '6h', group = 'service' } = args;
  await page.goto(`${url}/explore`);
  await page.waitForSelector('#b-table');
  // Whatever the page ran first (its default table) settles first.
  await waitForFinal(page, PANEL);

  // Every control from the keyboard: focus it (as Tab would) and type, as
  // in a closed select typing picks the option whose label starts so.
  const choose = async (id, label, value) => {
    await page.focus(id);
    await page.keyboard.type(label);
    await page.waitForFunction(({ id, value }) => document.querySelector(id)?.value === value, { id, value });
  };
  await choose('#b-table', table, table);
  await choose('#b-range', `Last ${range}`, range);
  // The view is a radio group: arrows move the choice.
  await page.focus('input[name="view"]:checked');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => !document.querySelector('#b-view-timeseries')?.checked);
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => document.querySelector('#b-view-timeseries')?.checked);
  await choose('#b-agg-fn-0', 'count', 'count');
  // "+ group by" with Enter; the new row's select takes the focus.
  await page.focus('#b-group-add');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'b-group-0');
  await choose('#b-group-0', group, group);

  // Run from the keyboard: the Run button, then Enter. The SQL box shows
  // the SQL as of the last edit; the run takes "now" again, so its time
  // bounds may be a few milliseconds later (the test compares the two
  // with digits masked, and asks the server the SQL that ran).
  const shownSql = await page.$eval('#sql', (text) => text.value);
  await waitForRun(page, PANEL, async () => {
    await page.focus('#b-run');
    await page.keyboard.press('Enter');
  });
  const [panel] = await panelReport(page, PANEL);
  return {
    shown_sql: shownSql,
    url: page.url(),
    controls: await page.evaluate(() => ({
      table: document.querySelector('#b-table').value,
      range: document.querySelector('#b-range').value,
      view: document.querySelector('input[name="view"]:checked')?.value,
      agg: document.querySelector('#b-agg-fn-0').value,
      group: document.querySelector('#b-group-0').value,
    })),
    panel,
  };
}));
