// What every uPlot chart of the app shares: its size (the panel's width,
// kept on resize), axes in the page's colours, time in milliseconds, the
// cursor legend that shows values on hover, and drag-to-zoom on the time
// axis (the selection becomes the range, through `onZoom`).

import { themeColours } from '../theme/colours.js';

const uPlot = window.uPlot;

export const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

export function formatValue(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return numberFormat.format(value);
}

export function axisColours() {
  const colours = themeColours();
  const axis = { stroke: colours.text, grid: { stroke: colours.grid, width: 1 }, ticks: { stroke: colours.grid, width: 1 } };
  return { colours, axis };
}

// Makes a uPlot chart in `container`; `options` are uPlot's, completed
// here. Returns the chart; `destroyChart` undoes it.
export function makeChart(container, options, data, { onZoom, height = 300, zoomable = true } = {}) {
  const { axis } = axisColours();
  const width = Math.max(200, container.clientWidth || 600);
  const hooks = { ...(options.hooks || {}) };
  if (zoomable && onZoom) {
    hooks.setSelect = [...(hooks.setSelect || []), (u) => {
      if (u.select.width > 4) {
        const from = u.posToVal(u.select.left, 'x');
        const to = u.posToVal(u.select.left + u.select.width, 'x');
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        onZoom(Math.round(from), Math.round(to));
      }
    }];
  }
  const chart = new uPlot({
    width,
    height,
    ms: 1,
    cursor: { drag: { x: zoomable, y: false, setScale: false }, focus: { prox: 16 } },
    focus: { alpha: 0.35 },
    legend: { live: true },
    ...options,
    axes: (options.axes || [{}, {}]).map((a) => ({ ...axis, ...a })),
    hooks,
  }, data, container);
  const observer = new ResizeObserver(() => {
    const next = Math.max(200, container.clientWidth);
    if (Math.abs(next - chart.width) > 2) chart.setSize({ width: next, height });
  });
  observer.observe(container);
  chart.shoalObserver = observer;
  return chart;
}

export function destroyChart(chart) {
  if (!chart) return;
  if (chart.shoalObserver) chart.shoalObserver.disconnect();
  chart.destroy();
}
