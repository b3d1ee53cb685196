// A panel: one explorer view, run and drawn. The explorer's result is a
// panel, and so is each of a dashboard's. It runs the plan's queries
// progressively, redraws on every answer, and says how complete the drawn
// answer is. Its element carries the test hooks:
//
//   data-shoal-panel         the panel's index (dashboards) or "explore"
//   data-state               loading | partial | complete | error
//                            (loading until the final answer has arrived)
//   data-final               "true" once the drawn answer is the final one
//   data-sequence            the drawn answer's place in the stream (0, 1, ...)
//   data-leaves-answered     \
//   data-leaves-queried       } of the drawn answer
//   data-rows-ratio          /
//   data-series              chart views: series drawn
//   data-incomplete-buckets  chart views: buckets shaded as missing data
//   data-points              chart views: values drawn (all series)

import { runQuery } from './api.js';
import { h } from './dom.js';
import { buildPlan, heatmapBins } from './sql_builder.js';
import { formatValue, destroyChart } from './views/chart.js';
import { renderTimeseries } from './views/timeseries.js';
import { renderTable } from './views/table.js';
import { renderBar } from './views/bar.js';
import { renderSamples } from './views/samples.js';
import { renderHeatmap } from './views/heatmap.js';

const RENDERERS = { timeseries: renderTimeseries, table: renderTable, bar: renderBar, samples: renderSamples, heatmap: renderHeatmap };
const CHART_VIEWS = new Set(['timeseries', 'bar', 'heatmap']);
const BOUNDS_GRACE_MS = 500;

export function isPartial(completeness) {
  if (!completeness) return false;
  return completeness.leaves_answered < completeness.leaves_queried || completeness.rows_ratio < 1;
}

function percent(ratio) {
  if (!Number.isFinite(ratio)) return '–';
  const value = ratio * 100;
  return `${value >= 99.95 && ratio < 1 ? '99.9' : value.toFixed(value === 100 ? 0 : 1)}%`;
}

export class Panel {
  // `id`: the data-shoal-panel value; `title`: shown above; `actions`:
  // nodes for the header; `onZoom(fromMs, toMs)`: a drag on a chart.
  constructor({ id, title = '', actions = [], onZoom = null, height = 300 }) {
    this.onZoom = onZoom;
    this.height = height;
    this.titleElement = h('h2', { class: 'panel-title' }, title);
    this.status = h('div', { class: 'panel-status', role: 'status', 'aria-live': 'polite' }, 'Not run yet');
    this.body = h('div', { class: 'panel-body' });
    this.notes = h('div', { class: 'panel-notes' });
    this.element = h('section', { class: 'panel', 'data-shoal-panel': String(id), 'data-state': 'loading', 'aria-label': title || 'result' },
      h('header', { class: 'panel-header' }, this.titleElement, h('div', { class: 'panel-actions' }, actions)),
      this.status, this.body, this.notes);
    this.element.shoal = {};
    this.generation = 0;
  }

  setTitle(title) {
    this.titleElement.textContent = title;
    this.element.setAttribute('aria-label', title || 'result');
  }

  // Runs `state` over `table` (a catalog entry). Resolves when done
  // (final answer, error, or superseded by a later run).
  async run(state, table, { now = Date.now() } = {}) {
    this.abort();
    const controller = new AbortController();
    this.controller = controller;
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    this.setAttributes({ 'data-state': 'loading', 'data-final': 'false' });
    this.status.classList.add('busy');
    let plan;
    try {
      plan = buildPlan(state, table, now);
    } catch (error) {
      this.showError(error.message);
      return;
    }
    this.plan = plan;
    this.state = state;
    const started = performance.now();
    try {
      if (plan.view === 'heatmap' && !plan.raw) {
        await this.runHeatmap(plan, controller.signal, current, started);
      } else {
        let compareAnswer = null;
        let lastAnswer = null;
        const comparing = plan.compare
          ? runQuery({ sql: plan.compare.sql, signal: controller.signal }).then((answer) => {
            compareAnswer = answer;
            if (lastAnswer && current()) this.draw(plan, lastAnswer, { compareAnswer, started });
          }).catch(() => {})
          : null;
        const answer = await runQuery({
          sql: plan.sql,
          timeBuckets: plan.timeBuckets,
          signal: controller.signal,
          onAnswer: (a) => { if (current()) { lastAnswer = a; this.draw(plan, a, { compareAnswer, started }); } },
        });
        if (comparing) await comparing;
        lastAnswer = answer;
      }
    } catch (error) {
      if (error.name === 'AbortError' || !current()) return;
      this.showError(error.message);
    } finally {
      if (current()) this.status.classList.remove('busy');
    }
  }

