/**
 * Single flight: however many callers want a token at once, the token
 * endpoint sees one grant, and every caller gets its outcome.
 */

import assert from "node:assert/strict";
import { before, beforeEach, describe, test } from "node:test";

import {
  CLIENT_ID,
  apiAccepts,
  form,
  manager,
  publicManager,
  recordingStorage,
  directGrant,
  assertTokenError,
  requestsOf,
  sleep,
  startTrackedStandIn,
  storedSet,
} from "./helpers.mjs";

let standIn;

before(async () => {
  standIn = await startTrackedStandIn({ lifetimeSeconds: 3600 });
});

beforeEach(() => standIn.reset());

/** Asserts every value is the same string and returns it. */
function allSame(tokens) {
  assert.ok(tokens.length > 0);
  const [first] = tokens;
  assert.equal(typeof first, "string");
  const different = tokens.filter((token) => token !== first).length;
  assert.equal(different, 0, `${different} of ${tokens.length} callers got another token`);
  return first;
}

describe("single flight", () => {
  test("1000 concurrent getAccessToken() on an empty manager make exactly one grant", async () => {
    const tm = manager(standIn);
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => tm.getAccessToken()));
    const token = allSame(tokens);
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(standIn.counts().requests, 1);
    assert.equal(standIn.counts().grants.client_credentials, 1);
  });

  test("1000 concurrent getAccessToken() on an expired set make exactly one refresh", async () => {
    const { refresh_token: refreshToken } = await directGrant(standIn); // request 1, by the test
    const tm = publicManager(standIn);
    await tm.importTokens({ refreshToken });
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => tm.getAccessToken()));
    const token = allSame(tokens);
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(standIn.counts().requests, 2);
    assert.equal(standIn.counts().grants.refresh_token, 1);
    assert.equal(form(requestsOf(standIn, "refresh_token")[0]).refresh_token, refreshToken);
  });

  test("callers that arrive while the grant is in flight join it", async () => {
    const tm = manager(standIn);
    standIn.fault({ kind: "delay", ms: 150 });
    const early = tm.getAccessToken();
    await sleep(50);
    assert.equal(tm.info().state, "refreshing");
    const late = await Promise.all(Array.from({ length: 50 }, () => tm.getAccessToken()));
    allSame([await early, ...late]);
    assert.equal(standIn.counts().requests, 1);
  });

  for (const order of ["getAccessToken() then refresh()", "refresh() then getAccessToken()"]) {
    test(`concurrent ${order} on an empty manager share one grant`, async () => {
      const tm = manager(standIn);
      const calls = order.startsWith("refresh")
        ? [tm.refresh(), tm.getAccessToken(), tm.getAccessToken()]
        : [tm.getAccessToken(), tm.refresh(), tm.refresh()];
      const token = allSame(await Promise.all(calls));
      assert.ok(await apiAccepts(standIn, token));
      assert.equal(standIn.counts().requests, 1);
    });
  }

  test("concurrent refresh() calls on a valid token make one refresh grant and all get the new token", async () => {
    const tm = manager(standIn);
    const old = await tm.getAccessToken();
    const tokens = await Promise.all([
      ...Array.from({ length: 100 }, () => tm.refresh()),
      ...Array.from({ length: 100 }, () => tm.getAccessToken()),
    ]);
    // getAccessToken() calls made while the refresh is in flight may join it or get the
    // old (still valid) token; refresh() callers must all get the new one.
    const refreshed = allSame(tokens.slice(0, 100));
    assert.notEqual(refreshed, old);
    assert.ok(tokens.slice(100).every((token) => token === old || token === refreshed));
    assert.equal(standIn.counts().grants.refresh_token, 1);
    assert.equal(standIn.counts().requests, 2);
  });

  test("a failed grant fails every joined caller with the same error, after one request", async () => {
    const tm = manager(standIn, { clientSecret: "wrong-secret" });
    const outcomes = await Promise.allSettled(Array.from({ length: 200 }, () => tm.getAccessToken()));
    assert.ok(outcomes.every((outcome) => outcome.status === "rejected"));
    for (const { reason } of outcomes) assertTokenError(reason, "invalid_client", { status: 401 });
    assert.equal(standIn.counts().requests, 1);
  });

  test("refresh() is not satisfied by a token another caller merely loaded from storage", async () => {
    const tokens = await directGrant(standIn); // request 1, by the test
    const storage = recordingStorage(storedSet(standIn, {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
    }));
    storage.behaviour.load = async (base) => {
      await sleep(30);
      return base();
    };
    const tm = manager(standIn, { storage });
    const [loaded, refreshed] = await Promise.all([tm.getAccessToken(), tm.refresh()]);
    assert.equal(loaded, tokens.access_token);
    assert.notEqual(refreshed, tokens.access_token);
    assert.ok(await apiAccepts(standIn, refreshed));
    assert.equal(storage.count("load"), 1);
    assert.equal(standIn.counts().requests, 2);
    assert.equal(standIn.counts().grants.refresh_token, 1);
  });

  test("clear() waits for an in-flight grant, then wins: the next caller gets a new token", async () => {
    const storage = recordingStorage();
    const tm = manager(standIn, { storage });
    standIn.fault({ kind: "delay", ms: 100 });
    const inFlight = tm.getAccessToken();
    await sleep(20);
    const cleared = tm.clear();
    const first = await inFlight;
    await cleared;
    assert.equal(tm.info().state, "empty");
    assert.equal(storage.value, null, "clear() ran after the grant's save, not before");
    const second = await tm.getAccessToken();
    assert.notEqual(second, first);
    assert.equal(standIn.counts().grants.client_credentials, 2);
    assert.equal(standIn.counts().grants.refresh_token, 0);
  });

  test("a rejection of one flight does not poison the next", async () => {
    const tm = manager(standIn, { maxRetries: 0 });
    standIn.fault({ kind: "status", status: 500 });
    const failed = await Promise.allSettled([tm.getAccessToken(), tm.getAccessToken()]);
    for (const outcome of failed) {
      assert.equal(outcome.status, "rejected");
      assertTokenError(outcome.reason, "server_error");
    }
    const token = allSame(await Promise.all([tm.getAccessToken(), tm.getAccessToken()]));
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(standIn.counts().requests, 2);
    assert.equal(jwtClient(token), CLIENT_ID);
  });
});

function jwtClient(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8")).client_id;
}

test("getAccessToken() in the same tick as refresh() waits for the new token", async (t) => {
  const standIn = await startTrackedStandIn();
  t.after(() => standIn.close());
  const tm = manager(standIn);
  const old = await tm.getAccessToken();
  const refreshed = tm.refresh();
  const next = await tm.getAccessToken();
  assert.notEqual(next, old);
  assert.equal(next, await refreshed);
  assert.equal(standIn.counts().grants.refresh_token, 1);
});
