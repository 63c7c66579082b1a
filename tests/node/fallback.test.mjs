/**
 * What happens when a refresh token dies or its fate is unknown: with a
 * client secret the manager falls back on a full grant; without one it asks
 * for re-authentication, and a single-use refresh token is never presented
 * twice, except in the one case where it is the only way back (at most once).
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  CLIENT_ID,
  PASSWORD,
  USERNAME,
  apiAccepts,
  form,
  manager,
  publicManager,
  assertTokenError,
  recordingStorage,
  rejection,
  rejectsWith,
  requestsOf,
  startTrackedStandIn,
  totalReuse,
} from "./helpers.mjs";

/** A stand-in per test, so that its counts belong to that test alone. */
function fresh(options = { lifetimeSeconds: 3600 }, tracking) {
  return startTrackedStandIn(options, tracking);
}

/**
 * A manager without a secret holding a refresh token that a manager with the
 * secret obtained (and then gave up, so it never spends it).
 */
async function publicManagerWithImportedToken(standIn, options = {}) {
  const donor = manager(standIn);
  await donor.getAccessToken();
  const refreshToken = standIn.issuedRefreshTokens()[CLIENT_ID];
  donor.dispose();
  const storage = recordingStorage();
  const tm = publicManager(standIn, { storage, ...options });
  await tm.importTokens({ refreshToken });
  return { tm, storage, refreshToken };
}

describe("with a client secret", () => {
  test("invalid_grant on a refresh falls back on a full grant, transparently", async () => {
    const standIn = await fresh();
    const errors = [];
    const storage = recordingStorage();
    const tm = manager(standIn, { storage, onError: (error) => errors.push(error) });
    const first = await tm.getAccessToken();
    standIn.fault({ kind: "oauth", status: 400, error: "invalid_grant", grant: "refresh_token" });

    const second = await tm.refresh();
    assert.notEqual(second, first);
    assert.ok(await apiAccepts(standIn, second));
    assert.equal(standIn.counts().attempts.refresh_token, 1);
    assert.equal(standIn.counts().grants.client_credentials, 2);
    assert.equal(tm.info().lastGrant, "client_credentials");
    assert.equal(tm.info().hasRefreshToken, true);
    assert.equal(storage.saved.at(-1).accessToken, second);
    assert.equal(storage.saved.at(-1).refreshToken, standIn.issuedRefreshTokens()[CLIENT_ID]);
    assert.deepEqual(errors, []);

    // The new refresh token works as usual.
    await tm.refresh();
    assert.equal(standIn.counts().grants.refresh_token, 1);
  });

  test("the password grant client falls back on the password grant", async () => {
    const standIn = await fresh();
    const tm = manager(standIn, { grant: "password", username: USERNAME, password: PASSWORD });
    await tm.getAccessToken();
    standIn.fault({ kind: "oauth", status: 400, error: "invalid_grant", grant: "refresh_token" });
    assert.ok(await apiAccepts(standIn, await tm.refresh()));
    assert.deepEqual(standIn.counts().grants, { client_credentials: 0, password: 2, refresh_token: 0 });
  });

  for (const [name, fault] of [
    ["lose-after-rotate (processed, answer lost)", { kind: "lose-after-rotate" }],
    ["a connection reset mid-answer", { kind: "reset" }],
    ["an answer slower than the timeout", { kind: "delay", ms: 800 }],
  ]) {
    test(`${name} on a refresh: the spent token is never presented again, a full grant follows`, async () => {
      const standIn = await fresh();
      const tm = manager(standIn, { timeoutMs: 400 });
      const first = await tm.getAccessToken();
      const spent = standIn.issuedRefreshTokens()[CLIENT_ID];
      standIn.fault({ ...fault, grant: "refresh_token" });

      const second = await tm.refresh();
      assert.notEqual(second, first);
      assert.ok(await apiAccepts(standIn, second));
      const refreshes = requestsOf(standIn, "refresh_token");
      assert.equal(refreshes.length, 1, "the doubtful refresh token was sent once only");
      assert.equal(form(refreshes[0]).refresh_token, spent);
      assert.equal(standIn.counts().grants.client_credentials, 2);
      assert.equal(standIn.counts().reuse, 0);

      // Later refreshes rotate the new token normally.
      await tm.refresh();
      assert.equal(standIn.counts().reuse, 0);
      assert.ok(requestsOf(standIn, "refresh_token").slice(1).every((entry) => form(entry).refresh_token !== spent));
    });
  }
});

