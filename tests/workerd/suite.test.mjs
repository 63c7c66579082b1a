// The shared suite (tests/suite/cases.mjs) in the real workerd runtime,
// through the miniflare npm package (workerd ships inside it). The worker
// (tests/workerd/suite-worker.mjs) is bundled as Wrangler would, so it gets
// the package's "workerd" entry and the .wasm as a WebAssembly.Module. The
// stand-in runs here, in Node, on 127.0.0.1: miniflare's outbound network
// allows private addresses, loopback included.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { Miniflare } from "miniflare";

import { startStandIn } from "../standin/server.mjs";
import { bundleWorker } from "./bundle.mjs";

// The oldest compatibility date the README allows: before 2024-11-11 workerd
// rejects the `cache: "no-store"` the package sets on token requests. The
// example Worker (tests/workerd/example.test.mjs) runs at a recent date.
const COMPATIBILITY_DATE = "2024-11-11";

let standIn;
let mf;
let bundle;

before(async () => {
  standIn = await startStandIn();
  bundle = await bundleWorker(fileURLToPath(new URL("./suite-worker.mjs", import.meta.url)));
  mf = new Miniflare({
    modules: bundle.modules,
    modulesRoot: bundle.modulesRoot,
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { STANDIN_URL: standIn.url },
    kvNamespaces: ["KV"],
    durableObjects: { SUITE: "SuiteObject" },
  });
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  await standIn?.close();
});

test("the bundle took the package's workerd entry and kept the .wasm as a module", () => {
  assert.ok(bundle.inputs.some((input) => input.endsWith("node_modules/echovideo-auth/workerd.js")), bundle.inputs.join("\n"));
  assert.ok(!bundle.inputs.some((input) => /echovideo-auth\/(browser|node)\.js$/.test(input)));
  assert.deepEqual(bundle.modules.map((module) => module.type), ["ESModule", "CompiledWasm"]);
});

for (const [where, path] of [["a Worker's fetch handler", "/worker"], ["a Durable Object", "/durable-object"]]) {
  test(`shared suite in workerd, in ${where}`, async (t) => {
    const response = await mf.dispatchFetch(`http://suite.test${path}`);
    const text = await response.text();
    assert.equal(response.status, 200, text);
    const results = JSON.parse(text);
    assert.ok(results.length >= 20, `only ${results.length} cases ran`);
    for (const result of results) {
      await t.test(result.name, () => {
        if (!result.ok) assert.fail(result.error);
      });
    }
    t.diagnostic(`workerd (${where}): ${results.filter((result) => result.ok).length} of ${results.length} cases passed`);
  });
}
