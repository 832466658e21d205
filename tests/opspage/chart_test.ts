import { deepEqual, equal } from "node:assert/strict";
import { niceCeil, pathOf, scales, tableRows, yMaxOf } from "../../static/chart.js";

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
