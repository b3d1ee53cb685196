// The time series view: a line per group (top N, the rest as "other"),
// optionally stacked areas, optionally the same query a day or a week
// earlier as dashed lines of the same colour. Hover shows each series'
// value at the cursor; a drag over the chart zooms the range. Buckets the
// answer may lack rows in are shaded (missing_data.js).

import { COMPARE_DASH, seriesColour, seriesDash, withAlpha } from '../theme/colours.js';
import { incompleteBuckets, missingDataPlugin } from '../missing_data.js';
import { formatValue, makeChart } from './chart.js';
import { inferShape, pivot } from './pivot.js';

const uPlot = window.uPlot;

function cumulative(seriesList) {
  const sums = [];
  let running = null;
  for (const s of seriesList) {
    running = s.values.map((v, i) => (running ? running[i] : 0) + (Number.isFinite(v) ? v : 0));
    sums.push(running);
  }
  return sums;
}

export function renderTimeseries(body, { answer, compareAnswer, plan, state, onZoom, height }) {
  const shape = plan.shape || inferShape(answer);
  if (!shape.time || !shape.values.length) {
    body.append(Object.assign(document.createElement('p'), {
      className: 'empty',
      textContent: 'This answer has no time column and numeric column to draw; showing it as a table is the way (view=table).',
    }));
    return { series: 0, incompleteBuckets: 0, points: 0 };
  }
  const top = Math.max(1, Number.parseInt(state.top, 10) || 10);
  const additive = plan.additive || shape.values.map(() => false);
  const primary = pivot(answer, { shape, range: plan.range, additive, top });
  const { xs } = primary;
  const lines = primary.series.map((s, i) => ({ ...s, colour: seriesColour(i), dash: seriesDash(i) }));
  if (compareAnswer && plan.compare) {
    const earlier = pivot(compareAnswer, { shape, range: plan.range, additive, top, keepGroups: primary.groupKeys, shiftMs: plan.compare.shiftMs });
    earlier.series.forEach((s) => {
      const match = lines.find((l) => l.label === s.label && !l.compare);
      if (!match) return;
      lines.push({ ...s, label: `${s.label} (${plan.compare.label} earlier)`, colour: match.colour, dash: COMPARE_DASH, compare: true, width: 1 });
    });
  }
  const stacked = state.stacked && !lines.some((l) => l.compare);
  const drawn = stacked ? cumulative(lines) : lines.map((l) => l.values);
  const series = [{ label: 'time' }, ...lines.map((line, i) => ({
    label: line.label,
    stroke: line.colour,
    width: line.width || 1.5,
    dash: line.dash,
    fill: stacked ? withAlpha(line.colour, 0.45) : undefined,
    points: { show: xs.length <= 60, size: 5 },
    spanGaps: false,
    value: (u, v, si, idx) => formatValue(idx === null || idx === undefined ? v : lines[i].values[idx]),
  }))];
  const bands = stacked ? lines.slice(1).map((line, i) => ({ series: [i + 2, i + 1], fill: withAlpha(line.colour, 0.45) })) : undefined;
  if (stacked) lines.slice(1).forEach((_, i) => { series[i + 2].fill = undefined; });
  const range = plan.range;
  const xMin = range ? range.startMs : xs[0];
  const xMax = range ? range.toMs : xs[xs.length - 1];
  const missing = incompleteBuckets(answer.time_completeness, xMin, xMax);
  const chart = makeChart(body, {
    series,
    bands,
    scales: { x: { time: true, range: () => [xMin, xMax] }, y: { range: (u, min, max) => uPlot.rangeNum(Math.min(0, min), max, 0.1, true) } },
    axes: [{}, { values: (u, splits) => splits.map(formatValue), size: 60 }],
    plugins: [missingDataPlugin(missing)],
  }, [xs, ...drawn], { onZoom, height });
  const points = lines.filter((l) => !l.compare).reduce((n, l) => n + l.values.filter((v) => v !== null && v !== undefined).length, 0);
  const notes = [];
  if (primary.groupsHidden) notes.push(`${primary.groupsHidden} more groups not shown (their ${shape.values.join(', ')} cannot be summed as "other")`);
  else if (primary.groupsOther) notes.push(`"other" sums ${primary.groupsOther} more groups`);
  if (plan.rowLimit && answer.rows.length >= plan.rowLimit) notes.push(`the answer was cut at ${plan.rowLimit.toLocaleString()} rows`);
  chart.root.setAttribute('role', 'img');
  chart.root.setAttribute('aria-label', `Time series: ${lines.length} series (${lines.map((l) => l.label).slice(0, 8).join(', ')})`);
  return {
    chart,
    series: lines.length,
    incompleteBuckets: missing.length,
    points,
    notes,
    data: { xs, series: lines.map((l) => ({ label: l.label, values: l.values, compare: Boolean(l.compare) })) },
  };
}
