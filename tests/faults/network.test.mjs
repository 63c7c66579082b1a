/**
 * Fault injection on the wire: refused and reset connections, a token
 * endpoint that never answers, transient statuses with and without
 * Retry-After, OAuth errors and unreadable 200s, on the first grant and on
 * a refresh, for clients with and without a secret. Every scenario ends with
 * the common invariants (harness.mjs `checkInvariants`), and the file with
 * the secrets audit.
 */

import assert from "node:assert/strict";
import { describe } from "node:test";

import { CLIENT_ID, auditTest, faultTest, form, refreshRequests } from "./harness.mjs";

/** Short timeouts keep the suite fast; no retry unless a scenario asks. */
const fast = { timeoutMs: 300, maxRetries: 0 };

/** The refresh token held before the fault was presented exactly `times` times, and never after. */
function presentedTimes(ctx, outcome, times) {
  const spent = outcome.before.token;
  const uses = refreshRequests(ctx.standIn).filter((entry) => form(entry).refresh_token === spent);
  assert.equal(uses.length, times, `the refresh token held before the fault was presented ${uses.length} times`);
}

describe("connection refused (nothing reaches the server)", () => {
  faultTest("first grant, no retry: network", {
    on: "first",
    manager: fast,
    refuse: 1,
    expectedCode: "network",
    check: (ctx, { errorSeen }) => assert.equal(errorSeen.retryable, true),
  });
  faultTest("first grant, refused twice, two retries: transparent", {
    on: "first",
    manager: { ...fast, maxRetries: 2 },
    refuse: 2,
    check: (ctx, { token }) => assert.equal(typeof token, "string"),
  });
  faultTest("refresh without a secret: network, the refresh token is kept and works next time", {
    client: "public",
    manager: fast,
    refuse: 1,
    expectedCode: "network",
    expectHeld: true,
  });
  faultTest("refresh with a secret, one retry: the same refresh token is used, it was never sent", {
    manager: { ...fast, maxRetries: 1 },
    refuse: 1,
    expectHeld: true,
    check: (ctx, outcome) => presentedTimes(ctx, outcome, 1),
  });
});

describe("connection reset mid-response", () => {
  faultTest("first grant: network", {
    on: "first",
    manager: fast,
    fault: { kind: "reset" },
    expectedCode: "network",
  });
  faultTest("refresh with a secret: network; the doubtful token is dropped, a full grant recovers", {
    manager: fast,
    fault: { kind: "reset" },
    expectedCode: "network",
    check: (ctx, outcome) => {
      presentedTimes(ctx, outcome, 1);
      assert.equal(ctx.tm.info().hasRefreshToken, false, "a refresh token in doubt is kept by a client with a secret");
    },
  });
  faultTest("refresh without a secret, one retry: the token is tried once more and works", {
    client: "public",
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "reset" },
    expectHeld: true,
    check: (ctx, outcome) => presentedTimes(ctx, outcome, 2),
  });
});

describe("a token endpoint that never answers (timeoutMs 300)", () => {
  faultTest("first grant: timeout", {
    on: "first",
    manager: fast,
    fault: { kind: "hang" },
    expectedCode: "timeout",
    check: (ctx, { elapsed, errorSeen }) => {
      assert.ok(elapsed >= 250 && elapsed < 3000, `${elapsed} ms`);
      assert.equal(errorSeen.retryable, true);
    },
  });
  faultTest("refresh with a secret, one retry: a full grant follows, the token is not presented again", {
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "hang" },
    check: (ctx, outcome) => {
      presentedTimes(ctx, outcome, 1);
      assert.equal(outcome.sent.at(-1).grant, "client_credentials");
    },
  });
  faultTest("refresh without a secret: timeout, then the token is tried once more", {
    client: "public",
    manager: fast,
    fault: { kind: "hang" },
    expectedCode: "timeout",
  });
  faultTest("an answer slower than the timeout on a refresh (processed): a full grant, no reuse", {
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "delay", ms: 700 },
    check: (ctx, outcome) => presentedTimes(ctx, outcome, 1),
  });
});

describe("transient statuses", () => {
  for (const status of [500, 502, 503]) {
    faultTest(`${status} without Retry-After on a refresh: server_error, retryable, token kept`, {
      manager: fast,
      fault: { kind: "status", status },
      expectedCode: "server_error",
      expectHeld: true,
      check: (ctx, { errorSeen }) => {
        assert.equal(errorSeen.status, status);
        assert.equal(errorSeen.retryable, true);
        assert.equal(errorSeen.retryAfterMs, undefined);
      },
    });
    faultTest(`${status} with Retry-After: 1 on the first grant: server_error with retryAfterMs`, {
      on: "first",
      manager: fast,
      fault: { kind: "status", status, retryAfter: 1 },
      expectedCode: "server_error",
      check: (ctx, { errorSeen }) => assert.equal(errorSeen.retryAfterMs, 1000),
    });
  }
  faultTest("503 with Retry-After: 1, one retry: waits the second, then succeeds", {
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "status", status: 503, retryAfter: 1 },
    expectHeld: true,
    check: (ctx, { elapsed }) => assert.ok(elapsed >= 950, `retried after ${elapsed} ms`),
  });
  faultTest("500 on a refresh without a secret, one retry: the same token succeeds", {
    client: "public",
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "status", status: 500 },
    expectHeld: true,
    check: (ctx, outcome) => presentedTimes(ctx, outcome, 2),
  });
  faultTest("429 with Retry-After: 1, no retry: rate_limited with retryAfterMs", {
    manager: fast,
    fault: { kind: "status", status: 429, retryAfter: 1 },
    expectedCode: "rate_limited",
    expectHeld: true,
    check: (ctx, { errorSeen }) => {
      assert.equal(errorSeen.status, 429);
      assert.equal(errorSeen.retryAfterMs, 1000);
    },
  });
  faultTest("429 with Retry-After: 1, one retry: waits, then succeeds", {
    on: "first",
    manager: { ...fast, maxRetries: 1 },
    fault: { kind: "status", status: 429, retryAfter: 1 },
    check: (ctx, { elapsed }) => assert.ok(elapsed >= 950, `retried after ${elapsed} ms`),
  });
  faultTest("429 with Retry-After: 120 is not waited out: rate_limited at once", {
    manager: { ...fast, maxRetries: 3 },
    fault: { kind: "status", status: 429, retryAfter: 120 },
    expectedCode: "rate_limited",
    expectHeld: true,
    check: (ctx, { errorSeen, elapsed }) => {
      assert.equal(errorSeen.retryAfterMs, 120_000);
      assert.ok(elapsed < 2000, `${elapsed} ms`);
    },
  });
});

