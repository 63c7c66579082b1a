/**
 * The token lifecycle as a user sees it: first grant, the cached token,
 * renewal inside the refresh margin with rotation, info() states, importing,
 * clearing, disposing, and what serialising a manager shows.
 */

import assert from "node:assert/strict";
import { inspect } from "node:util";
import { before, beforeEach, describe, test } from "node:test";

import {
  CLIENT_ID,
  CLIENT_SECRET,
  apiAccepts,
  assertNoSecrets,
  form,
  jwtPayload,
  manager,
  publicManager,
  recordingStorage,
  rejectsWith,
  requestsOf,
  sleep,
  startTrackedStandIn,
} from "./helpers.mjs";

const LIFETIME_S = 4;
const MARGIN_S = 1;

let standIn;

before(async () => {
  standIn = await startTrackedStandIn({ lifetimeSeconds: LIFETIME_S });
});

beforeEach(() => standIn.reset());

describe("getting a token", () => {
  test("the first call makes one client_credentials grant and returns a live token", async () => {
    const events = [];
    const tm = manager(standIn, { refreshMarginSeconds: MARGIN_S, onRefresh: (event) => events.push(event) });
    const before = Date.now();
    const token = await tm.getAccessToken();
    const after = Date.now();

    assert.equal(typeof token, "string");
    assert.equal(jwtPayload(token).client_id, CLIENT_ID);
    assert.ok(await apiAccepts(standIn, token));
    assert.deepEqual(standIn.counts().grants, { client_credentials: 1, password: 0, refresh_token: 0 });

    const info = tm.info();
    assert.equal(info.state, "valid");
    assert.equal(info.hasRefreshToken, true);
    assert.equal(info.lastGrant, "client_credentials");
    assert.ok(info.expiresAt >= before + LIFETIME_S * 1000 && info.expiresAt <= after + LIFETIME_S * 1000);

    assert.equal(events.length, 1);
    assert.deepEqual(Object.keys(events[0]).sort(), ["expiresAt", "grant", "source"]);
    assert.deepEqual(events[0], { grant: "client_credentials", expiresAt: info.expiresAt, source: "network" });
  });

  test("a cached token needs no request", async () => {
    const tm = manager(standIn, { refreshMarginSeconds: MARGIN_S });
    const first = await tm.getAccessToken();
    const again = [];
    for (let i = 0; i < 20; i += 1) again.push(await tm.getAccessToken());
    assert.ok(again.every((token) => token === first));
    assert.equal(standIn.counts().requests, 1);
  });

  test("info() goes unloaded -> refreshing -> valid; the margin brings expiring, then expired", async () => {
    const storage = recordingStorage();
    const renewing = manager(standIn, { refreshMarginSeconds: MARGIN_S, storage });
    const idle = manager(standIn, { refreshMarginSeconds: MARGIN_S });

    assert.deepEqual(renewing.info(), { state: "unloaded", expiresAt: null, hasRefreshToken: false, lastGrant: null, nextRefreshAt: null });
    storage.behaviour.load = async (base) => {
      await sleep(60);
      return base();
    };
    const pending = renewing.getAccessToken();
    await sleep(20);
    assert.equal(renewing.info().state, "refreshing", "an operation in flight shows as refreshing");
    const [first] = await Promise.all([pending, idle.getAccessToken()]);
    const start = Date.now();
    assert.equal(renewing.info().state, "valid");
    assert.equal(storage.saved.length, 1);
    const firstRefreshToken = storage.saved[0].refreshToken;

    // Inside the margin (1 s before the 4 s expiry): still usable, but due for renewal.
    await sleep(start + (LIFETIME_S - MARGIN_S) * 1000 + 150 - Date.now());
    assert.equal(renewing.info().state, "expiring");
    assert.equal(standIn.counts().requests, 2, "info() makes no request");
    const second = await renewing.getAccessToken();
    assert.notEqual(second, first);
    assert.ok(await apiAccepts(standIn, second));
    assert.equal(renewing.info().state, "valid");
    assert.equal(renewing.info().lastGrant, "refresh_token");

    // Rotation: the refresh grant presented the first refresh token and the new one was kept.
    const refreshes = requestsOf(standIn, "refresh_token");
    assert.equal(refreshes.length, 1);
    assert.equal(form(refreshes[0]).refresh_token, firstRefreshToken);
    assert.equal(storage.saved.length, 2);
    assert.notEqual(storage.saved[1].refreshToken, firstRefreshToken);
    assert.equal(storage.saved[1].accessToken, second);

    // Past the expiry of a token nobody renewed.
    await sleep(start + LIFETIME_S * 1000 + 150 - Date.now());
    assert.equal(idle.info().state, "expired");
    assert.equal(idle.info().hasRefreshToken, true);
    const renewed = await idle.getAccessToken();
    assert.ok(await apiAccepts(standIn, renewed));
    assert.equal(idle.info().state, "valid");
    assert.equal(standIn.counts().grants.refresh_token, 2);
    assert.equal(standIn.counts().grants.client_credentials, 2);
  });

  test("refresh() replaces a still-valid token by rotating the refresh token", async () => {
    const tm = manager(standIn, { refreshMarginSeconds: MARGIN_S });
    const first = await tm.getAccessToken();
    const second = await tm.refresh();
    assert.notEqual(second, first);
    assert.equal(await tm.getAccessToken(), second);
    assert.deepEqual(standIn.counts().grants, { client_credentials: 1, password: 0, refresh_token: 1 });
  });
});

