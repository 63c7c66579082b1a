/**
 * Failures: option validation, OAuth errors, malformed answers, retries of
 * transient failures (5xx, 429, Retry-After), connection failures and timeouts.
 */

import assert from "node:assert/strict";
import { before, beforeEach, describe, test } from "node:test";

import {
  CLIENT_ID,
  CLIENT_SECRET,
  PASSWORD,
  TokenManager,
  USERNAME,
  apiAccepts,
  assertTokenError,
  closedPortUrl,
  manager,
  rejectsWith,
  sleep,
  startTrackedStandIn,
  track,
} from "./helpers.mjs";

let standIn;

before(async () => {
  standIn = await startTrackedStandIn({ lifetimeSeconds: 3600 });
});

beforeEach(() => standIn.reset());

function attempts(grant = "client_credentials") {
  return standIn.counts().attempts[grant];
}

describe("options", () => {
  const base = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET };
  const storage = { load() {}, save() {}, clear() {} };
  // [description, options, option the message must name]
  const invalid = [
    ["no options at all", undefined, "options"],
    ["options not an object", "demo-client", "options"],
    ["options an array", [base], "options"],
    ["unknown option", { ...base, clientID: "x" }, "clientID"],
    ["unknown option (typo of a known one)", { ...base, refreshMargin: 1 }, "refreshMargin"],
    ["missing clientId", { clientSecret: CLIENT_SECRET }, "clientId"],
    ["empty clientId", { ...base, clientId: "" }, "clientId"],
    ["blank clientId", { ...base, clientId: "   " }, "clientId"],
    ["non-string clientId", { ...base, clientId: 42 }, "clientId"],
    ["empty clientSecret", { ...base, clientSecret: "" }, "clientSecret"],
    ["non-string clientSecret", { ...base, clientSecret: {} }, "clientSecret"],
    ["unknown region", { ...base, region: "eu" }, "region"],
    ["non-string region", { ...base, region: 1 }, "region"],
    ["relative baseUrl", { ...base, baseUrl: "/api" }, "baseUrl"],
    ["plain http baseUrl off loopback", { ...base, baseUrl: "http://echo360.org" }, "baseUrl"],
    ["ftp baseUrl", { ...base, baseUrl: "ftp://echo360.org" }, "baseUrl"],
    ["baseUrl with credentials", { ...base, baseUrl: "https://user:pw@echo360.org" }, "baseUrl"],
    ["baseUrl with a query", { ...base, baseUrl: "https://echo360.org/?client_secret=x" }, "baseUrl"],
    ["baseUrl with a fragment", { ...base, baseUrl: "https://echo360.org/#x" }, "baseUrl"],
    ["tokenPath without a leading slash", { ...base, tokenPath: "oauth2/access_token" }, "tokenPath"],
    ["tokenPath with a query", { ...base, tokenPath: "/oauth2/access_token?x=1" }, "tokenPath"],
    ["unknown grant", { ...base, grant: "implicit" }, "grant"],
    ["refresh_token as the grant", { ...base, grant: "refresh_token" }, "grant"],
    ["username with client_credentials", { ...base, username: USERNAME }, "grant"],
    ["password grant without secret", { clientId: CLIENT_ID, grant: "password", username: USERNAME, password: PASSWORD }, "clientSecret"],
    ["password grant without username", { ...base, grant: "password", password: PASSWORD }, "username"],
    ["password grant without password", { ...base, grant: "password", username: USERNAME }, "password"],
    ["negative refreshMarginSeconds", { ...base, refreshMarginSeconds: -1 }, "refreshMarginSeconds"],
    ["NaN refreshMarginSeconds", { ...base, refreshMarginSeconds: Number.NaN }, "refreshMarginSeconds"],
    ["string refreshMarginSeconds", { ...base, refreshMarginSeconds: "5" }, "refreshMarginSeconds"],
    ["refreshMarginSeconds over a day", { ...base, refreshMarginSeconds: 86_401 }, "refreshMarginSeconds"],
    ["zero timeoutMs", { ...base, timeoutMs: 0 }, "timeoutMs"],
    ["infinite timeoutMs", { ...base, timeoutMs: Infinity }, "timeoutMs"],
    ["negative maxRetries", { ...base, maxRetries: -1 }, "maxRetries"],
    ["fractional maxRetries", { ...base, maxRetries: 1.5 }, "maxRetries"],
    ["maxRetries over 10", { ...base, maxRetries: 11 }, "maxRetries"],
    ["fetch not a function", { ...base, fetch: "fetch" }, "fetch"],
    ["onRefresh not a function", { ...base, onRefresh: {} }, "onRefresh"],
    ["onError not a function", { ...base, onError: 1 }, "onError"],
    ["storage not an object", { ...base, storage: "localStorage" }, "storage"],
    ["storage without clear", { ...base, storage: { load() {}, save() {} } }, "storage"],
    ["storage with a non-function save", { ...base, storage: { ...storage, save: 1 } }, "storage"],
  ];
  for (const [description, options, option] of invalid) {
    test(`invalid_config: ${description}`, () => {
      let thrown;
      try {
        track(new TokenManager(options));
      } catch (error) {
        thrown = error;
      }
      assert.ok(thrown, "the constructor must throw");
      assertTokenError(thrown, "invalid_config", { retryable: false });
      assert.ok(thrown.message.includes(`\`${option}\``), `"${thrown.message}" should name \`${option}\``);
      assert.ok(!thrown.message.includes(CLIENT_SECRET), "the message shows no secret");
    });
  }

  const valid = [
    ["only a clientId", { clientId: CLIENT_ID }],
    ["a region in capitals", { ...base, region: "UK" }],
    ["every region", { ...base, region: "ca" }],
    ["http on localhost", { ...base, baseUrl: "http://localhost:8080/" }],
    ["a custom https baseUrl with a path", { ...base, baseUrl: "https://api.example.edu/echo" }],
    ["the password grant", { ...base, grant: "password", username: USERNAME, password: PASSWORD }],
    ["explicit undefined and null for optional options", { ...base, region: undefined, storage: null, fetch: undefined }],
    ["limits", { ...base, refreshMarginSeconds: 0, timeoutMs: 1, maxRetries: 10 }],
    ["a storage object", { ...base, storage }],
  ];
  for (const [description, options] of valid) {
    test(`accepted: ${description}`, () => {
      const tm = track(new TokenManager(options));
      assert.equal(tm.info().state, "unloaded");
    });
  }

  test("constructing managers sends nothing", async () => {
    await sleep(10);
    assert.equal(standIn.counts().requests, 0);
  });
});

