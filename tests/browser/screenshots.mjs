// The README's screenshots, taken by hand against running processes (not
// by the tests): the explorer with a grouped time series, a dashboard of
// several panels, and a partial panel with its missing buckets shaded.
//
//   node screenshots.mjs --url http://127.0.0.1:8080 --dashboard NAME \
//       [--explore '/explore?table=requests&range=6h&view=timeseries&agg=count&group=service'] \
//       [--partial-url http://127.0.0.1:PORT --partial-path '/explore?...'] [--out-dir docs]
//
// Each is a 1280x800 viewport (light scheme), written as PNG.

import { join } from 'node:path';
import { launch, main, newPage, waitForFinal } from './lib.mjs';
import { waitForDashboard } from './dashboard_report.mjs';

const SIZE = { width: 1280, height: 800 };
const EXPLORE = '/explore?table=requests&range=6h&view=timeseries&agg=count&group=service';

// Hides the text cursor and hover state so that shots do not differ by them.
async function settle(page) {
  await page.mouse.move(0, 0);
  await page.evaluate(() => document.activeElement?.blur());
  await page.waitForTimeout(300);
}

main(async (args) => {
  const outDir = args['out-dir'] || 'docs';
  const { browser, close } = await launch(SIZE);
  const written = [];
  const shoot = async (name, url, ready) => {
    const page = await newPage(browser, SIZE);
    await page.goto(url);
    await ready(page);
    await settle(page);
    const path = join(outDir, name);
    await page.screenshot({ path });
    written.push(path);
    await page.context().close();
  };
  try {
    await shoot('explorer.png', `${args.url}${args.explore || EXPLORE}`, (page) => waitForFinal(page, '[data-shoal-panel="explore"]'));
    if (args.dashboard) {
      await shoot('dashboard.png', `${args.url}/dashboards/${encodeURIComponent(args.dashboard)}`, (page) => waitForDashboard(page));
    }
    if (args['partial-url']) {
      await shoot('partial.png', `${args['partial-url']}${args['partial-path']}`, (page) => waitForFinal(page, '[data-shoal-panel]'));
    }
  } finally {
    await close();
  }
  return { written };
});