describe("without a client secret", () => {
  test("invalid_grant on a refresh -> reauth_required, storage cleared, tokens forgotten", async () => {
    const standIn = await fresh();
    const { tm, storage } = await publicManagerWithImportedToken(standIn);
    standIn.fault({ kind: "oauth", status: 400, error: "invalid_grant", description: "revoked", grant: "refresh_token" });

    await rejectsWith(tm.getAccessToken(), "reauth_required", { status: 400, description: "revoked", retryable: false });
    assert.equal(storage.count("clear"), 1);
    assert.equal(storage.value, null);
    assert.equal(tm.info().state, "empty");
    assert.equal(tm.info().hasRefreshToken, false);

    // Nothing left to try: no request at all.
    const requests = standIn.counts().requests;
    await rejectsWith(tm.getAccessToken(), "reauth_required");
    await rejectsWith(tm.refresh(), "reauth_required");
    assert.equal(standIn.counts().requests, requests);
    assert.equal(standIn.counts().attempts.client_credentials, 1, "only the donor's grant");
  });

  test("a refresh token the server does not know -> reauth_required", async () => {
    const standIn = await fresh();
    const tm = publicManager(standIn);
    await tm.importTokens({ refreshToken: "never-issued" });
    await rejectsWith(tm.getAccessToken(), "reauth_required", { status: 400 });
    assert.equal(standIn.counts().unknownRefresh, 1);
  });

  test("no tokens and no secret -> reauth_required without a request", async () => {
    const standIn = await fresh();
    const tm = publicManager(standIn);
    await rejectsWith(tm.getAccessToken(), "reauth_required", { retryable: false });
    assert.equal(standIn.counts().requests, 0);
  });

  test("after reauth_required, importing a new refresh token recovers", async () => {
    const standIn = await fresh();
    const { tm } = await publicManagerWithImportedToken(standIn);
    standIn.fault({ kind: "oauth", status: 400, error: "invalid_grant", grant: "refresh_token" });
    await rejectsWith(tm.getAccessToken(), "reauth_required");

    const donor = manager(standIn);
    await donor.getAccessToken();
    const refreshToken = standIn.issuedRefreshTokens()[CLIENT_ID];
    donor.dispose();
    await tm.importTokens({ refreshToken });
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
  });

  test("a transient 500 on a refresh is retried with the same, unspent token", async () => {
    const standIn = await fresh();
    const { tm, refreshToken } = await publicManagerWithImportedToken(standIn);
    standIn.fault({ kind: "status", status: 500, retryAfter: 0, grant: "refresh_token" });
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
    const refreshes = requestsOf(standIn, "refresh_token");
    assert.equal(refreshes.length, 2);
    assert.ok(refreshes.every((entry) => form(entry).refresh_token === refreshToken));
    assert.equal(standIn.counts().reuse, 0);
  });

  test("reauth_required wins over a failing storage.clear, which goes to onError", async () => {
    const standIn = await fresh();
    const errors = [];
    const { tm, storage } = await publicManagerWithImportedToken(standIn, { onError: (error) => errors.push(error) });
    storage.behaviour.clear = () => Promise.reject(new Error("locked"));
    standIn.fault({ kind: "oauth", status: 400, error: "invalid_grant", grant: "refresh_token" });
    await rejectsWith(tm.getAccessToken(), "reauth_required");
    assert.equal(errors.length, 1);
    assert.equal(errors[0].code, "storage");
    assert.match(errors[0].message, /clear/);
    assert.equal(tm.info().hasRefreshToken, false);
  });

  test("two lost connections in a row on a refresh: the token is presented at most twice, never reused", async () => {
    const standIn = await fresh();
    const { tm, refreshToken } = await publicManagerWithImportedToken(standIn);
    standIn.fault({ kind: "reset", grant: "refresh_token", times: 2 });
    const error = await rejection(tm.getAccessToken());
    // The manager gives the token up rather than risk a reuse: the user must sign in again.
    assertTokenError(error, "reauth_required");
    const refreshes = requestsOf(standIn, "refresh_token");
    assert.equal(refreshes.length, 2);
    assert.ok(refreshes.every((entry) => form(entry).refresh_token === refreshToken));
    assert.equal(standIn.counts().reuse, 0);
  });

  test("a refused connection on a refresh: the token is tried once more and works", async () => {
    const standIn = await fresh();
    const { tm } = await publicManagerWithImportedToken(standIn);
    standIn.fault({ kind: "refuse" });
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
    assert.equal(standIn.counts().grants.refresh_token, 1);
    assert.equal(standIn.counts().reuse, 0);
  });

  test("lose-after-rotate on a refresh: at most one reuse, then reauth_required", async () => {
    // The one scenario where a reuse is tolerated: the refresh token is this
    // client's only way back, so it may be presented once more.
    const standIn = await fresh({ lifetimeSeconds: 3600 }, { allowReuse: 1 });
    const { tm, storage, refreshToken } = await publicManagerWithImportedToken(standIn);
    standIn.fault({ kind: "lose-after-rotate", grant: "refresh_token" });

    await rejectsWith(tm.getAccessToken(), "reauth_required", { retryable: false });
    assert.ok(totalReuse(standIn) <= 1, `reuse ${totalReuse(standIn)}`);
    const refreshes = requestsOf(standIn, "refresh_token");
    assert.ok(refreshes.length <= 2, `${refreshes.length} refresh requests`);
    assert.ok(refreshes.every((entry) => form(entry).refresh_token === refreshToken));
    assert.equal(storage.count("clear"), 1);
    assert.equal(tm.info().hasRefreshToken, false);

    // The spent token is not tried again.
    await rejectsWith(tm.getAccessToken(), "reauth_required");
    assert.equal(requestsOf(standIn, "refresh_token").length, refreshes.length);
    assert.ok(totalReuse(standIn) <= 1);
  });
});
