import { deepEqual, equal } from "node:assert/strict";
import {
  clipped,
  colorOf,
  hoverBands,
  niceCeil,
  pathOf,
  scales,
  tableRows,
  yMaxOf,
} from "../../static/chart.js";

Deno.test("niceCeil() rounds up to 1, 2 or 5 × 10ⁿ", () => {
  equal(niceCeil(7), 10);
  equal(niceCeil(130), 200);
  equal(niceCeil(1), 1);
  equal(niceCeil(4.2), 5);
  equal(niceCeil(0.037), 0.05);
});

Deno.test("yMaxOf() is never 0 and keeps percent charts within 5 %..100 %", () => {
  equal(yMaxOf([]), 1);
  equal(yMaxOf([{ points: [[0, 0]] }]), 1);
  equal(yMaxOf([{ points: [[0, 3]] }, { points: [[1, 17]] }]), 20);
  equal(yMaxOf([{ points: [[0, 0.01]] }], true), 0.05);
  equal(yMaxOf([{ points: [[0, 0.97]] }], true), 1);
});

Deno.test("scales() maps the data range onto the plot area", () => {
  const { x, y } = scales({
    xMin: 100,
    xMax: 200,
    yMax: 10,
    width: 600,
    height: 160,
    left: 40,
    right: 8,
    top: 8,
    bottom: 20,
  });
  equal(x(100), 40);
  equal(x(200), 592);
  equal(y(10), 8);
  equal(y(0), 140);
  equal(pathOf([[100, 0], [200, 10]], x, y), "M40.0,140.0L592.0,8.0");
});

Deno.test("tableRows() lines series up by time, with null where a series has no point", () => {
  deepEqual(
    tableRows([{ points: [[2, 5], [1, 4]] }, { points: [[2, 7], [3, 1]] }]),
    [
      { t: 1, values: [4, null] },
      { t: 2, values: [5, 7] },
      { t: 3, values: [null, 1] },
    ],
  );
});

Deno.test("yMaxOf() scales to the 95th percentile when one burst would flatten the rest", () => {
  const calm = Array.from({ length: 19 }, (_, i) => [i, 8 + (i % 3)] as [number, number]);
  const burst = { points: [...calm, [19, 1_000]] as [number, number][] };
  equal(yMaxOf([burst]), 10, "the burst is clipped, not the axis");
  deepEqual(clipped(burst.points, 10), [[19, 1_000]]);
  equal(yMaxOf([{ points: calm }]), 10, "no outlier: the largest value");
  equal(yMaxOf([{ points: [[0, 1], [1, 1_000]] }]), 1_000, "two points: no percentile to trust");
});

Deno.test("hoverBands() covers the plot with one band per time, meeting halfway", () => {
  const x = (t: number) => t * 10;
  deepEqual(hoverBands([0, 1, 3], x), [
    { t: 0, x0: -4, x1: 5 },
    { t: 1, x0: 5, x1: 20 },
    { t: 3, x0: 20, x1: 34 },
  ]);
});

Deno.test("colorOf() gives every series a colour past the palette", () => {
  const colors = Array.from({ length: 20 }, (_, i) => colorOf(i));
  equal(new Set(colors).size, 20);
});
