/**
 * The memory and leftovers probe, run by memory.test.mjs in its own process:
 *
 *   node --expose-gc tests/faults/rotations-child.mjs [rotations] [managers]
 *
 * Before the package is imported it installs instruments, without changing
 * the package:
 * - `WebAssembly.Instance` is wrapped to capture the instance the package
 *   creates, so its linear memory can be read (`exports.memory`);
 * - `globalThis.setTimeout`/`clearTimeout` are wrapped to track every timer
 *   the package's glue code (echovideo_auth.js) schedules and whether it
 *   was cleared or fired;
 * - `globalThis.addEventListener`/`removeEventListener` and a `document`
 *   (an EventTarget) are provided and count listeners, so the wake-up
 *   listeners a browser would get are registered here too;
 * - the storage has `subscribe` and counts live subscriptions.
 * The stand-in runs in a separate process, so its own bookkeeping (every
 * token it ever issued) does not count against this heap.
 *
 * Then: `rotations` forced refreshes in a row (JS heap after gc() and wasm
 * memory sampled every 1,000), `managers` managers created, used and
 * disposed, and checks of what is left after dispose(). Prints one JSON line.
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

const ROTATIONS = Number(process.argv[2] ?? 10_000);
const MANAGERS = Number(process.argv[3] ?? 1_000);
const CLIENT_ID = "demo-client";
const CLIENT_SECRET = "demo-secret";

if (typeof globalThis.gc !== "function") {
  console.error("run with node --expose-gc");
  process.exit(2);
}

// ---- Instruments, installed before the package loads ----------------------------

let instance = null;
const RealInstance = WebAssembly.Instance;
WebAssembly.Instance = new Proxy(RealInstance, {
  construct(target, args, newTarget) {
    const created = Reflect.construct(target, args, newTarget);
    instance ??= created;
    return created;
  },
});

/** Timers scheduled by the package's glue, by handle: still pending ones. */
const pendingTimers = new Set();
let packageTimers = 0;
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
globalThis.setTimeout = function setTimeout(callback, ms, ...rest) {
  const fromPackage = /echovideo_auth/.test(new Error().stack ?? "");
  if (!fromPackage) return realSetTimeout(callback, ms, ...rest);
  packageTimers += 1;
  let handle;
  const wrapped = (...args) => {
    pendingTimers.delete(handle);
    return callback(...args);
  };
  handle = realSetTimeout(wrapped, ms, ...rest);
  pendingTimers.add(handle);
  return handle;
};
globalThis.clearTimeout = function clearTimeout(handle) {
  pendingTimers.delete(handle);
  return realClearTimeout(handle);
};

const listeners = new Map(); // "target:event" -> count
function countingTarget(name) {
  const target = new EventTarget();
  return {
    addEventListener(event, listener, options) {
      listeners.set(`${name}:${event}`, (listeners.get(`${name}:${event}`) ?? 0) + 1);
      target.addEventListener(event, listener, options);
    },
    removeEventListener(event, listener, options) {
      listeners.set(`${name}:${event}`, (listeners.get(`${name}:${event}`) ?? 0) - 1);
      target.removeEventListener(event, listener, options);
    },
  };
}
const globalTarget = countingTarget("global");
globalThis.addEventListener = globalTarget.addEventListener;
globalThis.removeEventListener = globalTarget.removeEventListener;
globalThis.document = { visibilityState: "visible", ...countingTarget("document") };

const liveListeners = () => [...listeners.values()].reduce((sum, count) => sum + count, 0);

let subscriptions = 0;
function storage() {
  let value = null;
  return {
    load: () => value,
    save: (set) => {
      value = set;
    },
    clear: () => {
      value = null;
    },
    subscribe: () => {
      subscriptions += 1;
      let live = true;
      return () => {
        if (live) subscriptions -= 1;
        live = false;
      };
    },
    peek: () => value,
  };
}

const { TokenManager } = await import("echovideo-auth");
if (!instance) throw new Error("the package's wasm instance was not captured");
const memory = instance.exports.memory;
if (!(memory instanceof WebAssembly.Memory)) throw new Error("no exported memory");

