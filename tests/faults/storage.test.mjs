/**
 * Fault injection in the caller's storage: save throwing, rejecting and
 * hanging (on the first grant and on a rotation), load returning garbage, a
 * set for another client or another server, a set from the future, and load
 * throwing, rejecting and hanging. Every scenario ends with the common
 * invariants; the file with the secrets audit.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  CLIENT_ID,
  auditTest,
  checkInvariants,
  donorTokens,
  failure,
  refreshRequests,
  scenario,
  success,
} from "./harness.mjs";

const fast = { timeoutMs: 300, maxRetries: 0 };

const saveFaults = [
  ["throws", () => {
    throw new Error("QuotaExceededError: disk full");
  }],
  ["rejects", () => Promise.reject(new Error("EACCES: permission denied"))],
  ["hangs", () => new Promise(() => {})],
  ["throws a non-Error", () => {
    throw undefined; // eslint-disable-line no-throw-literal
  }],
];

describe("storage.save fails", () => {
  for (const [how, save] of saveFaults) {
    for (const when of ["first grant", "rotation"]) {
      test(`save ${how} on the ${when}: the caller gets the new token, onError gets "storage", nothing is lost`, async () => {
        const ctx = await scenario({ manager: fast, withToken: when === "rotation" });
        const stored = ctx.storage.value;
        ctx.storage.behaviour.save = save;
        ctx.saveFailed = true;
        const started = Date.now();
        const token = await success(when === "rotation" ? ctx.tm.refresh() : ctx.tm.getAccessToken());
        assert.equal(typeof token, "string");
        if (how === "hangs") assert.ok(Date.now() - started >= 250, "the hung save was not waited for");
        assert.equal(ctx.events.error.length, 1, "onError was not told");
        assert.equal(ctx.events.error[0].code, "storage");
        assert.match(ctx.events.error[0].message, /save/);
        assert.deepEqual(ctx.storage.value, stored, "a failed save changed storage");
        // The new set is held but unsaved: no token is served from memory
        // without first trying to save it again.
        const saves = ctx.storage.count("save");
        const again = await success(ctx.tm.getAccessToken());
        assert.equal(again, token);
        assert.equal(ctx.storage.count("save"), saves + 1, "the next call did not retry the save");
        await checkInvariants(ctx, { expectHeld: true });
      });
    }
  }

  test("a save that keeps failing for ten rotations loses no refresh token and reuses none", async () => {
    const ctx = await scenario({ manager: fast });
    ctx.storage.behaviour.save = () => Promise.reject(new Error("read-only file system"));
    ctx.saveFailed = true;
    for (let i = 0; i < 10; i += 1) await success(ctx.tm.refresh());
    const presented = refreshRequests(ctx.standIn).map((entry) => new URLSearchParams(entry.body).get("refresh_token"));
    assert.equal(new Set(presented).size, presented.length, "a refresh token was presented twice");
    assert.ok(ctx.events.error.length >= 10);
    await checkInvariants(ctx, { expectHeld: true });
  });

  test("a save error that echoes the token set does not carry the refresh token into the TokenError", async () => {
    // Its own onError, so that a leak fails this test by name, not only the file's audit.
    const errors = [];
    const ctx = await scenario({ manager: { ...fast, onError: (error) => errors.push(error) }, withToken: false });
    ctx.storage.behaviour.save = (set) => {
      throw new Error(`could not write ${JSON.stringify(set)}`);
    };
    ctx.saveFailed = true;
    await success(ctx.tm.getAccessToken());
    const received = await ctx.lastReceived();
    ctx.tm.dispose();
    assert.equal(errors.length, 1);
    assert.ok(!errors[0].message.includes(received), "the refresh token is in the onError message");
  });
});

/** Load behaviours that must reject with "storage" and send nothing. */
const loadFaults = [
  ["returns garbage (not a set)", () => ({ v: 1, accessToken: 5, hello: "world" })],
  ["returns a string", () => "{\"v\":1}"],
  ["returns a set of another version", (base, ctx) => ({ ...validSet(ctx), v: 2 })],
  ["returns a set whose refreshToken is a number", (base, ctx) => ({ ...validSet(ctx), refreshToken: 7 })],
  ["throws", () => {
    throw new Error("SecurityError: storage disabled");
  }],
  ["rejects", () => Promise.reject(new TypeError("cannot read"))],
  ["hangs", () => new Promise(() => {})],
];

function validSet(ctx, fields = {}) {
  const now = Date.now();
  return {
    v: 1,
    accessToken: "stored-access",
    refreshToken: "stored-refresh",
    tokenType: "bearer",
    expiresAt: now + 3_600_000,
    obtainedAt: now,
    clientId: CLIENT_ID,
    baseUrl: ctx.standIn.url,
    ...fields,
  };
}

describe("storage.load fails", () => {
  for (const [how, load] of loadFaults) {
    test(`load ${how}: rejects with "storage", sends nothing, works once the fault is gone`, async () => {
      const ctx = await scenario({ manager: fast, withToken: false });
      ctx.storage.behaviour.load = (base) => load(base, ctx);
      const error = await failure(ctx.tm.getAccessToken());
      assert.equal(ctx.standIn.counts().requests, 0, "a request was sent although storage could not be read");
      assert.equal(error.retryable, true);
      await checkInvariants(ctx, { errorSeen: error, expectedCode: "storage" });
    });
  }

  for (const [what, fields] of [
    ["another client", { clientId: "someone-else" }],
    ["another server", { baseUrl: "https://echo360.org.uk" }],
  ]) {
    test(`load returns a set for ${what}: it is ignored (never sent), a full grant follows`, async () => {
      const ctx = await scenario({ manager: fast, withToken: false });
      ctx.storage.value = validSet(ctx, fields);
      const token = await success(ctx.tm.getAccessToken());
      assert.notEqual(token, "stored-access");
      assert.equal(ctx.standIn.counts().unknownRefresh, 0, "the other client's refresh token was sent");
      assert.equal(ctx.standIn.counts().grants.client_credentials, 1);
      await checkInvariants(ctx, {});
    });
  }

  test("a stored set obtained two hours in the future (clock went back) is renewed, not trusted", async () => {
    const ctx = await scenario({ manager: fast, withToken: false });
    const { refresh_token: refreshToken } = await donorTokens(ctx);
    const future = Date.now() + 7_200_000;
    ctx.storage.value = validSet(ctx, { refreshToken, obtainedAt: future, expiresAt: future + 3_600_000 });
    const token = await success(ctx.tm.getAccessToken());
    assert.notEqual(token, "stored-access", "a set from the future was trusted");
    const refreshes = refreshRequests(ctx.standIn);
    assert.equal(refreshes.length, 1, "the stored refresh token was not used to renew");
    assert.equal(new URLSearchParams(refreshes[0].body).get("refresh_token"), refreshToken);
    await checkInvariants(ctx, { expectHeld: true });
  });

  test("a stored set 30 s in the future (within the clock tolerance) is used as it is", async () => {
    const ctx = await scenario({ manager: fast, withToken: false });
    const { refresh_token: refreshToken, access_token: accessToken } = await donorTokens(ctx);
    const soon = Date.now() + 30_000;
    ctx.storage.value = validSet(ctx, { accessToken, refreshToken, obtainedAt: soon, expiresAt: soon + 3_600_000 });
    const token = await success(ctx.tm.getAccessToken());
    assert.equal(token, accessToken);
    assert.equal(ctx.standIn.counts().requests, 1, "only the donor's grant");
    await checkInvariants(ctx, { expectHeld: true });
  });
});

auditTest();