describe("importTokens", () => {
  test("an imported refresh token is used by the next getAccessToken", async () => {
    const donor = manager(standIn);
    await donor.getAccessToken();
    const refreshToken = standIn.issuedRefreshTokens()[CLIENT_ID];
    donor.dispose(); // its refresh token now belongs to the importer; the donor must not spend it

    const events = [];
    const storage = recordingStorage();
    const tm = publicManager(standIn, { storage, onRefresh: (event) => events.push(event) });
    await tm.importTokens({ refreshToken });
    const info = tm.info();
    assert.equal(info.state, "expired", "without an access token the set is due at once");
    assert.equal(info.hasRefreshToken, true);
    assert.equal(info.lastGrant, null);
    assert.equal(events.length, 1);
    assert.equal(events[0].source, "import");
    assert.equal(events[0].grant, null);
    assert.equal(storage.saved.length, 1, "an imported set is saved like any other");
    assert.equal(storage.saved[0].refreshToken, refreshToken);
    assert.equal(standIn.counts().requests, 1, "importing sends nothing");

    const token = await tm.getAccessToken();
    assert.ok(await apiAccepts(standIn, token));
    const refreshes = requestsOf(standIn, "refresh_token");
    assert.equal(refreshes.length, 1);
    assert.equal(form(refreshes[0]).refresh_token, refreshToken);
    assert.equal(tm.info().lastGrant, "refresh_token");
    assert.deepEqual(events.map((event) => event.source), ["import", "network"]);
    assert.notEqual(storage.saved.at(-1).refreshToken, refreshToken);
  });

  test("an imported access token with its expiry is handed out without a request", async () => {
    const tm = publicManager(standIn);
    const expiresAt = Date.now() + 3_600_000;
    await tm.importTokens({ refreshToken: "unused-refresh-token", accessToken: "imported-access", expiresAt });
    assert.equal(await tm.getAccessToken(), "imported-access");
    assert.deepEqual(tm.info(), { state: "valid", expiresAt, hasRefreshToken: true, lastGrant: null, nextRefreshAt: null });
    assert.equal(standIn.counts().requests, 0);
  });

  test("an access token imported without expiresAt is not trusted", async () => {
    const tm = manager(standIn);
    await tm.getAccessToken();
    const refreshToken = standIn.issuedRefreshTokens()[CLIENT_ID];
    await tm.importTokens({ refreshToken, accessToken: "no-expiry-access" });
    const token = await tm.getAccessToken();
    assert.notEqual(token, "no-expiry-access");
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(requestsOf(standIn, "refresh_token").length, 1);
  });

  test("bad arguments reject with invalid_request and change nothing", async () => {
    const tm = manager(standIn);
    const token = await tm.getAccessToken();
    for (const bad of [undefined, null, "token", 42, [], {}, { refreshToken: "" }, { refreshToken: 7 },
      { refreshToken: "r", tokenType: "mac" }, { refreshToken: "r", accessToken: 5 },
      { refreshToken: "r", accessToken: "a", expiresAt: "soon" }]) {
      await rejectsWith(tm.importTokens(bad), "invalid_request", { retryable: false });
    }
    assert.equal(await tm.getAccessToken(), token);
    assert.equal(standIn.counts().requests, 1);
  });

  test("a refresh token this manager already rotated away cannot be imported again", async () => {
    const tm = manager(standIn);
    await tm.getAccessToken();
    const spent = standIn.issuedRefreshTokens()[CLIENT_ID];
    const current = await tm.refresh();
    const requests = standIn.counts().requests;

    await rejectsWith(tm.importTokens({ refreshToken: spent }), "invalid_grant");
    assert.equal(await tm.getAccessToken(), current, "the manager keeps its current set");
    await tm.refresh();
    assert.equal(standIn.counts().requests, requests + 1);
    assert.equal(standIn.counts().reuse, 0);
  });
});

