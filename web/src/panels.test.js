import assert from "node:assert/strict";
import test from "node:test";
import {
  addPanel, addableKeys, defaultLayout, panelMatches, removePanel, renameSection, toggleSection,
} from "./panels.js";

const base = defaultLayout(["train/loss", "val/acc", "lr"], { samples: "image", "val/hist": "histogram" });

test("the default layout groups by prefix, media after lines", () => {
  assert.deepEqual(base.sections.map((s) => [s.name, s.panels.map((p) => `${p.kind}:${p.key}`)]), [
    ["charts", ["line:lr"]],
    ["train", ["line:train/loss"]],
    ["val", ["line:val/acc", "histogram:val/hist"]],
    ["media", ["image:samples"]],
  ]);
});

test("sections rename, collapse and take or lose panels without touching the input", () => {
  const renamed = renameSection(base, 1, "  Training ");
  assert.equal(renamed.sections[1].name, "Training");
  assert.equal(base.sections[1].name, "train");
  assert.equal(renameSection(base, 1, "  ").sections[1].name, "train");
  assert.equal(toggleSection(base, 0).sections[0].collapsed, true);
  const added = addPanel(base, 0, "line", "val/acc");
  assert.deepEqual(added.sections[0].panels.map((p) => p.key), ["lr", "val/acc"]);
  assert.equal(addPanel(added, 0, "line", "val/acc").sections[0], added.sections[0]);
  assert.deepEqual(removePanel(added, 0, 0).sections[0].panels.map((p) => p.key), ["val/acc"]);
});

test("panel search takes a regex, or plain text when the regex is broken", () => {
  assert.ok(panelMatches("train/loss", "LOSS"));
  assert.ok(panelMatches("train/loss", "^train"));
  assert.ok(!panelMatches("val/acc", "^train"));
  assert.ok(panelMatches("a(b", "a(b"));
});

test("addable keys list lines first, then media by kind", () => {
  assert.deepEqual(addableKeys(["b", "a"], { img: "image" }).map((k) => `${k.kind}:${k.key}`),
    ["line:a", "line:b", "image:img"]);
});
