import assert from "node:assert/strict";
import test from "node:test";
import { entryAt, formatDuration, heatmapGrid, sliderIndex, tableView, unionSteps } from "./mediadata.js";

test("the slider shows the last entry at or before the chosen step", () => {
  const entries = [{ step: 0 }, { step: 5 }, { step: 9 }];
  assert.equal(entryAt(entries, 4).step, 0);
  assert.equal(entryAt(entries, 5).step, 5);
  assert.equal(entryAt(entries, -1), null);
  assert.deepEqual(unionSteps({ a: [{ step: 5 }, { step: 1 }], b: [{ step: 5 }, { step: 7 }] }), [1, 5, 7]);
});

test("histograms re-bin onto one value range, one column per step", () => {
  const grid = heatmapGrid([
    { step: 0, bins: [0, 1, 2], values: [3, 1] },
    { step: 1, bins: [2, 3, 4], values: [0, 5] },
  ], 4);
  assert.deepEqual(grid.steps, [0, 1]);
  assert.equal(grid.lo, 0);
  assert.equal(grid.hi, 4);
  assert.deepEqual(grid.cells, [[3, 1, 0, 0], [0, 0, 0, 5]]);
  assert.equal(grid.max, 5);
});

test("tables sort numbers numerically, keep ties stable and filter by text", () => {
  const rows = [["b", 10], ["a", 9], ["c", 100], ["d", 9]];
  assert.deepEqual(tableView(rows, 1, true, "").map((r) => r[0]), ["a", "d", "b", "c"]);
  assert.deepEqual(tableView(rows, 1, false, "").map((r) => r[0]), ["c", "b", "a", "d"]);
  assert.deepEqual(tableView(rows, 0, true, "C").map((r) => r[0]), ["c"]);
});

test("a slider keeps the step the user picked when new steps arrive, else follows the newest", () => {
  assert.equal(sliderIndex([0, 5, 9], null), 2);
  assert.equal(sliderIndex([0, 5, 9, 12], 5), 1);
  assert.equal(sliderIndex([0, 4, 9], 5), 1); // the picked step is gone: the one before it
  assert.equal(sliderIndex([], 5), 0);
});

test("media lengths read as minutes and seconds", () => {
  assert.equal(formatDuration(2.3), "0:02.3");
  assert.equal(formatDuration(0.96), "0:01.0");
  assert.equal(formatDuration(125), "2:05");
  assert.equal(formatDuration(3723), "1:02:03");
  assert.equal(formatDuration(Infinity), "");
});