describe("clear", () => {
  test("clear() forgets the tokens in memory and in storage; the next call makes a full grant", async () => {
    const storage = recordingStorage();
    const tm = manager(standIn, { storage });
    const token = await tm.getAccessToken();
    assert.ok(storage.value);

    await tm.clear();
    assert.equal(storage.count("clear"), 1);
    assert.equal(storage.value, null);
    const info = tm.info();
    assert.equal(info.state, "empty");
    assert.equal(info.expiresAt, null);
    assert.equal(info.hasRefreshToken, false);

    const next = await tm.getAccessToken();
    assert.notEqual(next, token);
    assert.deepEqual(standIn.counts().grants, { client_credentials: 2, password: 0, refresh_token: 0 });
  });

  test("info().lastGrant is null once clear() left no token set", async () => {
    const tm = manager(standIn);
    await tm.getAccessToken();
    await tm.clear();
    assert.equal(tm.info().lastGrant, null);
  });

  test("a getAccessToken() called right after clear() does not return the cleared token", async () => {
    const tm = manager(standIn);
    const token = await tm.getAccessToken();
    const cleared = tm.clear();
    const next = await tm.getAccessToken();
    await cleared;
    assert.ok(next !== token, "getAccessToken() after clear() resolved to the token being cleared");
  });
});

test("a getAccessToken() called right after importTokens() returns the imported token", async () => {
  const tm = manager(standIn);
  const previous = await tm.getAccessToken();
  const expiresAt = Date.now() + 3_600_000;
  const imported = tm.importTokens({ refreshToken: "imported-refresh", accessToken: "imported-access", expiresAt });
  const next = await tm.getAccessToken();
  await imported;
  assert.ok(next !== previous, "getAccessToken() after importTokens() resolved to the replaced token");
  assert.equal(next, "imported-access");
});

describe("dispose", () => {
  for (const how of ["dispose()", "[Symbol.dispose]()"]) {
    test(`after ${how} every operation rejects with disposed and nothing is sent`, async () => {
      const tm = manager(standIn);
      await tm.getAccessToken();
      const requests = standIn.counts().requests;

      assert.equal(typeof tm[Symbol.dispose], "function");
      if (how === "dispose()") tm.dispose();
      else tm[Symbol.dispose]();

      assert.equal(tm.info().state, "disposed");
      await rejectsWith(tm.getAccessToken(), "disposed", { retryable: false });
      await rejectsWith(tm.refresh(), "disposed");
      await rejectsWith(tm.importTokens({ refreshToken: "r" }), "disposed");
      await rejectsWith(tm.clear(), "disposed");
      tm.dispose(); // idempotent
      assert.equal(tm.info().state, "disposed");
      assert.equal(JSON.stringify(tm), JSON.stringify(tm.info()));
      assert.equal(standIn.counts().requests, requests);
    });
  }
});

test("dispose() during a grant in flight: the received set is saved, nothing more is sent", async () => {
  const storage = recordingStorage();
  const tm = manager(standIn, { storage });
  standIn.fault({ kind: "delay", ms: 150 });
  const pending = tm.getAccessToken().then((token) => ({ token }), (error) => ({ error }));
  await sleep(50);
  tm.dispose();
  const outcome = await pending;
  // The in-flight call may resolve (the set had been received) or reject with disposed.
  if (outcome.error) assert.equal(outcome.error.code, "disposed");
  assert.equal(storage.saved.length, 1, "a token set already received is still saved");
  assert.equal(standIn.counts().requests, 1);
  await rejectsWith(tm.getAccessToken(), "disposed");
  assert.equal(standIn.counts().requests, 1);
});

describe("what a manager reveals", () => {
  test("JSON.stringify and util.inspect show no token, refresh token or secret", async () => {
    const storage = recordingStorage();
    const tm = manager(standIn, { storage, refreshMarginSeconds: MARGIN_S });
    const token = await tm.getAccessToken();
    const refreshToken = storage.saved[0].refreshToken;
    const secrets = [token, refreshToken, CLIENT_SECRET];

    const json = JSON.stringify(tm);
    assert.deepEqual(JSON.parse(json), tm.info());
    assertNoSecrets(json, secrets, "JSON.stringify(manager)");
    assertNoSecrets(inspect(tm, { depth: 5, showHidden: true }), secrets, "util.inspect(manager)");
    assertNoSecrets(String(tm), secrets, "String(manager)");
    assertNoSecrets(JSON.stringify(tm.info()), secrets, "info()");
    assertNoSecrets(JSON.stringify(storage.saved), [CLIENT_SECRET], "the stored set");
  });

  test("listeners that throw or reject, or call back into the manager, break nothing", async () => {
    const seen = [];
    let tm;
    tm = manager(standIn, {
      onRefresh: (event) => {
        seen.push(tm.info().state);
        // Re-entrant call from inside the listener.
        tm.getAccessToken().then((token) => seen.push(typeof token), (error) => seen.push(error.code));
        throw new Error("listener bug");
      },
      onError: async () => {
        throw new Error("async listener bug");
      },
    });
    const token = await tm.getAccessToken();
    assert.ok(await apiAccepts(standIn, token));
    await sleep(20);
    assert.deepEqual(seen, [seen[0], "string"]);
    assert.ok(["refreshing", "valid"].includes(seen[0]));

    const rejecting = manager(standIn, { onRefresh: () => Promise.reject(new Error("rejected listener")) });
    assert.equal(typeof (await rejecting.getAccessToken()), "string");
    await sleep(20);
    // The shared afterEach hook fails this test if a listener's rejection went unhandled.
  });
});
