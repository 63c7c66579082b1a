/**
 * Fault injection around rotation: a refresh the server carried out whose
 * answer was lost (with a secret the spent token is never presented again
 * and a full grant follows; without one it is tried at most once more, then
 * reauth_required), and wall-clock jumps forward and backward (an expired
 * token is renewed, not served; a set obtained "in the future" by more than
 * the tolerance is renewed, not trusted). Every scenario ends with the
 * common invariants; the file with the secrets audit.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  apiAccepts,
  auditTest,
  checkInvariants,
  failure,
  faultTest,
  form,
  refreshRequests,
  scenario,
  success,
} from "./harness.mjs";

const fast = { timeoutMs: 300, maxRetries: 0 };

describe("a refresh whose answer is lost after the server rotated", () => {
  faultTest("with a secret, one retry: a full grant follows at once, the spent token is not presented again", {
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "lose-after-rotate" },
    check: (ctx, { sent, before }) => {
      assert.deepEqual(sent.map((entry) => entry.grant), ["refresh_token", "client_credentials"]);
      assert.equal(form(sent[0]).refresh_token, before.token);
      assert.equal(ctx.standIn.counts().reuse, 0);
    },
  });
  faultTest("with a secret, no retry: network; the next call makes a full grant, never presenting the spent token", {
    manager: fast,
    fault: { kind: "lose-after-rotate" },
    expectedCode: "network",
    check: (ctx) => assert.equal(ctx.tm.info().hasRefreshToken, false),
  });
  faultTest("the password grant: a lost rotation falls back on the password grant", {
    client: "password",
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "lose-after-rotate" },
    check: (ctx, { sent }) => assert.deepEqual(sent.map((entry) => entry.grant), ["refresh_token", "password"]),
  });
  faultTest("without a secret: at most one retry (the one tolerated reuse), then reauth_required", {
    client: "public",
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "lose-after-rotate" },
    allowReuse: 1,
    expectedCode: "reauth_required",
    recover: "import",
    check: (ctx, { sent, before, errorSeen }) => {
      assert.equal(errorSeen.retryable, false);
      assert.ok(sent.length <= 2, `${sent.length} requests`);
      assert.ok(sent.every((entry) => form(entry).refresh_token === before.token));
      assert.ok(ctx.standIn.counts().reuse <= 1);
      assert.equal(ctx.tm.info().hasRefreshToken, false);
      assert.equal(ctx.storage.value, null, "the dead set stayed in storage");
    },
  });
  faultTest("without a secret, no retry: network; the one more try of the next renewal is refused, reauth_required", {
    client: "public",
    manager: fast,
    fault: { kind: "lose-after-rotate" },
    allowReuse: 1,
    expectedCode: "network",
    recover: "import",
    storageMayLag: true,
    check: async (ctx, { before }) => {
      // The held access token is still valid, so only a forced renewal tries the token again.
      const error = await failure(ctx.tm.refresh());
      assert.equal(error.code, "reauth_required");
      const uses = refreshRequests(ctx.standIn).filter((entry) => form(entry).refresh_token === before.token);
      assert.equal(uses.length, 2, "presented once, then exactly once more");
      // Nothing is left to try: no request at all now.
      const requests = ctx.standIn.counts().requests;
      await failure(ctx.tm.getAccessToken());
      assert.equal(ctx.standIn.counts().requests, requests);
    },
  });
  faultTest("on the first grant (nothing to lose): the retry makes a new grant", {
    on: "first",
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "lose-after-rotate" },
  });
});

/** Patches Date.now (which the wasm reads) to run `offsetMs` ahead; returns the restore. */
function shiftClock(offsetMs) {
  const real = Date.now;
  Date.now = () => real() + offsetMs;
  return () => {
    Date.now = real;
  };
}

describe("wall-clock jumps", () => {
  test("forward past the expiry: the token is renewed, not served expired", async () => {
    const ctx = await scenario({ manager: fast });
    const first = await ctx.tm.getAccessToken();
    const restore = shiftClock(2 * 3_600_000);
    let token;
    try {
      token = await success(ctx.tm.getAccessToken());
      assert.notEqual(token, first, "an expired token was served");
      assert.equal(await apiAccepts(ctx.standIn, first), false, "the old token should be expired now");
      assert.ok(await apiAccepts(ctx.standIn, token));
      assert.equal(refreshRequests(ctx.standIn).length, 1);
    } finally {
      restore();
    }
    await checkInvariants(ctx, { expectHeld: true });
  });

  test("forward into the refresh margin, renewal fails: the still-valid token is served, onError told", async () => {
    const ctx = await scenario({ manager: fast });
    const first = await ctx.tm.getAccessToken();
    ctx.standIn.fault({ kind: "status", status: 503, grant: "refresh_token" });
    const restore = shiftClock(3_600_000 - 120_000);
    try {
      const token = await success(ctx.tm.getAccessToken());
      assert.equal(token, first);
      assert.equal(ctx.events.error.at(-1)?.code, "server_error");
    } finally {
      restore();
    }
    await checkInvariants(ctx, { expectHeld: true });
  });

  test("backward by two hours: a set obtained 'in the future' is renewed, not trusted", async () => {
    const ctx = await scenario({ manager: fast });
    const first = await ctx.tm.getAccessToken();
    const restore = shiftClock(-2 * 3_600_000);
    try {
      const token = await success(ctx.tm.getAccessToken());
      assert.notEqual(token, first, "a set from the future was trusted");
      assert.equal(refreshRequests(ctx.standIn).length, 1);
    } finally {
      restore();
    }
    await checkInvariants(ctx, { expectHeld: true });
  });

  test("backward by 30 s (within the tolerance): the held token is served, no request", async () => {
    const ctx = await scenario({ manager: fast });
    const first = await ctx.tm.getAccessToken();
    const requests = ctx.standIn.counts().requests;
    const restore = shiftClock(-30_000);
    try {
      assert.equal(await success(ctx.tm.getAccessToken()), first);
      assert.equal(ctx.standIn.counts().requests, requests);
    } finally {
      restore();
    }
    await checkInvariants(ctx, { expectHeld: true });
  });

  test("back and forth during a retry's backoff: one renewal, no reuse", async () => {
    const ctx = await scenario({ manager: { ...fast, maxRetries: 2 } });
    ctx.standIn.fault({ kind: "status", status: 500, grant: "refresh_token" });
    const real = Date.now;
    let calls = 0;
    // Every other reading of the clock is an hour off, either way.
    Date.now = () => real() + (calls++ % 2 === 0 ? 3_600_000 : -3_600_000);
    let token;
    try {
      token = await success(ctx.tm.refresh());
    } finally {
      Date.now = real;
    }
    assert.equal(typeof token, "string");
    await checkInvariants(ctx, { expectHeld: true });
  });
});

auditTest();
