// What every browser scenario shares: starting Debian's Chromium headless
// with a fresh profile and driving it over the DevTools protocol with
// playwright-core, reading a scenario's arguments, waiting for panels to
// settle, and printing the scenario's result as one JSON line on stdout
// (tests/browser.rs reads that line; anything else goes to stderr).
//
//   node tests/browser/SCENARIO.mjs --url http://127.0.0.1:PORT [--name value ...]
//
// Chromium is started here, not by Playwright, so the flags are exactly
// these (SHOAL_CHROMIUM names another binary than /usr/bin/chromium).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const STARTUP_TIMEOUT_MS = 30_000;

// `--name value` pairs as an object; a repeated name gives an array.
export function parseArgs(argv = process.argv.slice(2)) {
  const args = {};
  for (let i = 0; i < argv.length; i += 1) {
    const match = /^--([a-z0-9-]+)$/.exec(argv[i]);
    if (!match) throw new Error(`unexpected argument ${argv[i]} (arguments are --name value)`);
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`--${match[1]} needs a value`);
    i += 1;
    const name = match[1];
    if (name in args) args[name] = [].concat(args[name], value);
    else args[name] = value;
  }
  return args;
}

// A list argument: absent -> [], one -> [it], repeated -> all.
export function list(value) {
  return value === undefined ? [] : [].concat(value);
}

// Starts Chromium with a fresh --user-data-dir and connects to it.
// Returns { browser, close }.
export async function launch({ width = 1280, height = 800 } = {}) {
  const executable = process.env.SHOAL_CHROMIUM || '/usr/bin/chromium';
  const profile = mkdtempSync(join(tmpdir(), 'shoal-chromium-'));
  const child = spawn(executable, [
    ...CHROMIUM_FLAGS,
    `--user-data-dir=${profile}`,
    `--window-size=${width},${height}`,
    '--remote-debugging-port=0',
    'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let printed = '';
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not start within ${STARTUP_TIMEOUT_MS} ms: ${printed}`)), STARTUP_TIMEOUT_MS);
    child.stderr.on('data', (chunk) => {
      printed += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(printed);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${code}) before it was ready: ${printed}`));
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`chromium could not be started (${executable}): ${error.message}`));
    });
  });
  child.stderr.resume();
  const browser = await chromium.connectOverCDP(endpoint);
  const exited = new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
  // Browser.close lets Chromium end its own helper processes; SIGKILL
  // if it has not exited a few seconds later.
  const close = async () => {
    try {
      const session = await browser.newBrowserCDPSession();
      await session.send('Browser.close');
    } catch {
      // Already gone: the kill below is then a no-op.
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  return { browser, close };
}

// A new page of `width`x`height` in a context of its own; what the page
// logs to its console and its uncaught errors go to stderr.
export async function newPage(browser, { width = 1280, height = 800, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme });
  const page = await context.newPage();
  page.on('pageerror', (error) => process.stderr.write(`page error: ${error.message}\n`));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') process.stderr.write(`console ${message.type()}: ${message.text()}\n`);
  });
  return page;
}

// Waits until the panel(s) matching `selector` have their final answer
// (data-final="true"); `sql` (optional): and the answer drawn is that SQL's.
export async function waitForFinal(page, selector, { timeout = 60_000, sql = null } = {}) {
  await page.waitForFunction(({ selector, sql }) => {
    const panels = [...document.querySelectorAll(selector)];
    return panels.length > 0 && panels.every((p) => p.getAttribute('data-final') === 'true'
      && p.getAttribute('data-state') !== 'loading'
      && (sql === null || (p.shoal && p.shoal.sql === sql)));
  }, { selector, sql }, { timeout, polling: 50 });
}

// What a panel element shows, for the test to check: its hooks, the SQL,
// the answer's shape and the data drawn (time series: xs and series;
// heatmap: xs, counts, bins; table/samples: the rows drawn in the DOM).
export async function panelReport(page, selector) {
  return page.$$eval(selector, (panels) => panels.map((p) => {
    const attributes = {};
    for (const { name, value } of [...p.attributes]) if (name.startsWith('data-')) attributes[name] = value;
    const shoal = p.shoal || {};
    const answer = shoal.answer || null;
    return {
      attributes,
      title: p.querySelector('.panel-title')?.textContent || '',
      sql: shoal.sql || null,
      error: shoal.error || null,
      answer: answer ? {
        columns: answer.columns,
        rows: answer.rows.length,
        first_rows: answer.rows.slice(0, 200),
        completeness: answer.completeness,
        time_completeness: answer.time_completeness || null,
        final: answer.final,
        sequence: answer.sequence,
      } : null,
      data: shoal.data || null,
      table_rows: p.querySelectorAll('.panel-body table.result tbody tr').length,
      canvas: p.querySelectorAll('.panel-body canvas').length,
      missing_note: p.querySelector('.missing-note')?.textContent || null,
    };
  }));
}

// Runs `scenario(args)` and prints what it returns as one JSON line; an
// error is printed as {"error": ...} and the exit status is 1. The line is
// flushed before the exit (a pipe is written asynchronously).
export async function main(scenario) {
  let line;
  let exitCode = 0;
  try {
    const result = await scenario(parseArgs());
    line = JSON.stringify(result);
  } catch (error) {
    line = JSON.stringify({ error: String(error && error.stack ? error.stack : error) });
    exitCode = 1;
  }
  await new Promise((resolve) => process.stdout.write(`${line}\n`, resolve));
  process.exit(exitCode);
}

// Runs `body(page, browser)` in a fresh Chromium, closing it after.
export async function withPage(options, body) {
  const { browser, close } = await launch(options);
  try {
    const page = await newPage(browser, options);
    return await body(page, browser);
  } finally {
    await close();
  }
}

// Does `action` (which starts a run of the panel at `selector`) and waits
// until that run's final answer is drawn: a new run sets data-final to
// "false" before anything else, which an observer installed first sees.
export async function waitForRun(page, selector, action, { timeout = 60_000 } = {}) {
  await page.$eval(selector, (panel) => {
    panel.shoalRuns = { started: 0, finished: 0 };
    const observer = new MutationObserver(() => {
      const final = panel.getAttribute('data-final') === 'true' && panel.getAttribute('data-state') !== 'loading';
      if (!final) panel.shoalRuns.started += 1;
      else if (panel.shoalRuns.started > 0) panel.shoalRuns.finished = panel.shoalRuns.started;
    });
    observer.observe(panel, { attributes: true, attributeFilter: ['data-final', 'data-state'] });
  });
  await action();
  await page.waitForFunction((selector) => {
    const runs = document.querySelector(selector)?.shoalRuns;
    const panel = document.querySelector(selector);
    return runs && runs.started > 0 && runs.finished === runs.started
      && panel.getAttribute('data-final') === 'true' && panel.getAttribute('data-state') !== 'loading';
  }, selector, { timeout, polling: 50 });
}
