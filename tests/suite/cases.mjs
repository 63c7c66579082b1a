// The shared behavioural suite of the built package: the same cases run in
// Node (tests/suite/node.test.mjs), headless Chromium
// (tests/suite/chromium.test.mjs), workerd (tests/workerd/suite.test.mjs) and
// in each bundler's output (tests/bundlers/).
//
// Runtime-agnostic on purpose: no Node imports, no node:assert, nothing at
// module scope but definitions (workerd forbids I/O and timers there). The
// stand-in (tests/standin/server.mjs) is driven over HTTP through
// tests/suite/control.mjs.
//
//   createSuite({ pkg, standinUrl, control, backends }) -> [{ name, run }]
//
// - pkg: the package's module namespace, as the runtime imported it
//   (`import * as pkg from "echovideo-auth"`).
// - standinUrl: the stand-in's base URL, reachable from the runtime.
// - control: standinControl(standinUrl).
// - backends: real storage where the runtime has it, else the suite's fakes:
//   { localStorage?, kv?, doStorage? }.
//
// Each `run()` resets the stand-in first, disposes every manager it made
// afterwards, and fails if the stand-in saw a refresh token used twice.

export const CLIENT_ID = "demo-client";
export const CLIENT_SECRET = "demo-secret";
export const USERNAME = "demo-user";
export const PASSWORD = "demo-pass";

/** What every case starts from (besides an empty stand-in). */
const STANDIN_SETTINGS = { lifetimeSeconds: 3600, passwordGrant: true, rateLimitPerMinute: null };

// ---- Checks that throw ----------------------------------------------------

export class CheckFailed extends Error {
  constructor(message) {
    super(message);
    this.name = "CheckFailed";
  }
}

