import assert from "node:assert/strict";
import test from "node:test";
import { hslToHex, runColor } from "./colors.js";

test("a run's colour depends on its id only", () => {
  assert.equal(runColor("abc123"), runColor("abc123"));
  assert.match(runColor("abc123"), /^#[0-9a-f]{6}$/);
  const many = new Set(Array.from({ length: 50 }, (_, i) => runColor(`run${i}`)));
  assert.ok(many.size >= 45, `50 runs share too few colours: ${many.size}`);
});

test("hsl converts to hex", () => {
  assert.equal(hslToHex(0, 1, 0.5), "#ff0000");
  assert.equal(hslToHex(120, 1, 0.25), "#008000");
});
