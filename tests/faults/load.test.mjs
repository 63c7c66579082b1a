/**
 * Load: 10,000 concurrent getAccessToken() calls on an expired token make
 * exactly one grant, and every caller gets the same token; also while the
 * token endpoint is slow and while the first attempt fails.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CLIENT_ID, auditTest, checkInvariants, donorTokens, recordError, refreshRequests, scenario } from "./harness.mjs";

const CALLERS = 10_000;

/** Starts CALLERS calls at once and waits for all; returns the settled results. */
async function burst(tm) {
  const calls = [];
  for (let i = 0; i < CALLERS; i += 1) calls.push(tm.getAccessToken());
  return Promise.allSettled(calls);
}

function sameToken(results) {
  const rejected = results.filter((result) => result.status === "rejected");
  assert.equal(rejected.length, 0, `${rejected.length} callers failed: ${rejected[0]?.reason?.message}`);
  const tokens = new Set(results.map((result) => result.value));
  assert.equal(tokens.size, 1, `${tokens.size} different tokens handed out`);
  return [...tokens][0];
}

describe(`${CALLERS} concurrent getAccessToken() calls`, () => {
  test("on an expired stored set: one load, one refresh, one save, one token for all", async () => {
    const ctx = await scenario({ withToken: false });
    const { refresh_token: refreshToken } = await donorTokens(ctx);
    const now = Date.now();
    ctx.storage.value = {
      v: 1,
      accessToken: "expired-access",
      refreshToken,
      tokenType: "bearer",
      expiresAt: now - 1000,
      obtainedAt: now - 3_601_000,
      clientId: CLIENT_ID,
      baseUrl: ctx.standIn.url,
    };
    const requests = ctx.standIn.counts().requests;
    const started = Date.now();
    const token = sameToken(await burst(ctx.tm));
    const elapsed = Date.now() - started;
    assert.notEqual(token, "expired-access");
    assert.equal(ctx.standIn.counts().requests - requests, 1, "more than one token request");
    assert.equal(refreshRequests(ctx.standIn).length, 1);
    assert.equal(ctx.storage.count("load"), 1);
    assert.equal(ctx.storage.count("save"), 1);
    console.log(`# load: ${CALLERS} concurrent callers on an expired stored set served in ${elapsed} ms by 1 grant`);
    await checkInvariants(ctx, { expectHeld: true });
  });

  test("on a held token that expired, with a slow token endpoint: one refresh, one token", async () => {
    const ctx = await scenario({});
    const first = await ctx.tm.getAccessToken();
    ctx.standIn.fault({ kind: "delay", ms: 200, grant: "refresh_token" });
    const real = Date.now;
    Date.now = () => real() + 2 * 3_600_000;
    let token;
    try {
      const requests = ctx.standIn.counts().requests;
      token = sameToken(await burst(ctx.tm));
      assert.equal(ctx.standIn.counts().requests - requests, 1, "more than one token request");
    } finally {
      Date.now = real;
    }
    assert.notEqual(token, first);
    await checkInvariants(ctx, { expectHeld: true });
  });

  test("when the first attempt fails with a 503, the one retry serves everyone", async () => {
    const ctx = await scenario({ withToken: false, manager: { maxRetries: 1 } });
    ctx.standIn.fault({ kind: "status", status: 503, retryAfter: 0 });
    sameToken(await burst(ctx.tm));
    assert.equal(ctx.standIn.counts().requests, 2, "one failed attempt and one retry");
    assert.equal(ctx.standIn.counts().grants.client_credentials, 1);
    await checkInvariants(ctx, {});
  });

  test("when the only attempt fails, every caller gets the same error", async () => {
    const ctx = await scenario({ withToken: false, manager: { maxRetries: 0 } });
    ctx.standIn.fault({ kind: "status", status: 500 });
    const results = await burst(ctx.tm);
    for (const result of results.slice(0, 20)) recordError("burst rejection", result.reason);
    const codes = new Set(results.map((result) => result.reason?.code));
    assert.deepEqual([...codes], ["server_error"]);
    assert.equal(ctx.standIn.counts().requests, 1);
    await checkInvariants(ctx, { errorSeen: results[0].reason, expectedCode: "server_error" });
  });
});

auditTest();