function ok(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function show(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function equal(actual, expected, message) {
  if (!Object.is(actual, expected)) {
    throw new CheckFailed(`${message}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

/** Awaits `promise`, which must reject with a TokenError of `code`; returns the error. */
async function rejectsWith(promise, code, fields = {}) {
  let error;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  ok(error !== undefined, `expected a rejection with code ${code}, but the promise resolved`);
  return isTokenError(error, code, fields);
}

/** Calls `fn`, which must throw a TokenError of `code`; returns the error. */
function throwsWith(fn, code, fields = {}) {
  let error;
  try {
    fn();
  } catch (caught) {
    error = caught;
  }
  ok(error !== undefined, `expected a throw with code ${code}, but nothing was thrown`);
  return isTokenError(error, code, fields);
}

function isTokenError(error, code, fields) {
  ok(error instanceof Error, `expected an Error, got ${show(error)}`);
  equal(error.name, "TokenError", `name of "${error.message}"`);
  equal(error.code, code, `code of "${error.message}"`);
  equal(typeof error.message, "string", "type of message");
  equal(typeof error.retryable, "boolean", "type of retryable");
  for (const [key, value] of Object.entries(fields)) equal(error[key], value, `${key} of "${error.message}"`);
  return error;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const isJwt = (token) => typeof token === "string" && /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(token);

// ---- Fakes of the storage backends a runtime may lack ---------------------

/** A Web Storage object in memory (what `localStorage` offers). */
export function fakeWebStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => void items.set(key, String(value)),
    removeItem: (key) => void items.delete(key),
  };
}

/** A Workers KV namespace in memory: strings in, `get(key, "json")` parses. */
export function fakeKvNamespace() {
  const items = new Map();
  return {
    async get(key, type) {
      if (!items.has(key)) return null;
      return type === "json" ? JSON.parse(items.get(key)) : items.get(key);
    },
    async put(key, value) {
      items.set(key, String(value));
    },
    async delete(key) {
      items.delete(key);
    },
  };
}

/** Durable Object storage in memory: structured clones, `delete` answers whether the key existed. */
export function fakeDurableObjectStorage() {
  const items = new Map();
  return {
    async get(key) {
      return items.has(key) ? structuredClone(items.get(key)) : undefined;
    },
    async put(key, value) {
      items.set(key, structuredClone(value));
    },
    async delete(key) {
      return items.delete(key);
    },
  };
}

// ---- The suite ------------------------------------------------------------

export function createSuite({ pkg, standinUrl, control, backends = {} }) {
  const { TokenManager } = pkg;
  let managers = [];

  /** A manager for the default client on the stand-in; `options` override or add. */
  function manager(options = {}) {
    const tm = new TokenManager({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: standinUrl, ...options });
    managers.push(tm);
    return tm;
  }

  /** A manager with no secret: it can only refresh tokens it was given. */
  function publicManager(options = {}) {
    const tm = new TokenManager({ clientId: CLIENT_ID, baseUrl: standinUrl, ...options });
    managers.push(tm);
    return tm;
  }

  async function apiStatus(token) {
    const response = await fetch(`${standinUrl}/public/api/v1/courses`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    await response.arrayBuffer();
    return response.status;
  }

  async function newestRefreshToken() {
    return (await control.refreshTokens())[CLIENT_ID];
  }

  /** A storage that records calls in order and whose save settles after `saveDelayMs`. */
  function recordingStorage({ saveDelayMs = 0 } = {}) {
    const storage = {
      value: null,
      events: [],
      load() {
        storage.events.push("load");
        return storage.value === null ? null : structuredClone(storage.value);
      },
      async save(set) {
        storage.events.push("save");
        if (saveDelayMs > 0) await sleep(saveDelayMs);
        storage.value = structuredClone(set);
        storage.events.push("saved");
      },
      clear() {
        storage.events.push("clear");
        storage.value = null;
      },
    };
    return storage;
  }

  const cases = {
    // ---- The package ------------------------------------------------------

    async "package: every entry exports the manager and the four adapters"() {
      equal(typeof TokenManager, "function", "TokenManager");
      for (const name of ["memoryStorage", "localStorageStorage", "kvStorage", "durableObjectStorage"]) {
        equal(typeof pkg[name], "function", name);
      }
      equal(pkg.DEFAULT_STORAGE_KEY, "echovideo-auth", "DEFAULT_STORAGE_KEY");
      const tm = manager();
      equal(tm.info().state, "unloaded", "state of a new manager");
      equal((await control.counts()).requests, 0, "a new manager makes no request");
      if (typeof Symbol.dispose === "symbol") {
        equal(typeof tm[Symbol.dispose], "function", "Symbol.dispose");
        tm[Symbol.dispose]();
        equal(tm.info().state, "disposed", "state after [Symbol.dispose]()");
      }
    },

    // ---- Grants -----------------------------------------------------------

    async "grant: client_credentials gets a token the API accepts"() {
      const tm = manager();
      const token = await tm.getAccessToken();
      ok(isJwt(token), `not a JWT from the stand-in: ${String(token).slice(0, 12)}…`);
      const counts = await control.counts();
      equal(counts.grants.client_credentials, 1, "client_credentials grants");
      equal(counts.requests, 1, "token requests");
      equal(await apiStatus(token), 200, "API status with the token");
      const info = tm.info();
      equal(info.state, "valid", "state");
      equal(info.lastGrant, "client_credentials", "lastGrant");
      equal(info.hasRefreshToken, true, "hasRefreshToken");
      ok(info.expiresAt > Date.now() + 3_000_000, "expiresAt about an hour ahead");
      const shown = JSON.stringify(tm);
      ok(!shown.includes(token) && !shown.includes(CLIENT_SECRET), "JSON.stringify(tm) shows no token or secret");
    },

    async "grant: password grant with username and password"() {
      const tm = manager({ grant: "password", username: USERNAME, password: PASSWORD });
      const token = await tm.getAccessToken();
      ok(isJwt(token), "a JWT");
      equal((await control.counts()).grants.password, 1, "password grants");
      equal(await apiStatus(token), 200, "API status with the token");
    },

    // ---- Cached token -----------------------------------------------------

    async "cached: later calls get the same token with no request"() {
      const events = [];
      const tm = manager({ onRefresh: (event) => events.push(event) });
      const first = await tm.getAccessToken();
      for (let i = 0; i < 5; i += 1) equal(await tm.getAccessToken(), first, `call ${i + 2}`);
      equal((await control.counts()).requests, 1, "token requests");
      equal(events.length, 1, "onRefresh calls");
      equal(events[0].source, "network", "onRefresh source");
      equal(events[0].grant, "client_credentials", "onRefresh grant");
      ok(!JSON.stringify(events).includes(first), "onRefresh never carries the token");
    },

    // ---- Refresh ----------------------------------------------------------

    async "refresh: refresh() uses the refresh token and gets a rotated one"() {
      const tm = manager();
      const first = await tm.getAccessToken();
      const issued = await newestRefreshToken();
      const second = await tm.refresh();
      ok(second !== first, "a new access token");
      const rotated = await newestRefreshToken();
      ok(rotated !== issued, "the stand-in rotated the refresh token");
      const third = await tm.refresh();
      ok(third !== second, "another new access token");
      const counts = await control.counts();
      equal(counts.grants.client_credentials, 1, "client_credentials grants");
      equal(counts.grants.refresh_token, 2, "refresh_token grants");
      equal(counts.reuse, 0, "refresh tokens used twice");
      equal(tm.info().lastGrant, "refresh_token", "lastGrant");
      equal(await apiStatus(third), 200, "API status with the newest token");
    },

    async "refresh: a token past half its lifetime is refreshed on the next call"() {
      await control.configure({ lifetimeSeconds: 1 });
      const tm = manager();
      const first = await tm.getAccessToken();
      await sleep(700);
      const second = await tm.getAccessToken();
      ok(second !== first, "a new access token");
      const counts = await control.counts();
      equal(counts.grants.client_credentials, 1, "client_credentials grants");
      equal(counts.grants.refresh_token, 1, "refresh_token grants");
    },

    async "refresh: importTokens() adopts a refresh token from elsewhere"() {
      const seed = manager();
      await seed.getAccessToken();
      const refreshToken = await newestRefreshToken();
      seed.dispose();
      const tm = publicManager();
      await tm.importTokens({ refreshToken });
      const token = await tm.getAccessToken();
      equal(await apiStatus(token), 200, "API status with the token");
      const counts = await control.counts();
      equal(counts.grants.refresh_token, 1, "refresh_token grants");
      equal(counts.grants.client_credentials, 1, "client_credentials grants (the seed's only)");
    },

    async "refresh: autoRefresh renews in the background where timers are allowed (not in Workers)"() {
      await control.configure({ lifetimeSeconds: 2 });
      const lazy = manager({ autoRefresh: false });
      await lazy.getAccessToken();
      equal(lazy.info().nextRefreshAt, null, "nextRefreshAt with autoRefresh: false");
      lazy.dispose();
      await control.reset();

      const tm = manager();
      const first = await tm.getAccessToken();
      const next = tm.info().nextRefreshAt;
      if (globalThis.navigator?.userAgent === "Cloudflare-Workers") {
        equal(next, null, "nextRefreshAt in Workers (autoRefresh is off by default)");
        return;
      }
      ok(typeof next === "number" && next > Date.now() && next < Date.now() + 2000, `nextRefreshAt: ${next}`);
      await sleep(next - Date.now() + 500);
      const counts = await control.counts();
      equal(counts.grants.refresh_token, 1, "renewed with no caller");
      const second = await tm.getAccessToken();
      ok(second !== first, "the renewed token");
      equal((await control.counts()).requests, 2, "token requests");
    },

    async "fetch: tm.fetch() sends the bearer token and renews once on a 401"() {
      const tm = manager();
      const response = await tm.fetch(`${standinUrl}/public/api/v1/courses?page=2`, {
        headers: { Accept: "application/json" },
      });
      equal(response.status, 200, "status");
      equal((await response.json()).path, "/public/api/v1/courses", "the API's answer");
      await control.revoke();
      const retried = await tm.fetch(new Request(`${standinUrl}/public/api/v1/media`));
      equal(retried.status, 200, "status after a 401 and a renewal");
      await retried.arrayBuffer();
      const counts = await control.counts();
      equal(counts.grants.client_credentials, 1, "client_credentials grants");
      equal(counts.grants.refresh_token, 1, "refresh_token grants");
      equal(counts.apiUnauthorized, 1, "API calls refused");
    },

    // ---- Rotation and storage ---------------------------------------------

    async "rotation: every new set is saved, and the save awaited, before the token is handed out"() {
      const storage = recordingStorage({ saveDelayMs: 50 });
      const tm = manager({ storage });
      const first = await tm.getAccessToken();
      storage.events.push("token");
      // Loads may come first (a browser build re-reads storage under its lock).
      const order = (events) => events.filter((event) => event !== "load").join(" ");
      equal(order(storage.events), "save saved token", "order of the first grant");
      equal(storage.events[0], "load", "the first call loads");
      equal(storage.value.accessToken, first, "saved access token");
      equal(storage.value.refreshToken, await newestRefreshToken(), "saved refresh token");

      storage.events.length = 0;
      const second = await tm.refresh();
      storage.events.push("token");
      equal(order(storage.events), "save saved token", "order of the refresh");
      equal(storage.value.accessToken, second, "saved access token after the refresh");
      equal(storage.value.refreshToken, await newestRefreshToken(), "saved rotated refresh token");

      const set = storage.value;
      equal(set.v, 1, "v");
      equal(set.clientId, CLIENT_ID, "clientId");
      equal(set.baseUrl, standinUrl, "baseUrl");
      equal(set.tokenType.toLowerCase(), "bearer", "tokenType");
      ok(set.expiresAt > set.obtainedAt, "expiresAt after obtainedAt");
      ok(!JSON.stringify(set).includes(CLIENT_SECRET), "the stored set holds no secret");
    },

    async "rotation: a new manager continues from the saved set, never reusing a spent refresh token"() {
      const storage = recordingStorage();
      const tm = manager({ storage });
      await tm.getAccessToken();
      await tm.refresh();
      tm.dispose();
      // Make the saved access token stale so the next manager must refresh.
      storage.value = { ...storage.value, expiresAt: Date.now() - 1000 };
      const next = publicManager({ storage });
      const token = await next.getAccessToken();
      equal(await apiStatus(token), 200, "API status with the token");
      const counts = await control.counts();
      equal(counts.grants.refresh_token, 2, "refresh_token grants");
      equal(counts.reuse, 0, "refresh tokens used twice");
      equal(storage.value.refreshToken, await newestRefreshToken(), "saved rotated refresh token");
    },

    async "rotation: a valid saved set is used with no request"() {
      const storage = recordingStorage();
      const first = await manager({ storage }).getAccessToken();
      const events = [];
      const next = manager({ storage, onRefresh: (event) => events.push(event.source) });
      equal(await next.getAccessToken(), first, "the saved token");
      equal((await control.counts()).requests, 1, "token requests");
      equal(events.join(), "storage", "onRefresh sources");
    },

    async "clear: forgets the tokens in memory and in storage"() {
      const storage = recordingStorage();
      const tm = manager({ storage });
      const first = await tm.getAccessToken();
      await tm.clear();
      equal(storage.value, null, "stored set after clear()");
      equal(tm.info().hasRefreshToken, false, "hasRefreshToken after clear()");
      const second = await tm.getAccessToken();
      ok(second !== first, "a new token after clear()");
      equal((await control.counts()).grants.client_credentials, 2, "client_credentials grants");
    },

    // ---- Single flight ----------------------------------------------------

    async "single flight: concurrent getAccessToken() calls share one grant"() {
      await control.fault({ kind: "delay", ms: 150 });
      const tm = manager();
      const tokens = await Promise.all(Array.from({ length: 10 }, () => tm.getAccessToken()));
      equal(new Set(tokens).size, 1, "distinct tokens");
      const counts = await control.counts();
      equal(counts.requests, 1, "token requests");
    },

    async "single flight: concurrent refresh() calls share one refresh"() {
      const tm = manager();
      const first = await tm.getAccessToken();
      await control.fault({ kind: "delay", ms: 150 });
      const tokens = await Promise.all([tm.refresh(), tm.refresh(), tm.refresh()]);
      ok(!tokens.includes(first), "no caller gets the old token");
      equal(new Set(tokens).size, 1, "distinct tokens");
      const counts = await control.counts();
      equal(counts.grants.refresh_token, 1, "refresh_token grants");
      equal(counts.reuse, 0, "refresh tokens used twice");
    },

    // ---- Failures and error codes ------------------------------------------

    async "recovery: a 500 is retried and the grant succeeds"() {
      await control.fault({ kind: "status", status: 500 });
      const tm = manager({ maxRetries: 2 });
      const token = await tm.getAccessToken();
      ok(isJwt(token), "a JWT");
      const counts = await control.counts();
      equal(counts.faultsServed, 1, "faults served");
      equal(counts.grants.client_credentials, 1, "client_credentials grants");
    },

    async "errors: invalid_config is thrown by the constructor, naming the option"() {
      const unknown = throwsWith(() => manager({ clientID: "typo" }), "invalid_config", { retryable: false });
      ok(unknown.message.includes("clientID"), `names the option: ${unknown.message}`);
      throwsWith(() => new TokenManager({ clientId: CLIENT_ID, baseUrl: "http://echo.example.edu" }), "invalid_config");
      throwsWith(() => new TokenManager({ clientSecret: CLIENT_SECRET }), "invalid_config");
      throwsWith(() => new TokenManager({ clientId: CLIENT_ID, maxRetries: 1.5 }), "invalid_config");
      equal((await control.counts()).requests, 0, "token requests");
    },

    async "errors: invalid_client for a wrong secret, not retried"() {
      const tm = manager({ clientSecret: "wrong-secret" });
      const error = await rejectsWith(tm.getAccessToken(), "invalid_client", { status: 401, retryable: false });
      ok(!error.message.includes("wrong-secret"), "the message holds no secret");
      equal((await control.counts()).requests, 1, "token requests");
    },

    async "errors: server_error once the retries are spent"() {
      await control.fault({ kind: "status", status: 503, times: 2 });
      const tm = manager({ maxRetries: 1 });
      await rejectsWith(tm.getAccessToken(), "server_error", { status: 503, retryable: true });
      equal((await control.counts()).requests, 2, "token requests (one retry)");
      ok(isJwt(await tm.getAccessToken()), "the manager stays usable");
    },

    async "errors: rate_limited with retryAfterMs when Retry-After is too long to wait"() {
      await control.fault({ kind: "status", status: 429, retryAfter: 120 });
      const tm = manager();
      await rejectsWith(tm.getAccessToken(), "rate_limited", { status: 429, retryable: true, retryAfterMs: 120_000 });
      equal((await control.counts()).requests, 1, "token requests");
    },

    async "errors: malformed_response for an unreadable 200"() {
      await control.fault({ kind: "body", status: 200, body: "<html>maintenance</html>", contentType: "text/html" });
      const tm = manager({ maxRetries: 0 });
      await rejectsWith(tm.getAccessToken(), "malformed_response");
      ok(isJwt(await tm.getAccessToken()), "the manager stays usable");
    },

    async "errors: timeout when the token endpoint does not answer"() {
      await control.fault({ kind: "hang" });
      const tm = manager({ timeoutMs: 300, maxRetries: 0 });
      const started = Date.now();
      await rejectsWith(tm.getAccessToken(), "timeout", { retryable: true });
      ok(Date.now() - started < 5000, "rejects soon after timeoutMs");
    },

    async "errors: network when the connection is dropped"() {
      // Twice: a browser may resend a request once on its own when a kept-alive
      // connection drops, which must not turn the fault into a success.
      await control.fault({ kind: "refuse", times: 2 });
      const tm = manager({ maxRetries: 0 });
      await rejectsWith(tm.getAccessToken(), "network", { retryable: true });
      await control.clearFaults();
      ok(isJwt(await tm.getAccessToken()), "the manager stays usable");
    },

    async "errors: reauth_required when a dead refresh token cannot be replaced"() {
      const tm = publicManager();
      await tm.importTokens({ refreshToken: "never-issued" });
      await rejectsWith(tm.getAccessToken(), "reauth_required", { retryable: false });
      equal(tm.info().hasRefreshToken, false, "the dead token is dropped");
    },

    async "errors: storage when load fails, and no request is made"() {
      const tm = manager({
        storage: {
          load() {
            throw new Error("disk on fire");
          },
          save() {},
          clear() {},
        },
      });
      await rejectsWith(tm.getAccessToken(), "storage", { retryable: true });
      equal((await control.counts()).requests, 0, "token requests");
    },

    async "errors: disposed after dispose(), with no request"() {
      const tm = manager();
      tm.dispose();
      await rejectsWith(tm.getAccessToken(), "disposed");
      await rejectsWith(tm.refresh(), "disposed");
      equal(tm.info().state, "disposed", "state");
      equal((await control.counts()).requests, 0, "token requests");
    },

    // ---- Adapters ---------------------------------------------------------

    async "adapters: memoryStorage shares one set between managers"() {
      const storage = pkg.memoryStorage();
      const first = await manager({ storage }).getAccessToken();
      const second = await manager({ storage }).getAccessToken();
      equal(second, first, "the second manager's token");
      equal((await control.counts()).requests, 1, "token requests");
      const loaded = await storage.load();
      loaded.accessToken = "changed";
      equal((await storage.load()).accessToken, first, "load returns a copy");
    },

    async "adapters: localStorageStorage keeps JSON, and garbage is a storage error until clear()"() {
      const webStorage = backends.localStorage ?? fakeWebStorage();
      const key = `echovideo-auth-suite-${Date.now()}`;
      try {
        const storage = pkg.localStorageStorage(key, webStorage);
        const first = await manager({ storage }).getAccessToken();
        const saved = JSON.parse(webStorage.getItem(key));
        equal(saved.accessToken, first, "saved access token");
        equal(saved.refreshToken, await newestRefreshToken(), "saved refresh token");
        equal(await manager({ storage }).getAccessToken(), first, "a second manager reads it");

        webStorage.setItem(key, "{not json");
        const tm = manager({ storage });
        await rejectsWith(tm.getAccessToken(), "storage");
        await tm.clear();
        equal(webStorage.getItem(key), null, "clear() removed the item");
        ok(isJwt(await tm.getAccessToken()), "a new token after clear()");
        equal((await control.counts()).requests, 2, "token requests");
      } finally {
        webStorage.removeItem(key);
      }
      let thrown;
      try {
        pkg.localStorageStorage("key", null);
      } catch (error) {
        thrown = error;
      }
      ok(thrown instanceof TypeError, "no Storage object: a TypeError at once");
    },

    async "adapters: kvStorage round trip through a KV namespace"() {
      const kv = backends.kv ?? fakeKvNamespace();
      const key = `suite-${Date.now()}`;
      try {
        const storage = pkg.kvStorage(kv, key);
        const first = await manager({ storage }).getAccessToken();
        equal((await kv.get(key, "json")).accessToken, first, "the set in KV");
        equal(await manager({ storage }).getAccessToken(), first, "a second manager reads it");
        equal((await control.counts()).requests, 1, "token requests");
        await manager({ storage }).clear();
        equal(await kv.get(key, "json"), null, "clear() deleted the key");
      } finally {
        await kv.delete(key);
      }
    },

    async "adapters: durableObjectStorage saves every rotation before use"() {
      const doStorage = backends.doStorage ?? fakeDurableObjectStorage();
      const key = `suite-${Date.now()}`;
      try {
        const storage = pkg.durableObjectStorage(doStorage, key);
        const tm = manager({ storage });
        await tm.getAccessToken();
        const refreshed = await tm.refresh();
        const stored = await doStorage.get(key);
        equal(stored.accessToken, refreshed, "the refreshed set in storage");
        equal(stored.refreshToken, await newestRefreshToken(), "the rotated refresh token in storage");
        tm.dispose();
        await doStorage.put(key, { ...stored, expiresAt: Date.now() - 1000 });
        const next = publicManager({ storage });
        equal(await apiStatus(await next.getAccessToken()), 200, "API status after continuing from storage");
        const counts = await control.counts();
        equal(counts.grants.refresh_token, 2, "refresh_token grants");
        equal(counts.reuse, 0, "refresh tokens used twice");
        await next.clear();
        equal(await doStorage.get(key), undefined, "clear() deleted the key");
      } finally {
        await doStorage.delete(key);
      }
    },
  };

  async function around(name, body) {
    await control.reset();
    await control.configure(STANDIN_SETTINGS);
    try {
      await body();
      const { reuse } = await control.counts();
      equal(reuse, 0, "refresh tokens the stand-in saw used twice");
    } finally {
      for (const tm of managers) {
        try {
          tm.dispose();
        } catch {
          // Already freed: nothing to do.
        }
      }
      managers = [];
    }
  }

  return Object.entries(cases).map(([name, body]) => ({ name, run: () => around(name, body) }));
}

/**
 * Runs `suite` case by case and reports each outcome as plain data, for the
 * runtimes whose test runner is not node:test (a page, workerd).
 */
export async function runSuite(suite, { only } = {}) {
  const results = [];
  for (const { name, run } of suite) {
    if (only && !only.test(name)) continue;
    const started = Date.now();
    try {
      await run();
      results.push({ name, ok: true, ms: Date.now() - started });
    } catch (error) {
      results.push({ name, ok: false, ms: Date.now() - started, error: String(error?.stack ?? error) });
    }
  }
  return results;
}
