/**
 * What the token endpoint sees: the shape of every request the package sends,
 * as recorded by the stand-in's request log.
 */

import assert from "node:assert/strict";
import { before, beforeEach, describe, test } from "node:test";

import {
  CLIENT_ID,
  CLIENT_SECRET,
  PASSWORD,
  USERNAME,
  apiAccepts,
  form,
  manager,
  recordingStorage,
  rejectsWith,
  startRedirector,
  startTrackedStandIn,
} from "./helpers.mjs";

/** A client whose credentials need form encoding (`&`, `=`, `+`, `%`, space, non-ASCII). */
const ODD = {
  clientId: "odd client/é",
  clientSecret: "s&c=r+t %20?#é",
  username: "ann+1@uni.edu",
  password: "p&w=d %41+é!",
};

let standIn;

before(async () => {
  standIn = await startTrackedStandIn({
    lifetimeSeconds: 3600,
    clients: [
      { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, username: USERNAME, password: PASSWORD },
      ODD,
    ],
  });
});

beforeEach(() => standIn.reset());

/** Asserts what every token request must look like; returns its form fields. */
function assertTokenRequestShape(entry, secrets) {
  assert.equal(entry.method, "POST");
  assert.equal(entry.url, "/oauth2/access_token", "the URL has no query string");
  assert.match(entry.headers["content-type"], /^application\/x-www-form-urlencoded(;|$)/);
  assert.match(entry.headers.accept, /application\/json/);
  assert.equal(entry.headers.authorization, undefined, "no HTTP Basic (or any) Authorization header");
  const headerText = JSON.stringify(entry.headers);
  for (const secret of secrets) {
    assert.ok(!entry.url.includes(encodeURIComponent(secret)) && !entry.url.includes(secret), "secret in URL");
    assert.ok(!headerText.includes(secret), "secret in a header");
  }
  assert.equal(entry.status, 200);
  return form(entry);
}

