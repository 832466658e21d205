// Line charts as inline SVG, no library. The scale functions are DOM-free (unit-tested); each
// chart carries a table of its numbers for screen readers and for reading exact values.
import { dataTable, h } from "./dom.js";
import { fmt } from "./format.js";

export const PALETTE = [
  "#1f6feb",
  "#cf222e",
  "#1a7f37",
  "#9a6700",
  "#8250df",
  "#0a7ea4",
  "#bf3989",
];

/**
 * The top of the y axis: the largest value rounded up to 1, 2 or 5 × 10ⁿ (never 0); a percent
 * chart shows at least 5 %. One burst must not flatten the rest: when the largest value is
 * more than twice the 95th percentile, the axis stops at the percentile and the points above
 * it are drawn clipped, with a marker (`clipped()`).
 * @param {{ points: [number, number][] }[]} series
 */
export function yMaxOf(series, percent = false) {
  const values = series.flatMap((s) => s.points.map(([, y]) => y)).sort((a, b) => a - b);
  const max = values.at(-1) ?? 0;
  if (percent) return Math.min(1, niceCeil(Math.max(max, 0.05)));
  const p95 = values[Math.max(0, Math.ceil(values.length * 0.95) - 1)] ?? 0;
  const top = p95 > 0 && max > 2 * p95 ? p95 : max;
  return top > 0 ? niceCeil(top) : 1;
}

/** The points of a series above the axis top: drawn at the top edge and marked. */
export const clipped = (/** @type {[number, number][]} */ points, /** @type {number} */ yMax) =>
  points.filter(([, y]) => y > yMax);

/** Colours for any number of series: the palette, then hues spread by the golden angle. */
export const colorOf = (/** @type {number} */ i) =>
  PALETTE[i] ?? `hsl(${Math.round((i * 137.508) % 360)} 65% 42%)`;

/**
 * Hover bands: one per time, from halfway to the previous time to halfway to the next, so a
 * pointer anywhere over the plot names the values at the nearest time.
 * @param {number[]} times sorted
 * @param {(t: number) => number} x
 */
export function hoverBands(times, x) {
  return times.map((t, i) => {
    const prev = i > 0 ? (x(times[i - 1]) + x(t)) / 2 : x(t) - 4;
    const next = i < times.length - 1 ? (x(t) + x(times[i + 1])) / 2 : x(t) + 4;
    return { t, x0: prev, x1: next };
  });
}

/** 0.037 → 0.05, 7 → 10, 130 → 200, 1 → 1. */
export function niceCeil(/** @type {number} */ v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p + 1e-12) return m * p;
  return 10 * p;
}

/** Maps data to the viewBox: `x(t)`, `y(v)` in SVG units. */
export function scales({ xMin, xMax, yMax, width, height, left, right, top, bottom }) {
  return {
    x: (v) => left + ((v - xMin) / Math.max(1, xMax - xMin)) * (width - left - right),
    y: (v) => top + (1 - v / yMax) * (height - top - bottom),
  };
}

/** The SVG path of a series (M x,y L x,y …). */
export function pathOf(points, x, y) {
  return points.map(([px, py], j) => `${j ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`)
    .join("");
}

/** Rows of the table alternative: one per time, one column per series (null where absent). */
export function tableRows(series) {
  const times = [...new Set(series.flatMap((s) => s.points.map(([t]) => t)))].sort((a, b) => a - b);
  const at = series.map((s) => new Map(s.points));
  return times.map((t) => ({ t, values: at.map((m) => m.get(t) ?? null) }));
}

export function lineChart({ series, xMin, xMax, yLabel, height = 160, percent = false }) {
  const W = 600, H = height, L = 40, R = 8, T = 8, B = 20;
  const yMax = yMaxOf(series, percent);
  const { x, y } = scales({
    xMin,
    xMax,
    yMax,
    width: W,
    height: H,
    left: L,
    right: R,
    top: T,
    bottom: B,
  });
  const show = (v) => v == null ? "—" : percent ? `${(v * 100).toFixed(1)}%` : fmt(v);
  const over = series.reduce((n, s) => n + clipped(s.points, yMax).length, 0);
  const svg = h("svg:svg", {
    class: "chart",
    dataset: { clipped: String(over) },
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": `${yLabel}; the numbers are in the table below`,
  });
  svg.append(
    h("svg:line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
    h("svg:line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
    h(
      "svg:text",
      { x: 2, y: T + 8 },
      percent ? `${Math.round(yMax * 100)}%` : `${fmt(yMax)}${over ? "↑" : ""}`,
    ),
    h("svg:text", { x: 2, y: H - B }, "0"),
    h("svg:text", { x: L, y: H - 4 }, new Date(xMin).toLocaleTimeString()),
    h("svg:text", { x: W - R - 60, y: H - 4 }, new Date(xMax).toLocaleTimeString()),
  );
  const yTop = (v) => y(Math.min(v, yMax));
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const color = s.color ?? colorOf(i);
    svg.append(h("svg:path", {
      d: pathOf(s.points, x, yTop),
      fill: "none",
      stroke: color,
      "stroke-width": 2,
      "vector-effect": "non-scaling-stroke",
    }, h("svg:title", {}, s.name)));
    for (const [t, v] of clipped(s.points, yMax)) {
      svg.append(h(
        "svg:path",
        {
          class: "clipped",
          d: `M${x(t) - 4},${T + 6}L${x(t)},${T}L${x(t) + 4},${T + 6}Z`,
          fill: color,
        },
        h(
          "svg:title",
          {},
          `${s.name}: ${show(v)} at ${new Date(t).toLocaleTimeString()}, above the axis`,
        ),
      ));
    }
  });
  const rows = tableRows(series);
  for (const [i, band] of hoverBands(rows.map((r) => r.t), x).entries()) {
    const r = rows[i];
    const values = series.map((s, i) => `${s.name} ${show(r.values[i])}`).join(", ");
    svg.append(h("svg:rect", {
      class: "hover",
      x: band.x0.toFixed(1),
      width: Math.max(1, band.x1 - band.x0).toFixed(1),
      y: T,
      height: H - T - B,
      fill: "transparent",
    }, h("svg:title", {}, `${new Date(band.t).toLocaleTimeString()}: ${values}`)));
  }
  const legend = h(
    "div",
    { class: "legend" },
    series.map((s, i) => h("span", {}, swatch(s.color ?? colorOf(i)), s.name)),
  );
  const table = h(
    "details",
    { class: "chart-table" },
    h("summary", {}, `${yLabel} as a table (${rows.length} rows)`),
    dataTable(
      { dataset: { chartTable: yLabel } },
      [
        { label: "Time", cell: (r) => new Date(r.t).toLocaleTimeString() },
        ...series.map((s, i) => ({ label: s.name, cls: "num", cell: (r) => show(r.values[i]) })),
      ],
      rows,
    ),
  );
  return h("div", {}, svg, legend, table);
}

function swatch(color) {
  const el = h("span", { class: "swatch" });
  el.style.background = color;
  return el;
}