  // The heatmap's bins come from a first query (minimum, maximum, p99);
  // its final answer is awaited at most BOUNDS_GRACE_MS after its first,
  // so a silent leaf delays the drawing by one deadline, not two.
  async runHeatmap(plan, signal, current, started) {
    let latest = null;
    let graceTimer = null;
    const bounds = await new Promise((resolve, reject) => {
      runQuery({
        sql: plan.boundsSql,
        signal,
        onAnswer: (answer) => {
          latest = answer;
          if (!graceTimer) graceTimer = setTimeout(() => resolve(latest), BOUNDS_GRACE_MS);
        },
      }).then(resolve, reject).finally(() => clearTimeout(graceTimer));
    });
    if (!current()) return;
    const bins = heatmapBins(bounds.rows[0] || []);
    if (!bins) {
      this.draw({ ...plan, view: 'table' }, { ...bounds, columns: ['note'], rows: [[`no ${plan.column} values in this range`]] }, { started });
      return;
    }
    const sql = plan.histogramSql({ low: bins.low, width: bins.width });
    this.plan = { ...plan, sql };
    await runQuery({
      sql,
      timeBuckets: plan.timeBuckets,
      signal,
      onAnswer: (a) => { if (current()) this.draw(plan, a, { bins, started }); },
    });
  }

  abort() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  setAttributes(attributes) {
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined) this.element.removeAttribute(name);
      else this.element.setAttribute(name, String(value));
    }
  }

  clearBody() {
    destroyChart(this.chart);
    this.chart = null;
    this.body.replaceChildren();
    this.notes.replaceChildren();
  }

  // Draws `answer` (one line of the stream) and updates the hooks.
  draw(plan, answer, extra = {}) {
    this.last = { plan, answer, extra };
    this.clearBody();
    const render = RENDERERS[plan.view] || renderTable;
    const result = render(this.body, { answer, plan, state: this.state, onZoom: this.onZoom, height: this.height, ...extra }) || {};
    this.chart = result.chart || null;
    const c = answer.completeness || {};
    const partial = isPartial(c);
    const final = answer.final !== false;
    const chart = CHART_VIEWS.has(plan.view);
    this.setAttributes({
      'data-state': final ? (partial ? 'partial' : 'complete') : 'loading',
      'data-final': final,
      'data-sequence': answer.sequence ?? 0,
      'data-leaves-answered': c.leaves_answered,
      'data-leaves-queried': c.leaves_queried,
      'data-rows-ratio': c.rows_ratio,
      'data-series': chart ? result.series || 0 : null,
      'data-incomplete-buckets': chart ? result.incompleteBuckets || 0 : null,
      'data-points': chart ? result.points || 0 : null,
    });
    this.element.classList.toggle('is-partial', partial);
    this.element.classList.remove('is-error');
    this.element.shoal = { sql: plan.sql, answer, data: result.data, drawnMs: performance.now() - (extra.started || 0) };
    this.showStatus(c, answer, partial, final, extra.started);
    const notes = [...(result.notes || [])];
    if (result.incompleteBuckets) {
      this.notes.append(h('span', { class: 'missing-note' }, h('span', { class: 'missing-swatch', 'aria-hidden': 'true' }),
        `missing data: ${result.incompleteBuckets} bucket${result.incompleteBuckets === 1 ? '' : 's'} shaded where leaves that hold rows did not answer`));
    }
    for (const note of notes) this.notes.append(h('span', { class: 'note' }, note));
  }

  showStatus(c, answer, partial, final, started) {
    const answered = `${c.leaves_answered ?? '?'}/${c.leaves_queried ?? '?'} leaves`;
    const badge = partial
      ? h('span', { class: 'badge badge-partial' }, '⚠ partial')
      : h('span', { class: 'badge badge-complete' }, '✓ complete');
    const elapsed = answer.elapsed_ms !== undefined ? `${formatValue(answer.elapsed_ms)} ms` : `${formatValue(performance.now() - started)} ms`;
    this.status.replaceChildren(
      final ? badge : h('span', { class: 'badge badge-loading' }, '… refining'),
      h('span', { class: 'leaves', title: 'leaves answered / leaves queried' }, answered),
      ' · ',
      h('span', { class: 'rows-ratio', title: 'share of the rows held by the leaves that answered' }, `rows ${percent(c.rows_ratio)}`),
      h('span', { class: 'muted' }, ` · ${answer.rows.length.toLocaleString()} result rows · ${elapsed}`),
    );
  }

  showError(message) {
    this.clearBody();
    this.setAttributes({ 'data-state': 'error', 'data-final': 'true', 'data-series': null, 'data-incomplete-buckets': null, 'data-points': null });
    this.element.classList.remove('is-partial');
    this.element.classList.add('is-error');
    this.status.classList.remove('busy');
    this.status.replaceChildren(h('span', { class: 'badge badge-error' }, '✕ error'));
    this.body.append(h('pre', { class: 'error', role: 'alert' }, message));
    this.element.shoal = { error: message };
  }

  // Draws the last answer again (the colour scheme changed).
  redraw() {
    if (this.last) this.draw(this.last.plan, this.last.answer, this.last.extra);
  }

  destroy() {
    this.abort();
    this.clearBody();
  }
}
