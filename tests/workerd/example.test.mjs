// The example Worker (examples/worker/) in the real workerd runtime, through
// miniflare, configured from its own wrangler.jsonc, against the stand-in on
// loopback: a proxied API call succeeds, concurrent requests share one grant,
// the token set is persisted in Durable Object storage (a restarted runtime
// makes no new grant), rotation never reuses a refresh token, and a revoked
// token is replaced once.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, beforeEach, test } from "node:test";
import { Miniflare } from "miniflare";

import { startStandIn } from "../standin/server.mjs";
import { bundleWorker } from "./bundle.mjs";

const exampleDir = fileURLToPath(new URL("../../examples/worker/", import.meta.url));
const PROXY_KEY = "test-proxy-key";

/** wrangler.jsonc with its comments removed (it has no trailing commas). */
function readWranglerConfig() {
  const text = readFileSync(join(exampleDir, "wrangler.jsonc"), "utf8");
  return JSON.parse(text.replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (match, string) => string ?? ""));
}

const config = readWranglerConfig();
let standIn;
let bundle;
let persistDir;
let mf = null;

/** Starts workerd with the example, as `wrangler dev` would run it, keeping DO storage in `persistDir`. */
async function startWorker() {
  const sqliteClasses = config.migrations.flatMap((migration) => migration.new_sqlite_classes ?? []);
  mf = new Miniflare({
    modules: bundle.modules,
    modulesRoot: bundle.modulesRoot,
    compatibilityDate: config.compatibility_date,
    bindings: {
      ...config.vars,
      // What .dev.vars / `wrangler secret put` would provide, pointed at the stand-in.
      ECHO_CLIENT_ID: "demo-client",
      ECHO_CLIENT_SECRET: "demo-secret",
      ECHO_BASE_URL: standIn.url,
      PROXY_KEY,
    },
    durableObjects: Object.fromEntries(
      config.durable_objects.bindings.map(({ name, class_name: className }) => [
        name,
        { className, useSQLite: sqliteClasses.includes(className) },
      ]),
    ),
    durableObjectsPersist: persistDir,
  });
  await mf.ready;
}

async function stopWorker() {
  await mf?.dispose();
  mf = null;
}

async function get(path, { key = PROXY_KEY } = {}) {
  const response = await mf.dispatchFetch(`http://proxy.test${path}`, {
    headers: key === null ? {} : { Authorization: `Bearer ${key}` },
  });
  return { status: response.status, body: await response.text() };
}

const grants = () => {
  const { grants: byType } = standIn.counts();
  return byType.client_credentials + byType.refresh_token + byType.password;
};

before(async () => {
  standIn = await startStandIn();
  bundle = await bundleWorker(join(exampleDir, config.main));
});

beforeEach(async () => {
  await stopWorker();
  persistDir && rmSync(persistDir, { recursive: true, force: true });
  persistDir = mkdtempSync(join(tmpdir(), "echovideo-example-"));
  standIn.reset();
  standIn.configure({ lifetimeSeconds: 3600 });
  await startWorker();
});

after(async () => {
  await stopWorker();
  persistDir && rmSync(persistDir, { recursive: true, force: true });
  await standIn?.close();
});

test("the bundle took the package's workerd entry", () => {
  assert.ok(bundle.inputs.some((input) => input.endsWith("node_modules/echovideo-auth/workerd.js")), bundle.inputs.join("\n"));
  assert.deepEqual(bundle.modules.map((module) => module.type), ["ESModule", "CompiledWasm"]);
});

test("a proxied call reaches /public/api/v1/ with a bearer token", async () => {
  const { status, body } = await get("/api/courses?page=2");
  assert.equal(status, 200, body);
  const answer = JSON.parse(body);
  assert.equal(answer.path, "/public/api/v1/courses");
  assert.equal(answer.client_id, "demo-client");
  assert.equal(standIn.counts().grants.client_credentials, 1);
  assert.ok(!body.includes("demo-secret"));
});

test("callers without the proxy key, other methods and odd paths are refused before any grant", async () => {
  assert.equal((await get("/api/courses", { key: null })).status, 401);
  assert.equal((await get("/api/courses", { key: "wrong" })).status, 401);
  assert.equal((await get("/api/..%2Foauth2/access_token")).status, 400);
  assert.equal((await get("/elsewhere")).status, 404);
  const post = await mf.dispatchFetch("http://proxy.test/api/courses", {
    method: "POST",
    headers: { Authorization: `Bearer ${PROXY_KEY}` },
    body: "{}",
  });
  await post.arrayBuffer();
  assert.equal(post.status, 405);
  assert.equal(standIn.counts().requests, 0);
});

test("concurrent requests share one grant", async () => {
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`/api/media/${i}`)));
  assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200, 200, 200, 200]);
  assert.equal(grants(), 1);
  await get("/api/courses");
  assert.equal(grants(), 1, "later requests reuse the token");
});

test("the token set is persisted in Durable Object storage: a restarted runtime makes no grant", async () => {
  assert.equal((await get("/api/courses")).status, 200);
  assert.equal(grants(), 1);
  await stopWorker();
  await startWorker();
  assert.equal((await get("/api/courses")).status, 200);
  assert.equal(grants(), 1, "the restarted Durable Object loaded the stored set");
});

test("rotation: an expiring token is refreshed, saved, and the rotated set survives a restart", async () => {
  standIn.configure({ lifetimeSeconds: 2 });
  assert.equal((await get("/api/courses")).status, 200);
  await sleep(1200); // past half the lifetime
  assert.equal((await get("/api/courses")).status, 200);
  assert.equal(standIn.counts().grants.refresh_token, 1);

  await stopWorker();
  await sleep(1000); // the stored access token is now stale too
  await startWorker();
  assert.equal((await get("/api/courses")).status, 200);
  const counts = standIn.counts();
  assert.equal(counts.grants.refresh_token, 2, "refreshed with the stored, rotated refresh token");
  assert.equal(counts.grants.client_credentials, 1, "no fallback on a full grant");
  assert.equal(counts.reuse, 0);
});

test("a revoked token is replaced once, however many requests saw the 401", async () => {
  assert.equal((await get("/api/courses")).status, 200);
  standIn.revokeAccessTokens();
  const answers = await Promise.all(Array.from({ length: 4 }, () => get("/api/courses")));
  assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200, 200]);
  const counts = standIn.counts();
  assert.equal(counts.grants.refresh_token, 1);
  assert.equal(counts.reuse, 0);
});

test("a token endpoint failure becomes a 502 with the TokenError code", async () => {
  standIn.fault({ kind: "oauth", status: 401, error: "invalid_client", description: "client authentication failed" });
  const { status, body } = await get("/api/courses");
  assert.equal(status, 502);
  assert.equal(JSON.parse(body).error, "invalid_client");
  assert.ok(!body.includes("demo-secret"));
});
