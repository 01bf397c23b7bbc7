// Unit tests of the sidebar's run filter and sort (node --test; run by tests/test_ui_chartdata.py).
import assert from "node:assert/strict";
import { test } from "node:test";
import { matchesFilter, parseFilter, sortRuns } from "./runfilter.js";

const RUNS = [
  { name: "a", state: "finished", config: { lr: 0.01, opt: "adam" }, summary: { loss: 0.3 } },
  { name: "b", state: "running", config: { lr: 0.001, opt: "sgd" }, summary: { loss: 0.1 } },
  { name: "c", state: "failed", config: { lr: 0.01 }, summary: {} },
];

function names(text) {
  const { conditions, error } = parseFilter(text);
  assert.equal(error, null);
  return RUNS.filter((r) => matchesFilter(r, conditions)).map((r) => r.name);
}

test("filters by config, summary, state and name with the API's operators", () => {
  assert.deepEqual(names("config.lr = 0.01"), ["a", "c"]);
  assert.deepEqual(names("summary_metrics.loss < 0.2"), ["b"]);
  assert.deepEqual(names("summary.loss >= 0.1"), ["a", "b"]);
  assert.deepEqual(names("state != failed"), ["a", "b"]);
  assert.deepEqual(names("config.opt ~ ^ad"), ["a"]);
  assert.deepEqual(names("config.lr = 0.01 and state = finished"), ["a"]);
  assert.deepEqual(names("config.opt = \"sgd\""), ["b"]);
  assert.deepEqual(names(""), ["a", "b", "c"]);
});

test("a filter it cannot read names the part and the fix, and keeps no condition", () => {
  const bad = parseFilter("config.lr == 0.01");
  assert.equal(bad.conditions.length, 0);
  assert.match(bad.error, /put one operator .* between field and value, e.g. config.lr = 0.01/);
  const unknown = parseFilter("lr = 0.01");
  assert.match(unknown.error, /unknown field "lr": use name, state, group, config.<key>/);
  const noOp = parseFilter("config.lr 0.01");
  assert.match(noOp.error, /cannot read "config.lr 0.01": write field, operator/);
  const regex = parseFilter("name ~ (");
  assert.match(regex.error, /is not a regular expression/);
});

test("sorts by a field either way, runs without it last, ties in creation order", () => {
  const by = (field, desc) => sortRuns(RUNS, field, desc).map((r) => r.name);
  assert.deepEqual(by("summary_metrics.loss", false), ["b", "a", "c"]);
  assert.deepEqual(by("summary_metrics.loss", true), ["a", "b", "c"]);
  assert.deepEqual(by("config.lr", false), ["b", "a", "c"]);
  assert.deepEqual(by("created", true), ["c", "b", "a"]);
  assert.deepEqual(by("name", false), ["a", "b", "c"]);
});