describe("OAuth errors", () => {
  faultTest("invalid_grant on a refresh with a secret: a full grant, transparently", {
    manager: fast,
    fault: { kind: "oauth", status: 400, error: "invalid_grant" },
    check: (ctx, outcome) => {
      assert.deepEqual(outcome.sent.map((entry) => entry.grant), ["refresh_token", "client_credentials"]);
    },
  });
  faultTest("invalid_grant on a refresh without a secret: reauth_required, storage cleared", {
    client: "public",
    manager: fast,
    fault: { kind: "oauth", status: 400, error: "invalid_grant", description: "revoked" },
    expectedCode: "reauth_required",
    recover: "import",
    check: (ctx, { errorSeen }) => {
      assert.equal(errorSeen.description, "revoked");
      assert.equal(ctx.storage.value, null);
      assert.equal(ctx.tm.info().hasRefreshToken, false);
    },
  });
  faultTest("invalid_client on the first grant: invalid_client, not retried", {
    on: "first",
    manager: { ...fast, maxRetries: 3 },
    fault: { kind: "oauth", status: 401, error: "invalid_client" },
    expectedCode: "invalid_client",
    check: (ctx, { errorSeen, sent }) => {
      assert.equal(errorSeen.status, 401);
      assert.equal(errorSeen.retryable, false);
      assert.equal(sent.length, 1);
    },
  });
  faultTest("invalid_client on a refresh with a secret: the refresh token is dropped, a full grant follows", {
    manager: fast,
    fault: { kind: "oauth", status: 401, error: "invalid_client" },
    check: (ctx, outcome) => presentedTimes(ctx, outcome, 1),
  });
  faultTest("the password grant: invalid_grant on a refresh falls back on the password grant", {
    client: "password",
    manager: fast,
    fault: { kind: "oauth", status: 400, error: "invalid_grant" },
    check: (ctx, { sent }) => assert.deepEqual(sent.map((entry) => entry.grant), ["refresh_token", "password"]),
  });
});

describe("unreadable 200 answers", () => {
  const bodies = [
    ["HTML", "<!doctype html><title>Maintenance</title>", "text/html"],
    ["truncated JSON", '{"token_type":"bearer","access_token":"eyJ', "application/json"],
    ["an empty body", "", "application/json"],
    ["missing fields", JSON.stringify({ token_type: "bearer", expires_in: 3600 }), "application/json"],
    [
      "wrong types",
      JSON.stringify({ token_type: "bearer", access_token: 42, refresh_token: ["r"], expires_in: "3600" }),
      "application/json",
    ],
    ["a 10 MB body", "x".repeat(10_000_000), "text/plain"],
  ];
  for (const [name, body, contentType] of bodies) {
    faultTest(`${name} on the first grant: malformed_response, not retried`, {
      on: "first",
      manager: { ...fast, maxRetries: 2 },
      fault: { kind: "body", status: 200, body, contentType },
      expectedCode: "malformed_response",
      check: (ctx, { errorSeen, sent }) => {
        assert.equal(errorSeen.status, 200);
        assert.equal(errorSeen.retryable, false);
        assert.equal(sent.length, 1);
      },
    });
  }
  faultTest("HTML on a refresh with a secret: malformed_response; that refresh token is never presented again", {
    manager: fast,
    fault: { kind: "body", status: 200, body: "<html>oops</html>", contentType: "text/html" },
    expectedCode: "malformed_response",
    check: (ctx, outcome) => presentedTimes(ctx, outcome, 1),
  });
  faultTest("truncated JSON on a refresh without a secret: malformed_response, then one more try works", {
    client: "public",
    manager: fast,
    fault: { kind: "body", status: 200, body: '{"access_token":"e' },
    expectedCode: "malformed_response",
    check: (ctx) => assert.equal(ctx.tm.info().hasRefreshToken, true),
  });
});

// The client id is in every request body; make sure the audit would see it
// if it leaked the same way a secret could (a sanity check of the fixture).
describe("fixture", () => {
  faultTest("a plain refresh: one request with the held refresh token and the client id", {
    manager: fast,
    check: (ctx, { sent, before }) => {
      assert.equal(sent.length, 1);
      assert.equal(form(sent[0]).client_id, CLIENT_ID);
      assert.equal(form(sent[0]).refresh_token, before.token);
      assert.equal(form(sent[0]).client_secret, undefined);
    },
  });
});

auditTest();
