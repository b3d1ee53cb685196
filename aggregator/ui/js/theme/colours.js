// Colours the charts use, chosen to stay apart under the common
// colour-vision deficiencies: the Okabe-Ito palette for series (with a
// dash pattern that changes every 8 series, so lines differ by more than
// hue), viridis for heatmap counts, and the page's CSS variables for text
// and grid, so charts follow the system's dark mode.

// Okabe & Ito (2008), in an order where neighbours differ in lightness too.
const OKABE_ITO = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3]];

export function isDark() {
  return window.matchMedia('(prefers-color-scheme: dark)').matches;
}

export function seriesColour(index) {
  const colour = OKABE_ITO[index % OKABE_ITO.length];
  // Black disappears on a dark background.
  return colour === '#000000' && isDark() ? '#BBBBBB' : colour;
}

export function seriesDash(index) {
  return DASHES[Math.floor(index / OKABE_ITO.length) % DASHES.length];
}

// The dash of a "compare" line (the same query, shifted back).
export const COMPARE_DASH = [3, 3];

export function withAlpha(hex, alpha) {
  const value = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(value >> 16) & 255}, ${(value >> 8) & 255}, ${value & 255}, ${alpha})`;
}

// The page's colours (css/app.css), read when a chart is made.
export function themeColours() {
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return {
    text: read('--fg', '#1d2733'),
    muted: read('--muted', '#57606a'),
    grid: read('--grid', '#e3e8ee'),
    missing: read('--missing', '#9a6700'),
  };
}

// Viridis at 9 stops; t in [0, 1].
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];

export function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  const mix = (k) => Math.round(a[k] + (b[k] - a[k]) * f);
  return `rgb(${mix(0)}, ${mix(1)}, ${mix(2)})`;
}
