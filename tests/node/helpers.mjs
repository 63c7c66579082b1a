/**
 * Shared helpers for the package's Node tests (tests/node/*.test.mjs).
 *
 * Importing this module also installs the checks every test file must pass:
 * - `unhandledRejection` is recorded, and a test during which one happened
 *   fails (afterEach), as does the file (after);
 * - after every test and after the whole file, each stand-in started through
 *   `startTrackedStandIn` must have counted no refresh-token reuse, except a
 *   stand-in started with `{ allowReuse: n }` (at most n reuses). A `reset()`
 *   of a tracked stand-in first adds the reuse it counted to the file total,
 *   so a reset cannot hide a reuse.
 * Every stand-in and manager created here is closed/disposed after the file.
 */

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, afterEach } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { TokenManager } from "echovideo-auth";
import { startStandIn } from "../standin/server.mjs";

export { sleep, TokenManager };

export const CLIENT_ID = "demo-client";
export const CLIENT_SECRET = "demo-secret";
export const USERNAME = "demo-user";
export const PASSWORD = "demo-pass";

// ---- Process-wide checks -------------------------------------------------

const unhandled = [];
process.on("unhandledRejection", (reason) => {
  unhandled.push(reason);
});

/** Tracked stand-ins: { standIn, allowReuse, reuseBeforeReset }. */
const standIns = [];
/** Managers to dispose after the file. */
const managers = [];

function reuseOf(entry) {
  return entry.reuseBeforeReset + entry.standIn.counts().reuse;
}

function checkReuse() {
  for (const entry of standIns) {
    const reuse = reuseOf(entry);
    assert.ok(
      reuse <= entry.allowReuse,
      `stand-in ${entry.standIn.url} counted ${reuse} refresh-token reuse(s); ${entry.allowReuse} allowed`,
    );
  }
}

function checkUnhandled() {
  if (unhandled.length > 0) {
    const shown = unhandled.map((reason) => String(reason?.stack ?? reason)).join("\n---\n");
    unhandled.length = 0;
    assert.fail(`unhandled rejection(s):\n${shown}`);
  }
}

afterEach(async () => {
  // Let rejections created at the very end of the test surface first.
  await sleep(0);
  checkUnhandled();
  checkReuse();
});

after(async () => {
  try {
    await sleep(0);
    checkUnhandled();
    checkReuse();
  } finally {
    for (const manager of managers) {
      try {
        manager.dispose();
      } catch {
        // Already freed or disposed: nothing to do.
      }
    }
    for (const server of servers) server.closeAllConnections();
    await Promise.all([
      ...standIns.map((entry) => entry.standIn.close()),
      ...servers.map((server) => new Promise((resolve) => server.close(resolve))),
    ]);
  }
});

// ---- Stand-ins -----------------------------------------------------------

/**
 * Starts a stand-in that the shared hooks watch (reuse, closing).
 * `allowReuse` is for the single scenario where one reuse is tolerated.
 */
export async function startTrackedStandIn(options = {}, { allowReuse = 0 } = {}) {
  const standIn = await startStandIn(options);
  const entry = { standIn, allowReuse, reuseBeforeReset: 0 };
  const reset = standIn.reset;
  standIn.reset = () => {
    entry.reuseBeforeReset += standIn.counts().reuse;
    reset();
    checkReuse();
  };
  standIns.push(entry);
  return standIn;
}

/** The total reuse a tracked stand-in counted, across resets. */
export function totalReuse(standIn) {
  const entry = standIns.find((candidate) => candidate.standIn === standIn);
  assert.ok(entry, "not a tracked stand-in");
  return reuseOf(entry);
}

/** Extra servers started by tests, closed after the file. */
const servers = [];

/**
 * A server that answers every request with `status` (a redirect) to the same
 * path on `target`: a token endpoint that moved, or an attacker's redirect.
 * Its base URL uses the host name "localhost", so the target is another origin.
 */
export async function startRedirector(target, status = 307) {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(status, { Location: `${target}${req.url}`, "Content-Length": 0 });
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return { url: `http://localhost:${server.address().port}` };
}

/** A base URL where nothing listens: a stand-in that was started, then closed. */
export async function closedPortUrl() {
  const standIn = await startStandIn();
  const { url } = standIn;
  await standIn.close();
  return url;
}

// ---- Managers ------------------------------------------------------------

/** A manager for the default client on `standIn`; `options` override or add. */
/**
 * A manager on the stand-in. These suites test on-demand behaviour and count
 * the stand-in's requests exactly, so background renewal is off unless a test
 * turns it on (tests/node/timers.test.mjs does).
 */
