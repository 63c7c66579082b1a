/**
 * 10,000 rotations in one process: the wasm linear memory and the JS heap
 * stay flat, the stand-in sees no reuse, and storage ends with the newest
 * set. Then 1,000 managers created, used and disposed: memory stays flat,
 * the managers become garbage, and no timer, listener or storage
 * subscription is left behind after dispose().
 *
 * The measuring runs in a child process (rotations-child.mjs) started with
 * --expose-gc, which instruments WebAssembly.Instance, setTimeout and event
 * listeners before the package loads; this file checks and prints what it
 * reports.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const ROTATIONS = 10_000;
const MANAGERS = 1_000;
const MiB = 1024 * 1024;
/** Bounds a leak would break: a few hundred bytes per rotation is already 1-2 MiB over 5,000. */
const WASM_BOUND = 1 * MiB;
const HEAP_BOUND = 4 * MiB;

const child = fileURLToPath(new URL("./rotations-child.mjs", import.meta.url));
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;

test(`${ROTATIONS} rotations and ${MANAGERS} disposed managers: flat memory, nothing left behind`, { timeout: 120_000 }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", child, String(ROTATIONS), String(MANAGERS)], {
    maxBuffer: 16 * MiB,
  });
  const result = JSON.parse(stdout.trim().split("\n").at(-1));
  const { samples, churn } = result;

  // Rotations: every one reached the stand-in as a refresh, none reused.
  assert.equal(result.standIn.reuse, 0, "refresh-token reuse");
  assert.equal(result.standIn.refreshGrants, ROTATIONS);
  assert.equal(result.standIn.fullGrants, 1);
  assert.equal(result.refreshEvents, ROTATIONS + 1);
  assert.ok(result.storedIsNewest, "storage does not hold the newest set");

  const first = samples[0];
  const middle = samples.find((s) => s.rotation === ROTATIONS / 2);
  const last = samples.at(-1);
  const wasmLastHalf = last.wasmBytes - middle.wasmBytes;
  const heapLastHalf = last.heapUsed - middle.heapUsed;
  const churnMiddle = churn[Math.floor(churn.length / 2)];
  const churnLast = churn.at(-1);
  console.log(
    `# memory over ${ROTATIONS} rotations (${result.rotationMs} ms): wasm ${kib(first.wasmBytes)} -> ${kib(middle.wasmBytes)} ` +
      `-> ${kib(last.wasmBytes)} (last ${ROTATIONS / 2}: +${kib(wasmLastHalf)}); JS heap after gc ${kib(first.heapUsed)} -> ` +
      `${kib(middle.heapUsed)} -> ${kib(last.heapUsed)} (last ${ROTATIONS / 2}: ${heapLastHalf >= 0 ? "+" : ""}${kib(heapLastHalf)})`,
  );
  console.log(
    `# memory over ${MANAGERS} managers created, used, disposed: wasm ${kib(churn[0].wasmBytes)} -> ${kib(churnMiddle.wasmBytes)} ` +
      `-> ${kib(churnLast.wasmBytes)}; JS heap ${kib(churn[0].heapUsed)} -> ${kib(churnMiddle.heapUsed)} -> ` +
      `${kib(churnLast.heapUsed)}; ${result.managersCollected} of ${MANAGERS} managers garbage-collected`,
  );
  console.log(`# samples: ${JSON.stringify(samples.map((s) => [s.rotation, s.heapUsed, s.wasmBytes]))}`);
  assert.ok(wasmLastHalf < WASM_BOUND, `wasm memory grew ${kib(wasmLastHalf)} over the last ${ROTATIONS / 2} rotations`);
  assert.ok(heapLastHalf < HEAP_BOUND, `the JS heap grew ${kib(heapLastHalf)} over the last ${ROTATIONS / 2} rotations`);

  // dispose(): nothing left behind. With autoRefresh there is a timer and
  // there are listeners to remove, so the check is not vacuous.
  if (result.autoRefresh) {
    assert.ok(result.timersBeforeDispose >= 1, "autoRefresh scheduled no timer: the check would be vacuous");
    assert.ok(result.listenersBeforeDispose >= 1, "no wake-up listener was registered: the check would be vacuous");
  }
  assert.equal(result.timersAfterDispose, 0, "a timer of the package is still pending after dispose()");
  assert.equal(result.listenersAfterDispose, 0, "a listener is still registered after dispose()");
  assert.equal(result.subscriptionsAfterDispose, 0, "a storage subscription is still live after dispose()");

  // Many managers: memory flat, managers collectable, nothing pending.
  const wasmChurn = churnLast.wasmBytes - churnMiddle.wasmBytes;
  const heapChurn = churnLast.heapUsed - churnMiddle.heapUsed;
  assert.ok(wasmChurn < WASM_BOUND, `wasm memory grew ${kib(wasmChurn)} over the last ${MANAGERS / 2} managers`);
  assert.ok(heapChurn < HEAP_BOUND, `the JS heap grew ${kib(heapChurn)} over the last ${MANAGERS / 2} managers`);
  assert.ok(result.managersCollected >= MANAGERS * 0.9, `only ${result.managersCollected} disposed managers were collected`);
  assert.equal(result.timersAfterChurn, 0);
  assert.equal(result.listenersAfterChurn, 0);
  assert.equal(result.subscriptionsAfterChurn, 0);
  assert.equal(result.reuseAfterChurn, 0);
});
