// A dashboard page's state for the scenarios: waiting until every panel
// has its final answer (the root's data-state "done"), and what the page
// and each panel show.

import { panelReport } from './lib.mjs';

const ROOT = '[data-shoal-dashboard]';

// Records, from the page's first script on, when the dashboard root first
// says "done" (performance.now(), i.e. milliseconds since navigation
// started). Call before page.goto.
export async function recordDone(page) {
  await page.addInitScript(() => {
    window.shoalDoneMs = null;
    const watch = new MutationObserver(() => {
      const root = document.querySelector('[data-shoal-dashboard]');
      if (window.shoalDoneMs === null && root && root.getAttribute('data-state') === 'done') {
        window.shoalDoneMs = performance.now();
      }
    });
    watch.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  });
}

export async function waitForDashboard(page, { timeout = 60_000 } = {}) {
  await page.waitForFunction((root) => ['done', 'error'].includes(document.querySelector(root)?.getAttribute('data-state')),
    ROOT, { timeout, polling: 50 });
}

export async function dashboardReport(page) {
  const root = await page.$eval(ROOT, (element) => ({
    name: element.getAttribute('data-shoal-dashboard'),
    state: element.getAttribute('data-state'),
    drawn_ms: Number(element.getAttribute('data-drawn-ms')),
    heading: element.querySelector('h1')?.textContent || '',
    range: document.querySelector('#d-range')?.value || null,
  }));
  return {
    url: page.url(),
    dashboard: root,
    done_ms: await page.evaluate(() => window.shoalDoneMs ?? null),
    panels: await panelReport(page, `${ROOT} [data-shoal-panel]`),
  };
}