describe("OAuth errors", () => {
  test("a wrong secret rejects with invalid_client (401), not retried", async () => {
    const tm = manager(standIn, { clientSecret: "not-the-secret" });
    const error = await rejectsWith(tm.getAccessToken(), "invalid_client", { status: 401, retryable: false });
    assert.equal(typeof error.description, "string");
    assert.ok(!error.message.includes("not-the-secret") && !error.stack.includes("not-the-secret"));
    assert.equal(attempts(), 1);
    assert.equal(tm.info().state, "empty");
  });

  test("an unknown client id rejects with invalid_client", async () => {
    const tm = manager(standIn, { clientId: "nobody" });
    await rejectsWith(tm.getAccessToken(), "invalid_client", { status: 401 });
  });

  test("a disabled password grant rejects with unsupported_grant_type", async (t) => {
    const noPassword = await startTrackedStandIn({ passwordGrant: false });
    const tm = manager(noPassword, { grant: "password", username: USERNAME, password: PASSWORD });
    await rejectsWith(tm.getAccessToken(), "unsupported_grant_type", { status: 400, retryable: false });
    assert.equal(noPassword.counts().attempts.password, 1);
    t.after(() => noPassword.close());
  });

  test("a wrong user password rejects with invalid_grant and no retry", async () => {
    const tm = manager(standIn, { grant: "password", username: USERNAME, password: "wrong" });
    await rejectsWith(tm.getAccessToken(), "invalid_grant", { status: 400, retryable: false });
    assert.equal(attempts("password"), 1);
  });

  test("an unknown OAuth error code on a 400 is invalid_request, with the server's description", async () => {
    const tm = manager(standIn);
    standIn.fault({ kind: "oauth", status: 400, error: "something_new", description: "details here" });
    await rejectsWith(tm.getAccessToken(), "invalid_request", { status: 400, description: "details here", retryable: false });
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()), "the manager is still usable");
  });
});

