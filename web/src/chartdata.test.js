// Unit tests of the chart helpers (node --test; run by tests/test_ui_chartdata.py).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  align, countInRange, ema, groupStats, pairByStep, spliceWindow, stepToTime, yAxisSize,
} from "./chartdata.js";

test("ema with no smoothing returns the values", () => {
  assert.deepEqual(ema([1, 2, 3], 0), [1, 2, 3]);
});

test("ema weights the past by alpha and skips gaps", () => {
  assert.deepEqual(ema([0, 10, null, 10], 0.5), [0, 5, null, 7.5]);
});

test("align puts runs on the union of their steps", () => {
  const [xs, ys] = align([[[0, 2], [1, 3]], [[1, 2], [5, 6]]]);
  assert.deepEqual(xs, [0, 1, 2]);
  assert.deepEqual(ys, [[1, null, 3], [null, 5, 6]]);
});

test("groupStats gives mean, min and max per step over the runs that have it", () => {
  const { mean, min, max } = groupStats([[1, null, 3], [3, null, 5], [2, 4, null]]);
  assert.deepEqual(mean, [2, 4, 4]);
  assert.deepEqual(min, [1, 4, 3]);
  assert.deepEqual(max, [3, 4, 5]);
  assert.deepEqual(groupStats([[null], [null]]).mean, [null]);
});

test("stepToTime maps steps through the _timestamp buckets", () => {
  const ts = [{ x_min: 0, min: 100, last: 100 }, { x_min: 10, min: 110, last: 120 }];
  assert.deepEqual(stepToTime([0, 5, 10, 15], ts, false), [100, 100, 120, 120]);
  assert.deepEqual(stepToTime([0, 15], ts, true), [0, 20]);
});

test("spliceWindow puts the fine buckets inside the window, coarse ones outside", () => {
  const b = (x) => ({ x_min: x, x_max: x, last: x });
  const coarse = [0, 10, 20, 30, 40].map(b);
  const fine = [12, 14, 16, 18, 20, 22].map(b);
  assert.deepEqual(spliceWindow(coarse, fine, 11, 21).map((x) => x.x_max), [0, 10, 12, 14, 16, 18, 20, 30, 40]);
  assert.equal(spliceWindow(coarse, undefined, 11, 21), coarse);
});

test("countInRange counts the xs inside a closed range", () => {
  assert.equal(countInRange([1, 2, 3, 4, 5], 2, 4), 3);
  assert.equal(countInRange([], 0, 1), 0);
});

test("pairByStep gives each y bucket the x metric's value at the same step bucket", () => {
  const b = (x_min, x_max, last) => ({ x_min, x_max, last, min: last, max: last });
  const loss = [b(0, 9, 5), b(10, 19, 4), b(20, 29, 3)];
  const tokens = [b(0, 9, 1000), b(10, 19, 2000), b(20, 29, 3000)];
  assert.deepEqual(pairByStep(loss, tokens), [[1000, 2000, 3000], [5, 4, 3]]);
});

test("pairByStep carries a sparser x metric forward and drops steps before it", () => {
  const b = (x_min, x_max, last) => ({ x_min, x_max, last, min: last, max: last });
  const loss = [b(0, 4, 9), b(5, 9, 8), b(10, 14, 7), b(15, 19, 6)];
  const epoch = [b(5, 5, 1), b(15, 15, 2)];
  assert.deepEqual(pairByStep(loss, epoch), [[1, 1, 2], [8, 7, 6]]);
  assert.deepEqual(pairByStep(loss, []), [[], []]);
});

test("yAxisSize widens the axis for long tick labels and keeps 50 px for short ones", () => {
  assert.equal(yAxisSize(["0", "0.5", "1"]), 50);
  assert.equal(yAxisSize(null), 50);
  assert.ok(yAxisSize(["0", "100,000", "200,000"]) > 50);
  assert.ok(yAxisSize(["1,000,000,000"]) > yAxisSize(["200,000"]));
});
