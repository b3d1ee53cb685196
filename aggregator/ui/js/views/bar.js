// The top-N bar view: one horizontal bar per group (the answer's first
// value column; the groups are the labels), longest first, drawn with
// uPlot's bars path builder on a category axis.

import { seriesColour, withAlpha } from '../theme/colours.js';
import { formatValue, makeChart } from './chart.js';
import { inferShape } from './pivot.js';

const uPlot = window.uPlot;

export function renderBar(body, { answer, plan, height }) {
  const shape = plan.shape || inferShape(answer);
  const valueColumn = shape.values[0];
  const valueIndex = answer.columns.indexOf(valueColumn);
  if (valueIndex < 0) {
    body.append(Object.assign(document.createElement('p'), { className: 'empty', textContent: 'No numeric column to draw bars of.' }));
    return { series: 0, incompleteBuckets: 0 };
  }
  const groupIndexes = shape.groups.map((g) => answer.columns.indexOf(g)).filter((i) => i >= 0);
  const labels = answer.rows.map((row) => (groupIndexes.length
    ? groupIndexes.map((i) => (row[i] === null ? '∅' : String(row[i]))).join(' · ')
    : valueColumn));
  const values = answer.rows.map((row) => (typeof row[valueIndex] === 'number' ? row[valueIndex] : null));
  const xs = labels.map((_, i) => i);
  const colour = seriesColour(0);
  const barHeight = Math.max(height || 300, 28 * labels.length + 40);
  const chart = makeChart(body, {
    series: [
      { label: shape.groups.join(' · ') || 'value', value: (u, v, si, idx) => (idx === null || idx === undefined ? '' : labels[idx]) },
      {
        label: valueColumn,
        stroke: colour,
        fill: withAlpha(colour, 0.75),
        width: 1,
        paths: uPlot.paths.bars({ size: [0.7, 40] }),
        points: { show: false },
        value: (u, v) => formatValue(v),
      },
    ],
    scales: {
      x: { time: false, ori: 1, dir: -1, range: [-0.5, labels.length - 0.5] },
      y: { ori: 0, range: (u, min, max) => uPlot.rangeNum(Math.min(0, min), max, 0.1, true) },
    },
    axes: [
      { side: 3, splits: () => xs, values: (u, splits) => splits.map((i) => { const l = labels[i] ?? ''; return l.length > 24 ? `${l.slice(0, 23)}…` : l; }), size: 170, gap: 6, grid: { show: false } },
      { side: 0, values: (u, splits) => splits.map(formatValue) },
    ],
  }, [xs, values], { height: barHeight, zoomable: false });
  chart.root.setAttribute('role', 'img');
  chart.root.setAttribute('aria-label', `Bars of ${valueColumn} for ${labels.length} groups`);
  return {
    chart,
    series: labels.length ? 1 : 0,
    incompleteBuckets: 0,
    points: values.filter((v) => v !== null).length,
    data: { labels, values },
  };
}
