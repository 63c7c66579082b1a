// Memory after ROTATIONS forced rotations (`tm.refresh()` / OAuth2Fetch
// `refreshToken()`, one after another, each a refresh_token grant against the
// stand-in, which runs in the parent process so its own bookkeeping is not
// counted here). Measured after a full GC (--expose-gc): the JS heap, the
// wasm linear memory (captured by wrapping WebAssembly.Instance before the
// package is imported; the package itself is unchanged) and the RSS, at the
// start, after a warm-up of WARMUP rotations, at nine checkpoints after it
// and at the end. Growth per rotation after the warm-up (the least-squares
// slope through the checkpoints) is what a leak would show as.
//
// Usage: node --expose-gc lib/memory.mjs ours|oauth2fetch STANDIN_URL ROTATIONS WARMUP

import { report } from "./common.mjs";

const [lib, url, rotationsArg, warmupArg] = process.argv.slice(2);
const rotations = Number(rotationsArg ?? 10_000);
const warmup = Number(warmupArg ?? 1_000);
if (typeof globalThis.gc !== "function") throw new Error("run with --expose-gc");

const memories = [];
const NativeInstance = WebAssembly.Instance;
WebAssembly.Instance = new Proxy(NativeInstance, {
  construct(target, args, newTarget) {
    const instance = Reflect.construct(target, args, newTarget);
    for (const value of Object.values(instance.exports)) {
      if (value instanceof WebAssembly.Memory) memories.push(value);
    }
    return instance;
  },
});

let rotate;
let first;
if (lib === "ours") {
  const { TokenManager } = await import("echovideo-auth");
  const { makeOurs } = await import("./common.mjs");
  const tm = makeOurs(TokenManager, url);
  first = await tm.getAccessToken();
  rotate = () => tm.refresh();
} else if (lib === "baseline") {
  // Node's own cost: the same refresh_token grants with a bare fetch.
  const { CLIENT_ID, CLIENT_SECRET, TOKEN_PATH } = await import("./common.mjs");
  let refreshToken = null;
  rotate = async () => {
    const body = refreshToken === null
      ? { grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: CLIENT_SECRET }
      : { grant_type: "refresh_token", refresh_token: refreshToken, client_id: CLIENT_ID };
    const response = await fetch(url + TOKEN_PATH, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(body),
    });
    const json = await response.json();
    refreshToken = json.refresh_token;
    return json.access_token;
  };
  first = await rotate();
} else {
  const badgateway = await import("@badgateway/oauth2-client");
  const { makeTheirs } = await import("./common.mjs");
  const of = makeTheirs(badgateway, url);
  first = (await of.getToken()).accessToken;
  rotate = async () => (await of.refreshToken()).accessToken;
}
if (lib === "ours" && memories.length === 0) throw new Error("the wasm memory was not captured");

async function snapshot() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const usage = process.memoryUsage();
  return {
    heapUsed: usage.heapUsed,
    external: usage.external,
    rss: usage.rss,
    wasm: memories.reduce((sum, memory) => sum + memory.buffer.byteLength, 0),
  };
}

const atStart = await snapshot();
let last = first;
const started = performance.now();
for (let i = 0; i < warmup; i++) last = await rotate();
const afterWarmup = await snapshot();
// Checkpoints after the warm-up; growth per rotation is the least-squares
// slope through them, steadier than two end points (a GC'd heap still moves
// by a few hundred KB from run to run).
const checkpoints = [{ at: warmup, ...afterWarmup }];
const every = Math.max(1, Math.floor((rotations - warmup) / 9));
let timedMs = 0;
for (let i = warmup; i < rotations; i++) {
  const t0 = performance.now();
  const token = await rotate();
  timedMs += performance.now() - t0;
  if (token === last) throw new Error(`rotation ${i} returned the old token`);
  last = token;
  if ((i + 1 - warmup) % every === 0 && i + 1 < rotations) checkpoints.push({ at: i + 1, ...(await snapshot()) });
}
const atEnd = await snapshot();
checkpoints.push({ at: rotations, ...atEnd });
const elapsedS = (performance.now() - started) / 1000;
function slope(key) {
  const n = checkpoints.length;
  const mx = checkpoints.reduce((a, c) => a + c.at, 0) / n;
  const my = checkpoints.reduce((a, c) => a + c[key], 0) / n;
  const sxy = checkpoints.reduce((a, c) => a + (c.at - mx) * (c[key] - my), 0);
  const sxx = checkpoints.reduce((a, c) => a + (c.at - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}
const perRotation = (key) => Math.round(slope(key) * 100) / 100;
report({
  lib,
  rotations,
  warmup,
  elapsedS: Math.round(elapsedS * 100) / 100,
  msPerRotation: Math.round((timedMs / (rotations - warmup)) * 1000) / 1000,
  checkpoints: checkpoints.length,
  atStart,
  afterWarmup,
  atEnd,
  growthPerRotationAfterWarmup: { heapUsed: perRotation("heapUsed"), wasm: perRotation("wasm"), rss: perRotation("rss") },
});