export function manager(standIn, options = {}) {
  const tm = new TokenManager({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    baseUrl: standIn.url,
    autoRefresh: false,
    ...options,
  });
  managers.push(tm);
  return tm;
}

/** A manager with only a client id (no secret): it can only refresh tokens it was given. */
export function publicManager(standIn, options = {}) {
  const tm = new TokenManager({ clientId: CLIENT_ID, baseUrl: standIn.url, autoRefresh: false, ...options });
  managers.push(tm);
  return tm;
}

/** Registers a manager created directly with `new TokenManager` for disposal. */
export function track(tm) {
  managers.push(tm);
  return tm;
}

// ---- Storage -------------------------------------------------------------

/**
 * A storage object that keeps the set in memory and records every call.
 * `initial` is what `load` returns first. Each of `load`, `save`, `clear`
 * can be replaced through `behaviour.load/save/clear` (set at any time):
 * such a function gets the default implementation as its last argument.
 */
export function recordingStorage(initial = null) {
  const storage = {
    value: initial,
    calls: [],
    saved: [],
    behaviour: {},
    load() {
      storage.calls.push("load");
      const base = () => storage.value;
      return storage.behaviour.load ? storage.behaviour.load(base) : base();
    },
    save(set) {
      storage.calls.push("save");
      const base = (value) => {
        storage.saved.push(structuredClone(value));
        storage.value = structuredClone(value);
      };
      return storage.behaviour.save ? storage.behaviour.save(set, base) : base(set);
    },
    clear() {
      storage.calls.push("clear");
      const base = () => {
        storage.value = null;
      };
      return storage.behaviour.clear ? storage.behaviour.clear(base) : base();
    },
    count(name) {
      return storage.calls.filter((call) => call === name).length;
    },
  };
  return storage;
}

/** A stored token set in the documented shape, for `standIn`'s default client. */
export function storedSet(standIn, fields = {}) {
  const now = Date.now();
  return {
    v: 1,
    accessToken: "stored-access-token",
    refreshToken: "stored-refresh-token",
    tokenType: "bearer",
    expiresAt: now + 3_600_000,
    obtainedAt: now,
    clientId: CLIENT_ID,
    baseUrl: standIn.url,
    ...fields,
  };
}

// ---- Talking to the stand-in directly ------------------------------------

/** A client_credentials grant made by the test itself: real tokens to store or import. */
export async function directGrant(standIn, clientId = CLIENT_ID, clientSecret = CLIENT_SECRET) {
  const response = await fetch(`${standIn.url}/oauth2/access_token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret }),
  });
  assert.equal(response.status, 200, "the direct grant failed");
  return response.json();
}

/** Whether the stand-in's protected API accepts `token` (a live token it issued). */
export async function apiAccepts(standIn, token) {
  const response = await fetch(`${standIn.url}/public/api/v1/media`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status === 200;
}

/** The parsed form body of a logged token request. */
export function form(entry) {
  return Object.fromEntries(new URLSearchParams(entry.body ?? ""));
}

/** The logged token requests of one grant type. */
export function requestsOf(standIn, grant) {
  return standIn.log().filter((entry) => entry.grant === grant);
}

// ---- Assertions ----------------------------------------------------------

/** Awaits `promise`, which must reject; returns the rejection. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the promise to reject, but it resolved");
}

/** Asserts `error` is a TokenError with `code` (and the given fields); returns it. */
export function assertTokenError(error, code, fields = {}) {
  assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
  assert.equal(error.name, "TokenError", `name of ${error.stack}`);
  assert.equal(error.code, code, `code of: ${error.message}`);
  assert.equal(typeof error.message, "string");
  assert.equal(typeof error.retryable, "boolean");
  for (const [key, value] of Object.entries(fields)) {
    assert.deepEqual(error[key], value, `${key} of: ${error.message}`);
  }
  return error;
}

/** Awaits `promise`, which must reject with a TokenError of `code`; returns it. */
export async function rejectsWith(promise, code, fields = {}) {
  return assertTokenError(await rejection(promise), code, fields);
}

/** Asserts `text` contains none of `secrets`. */
export function assertNoSecrets(text, secrets, what = "text") {
  for (const secret of secrets) {
    if (secret) assert.ok(!text.includes(secret), `${what} contains a secret: ${secret.slice(0, 12)}…`);
  }
}

/** The JWT payload of an access token from the stand-in. */
export function jwtPayload(token) {
  const parts = token.split(".");
  assert.equal(parts.length, 3, "not a JWT");
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}
