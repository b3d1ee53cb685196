// The heatmap view: how a numeric column's values spread over time. Each
// time bucket is split into value bins (sql_builder.js: HEATMAP_BINS between
// the column's minimum and its maximum, or its p99 when outliers stretch
// the range), each cell coloured by its count (viridis, square-root scale).
// The cells are drawn by a uPlot series `paths` function, so the axes,
// cursor, zoom and legend are uPlot's; hover names the cell's count.

import { viridis } from '../theme/colours.js';
import { incompleteBuckets, missingDataPlugin } from '../missing_data.js';
import { formatValue, makeChart } from './chart.js';
import { timeGrid } from './pivot.js';
import { parseTimestamp } from '../time_range.js';
import { HEATMAP_BINS } from '../sql_builder.js';

export function heatmapMatrix(answer, xs, stepMs) {
  const [timeIndex, binIndex, countIndex] = ['bucket', 'bin', 'count'].map((c) => answer.columns.indexOf(c));
  const counts = xs.map(() => new Array(HEATMAP_BINS).fill(0));
  let max = 0;
  for (const row of answer.rows) {
    const i = Math.round((parseTimestamp(row[timeIndex]) - xs[0]) / stepMs);
    const bin = Number(row[binIndex]);
    if (i < 0 || i >= xs.length || !(bin >= 0 && bin < HEATMAP_BINS)) continue;
    counts[i][bin] += Number(row[countIndex]) || 0;
    max = Math.max(max, counts[i][bin]);
  }
  return { counts, max };
}

function cellsPath(xs, stepMs, bins, matrix) {
  return (u) => {
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    for (let i = 0; i < xs.length; i += 1) {
      const x0 = u.valToPos(xs[i], 'x', true);
      const x1 = u.valToPos(xs[i] + stepMs, 'x', true);
      for (let b = 0; b < HEATMAP_BINS; b += 1) {
        const count = matrix.counts[i][b];
        if (!count) continue;
        const y0 = u.valToPos(bins.low + b * bins.width, 'y', true);
        const y1 = u.valToPos(bins.low + (b + 1) * bins.width, 'y', true);
        ctx.fillStyle = viridis(Math.sqrt(count / matrix.max));
        ctx.fillRect(x0, Math.min(y0, y1), Math.max(1, x1 - x0 - 0.5), Math.max(1, Math.abs(y0 - y1) - 0.5));
      }
    }
    ctx.restore();
    return null;
  };
}

export function renderHeatmap(body, { answer, plan, bins, onZoom, height }) {
  const range = plan.range;
  const xs = timeGrid(answer, {}, range);
  const matrix = heatmapMatrix(answer, xs, range.stepMs);
  const missing = incompleteBuckets(answer.time_completeness, range.startMs, range.toMs);
  const binAt = (u) => {
    const value = u.posToVal(u.cursor.top, 'y');
    return Math.min(HEATMAP_BINS - 1, Math.max(0, Math.floor((value - bins.low) / bins.width)));
  };
  const totals = matrix.counts.map((column) => column.reduce((a, b) => a + b, 0));
  const chart = makeChart(body, {
    series: [
      { label: 'time' },
      {
        label: `${plan.column} (rows in the cell)`,
        stroke: viridis(0.6),
        paths: cellsPath(xs, range.stepMs, bins, matrix),
        points: { show: false },
        value: (u, v, si, idx) => {
          if (idx === null || idx === undefined || u.cursor.top < 0) return '–';
          const bin = binAt(u);
          const low = bins.low + bin * bins.width;
          const upper = bin === HEATMAP_BINS - 1 && bins.clipped ? '…' : formatValue(low + bins.width);
          return `${formatValue(matrix.counts[idx][bin])} rows in [${formatValue(low)}, ${upper})`;
        },
      },
    ],
    scales: { x: { time: true, range: () => [range.startMs, range.toMs] }, y: { range: () => [bins.low, bins.high] } },
    axes: [{}, {
      size: 60,
      values: (u, splits) => splits.map((v) => (bins.clipped && v >= bins.high ? `≥${formatValue(v)}` : formatValue(v))),
      label: plan.column,
    }],
    plugins: [missingDataPlugin(missing, { over: true })],
  }, [xs, totals.map(() => bins.low)], { onZoom, height });
  chart.root.setAttribute('role', 'img');
  chart.root.setAttribute('aria-label', `Heatmap of ${plan.column} over time, ${xs.length} buckets`);
  const notes = bins.clipped ? [`values above the p99 (${formatValue(bins.high)}) are counted in the top row`] : [];
  return {
    chart,
    series: matrix.max > 0 ? 1 : 0,
    incompleteBuckets: missing.length,
    points: totals.filter((t) => t > 0).length,
    notes,
    data: { xs, counts: matrix.counts, bins },
  };
}
