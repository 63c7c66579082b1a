/**
 * Tests for the EchoVideo stand-in itself (server.mjs), so that the package's
 * own tests can trust it. Run with: node --test tests/standin/server.test.mjs
 *
 * Every test starts its own stand-in on an ephemeral port and closes it after.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { MAX_BODY_BYTES, startStandIn } from "./server.mjs";

const CLIENT = { client_id: "demo-client", client_secret: "demo-secret" };
const USER = { username: "demo-user", password: "demo-pass" };
const SECOND_CLIENT = { clientId: "other-client", clientSecret: "other-secret" };

async function start(t, options) {
  const standIn = await startStandIn(options);
  t.after(() => standIn.close());
  return standIn;
}

/** POSTs a form to the token endpoint the way the package does. */
function tokenRequest(standIn, params, { headers = {}, query = "" } = {}) {
  return fetch(`${standIn.url}/oauth2/access_token${query}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json", ...headers },
    body: new URLSearchParams(params).toString(),
  });
}

async function clientCredentials(standIn, client = CLIENT) {
  const res = await tokenRequest(standIn, { grant_type: "client_credentials", ...client });
  assert.equal(res.status, 200);
  return res.json();
}

function refresh(standIn, refreshToken, clientId = CLIENT.client_id) {
  return tokenRequest(standIn, { grant_type: "refresh_token", client_id: clientId, refresh_token: refreshToken });
}

function callApi(standIn, token, path = "/public/api/v1/media") {
  return fetch(`${standIn.url}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

async function expectOAuthError(res, status, error) {
  assert.equal(res.status, status);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  const body = await res.json();
  assert.equal(body.error, error);
  return body;
}

function decodeJwtPart(part) {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

function basic(id, secret) {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
}

/** POSTs JSON to a control endpoint. */
function control(standIn, action, body) {
  return fetch(`${standIn.url}/__standin/${action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe("grants", () => {
  test("client_credentials returns a bearer JWT and an opaque refresh token", async (t) => {
    const standIn = await start(t, { lifetimeSeconds: 120 });
    const before = Math.floor(Date.now() / 1000);
    const res = await tokenRequest(standIn, { grant_type: "client_credentials", ...CLIENT });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "refresh_token", "token_type"]);
    assert.equal(body.token_type, "bearer");
    assert.equal(body.expires_in, 120);
    assert.match(body.refresh_token, /^[A-Za-z0-9_-]{20,}$/);

    const parts = body.access_token.split(".");
    assert.equal(parts.length, 3);
    for (const part of parts) assert.match(part, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeJwtPart(parts[0]), { alg: "HS256", typ: "JWT" });
    const claims = decodeJwtPart(parts[1]);
    assert.equal(claims.sub, "demo-client");
    assert.equal(claims.client_id, "demo-client");
    assert.ok(claims.iat >= before && claims.iat <= before + 1);
    assert.equal(claims.exp - claims.iat, 120);
    assert.equal(typeof claims.jti, "string");

    const counts = standIn.counts();
    assert.equal(counts.requests, 1);
    assert.equal(counts.grants.client_credentials, 1);
    assert.equal(counts.attempts.client_credentials, 1);
  });

  test("every grant issues distinct tokens", async (t) => {
    const standIn = await start(t);
    const a = await clientCredentials(standIn);
    const b = await clientCredentials(standIn);
    assert.notEqual(a.access_token, b.access_token);
    assert.notEqual(a.refresh_token, b.refresh_token);
  });

  test("password grant issues tokens for the user", async (t) => {
    const standIn = await start(t);
    const res = await tokenRequest(standIn, { grant_type: "password", ...CLIENT, ...USER });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(decodeJwtPart(body.access_token.split(".")[1]).sub, "demo-user");
    assert.equal(standIn.counts().grants.password, 1);
  });

  test("password grant rejects a bad password and missing fields", async (t) => {
    const standIn = await start(t);
    await expectOAuthError(
      await tokenRequest(standIn, { grant_type: "password", ...CLIENT, username: "demo-user", password: "nope" }),
      400,
      "invalid_grant",
    );
    await expectOAuthError(
      await tokenRequest(standIn, { grant_type: "password", ...CLIENT, username: "demo-user" }),
      400,
      "invalid_request",
    );
    const counts = standIn.counts();
    assert.equal(counts.grants.password, 0);
    assert.equal(counts.attempts.password, 2);
  });

  test("password grant can be switched off", async (t) => {
    const standIn = await start(t, { passwordGrant: false });
    await expectOAuthError(
      await tokenRequest(standIn, { grant_type: "password", ...CLIENT, ...USER }),
      400,
      "unsupported_grant_type",
    );
    standIn.configure({ passwordGrant: true });
    assert.equal((await tokenRequest(standIn, { grant_type: "password", ...CLIENT, ...USER })).status, 200);
  });

  test("HTTP Basic client authentication is accepted", async (t) => {
    const standIn = await start(t);
    const res = await tokenRequest(
      standIn,
      { grant_type: "client_credentials" },
      { headers: { Authorization: basic("demo-client", "demo-secret") } },
    );
    assert.equal(res.status, 200);
  });

  test("bad Basic credentials are invalid_client with a Basic challenge", async (t) => {
    const standIn = await start(t);
    for (const authorization of [basic("demo-client", "wrong"), "Basic !!!not-base64", "Basic bm9jb2xvbg=="]) {
      const res = await tokenRequest(standIn, { grant_type: "client_credentials" }, { headers: { Authorization: authorization } });
      await expectOAuthError(res, 401, "invalid_client");
      assert.match(res.headers.get("www-authenticate"), /^Basic /);
    }
    assert.equal(standIn.counts().invalidClient, 3);
  });

  test("body and Basic credentials that disagree are invalid_request", async (t) => {
    const standIn = await start(t);
    const res = await tokenRequest(
      standIn,
      { grant_type: "client_credentials", client_id: "someone-else" },
      { headers: { Authorization: basic("demo-client", "demo-secret") } },
    );
    await expectOAuthError(res, 400, "invalid_request");
  });

  test("wrong, missing or unknown client credentials are 401 invalid_client", async (t) => {
    const standIn = await start(t);
    const cases = [
      { client_id: "demo-client", client_secret: "wrong" },
      { client_id: "demo-client" },
      { client_id: "nobody", client_secret: "demo-secret" },
      {},
    ];
    for (const creds of cases) {
      await expectOAuthError(await tokenRequest(standIn, { grant_type: "client_credentials", ...creds }), 401, "invalid_client");
    }
    const counts = standIn.counts();
    assert.equal(counts.invalidClient, cases.length);
    assert.equal(counts.attempts.client_credentials, cases.length);
    assert.equal(counts.grants.client_credentials, 0);
  });

  test("malformed token requests are invalid_request or unsupported_grant_type", async (t) => {
    const standIn = await start(t);
    await expectOAuthError(await tokenRequest(standIn, { ...CLIENT }), 400, "invalid_request");
    await expectOAuthError(await tokenRequest(standIn, { grant_type: "authorization_code", ...CLIENT }), 400, "unsupported_grant_type");
    const json = await fetch(`${standIn.url}/oauth2/access_token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials", ...CLIENT }),
    });
    await expectOAuthError(json, 400, "invalid_request");
    const repeated = await fetch(`${standIn.url}/oauth2/access_token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret&client_id=demo-client",
    });
    await expectOAuthError(repeated, 400, "invalid_request");
    const get = await fetch(`${standIn.url}/oauth2/access_token`);
    await expectOAuthError(get, 405, "invalid_request");
    assert.equal(get.headers.get("allow"), "POST");
  });

  test("bodies over 64 KiB are rejected with 413", async (t) => {
    const standIn = await start(t);
    const res = await tokenRequest(standIn, { grant_type: "client_credentials", ...CLIENT, pad: "x".repeat(MAX_BODY_BYTES) });
    assert.equal(res.status, 413);
    await res.arrayBuffer();
    assert.equal((await tokenRequest(standIn, { grant_type: "client_credentials", ...CLIENT })).status, 200);
  });
});

describe("refresh tokens", () => {
  test("refresh needs no secret and rotates the refresh token", async (t) => {
    const standIn = await start(t);
    const first = await clientCredentials(standIn);
    assert.deepEqual(standIn.issuedRefreshTokens(), { "demo-client": first.refresh_token });

    const res = await refresh(standIn, first.refresh_token);
    assert.equal(res.status, 200);
    const second = await res.json();
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.notEqual(second.access_token, first.access_token);
    assert.deepEqual(standIn.issuedRefreshTokens(), { "demo-client": second.refresh_token });
    assert.equal(decodeJwtPart(second.access_token.split(".")[1]).sub, "demo-client");

    const third = await refresh(standIn, second.refresh_token);
    assert.equal(third.status, 200);
    const counts = standIn.counts();
    assert.equal(counts.grants.refresh_token, 2);
    assert.equal(counts.reuse, 0);
  });

  test("refresh keeps the user of a password grant", async (t) => {
    const standIn = await start(t);
    const res = await tokenRequest(standIn, { grant_type: "password", ...CLIENT, ...USER });
    const refreshed = await (await refresh(standIn, (await res.json()).refresh_token)).json();
    assert.equal(decodeJwtPart(refreshed.access_token.split(".")[1]).sub, "demo-user");
  });

  test("a used refresh token is invalid_grant and counted as reuse", async (t) => {
    const standIn = await start(t);
    const first = await clientCredentials(standIn);
    const next = await (await refresh(standIn, first.refresh_token)).json();

    const body = await expectOAuthError(await refresh(standIn, first.refresh_token), 400, "invalid_grant");
    assert.equal(typeof body.error_description, "string");
    await expectOAuthError(await refresh(standIn, first.refresh_token), 400, "invalid_grant");
    assert.equal(standIn.counts().reuse, 2);
    assert.equal(standIn.counts().unknownRefresh, 0);

    // The rotated token is unaffected by the reuse attempts.
    assert.equal((await refresh(standIn, next.refresh_token)).status, 200);
  });

  test("an unknown refresh token is invalid_grant and counted as unknownRefresh", async (t) => {
    const standIn = await start(t);
    await expectOAuthError(await refresh(standIn, "never-issued"), 400, "invalid_grant");
    const counts = standIn.counts();
    assert.equal(counts.unknownRefresh, 1);
    assert.equal(counts.reuse, 0);
    assert.equal(counts.attempts.refresh_token, 1);
  });

  test("a refresh token belongs to its client", async (t) => {
    const standIn = await start(t, {
      clients: [{ clientId: "demo-client", clientSecret: "demo-secret" }, SECOND_CLIENT],
    });
    const tokens = await clientCredentials(standIn);
    await expectOAuthError(await refresh(standIn, tokens.refresh_token, "other-client"), 400, "invalid_grant");
    // The failed attempt did not spend it.
    assert.equal((await refresh(standIn, tokens.refresh_token)).status, 200);
  });

  test("refresh checks the client", async (t) => {
    const standIn = await start(t);
    const tokens = await clientCredentials(standIn);
    await expectOAuthError(await refresh(standIn, tokens.refresh_token, "nobody"), 401, "invalid_client");
    await expectOAuthError(
      await tokenRequest(standIn, { grant_type: "refresh_token", refresh_token: tokens.refresh_token }),
      401,
      "invalid_client",
    );
    await expectOAuthError(
      await tokenRequest(standIn, { grant_type: "refresh_token", ...CLIENT, client_secret: "wrong", refresh_token: tokens.refresh_token }),
      401,
      "invalid_client",
    );
    await expectOAuthError(await tokenRequest(standIn, { grant_type: "refresh_token", client_id: "demo-client" }), 400, "invalid_request");
    // A correct secret is accepted though not needed.
    const ok = await tokenRequest(standIn, { grant_type: "refresh_token", ...CLIENT, refresh_token: tokens.refresh_token });
    assert.equal(ok.status, 200);
  });
});

describe("secrets in URLs", () => {
  test("a secret in the token URL query is refused and counted", async (t) => {
    const standIn = await start(t);
    const res = await tokenRequest(standIn, { grant_type: "client_credentials", client_id: "demo-client" }, { query: "?client_secret=demo-secret" });
    await expectOAuthError(res, 400, "invalid_request");
    assert.equal(standIn.counts().secretInUrl, 1);
    assert.equal(standIn.counts().grants.client_credentials, 0);
    const [entry] = standIn.log();
    assert.equal(entry.url, "/oauth2/access_token?client_secret=demo-secret");
    assert.equal(entry.status, 400);
  });

  test("an access token in an API URL query is refused and counted", async (t) => {
    const standIn = await start(t);
    const { access_token: token } = await clientCredentials(standIn);
    const res = await callApi(standIn, token, `/public/api/v1/media?access_token=${token}`);
    await expectOAuthError(res, 400, "invalid_request");
    assert.equal(standIn.counts().secretInUrl, 1);
  });

  test("the log records method, url, headers, body, grant and status", async (t) => {
    const standIn = await start(t);
    await clientCredentials(standIn);
    const [entry] = standIn.log();
    assert.equal(entry.method, "POST");
    assert.equal(entry.url, "/oauth2/access_token");
    assert.equal(entry.headers.accept, "application/json");
    assert.equal(new URLSearchParams(entry.body).get("client_secret"), "demo-secret");
    assert.equal(entry.grant, "client_credentials");
    assert.equal(entry.status, 200);
    assert.equal(entry.fault, null);
  });
});

describe("protected API", () => {
  test("a live token gets 200 JSON", async (t) => {
    const standIn = await start(t);
    const { access_token: token } = await clientCredentials(standIn);
    const res = await callApi(standIn, token, "/public/api/v1/users/me?page=2");
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.ok(Array.isArray(body.data));
    assert.equal(body.path, "/public/api/v1/users/me");
    assert.equal(body.client_id, "demo-client");
    assert.equal(standIn.counts().apiCalls, 1);
  });

  test("missing, foreign and tampered tokens get 401 invalid_token", async (t) => {
    const standIn = await start(t);
    const { access_token: token } = await clientCredentials(standIn);
    const [header, payload, signature] = token.split(".");
    const tampered = `${header}.${payload}.${signature.slice(0, -2)}AA`;
    const other = await start(t);
    const { access_token: foreign } = await clientCredentials(other);
    for (const bad of [null, "garbage", tampered, foreign]) {
      const res = await callApi(standIn, bad);
      await expectOAuthError(res, 401, "invalid_token");
      assert.equal(res.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
    }
    const basicAuth = await fetch(`${standIn.url}/public/api/v1/media`, { headers: { Authorization: basic("demo-client", "demo-secret") } });
    await expectOAuthError(basicAuth, 401, "invalid_token");
    const counts = standIn.counts();
    assert.equal(counts.apiCalls, 5);
    assert.equal(counts.apiUnauthorized, 5);
  });

  test("access tokens expire lifetimeSeconds after issue", async (t) => {
    const standIn = await start(t, { lifetimeSeconds: 0.3 });
    const { access_token: token, expires_in: expiresIn } = await clientCredentials(standIn);
    assert.equal(expiresIn, 0.3);
    assert.equal((await callApi(standIn, token)).status, 200);
    await sleep(400);
    await expectOAuthError(await callApi(standIn, token), 401, "invalid_token");
  });

  test("configure changes the lifetime of later tokens", async (t) => {
    const standIn = await start(t);
    assert.deepEqual(standIn.configure({ lifetimeSeconds: 0 }), { lifetimeSeconds: 0, passwordGrant: true, rateLimitPerMinute: null });
    const { access_token: token, expires_in: expiresIn } = await clientCredentials(standIn);
    assert.equal(expiresIn, 0);
    await expectOAuthError(await callApi(standIn, token), 401, "invalid_token");
  });

  test("revokeAccessTokens invalidates access tokens but not refresh tokens", async (t) => {
    const standIn = await start(t);
    const tokens = await clientCredentials(standIn);
    assert.equal(standIn.revokeAccessTokens(), 1);
    await expectOAuthError(await callApi(standIn, tokens.access_token), 401, "invalid_token");
    const fresh = await (await refresh(standIn, tokens.refresh_token)).json();
    assert.equal((await callApi(standIn, fresh.access_token)).status, 200);
  });

  test("the rate limit answers 429 with Retry-After past the limit", async (t) => {
    const standIn = await start(t, { rateLimitPerMinute: 2 });
    const { access_token: token } = await clientCredentials(standIn);
    assert.equal((await callApi(standIn, token)).status, 200);
    assert.equal((await callApi(standIn, token)).status, 200);
    const limited = await callApi(standIn, token);
    assert.equal(limited.status, 429);
    const retryAfter = Number(limited.headers.get("retry-after"));
    assert.ok(retryAfter >= 1 && retryAfter <= 60);
    await limited.arrayBuffer();
    assert.equal(standIn.counts().apiRateLimited, 1);
    standIn.configure({ rateLimitPerMinute: null });
    assert.equal((await callApi(standIn, token)).status, 200);
  });

  test("non-GET API calls and unknown paths are refused", async (t) => {
    const standIn = await start(t);
    const post = await fetch(`${standIn.url}/public/api/v1/media`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.arrayBuffer();
    const missing = await fetch(`${standIn.url}/elsewhere`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
  });
});

describe("faults", () => {
  const ccParams = { grant_type: "client_credentials", ...CLIENT };

  test("status fault answers without processing, then clears", async (t) => {
    const standIn = await start(t);
    standIn.fault({ kind: "status", status: 503, retryAfter: 7 });
    const res = await tokenRequest(standIn, ccParams);
    await expectOAuthError(res, 503, "temporarily_unavailable");
    assert.equal(res.headers.get("retry-after"), "7");
    assert.equal((await tokenRequest(standIn, ccParams)).status, 200);
    const counts = standIn.counts();
    assert.equal(counts.faultsServed, 1);
    assert.equal(counts.attempts.client_credentials, 2);
    assert.equal(counts.grants.client_credentials, 1);
    assert.deepEqual(standIn.log().map((e) => [e.status, e.fault]), [[503, "status"], [200, null]]);
  });

  test("status fault defaults and custom bodies", async (t) => {
    const standIn = await start(t);
    standIn.fault({ kind: "status", status: 500 });
    standIn.fault({ kind: "status", status: 502, body: "Bad Gateway", contentType: "text/plain", retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT" });
    await expectOAuthError(await tokenRequest(standIn, ccParams), 500, "server_error");
    const res = await tokenRequest(standIn, ccParams);
    assert.equal(res.status, 502);
    assert.equal(res.headers.get("content-type"), "text/plain");
    assert.equal(res.headers.get("retry-after"), "Wed, 21 Oct 2015 07:28:00 GMT");
    assert.equal(await res.text(), "Bad Gateway");
  });

  test("times repeats a fault", async (t) => {
    const standIn = await start(t);
    standIn.fault({ kind: "status", status: 429, times: 2 });
    await expectOAuthError(await tokenRequest(standIn, ccParams), 429, "temporarily_unavailable");
    await expectOAuthError(await tokenRequest(standIn, ccParams), 429, "temporarily_unavailable");
    assert.equal((await tokenRequest(standIn, ccParams)).status, 200);
    assert.equal(standIn.counts().faultsServed, 2);
  });

  test("oauth fault answers an OAuth error without processing", async (t) => {
    const standIn = await start(t);
    const tokens = await clientCredentials(standIn);
    standIn.fault({ kind: "oauth", status: 400, error: "invalid_grant", description: "injected" });
    const body = await expectOAuthError(await refresh(standIn, tokens.refresh_token), 400, "invalid_grant");
    assert.equal(body.error_description, "injected");
    // The refresh token was not spent, so this is not a reuse.
    assert.equal((await refresh(standIn, tokens.refresh_token)).status, 200);
    assert.equal(standIn.counts().reuse, 0);
  });

  test("body fault sends a raw body", async (t) => {
    const standIn = await start(t);
    standIn.fault({ kind: "body", status: 200, body: "<html>maintenance</html>", contentType: "text/html" });
    standIn.fault({ kind: "body", body: '{"token_type":"bearer","access_tok' });
    standIn.fault({ kind: "body", body: "" });
    const html = await tokenRequest(standIn, ccParams);
    assert.equal(html.status, 200);
    assert.equal(html.headers.get("content-type"), "text/html");
    assert.equal(await html.text(), "<html>maintenance</html>");
    const truncated = await tokenRequest(standIn, ccParams);
    await assert.rejects(truncated.json(), SyntaxError);
    const empty = await tokenRequest(standIn, ccParams);
    assert.equal(await empty.text(), "");
    assert.equal(standIn.counts().grants.client_credentials, 0);
  });

  test("refuse drops the connection without processing", async (t) => {
    const standIn = await start(t);
    standIn.fault({ kind: "refuse" });
    await assert.rejects(tokenRequest(standIn, ccParams), TypeError);
    assert.equal((await tokenRequest(standIn, ccParams)).status, 200);
    const counts = standIn.counts();
    assert.equal(counts.faultsServed, 1);
    assert.equal(counts.requests, 2);
    assert.equal(counts.grants.client_credentials, 1);
    assert.deepEqual(standIn.log().map((e) => e.fault), ["refuse", null]);
  });

  test("reset sends part of a 200 then drops without processing", async (t) => {
    const standIn = await start(t);
    const tokens = await clientCredentials(standIn);
    standIn.fault({ kind: "reset" });
    const res = await refresh(standIn, tokens.refresh_token);
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
    // Not processed: the refresh token is still good.
    assert.equal((await refresh(standIn, tokens.refresh_token)).status, 200);
    assert.equal(standIn.counts().reuse, 0);
  });

  test("hang with ms answers 503 late, without processing", async (t) => {
    const standIn = await start(t);
    standIn.fault({ kind: "hang", ms: 200 });
    const started = Date.now();
    await expectOAuthError(await tokenRequest(standIn, ccParams), 503, "temporarily_unavailable");
    assert.ok(Date.now() - started >= 190);
    assert.equal(standIn.counts().grants.client_credentials, 0);
  });

  test("hang without ms never answers, and close() still ends promptly", async () => {
    const standIn = await startStandIn();
    standIn.fault({ kind: "hang" });
    const pending = tokenRequest(standIn, ccParams);
    pending.catch(() => {}); // asserted below
    while (standIn.log()[0]?.body == null) await sleep(10);
    const started = Date.now();
    await standIn.close();
    assert.ok(Date.now() - started < 1000, "close() waited for the hung request");
    await assert.rejects(pending, TypeError);
    assert.equal(standIn.log()[0].status, null);
  });

  test("a client abort during a hang is harmless", async (t) => {
    const standIn = await start(t);
    standIn.fault({ kind: "hang" });
    await assert.rejects(
      fetch(`${standIn.url}/oauth2/access_token`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(ccParams),
        signal: AbortSignal.timeout(100),
      }),
      { name: "TimeoutError" },
    );
    assert.equal((await tokenRequest(standIn, ccParams)).status, 200);
  });

  test("lose-after-rotate spends the refresh token and loses the answer", async (t) => {
    const standIn = await start(t);
    const tokens = await clientCredentials(standIn);
    standIn.fault({ kind: "lose-after-rotate" });
    await assert.rejects(refresh(standIn, tokens.refresh_token), TypeError);

    const latest = standIn.issuedRefreshTokens()["demo-client"];
    assert.notEqual(latest, tokens.refresh_token);
    assert.equal(standIn.counts().grants.refresh_token, 1);

    // A client retrying with the old token is caught as reuse...
    await expectOAuthError(await refresh(standIn, tokens.refresh_token), 400, "invalid_grant");
    assert.equal(standIn.counts().reuse, 1);
    // ...while the token the server rotated to works.
    assert.equal((await refresh(standIn, latest)).status, 200);
  });

  test("delay processes at once and answers after ms", async (t) => {
    const standIn = await start(t);
    standIn.fault({ kind: "delay", ms: 200 });
    const started = Date.now();
    const res = await tokenRequest(standIn, ccParams);
    assert.equal(res.status, 200);
    assert.ok(Date.now() - started >= 190);
    assert.equal(standIn.log()[0].fault, "delay");
  });

  test("a grant-restricted fault waits for that grant; the queue is FIFO", async (t) => {
    const standIn = await start(t);
    const tokens = await clientCredentials(standIn);
    standIn.fault({ kind: "status", status: 502, grant: "refresh_token" });
    standIn.fault({ kind: "status", status: 500 });
    standIn.fault({ kind: "status", status: 503 });

    // The client_credentials request skips the refresh-only fault.
    await expectOAuthError(await tokenRequest(standIn, ccParams), 500, "server_error");
    // The refresh request takes the older, refresh-only fault first.
    await expectOAuthError(await refresh(standIn, tokens.refresh_token), 502, "server_error");
    await expectOAuthError(await refresh(standIn, tokens.refresh_token), 503, "temporarily_unavailable");
    assert.equal((await refresh(standIn, tokens.refresh_token)).status, 200);
  });

  test("a grant-restricted refuse lets other grants through", async (t) => {
    const standIn = await start(t);
    const tokens = await clientCredentials(standIn);
    standIn.fault({ kind: "refuse", grant: "refresh_token" });
    assert.equal((await tokenRequest(standIn, ccParams)).status, 200);
    await assert.rejects(refresh(standIn, tokens.refresh_token), TypeError);
    assert.equal((await refresh(standIn, tokens.refresh_token)).status, 200);
  });

  test("clearFaults empties the queue", async (t) => {
    const standIn = await start(t);
    standIn.fault({ kind: "status", status: 500, times: 3 });
    standIn.clearFaults();
    assert.equal((await tokenRequest(standIn, ccParams)).status, 200);
  });

  test("invalid fault specs are rejected", async (t) => {
    const standIn = await start(t);
    const bad = [
      null,
      { kind: "explode" },
      { kind: "status" },
      { kind: "status", status: 42 },
      { kind: "oauth", status: 400 },
      { kind: "body", status: 200 },
      { kind: "delay" },
      { kind: "hang", ms: -1 },
      { kind: "refuse", times: 0 },
      { kind: "refuse", grant: "implicit" },
      { kind: "refuse", status: 500 },
    ];
    for (const spec of bad) assert.throws(() => standIn.fault(spec), TypeError, JSON.stringify(spec));
  });
});

describe("counts and reset", () => {
  test("reset zeroes counts, forgets tokens and clears faults and log", async (t) => {
    const standIn = await start(t);
    const tokens = await clientCredentials(standIn);
    await callApi(standIn, tokens.access_token);
    standIn.fault({ kind: "status", status: 500 });

    standIn.reset();
    assert.deepEqual(standIn.counts(), {
      requests: 0,
      grants: { client_credentials: 0, password: 0, refresh_token: 0 },
      attempts: { client_credentials: 0, password: 0, refresh_token: 0 },
      reuse: 0,
      unknownRefresh: 0,
      invalidClient: 0,
      secretInUrl: 0,
      apiCalls: 0,
      apiUnauthorized: 0,
      apiRateLimited: 0,
      faultsServed: 0,
    });
    assert.deepEqual(standIn.log(), []);
    assert.deepEqual(standIn.issuedRefreshTokens(), {});

    await expectOAuthError(await callApi(standIn, tokens.access_token), 401, "invalid_token");
    await expectOAuthError(await refresh(standIn, tokens.refresh_token), 400, "invalid_grant");
    assert.equal(standIn.counts().unknownRefresh, 1);
    assert.equal(standIn.counts().faultsServed, 0);
  });

  test("counts() and log() return snapshots", async (t) => {
    const standIn = await start(t);
    await clientCredentials(standIn);
    standIn.counts().grants.client_credentials = 99;
    standIn.log()[0].status = 999;
    assert.equal(standIn.counts().grants.client_credentials, 1);
    assert.equal(standIn.log()[0].status, 200);
  });

  test("configure rejects bad settings", async (t) => {
    const standIn = await start(t);
    assert.throws(() => standIn.configure({ lifetimeSeconds: -1 }), TypeError);
    assert.throws(() => standIn.configure({ rateLimitPerMinute: 0 }), TypeError);
    assert.throws(() => standIn.configure({ passwordGrant: "yes" }), TypeError);
    assert.throws(() => standIn.configure({ lifetime: 5 }), TypeError);
  });

  test("startStandIn rejects bad options", async () => {
    await assert.rejects(startStandIn({ prot: 8080 }), TypeError);
    await assert.rejects(startStandIn({ clients: [] }), TypeError);
    await assert.rejects(startStandIn({ clients: [{ clientId: "x" }] }), TypeError);
  });
});

describe("HTTP control", () => {
  test("counts, fault, configure, revoke, log, refresh-tokens and reset over HTTP", async (t) => {
    const standIn = await start(t);
    const tokens = await clientCredentials(standIn);

    const counts = await (await fetch(`${standIn.url}/__standin/counts`)).json();
    assert.equal(counts.grants.client_credentials, 1);

    const latest = await (await fetch(`${standIn.url}/__standin/refresh-tokens`)).json();
    assert.deepEqual(latest, { "demo-client": tokens.refresh_token });

    assert.deepEqual(await (await control(standIn, "fault", { kind: "status", status: 503 })).json(), { queued: 1 });
    await expectOAuthError(await tokenRequest(standIn, { grant_type: "client_credentials", ...CLIENT }), 503, "temporarily_unavailable");

    assert.deepEqual(await (await control(standIn, "fault", { kind: "status", status: 500 })).json(), { queued: 1 });
    assert.deepEqual(await (await control(standIn, "clear-faults")).json(), { ok: true });

    const configured = await (await control(standIn, "configure", { passwordGrant: false })).json();
    assert.equal(configured.passwordGrant, false);
    await expectOAuthError(
      await tokenRequest(standIn, { grant_type: "password", ...CLIENT, ...USER }),
      400,
      "unsupported_grant_type",
    );

    assert.deepEqual(await (await control(standIn, "revoke")).json(), { revoked: 1 });
    await expectOAuthError(await callApi(standIn, tokens.access_token), 401, "invalid_token");

    const log = await (await fetch(`${standIn.url}/__standin/log`)).json();
    assert.deepEqual(log.map((e) => e.status), [200, 503, 400]);

    assert.deepEqual(await (await control(standIn, "reset")).json(), { ok: true });
    assert.equal(standIn.counts().requests, 0);
  });

  test("bad control requests get 400 or 404", async (t) => {
    const standIn = await start(t);
    const badJson = await fetch(`${standIn.url}/__standin/fault`, { method: "POST", body: "{nope" });
    await expectOAuthError(badJson, 400, "invalid_request");
    await expectOAuthError(await control(standIn, "fault", { kind: "explode" }), 400, "invalid_request");
    await expectOAuthError(await control(standIn, "configure", { lifetimeSeconds: "long" }), 400, "invalid_request");
    await expectOAuthError(await fetch(`${standIn.url}/__standin/reset`), 404, "not_found");
    await expectOAuthError(await control(standIn, "nothing"), 404, "not_found");
  });
});

describe("CORS", () => {
  test("preflight is answered and responses allow any origin", async (t) => {
    const standIn = await start(t);
    const preflight = await fetch(`${standIn.url}/oauth2/access_token`, {
      method: "OPTIONS",
      headers: { Origin: "http://example.test", "Access-Control-Request-Method": "POST" },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    assert.equal(preflight.headers.get("access-control-allow-methods"), "GET, POST");
    assert.equal(preflight.headers.get("access-control-allow-headers"), "Authorization, Content-Type, Accept");

    standIn.fault({ kind: "status", status: 503 });
    const faulted = await tokenRequest(standIn, { grant_type: "client_credentials", ...CLIENT });
    assert.equal(faulted.headers.get("access-control-allow-origin"), "*");
    assert.match(faulted.headers.get("access-control-expose-headers"), /Retry-After/);
    await faulted.arrayBuffer();
    const api = await callApi(standIn, null);
    assert.equal(api.headers.get("access-control-allow-origin"), "*");
    await api.arrayBuffer();
    // Preflights never consume faults or count as token requests.
    assert.equal(standIn.counts().requests, 1);
  });

  test("cors: false sends no CORS headers", async (t) => {
    const standIn = await start(t, { cors: false });
    const res = await tokenRequest(standIn, { grant_type: "client_credentials", ...CLIENT });
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    await res.arrayBuffer();
  });
});

describe("robustness", () => {
  /** Sends raw bytes and resolves with whatever comes back before the server closes. */
  async function raw(standIn, text) {
    const socket = connect(standIn.port, "127.0.0.1");
    await once(socket, "connect");
    socket.end(text);
    const chunks = [];
    for await (const chunk of socket) chunks.push(chunk);
    return Buffer.concat(chunks).toString("latin1");
  }

  test("garbage and odd requests never crash the server", async (t) => {
    const standIn = await start(t);
    assert.match(await raw(standIn, "NONSENSE\r\n\r\n"), /^HTTP\/1\.1 400/);
    assert.match(await raw(standIn, "GET http://[bad/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), /^HTTP\/1\.1 400/);
    const truncated = "POST /oauth2/access_token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=cli";
    await raw(standIn, truncated);
    const absolute = `POST ${standIn.url}/oauth2/access_token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n`;
    assert.match(await raw(standIn, absolute), /^HTTP\/1\.1 400[\s\S]*invalid_request/);
    const weird = await tokenRequest(standIn, { grant_type: "client_credentials" }, { headers: { Authorization: `Basic ${Buffer.from("%zz:%").toString("base64")}` } });
    await expectOAuthError(weird, 401, "invalid_client");
    assert.equal((await tokenRequest(standIn, { grant_type: "client_credentials", ...CLIENT })).status, 200);
  });
});

describe("command line", () => {
  test("prints its URL, serves, and stops on SIGTERM", async () => {
    const script = fileURLToPath(new URL("./server.mjs", import.meta.url));
    const child = spawn(process.execPath, [script, "--port", "0", "--lifetime", "60"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const [line] = await once(child.stdout, "data");
      const match = /^EchoVideo stand-in listening on (http:\/\/127\.0\.0\.1:\d+)\n$/.exec(line.toString());
      assert.ok(match, `unexpected output: ${line}`);
      const res = await tokenRequest({ url: match[1] }, { grant_type: "client_credentials", ...CLIENT });
      assert.equal((await res.json()).expires_in, 60);
    } finally {
      child.kill("SIGTERM");
    }
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
  });
});
