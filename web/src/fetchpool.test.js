import assert from "node:assert/strict";
import test from "node:test";
import { createFetchPool, isAbort, onLeave } from "./fetchpool.js";

/** A fetch whose answers the test releases one by one; it honours the abort signal. */
function heldFetch() {
  const pending = [];
  const fetchImpl = (url, init) => new Promise((resolve, reject) => {
    const entry = { url, init, answer: (body, status = 200) => resolve({
      ok: status < 300, status, json: async () => body, text: async () => JSON.stringify(body),
    }) };
    init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    pending.push(entry);
  });
  return { fetchImpl, pending };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

test("at most `limit` reads are in flight; the rest wait their turn in order", async () => {
  const { fetchImpl, pending } = heldFetch();
  const pool = createFetchPool(2, fetchImpl);
  const answers = ["a", "b", "c", "d"].map((u) => pool.getJson(u));
  await tick();
  assert.deepEqual(pending.map((p) => p.url), ["a", "b"]);
  assert.equal(pool.queued, 2);
  pending[0].answer({ n: 1 });
  await tick();
  assert.deepEqual(pending.map((p) => p.url), ["a", "b", "c"]);
  pending[1].answer({ n: 2 }, 500);
  pending[2].answer({ n: 3 });
  await tick();
  pending[3].answer({ n: 4 });
  assert.deepEqual(await Promise.all(answers), [{ n: 1 }, null, { n: 3 }, { n: 4 }]);
  assert.equal(pool.inFlight, 0);
});

test("abortAll cancels reads in flight and waiting; the pool serves new reads after", async () => {
  const { fetchImpl, pending } = heldFetch();
  const pool = createFetchPool(1, fetchImpl);
  const first = pool.getJson("a");
  const second = pool.getJson("b");
  await tick();
  pool.abortAll();
  for (const read of [first, second]) await assert.rejects(read, (e) => isAbort(e));
  assert.equal(pending.length, 1); // "b" never reached the network
  assert.equal(pending[0].init.signal.aborted, true);
  await tick();
  assert.equal(pool.inFlight, 0);
  const again = pool.getJson("c");
  await tick();
  pending[1].answer([1]);
  assert.deepEqual(await again, [1]);
});

test("onLeave fires on beforeunload and pagehide", () => {
  const target = new EventTarget();
  const seen = [];
  onLeave((e) => seen.push(e.type), target);
  target.dispatchEvent(new Event("beforeunload"));
  target.dispatchEvent(new Event("pagehide"));
  assert.deepEqual(seen, ["beforeunload", "pagehide"]);
});
