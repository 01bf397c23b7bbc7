import assert from "node:assert/strict";
import { test } from "node:test";
import { axisScale, flatten, metricColor, parallelData } from "./sweepdata.js";

test("nested parameters get dotted names", () => {
  assert.deepEqual(flatten({ opt: { lr: 1, name: "adam" }, bs: 2 }), { "opt.lr": 1, "opt.name": "adam", bs: 2 });
});

test("numeric axes scale linearly, wide positive ranges by log, others by category", () => {
  const lin = axisScale([1, 2, 3]);
  assert.equal(lin.kind, "linear");
  assert.equal(lin.at(2), 0.5);
  const log = axisScale([0.001, 0.01, 0.1]);
  assert.equal(log.kind, "log");
  assert.ok(Math.abs(log.at(0.01) - 0.5) < 1e-9);
  const cat = axisScale(["sgd", "adam", "sgd"]);
  assert.equal(cat.kind, "category");
  assert.deepEqual([cat.at("adam"), cat.at("sgd")], [0, 1]);
  assert.equal(lin.at(undefined), null);
});

test("each trial is a line over the parameter axes and the metric", () => {
  const data = parallelData(
    [
      { run: "a", state: "finished", params: { lr: 0.1, bs: 16 }, metric: 1 },
      { run: "b", state: "running", params: { lr: 0.2, bs: 32 }, metric: null },
    ],
    "loss",
  );
  assert.deepEqual(data.axes, ["bs", "lr", "loss"]);
  assert.deepEqual(data.lines[0].ys, [0, 0, 0.5]);
  assert.deepEqual(data.lines[1].ys, [1, 1, null]);
});

test("colors run from the best to the worst value", () => {
  assert.equal(metricColor(null, [1, 2], "minimize"), "#999999");
  assert.notEqual(metricColor(1, [1, 2], "minimize"), metricColor(2, [1, 2], "minimize"));
  assert.equal(metricColor(1, [1, 2], "minimize"), metricColor(2, [1, 2], "maximize"));
});