describe("malformed 200 answers", () => {
  const good = { token_type: "bearer", access_token: "a.b.c", refresh_token: "r", expires_in: 3600 };
  const json = (fields) => JSON.stringify({ ...good, ...fields });
  const bodies = {
    HTML: { body: "<!doctype html><title>Maintenance</title>", contentType: "text/html" },
    "truncated JSON": { body: '{"token_type":"bearer","access_token":"' },
    "an empty body": { body: "" },
    "a JSON array": { body: "[]" },
    "JSON null": { body: "null" },
    "a JSON string": { body: '"token"' },
    "an empty object": { body: "{}" },
    "no access_token": { body: json({ access_token: undefined }) },
    "an empty access_token": { body: json({ access_token: "" }) },
    "a numeric access_token": { body: json({ access_token: 42 }) },
    "no token_type": { body: json({ token_type: undefined }) },
    'token_type "mac"': { body: json({ token_type: "mac" }) },
    "no expires_in": { body: json({ expires_in: undefined }) },
    "expires_in 0": { body: json({ expires_in: 0 }) },
    "expires_in -1": { body: json({ expires_in: -1 }) },
    'expires_in "3600"': { body: json({ expires_in: "3600" }) },
    "expires_in null": { body: json({ expires_in: null }) },
    "expires_in over a year": { body: json({ expires_in: 400 * 86_400 }) },
    "a numeric refresh_token": { body: json({ refresh_token: 5 }) },
    "an OAuth error with status 200": { body: JSON.stringify({ error: "invalid_client" }) },
  };
  for (const [name, fault] of Object.entries(bodies)) {
    test(`${name} -> malformed_response, not retried, manager still usable`, async () => {
      const tm = manager(standIn);
      standIn.fault({ kind: "body", grant: "client_credentials", ...fault });
      await rejectsWith(tm.getAccessToken(), "malformed_response", { status: 200, retryable: false });
      assert.equal(attempts(), 1);
      assert.equal(tm.info().state, "empty");
      const token = await tm.getAccessToken();
      assert.ok(await apiAccepts(standIn, token));
      assert.equal(attempts(), 2);
    });
  }

  test("a malformed answer to a refresh with a secret drops that refresh token (no reuse later)", async () => {
    const tm = manager(standIn);
    const first = await tm.getAccessToken();
    standIn.fault({ kind: "body", grant: "refresh_token", body: "<html>" });
    await rejectsWith(tm.refresh(), "malformed_response");
    // The held access token is still good; a forced renewal now needs a full grant.
    assert.equal(await tm.getAccessToken(), first);
    const second = await tm.refresh();
    assert.notEqual(second, first);
    assert.equal(attempts("refresh_token"), 1);
    assert.equal(attempts("client_credentials"), 2);
  });
});

describe("retries", () => {
  test("a 500 then success: retried once, the caller only sees the token", async () => {
    const tm = manager(standIn);
    standIn.fault({ kind: "status", status: 500, retryAfter: 0 });
    const token = await tm.getAccessToken();
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(attempts(), 2);
  });

  test("a 503 with Retry-After: 1 then success waits the second it was asked to", async () => {
    const tm = manager(standIn);
    standIn.fault({ kind: "status", status: 503, retryAfter: 1 });
    const started = Date.now();
    const token = await tm.getAccessToken();
    assert.ok(Date.now() - started >= 950, `retried after ${Date.now() - started} ms`);
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(attempts(), 2);
  });

  test('a 429 with Retry-After: "1" then success is retried after a second', async () => {
    const tm = manager(standIn);
    standIn.fault({ kind: "oauth", status: 429, error: "slow_down", retryAfter: "1" });
    const started = Date.now();
    const token = await tm.getAccessToken();
    const waited = Date.now() - started;
    assert.ok(waited >= 950 && waited < 3000, `retried after ${waited} ms`);
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(attempts(), 2);
  });

  test("a Retry-After given as an HTTP date is honoured", async () => {
    const tm = manager(standIn);
    const at = new Date(Date.now() + 2500);
    standIn.fault({ kind: "status", status: 503, retryAfter: at.toUTCString() });
    const started = Date.now();
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
    // The date has whole seconds: the wait is 1.5 to 2.5 s.
    assert.ok(Date.now() - started >= 1400, `retried after ${Date.now() - started} ms`);
    assert.equal(attempts(), 2);
  });

  test("retries exhausted: server_error, retryable, after 1 + maxRetries attempts", async () => {
    const tm = manager(standIn, { maxRetries: 2 });
    standIn.fault({ kind: "status", status: 500, times: 3 });
    await rejectsWith(tm.getAccessToken(), "server_error", { status: 500, retryable: true });
    assert.equal(attempts(), 3);
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
  });

  test("maxRetries 0: a 503 fails at once with its retryAfterMs", async () => {
    const tm = manager(standIn, { maxRetries: 0 });
    standIn.fault({ kind: "status", status: 503, retryAfter: 2 });
    const started = Date.now();
    await rejectsWith(tm.getAccessToken(), "server_error", { status: 503, retryable: true, retryAfterMs: 2000 });
    assert.ok(Date.now() - started < 1000);
    assert.equal(attempts(), 1);
  });

  test("a 429 on the last attempt rejects with rate_limited", async () => {
    const tm = manager(standIn, { maxRetries: 0 });
    standIn.fault({ kind: "status", status: 429, retryAfter: "1" });
    await rejectsWith(tm.getAccessToken(), "rate_limited", { status: 429, retryable: true, retryAfterMs: 1000 });
  });

  test("a Retry-After beyond a minute is not waited for", async () => {
    const tm = manager(standIn);
    standIn.fault({ kind: "status", status: 503, retryAfter: 120 });
    const started = Date.now();
    await rejectsWith(tm.getAccessToken(), "server_error", { retryAfterMs: 120_000 });
    assert.ok(Date.now() - started < 1000);
    assert.equal(attempts(), 1);
  });

  test("a retry that is waiting when the manager is disposed sends nothing more", async () => {
    const tm = manager(standIn);
    standIn.fault({ kind: "status", status: 503, retryAfter: 1 });
    const pending = tm.getAccessToken();
    await sleep(200);
    tm.dispose();
    await rejectsWith(pending, "disposed");
    assert.equal(attempts(), 1);
  });
});

