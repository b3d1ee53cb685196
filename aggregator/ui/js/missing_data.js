// Completeness in time on a chart: the buckets of an answer's
// `time_completeness` where more than 0.1% of the rows are estimated
// missing (a leaf that held rows there did not answer) are shaded with a
// hatched band, drawn by a uPlot hook behind the series (or over a
// heatmap's cells), so a dip that is only missing data looks different
// from a real one.

import { themeColours, withAlpha } from './theme/colours.js';

export const MISSING_THRESHOLD = 0.001;

// The buckets of `completeness` ({start_ms, step_ms, missing}) with missing
// data that overlap [fromMs, toMs).
export function incompleteBuckets(completeness, fromMs, toMs) {
  if (!completeness || !Array.isArray(completeness.missing)) return [];
  const { start_ms: start, step_ms: step, missing } = completeness;
  const out = [];
  missing.forEach((share, i) => {
    const startMs = start + i * step;
    const endMs = startMs + step;
    if (share > MISSING_THRESHOLD && endMs > fromMs && startMs < toMs) out.push({ startMs, endMs, share });
  });
  return out;
}

function hatch(ctx, colour) {
  const ratio = window.devicePixelRatio || 1;
  const size = Math.round(8 * ratio);
  const tile = document.createElement('canvas');
  tile.width = size;
  tile.height = size;
  const c = tile.getContext('2d');
  c.fillStyle = withAlpha(colour, 0.12);
  c.fillRect(0, 0, size, size);
  c.strokeStyle = withAlpha(colour, 0.55);
  c.lineWidth = Math.max(1, ratio);
  c.beginPath();
  c.moveTo(0, size);
  c.lineTo(size, 0);
  c.moveTo(-size / 2, size / 2);
  c.lineTo(size / 2, -size / 2);
  c.moveTo(size / 2, size * 1.5);
  c.lineTo(size * 1.5, size / 2);
  c.stroke();
  return ctx.createPattern(tile, 'repeat');
}

// A uPlot plugin shading `buckets` (from incompleteBuckets). `over` draws
// after the series (for heatmaps, whose cells would hide it).
export function missingDataPlugin(buckets, { over = false } = {}) {
  const draw = (u) => {
    if (!buckets.length) return;
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.fillStyle = hatch(ctx, themeColours().missing);
    for (const bucket of buckets) {
      const x0 = u.valToPos(bucket.startMs, 'x', true);
      const x1 = u.valToPos(bucket.endMs, 'x', true);
      ctx.fillRect(Math.min(x0, x1), top, Math.max(1, Math.abs(x1 - x0)), height);
    }
    ctx.restore();
  };
  return { hooks: over ? { draw } : { drawAxes: draw } };
}