describe("token requests", () => {
  test("constructing a manager sends nothing and reads no storage", async () => {
    const storage = recordingStorage();
    manager(standIn, { storage });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(standIn.counts().requests, 0);
    assert.deepEqual(storage.calls, []);
  });

  test("client_credentials: one form POST, secret only in the body", async () => {
    const tm = manager(standIn);
    const token = await tm.getAccessToken();
    assert.ok(await apiAccepts(standIn, token));

    const log = standIn.log();
    assert.equal(log.length, 1);
    const fields = assertTokenRequestShape(log[0], [CLIENT_SECRET]);
    assert.deepEqual(fields, {
      grant_type: "client_credentials",
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
    });
    assert.equal(standIn.counts().secretInUrl, 0);
  });

  test("refresh_token: sends the refresh token and client_id, never the client secret", async () => {
    const tm = manager(standIn);
    await tm.getAccessToken();
    const issued = standIn.issuedRefreshTokens()[CLIENT_ID];
    const token = await tm.refresh();
    assert.ok(await apiAccepts(standIn, token));

    const log = standIn.log();
    assert.equal(log.length, 2);
    assert.equal(log[1].grant, "refresh_token");
    const fields = assertTokenRequestShape(log[1], [CLIENT_SECRET, issued]);
    assert.deepEqual(fields, { grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: issued });
    assert.ok(!log[1].body.includes(CLIENT_SECRET), "the refresh request carries no client secret");
    assert.equal(standIn.counts().secretInUrl, 0);
  });

  test("password grant: credentials in the body; the refresh that follows carries none of them", async () => {
    const events = [];
    const tm = manager(standIn, {
      grant: "password",
      username: USERNAME,
      password: PASSWORD,
      onRefresh: (event) => events.push(event),
    });
    const token = await tm.getAccessToken();
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(tm.info().lastGrant, "password");
    assert.equal(events.length, 1);
    assert.equal(events[0].grant, "password");
    assert.equal(events[0].source, "network");

    await tm.refresh();
    const log = standIn.log();
    assert.equal(log.length, 2);
    assert.deepEqual(assertTokenRequestShape(log[0], [CLIENT_SECRET, PASSWORD]), {
      grant_type: "password",
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      username: USERNAME,
      password: PASSWORD,
    });
    const refreshBody = log[1].body;
    assert.equal(form(log[1]).grant_type, "refresh_token");
    for (const secret of [CLIENT_SECRET, PASSWORD, USERNAME]) {
      assert.ok(!refreshBody.includes(secret), `refresh body contains ${secret}`);
    }
    assert.equal(tm.info().lastGrant, "refresh_token");
    assert.deepEqual(standIn.counts().grants, { client_credentials: 0, password: 1, refresh_token: 1 });
  });

  test("credentials with reserved characters are form-encoded correctly", async () => {
    const tm = manager(standIn, {
      clientId: ODD.clientId,
      clientSecret: ODD.clientSecret,
      grant: "password",
      username: ODD.username,
      password: ODD.password,
    });
    // The stand-in decodes the body as a form: a wrong encoding would be invalid_client or invalid_grant.
    await tm.getAccessToken();
    const [entry] = standIn.log();
    assert.deepEqual(form(entry), {
      grant_type: "password",
      client_id: ODD.clientId,
      client_secret: ODD.clientSecret,
      username: ODD.username,
      password: ODD.password,
    });
    assert.equal(entry.url, "/oauth2/access_token");
    assert.equal(standIn.counts().invalidClient, 0);

    await tm.refresh();
    assert.deepEqual(Object.keys(form(standIn.log()[1])), ["grant_type", "client_id", "refresh_token"]);
    assert.equal(form(standIn.log()[1]).client_id, ODD.clientId);
  });

  test("an injected fetch is used instead of the global one, called with the request as documented", async () => {
    const calls = [];
    const tm = manager(standIn, {
      fetch: function injected(url, init) {
        calls.push({ url, init, self: this });
        return globalThis.fetch(url, init);
      },
    });
    const token = await tm.getAccessToken();
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(calls.length, 1);
    const [{ url, init, self }] = calls;
    assert.equal(self, undefined, "fetch is called with this undefined");
    assert.equal(url, `${standIn.url}/oauth2/access_token`);
    assert.equal(init.method, "POST");
    assert.equal(typeof init.body, "string");
    assert.ok(init.signal instanceof AbortSignal);
    assert.ok(!url.includes(CLIENT_SECRET));
    assert.equal(standIn.log().length, 1);
  });

  test("an injected fetch may return a minimal Response-like object", async () => {
    const tm = manager(standIn, {
      fetch: async () => ({
        status: 200,
        headers: { get: () => null },
        text: async () => JSON.stringify({ token_type: "Bearer", access_token: "from-fake", expires_in: 60 }),
      }),
    });
    assert.equal(await tm.getAccessToken(), "from-fake");
    assert.equal(tm.info().hasRefreshToken, false);
    assert.equal(standIn.counts().requests, 0);
  });

  test("an injected fetch that ignores the abort signal is still cut off at timeoutMs", async () => {
    let signal;
    const tm = manager(standIn, {
      timeoutMs: 200,
      maxRetries: 0,
      fetch: (url, init) => {
        signal = init.signal;
        return new Promise(() => {});
      },
    });
    const started = Date.now();
    await rejectsWith(tm.getAccessToken(), "timeout", { retryable: true });
    assert.ok(Date.now() - started >= 180);
    assert.equal(signal.aborted, true, "the request is aborted when the timeout fires");
  });

  test("an injected fetch that throws synchronously is a network error", async () => {
    const tm = manager(standIn, {
      maxRetries: 0,
      fetch: () => {
        throw new TypeError("no network here");
      },
    });
    const error = await rejectsWith(tm.getAccessToken(), "network", { retryable: true });
    assert.match(error.message, /no network here/);
  });

  test("a redirect of the token request is not followed with the secret in the body", async () => {
    const redirector = await startRedirector(standIn.url, 307);
    const tm = manager(standIn, { baseUrl: redirector.url, maxRetries: 0 });
    const outcome = await tm.getAccessToken().then(() => "resolved", (error) => error.code);
    const leaked = standIn.log().filter((entry) => (entry.body ?? "").includes(CLIENT_SECRET));
    assert.equal(leaked.length, 0, `the client secret reached ${standIn.url}, which is not the configured baseUrl`);
    assert.equal(outcome, "malformed_response", "a redirect is reported as an unexpected answer");
  });

  test("a base URL with a trailing slash still posts to /oauth2/access_token", async () => {
    const tm = manager(standIn, { baseUrl: `${standIn.url}/` });
    await tm.getAccessToken();
    assert.equal(standIn.log()[0].url, "/oauth2/access_token");
  });

  test("a wrong tokenPath fails with the answer's status instead of posting elsewhere silently", async () => {
    const tm = manager(standIn, { tokenPath: "/oauth2/token", maxRetries: 0 });
    const error = await rejectsWith(tm.getAccessToken(), "invalid_request", { status: 404, retryable: false });
    assert.ok(!error.message.includes(CLIENT_SECRET));
    assert.equal(standIn.counts().requests, 0, "the stand-in's token endpoint saw nothing");
  });
});
