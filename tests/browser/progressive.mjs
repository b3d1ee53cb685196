// Progressive drawing: opens an explorer URL (with `deadline=` in it, which
// the app sends as x-shoal-deadline) and records in the page, from its
// first script on, when each query request started and every change of
// the panel's hooks (performance.now()), until the final answer is drawn.
// The test stops one leaf first: the first answer must be drawn before the
// deadline, the final one at it.
//
//   node progressive.mjs --url BASE --path '/explore?table=T&...&deadline=5s'

import { main, panelReport, waitForFinal, withPage } from './lib.mjs';

const PANEL = '[data-shoal-panel="explore"]';

main(async (args) => withPage({}, async (page) => {
  await page.addInitScript(() => {
    const timeline = [];
    window.shoalTimeline = timeline;
    const originalFetch = window.fetch.bind(window);
    window.fetch = (input, init = {}) => {
      const url = typeof input === 'string' ? input : input.url;
      if (url.includes('/api/v1/query')) {
        const headers = init.headers || {};
        timeline.push({ t: performance.now(), event: 'request', deadline: headers['x-shoal-deadline'] || null });
      }
      return originalFetch(input, init);
    };
    const watch = new MutationObserver((records) => {
      const panels = new Set(records.map((r) => r.target).filter((n) => n.hasAttribute && n.hasAttribute('data-shoal-panel')));
      for (const panel of panels) {
        timeline.push({
          t: performance.now(),
          event: 'panel',
          state: panel.getAttribute('data-state'),
          final: panel.getAttribute('data-final'),
          sequence: panel.getAttribute('data-sequence'),
          leaves_answered: panel.getAttribute('data-leaves-answered'),
          leaves_queried: panel.getAttribute('data-leaves-queried'),
          series: panel.getAttribute('data-series'),
          points: panel.getAttribute('data-points'),
        });
      }
    });
    watch.observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state', 'data-final', 'data-sequence'] });
  });
  await page.goto(`${args.url}${args.path}`);
  await waitForFinal(page, PANEL, { timeout: 110_000 });
  const [panel] = await panelReport(page, PANEL);
  return { timeline: await page.evaluate(() => window.shoalTimeline), panel };
}));