describe("failures while the held token is still valid", () => {
  /** A manager whose (real) token is inside the default 300 s margin but valid for 100 s more. */
  async function expiringManager(options) {
    const response = await fetch(`${standIn.url}/oauth2/access_token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
    });
    const tokens = await response.json();
    const now = Date.now();
    const set = {
      v: 1, accessToken: tokens.access_token, refreshToken: tokens.refresh_token, tokenType: "bearer",
      expiresAt: now + 100_000, obtainedAt: now - 3_500_000, clientId: CLIENT_ID, baseUrl: standIn.url,
    };
    const tm = manager(standIn, { storage: { load: () => set, save() {}, clear() {} }, ...options });
    return { tm, tokens };
  }

  test("a successful early renewal replaces an expiring token", async () => {
    const { tm, tokens } = await expiringManager();
    const token = await tm.getAccessToken();
    assert.notEqual(token, tokens.access_token);
    assert.equal(standIn.counts().grants.refresh_token, 1);
  });

  test("a transient failure of the early renewal still hands out the valid expiring token", async () => {
    const { tm, tokens } = await expiringManager({ maxRetries: 0 });
    standIn.fault({ kind: "status", status: 503 });
    assert.equal(await tm.getAccessToken(), tokens.access_token);
  });
});

describe("connection failures", () => {
  test("a refused connection (fault) with maxRetries 0 -> network", async () => {
    const tm = manager(standIn, { maxRetries: 0 });
    standIn.fault({ kind: "refuse" });
    const error = await rejectsWith(tm.getAccessToken(), "network", { retryable: true, status: undefined });
    assert.ok(!error.message.includes(CLIENT_SECRET));
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
  });

  test("a refused connection is retried transparently", async () => {
    const tm = manager(standIn);
    standIn.fault({ kind: "refuse" });
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
    assert.equal(standIn.counts().requests, 2);
  });

  test("a connection dropped mid-answer -> network", async () => {
    const tm = manager(standIn, { maxRetries: 0 });
    standIn.fault({ kind: "reset" });
    await rejectsWith(tm.getAccessToken(), "network", { retryable: true });
  });

  test("a closed port -> network, also after retries", async () => {
    const url = await closedPortUrl();
    const once = manager(standIn, { baseUrl: url, maxRetries: 0 });
    await rejectsWith(once.getAccessToken(), "network", { retryable: true, status: undefined });
    const retried = manager(standIn, { baseUrl: url, maxRetries: 1 });
    const started = Date.now();
    await rejectsWith(retried.getAccessToken(), "network");
    assert.ok(Date.now() - started >= 100, "the retry waited its backoff");
  });

  test("a hung token endpoint with timeoutMs 300 -> timeout", async () => {
    const tm = manager(standIn, { timeoutMs: 300, maxRetries: 0 });
    standIn.fault({ kind: "hang" });
    const started = Date.now();
    const error = await rejectsWith(tm.getAccessToken(), "timeout", { retryable: true });
    const waited = Date.now() - started;
    assert.ok(waited >= 280 && waited < 2000, `timed out after ${waited} ms`);
    assert.match(error.message, /300/);
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
  });

  test("a hang then an answer: the timeout is retried", async () => {
    const tm = manager(standIn, { timeoutMs: 300 });
    standIn.fault({ kind: "hang" });
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
    assert.equal(attempts(), 2);
  });

  test("an answer slower than timeoutMs counts as a timeout", async () => {
    const tm = manager(standIn, { timeoutMs: 200, maxRetries: 0 });
    standIn.fault({ kind: "delay", ms: 600 });
    await rejectsWith(tm.getAccessToken(), "timeout");
  });
});