/** Whether this build knows an option (so the checks work before and after it exists). */
function knows(option, value) {
  try {
    new TokenManager({ clientId: "x", baseUrl: "http://127.0.0.1:9", [option]: value }).dispose();
    return true;
  } catch (error) {
    if (error?.code === "invalid_config" && error.message.includes(option)) return false;
    throw error;
  }
}
const autoRefresh = knows("autoRefresh", true) ? { autoRefresh: true } : {};

// ---- The stand-in, in its own process ----------------------------------------------

const serverPath = fileURLToPath(new URL("../standin/server.mjs", import.meta.url));
const server = spawn(process.execPath, [serverPath, "--port", "0", "--lifetime", "3600"], {
  stdio: ["ignore", "pipe", "inherit"],
});
const baseUrl = await new Promise((resolve, reject) => {
  let out = "";
  server.stdout.on("data", (chunk) => {
    out += chunk;
    const match = /listening on (\S+)/.exec(out);
    if (match) resolve(match[1]);
  });
  server.once("exit", (code) => reject(new Error(`stand-in exited with ${code}`)));
});
const control = async (path) => (await fetch(`${baseUrl}/__standin/${path}`)).json();

async function settle() {
  for (let i = 0; i < 3; i += 1) {
    globalThis.gc();
    await sleep(5);
  }
  globalThis.gc();
}

function sample(rotation) {
  return { rotation, heapUsed: process.memoryUsage().heapUsed, wasmBytes: memory.buffer.byteLength };
}

const result = { rotations: ROTATIONS, managers: MANAGERS, autoRefresh: "autoRefresh" in autoRefresh };
try {
  // ---- Rotations ----------------------------------------------------------------
  const store = storage();
  let refreshed = 0;
  const tm = new TokenManager({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    baseUrl,
    storage: store,
    onRefresh: () => {
      refreshed += 1;
    },
    ...autoRefresh,
  });
  await tm.getAccessToken();
  await settle();
  const samples = [sample(0)];
  const started = Date.now();
  let previous = null;
  for (let i = 1; i <= ROTATIONS; i += 1) {
    const token = await tm.refresh();
    if (token === previous) throw new Error(`rotation ${i} returned the same token`);
    previous = token;
    if (i % 1000 === 0) {
      await settle();
      samples.push(sample(i));
    }
  }
  result.rotationMs = Date.now() - started;
  result.samples = samples;
  result.refreshEvents = refreshed;
  result.storedIsNewest = store.peek()?.refreshToken === (await control("refresh-tokens"))[CLIENT_ID];
  result.timersBeforeDispose = pendingTimers.size;
  result.listenersBeforeDispose = liveListeners();
  result.subscriptionsBeforeDispose = subscriptions;
  tm.dispose();
  await sleep(20);
  result.timersAfterDispose = pendingTimers.size;
  result.listenersAfterDispose = liveListeners();
  result.subscriptionsAfterDispose = subscriptions;
  const counts = await control("counts");
  result.standIn = { reuse: counts.reuse, refreshGrants: counts.grants.refresh_token, fullGrants: counts.grants.client_credentials };

  // ---- Managers created, used and disposed ---------------------------------------------
  await settle();
  const churn = [sample(0)];
  const collected = { count: 0 };
  const registry = new FinalizationRegistry(() => {
    collected.count += 1;
  });
  for (let i = 1; i <= MANAGERS; i += 1) {
    const one = new TokenManager({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      baseUrl,
      storage: storage(),
      ...autoRefresh,
    });
    registry.register(one, i);
    await one.getAccessToken();
    one.dispose();
    if (i % Math.max(1, MANAGERS / 2) === 0) {
      await settle();
      churn.push(sample(i));
    }
  }
  await settle();
  await sleep(50);
  await settle();
  result.churn = churn;
  result.managersCollected = collected.count;
  result.timersAfterChurn = pendingTimers.size;
  result.listenersAfterChurn = liveListeners();
  result.subscriptionsAfterChurn = subscriptions;
  result.packageTimers = packageTimers;
  result.reuseAfterChurn = (await control("counts")).reuse;
} finally {
  server.kill();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
