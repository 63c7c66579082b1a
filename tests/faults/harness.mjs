/**
 * The fault-injection harness (issue 4): one scenario context, one
 * invariant checker used by every scenario, and a secrets audit over
 * everything the package showed the outside world during the file.
 *
 * It builds on tests/node/helpers.mjs (imported, not changed), which already
 * fails a test on any unhandled rejection and on refresh-token reuse counted
 * by a tracked stand-in beyond what the stand-in allows.
 *
 * What is recorded for the audit, per file (each test file is its own
 * process):
 * - everything written through console.* (patched, still printed);
 * - every request URL and header set the package's fetch was called with
 *   (an injected recording fetch);
 * - every onRefresh and onError payload;
 * - every error a call rejected with: message, every own property (stack
 *   included), JSON.stringify and util.inspect;
 * - JSON.stringify(tm), util.inspect(tm) and tm.info() after every scenario.
 * The audit test at the end of each file scans all of it for the client
 * secret, the password and every refresh token that went over the wire (a
 * refresh token may legitimately appear only in request bodies and in the
 * set handed to storage.save, neither of which is scanned).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { format, inspect } from "node:util";

import {
  TokenManager,
  apiAccepts,
  assertTokenError,
  closedPortUrl,
  form,
  recordingStorage,
  rejection,
  startTrackedStandIn,
  totalReuse,
  track,
} from "../node/helpers.mjs";

export { TokenManager, apiAccepts, assertTokenError, form, recordingStorage, rejection };

// Distinctive values: any occurrence outside a request body or the stored
// set is a leak.
export const CLIENT_ID = "fault-client";
export const CLIENT_SECRET = "S3CRET-xyz-4f7a9c";
export const USERNAME = "fault-user";
export const PASSWORD = "P4SS-xyz-b81e";
export const CLIENTS = [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, username: USERNAME, password: PASSWORD }];

// ---- The audit record ------------------------------------------------------

const audit = {
  /** { where, text } of everything the package showed. */
  texts: [],
  /** Every refresh token seen on the wire or in a stand-in's log. */
  refreshTokens: new Set(),
  scenarios: 0,
  errors: 0,
};

function remember(where, value) {
  let text;
  try {
    text = typeof value === "string" ? value : inspect(value, { depth: 8, showHidden: true, getters: true });
  } catch (error) {
    text = `<uninspectable: ${error}>`;
  }
  audit.texts.push({ where, text });
}

for (const method of ["log", "info", "warn", "error", "debug", "trace"]) {
  const original = console[method].bind(console);
  console[method] = (...args) => {
    remember(`console.${method}`, format(...args));
    original(...args);
  };
}

/** Records an error the way a caller or a logger could look at it. */
export function recordError(where, error) {
  audit.errors += 1;
  remember(`${where}: String()`, String(error));
  if (error !== null && typeof error === "object") {
    for (const key of Object.getOwnPropertyNames(error)) {
      remember(`${where}: .${key}`, String(error[key]));
    }
    remember(`${where}: JSON.stringify`, JSON.stringify(error) ?? "");
    remember(`${where}: util.inspect`, inspect(error, { showHidden: true, depth: 8 }));
  }
}

/** Records what a manager shows of itself. */
export function recordManager(where, tm) {
  remember(`${where}: JSON.stringify(tm)`, JSON.stringify(tm) ?? "");
  remember(`${where}: util.inspect(tm)`, inspect(tm, { showHidden: true, depth: 8 }));
  try {
    remember(`${where}: tm.info()`, JSON.stringify(tm.info()));
  } catch (error) {
    recordError(`${where}: tm.info() threw`, error);
  }
}

function harvestStandIn(standIn) {
  for (const entry of standIn.log()) {
    const presented = form(entry).refresh_token;
    if (presented) audit.refreshTokens.add(presented);
  }
  for (const token of Object.values(standIn.issuedRefreshTokens())) audit.refreshTokens.add(token);
}

/** Adds a refresh token received outside the recording fetch to the audit's list. */
export function noteRefreshToken(token) {
  if (typeof token === "string" && token.length >= 8) audit.refreshTokens.add(token);
}

/** The values no recorded text may contain. */
function secrets() {
  return [CLIENT_SECRET, PASSWORD, ...audit.refreshTokens];
}

/** Every recorded text that contains a secret: [{ where, secret }]. */
export function findLeaks(texts = audit.texts, values = secrets()) {
  const leaks = [];
  for (const { where, text } of texts) {
    for (const secret of values) {
      if (secret && text.includes(secret)) leaks.push({ where, secret: `${secret.slice(0, 10)}…` });
    }
  }
  return leaks;
}

/**
 * Registers the audit as the last test of the file: nothing recorded during
 * the file's scenarios may contain the secret, the password or a refresh
 * token. First proves the scanner finds a planted leak.
 */
export function auditTest() {
  test("secrets audit: no secret, password or refresh token in anything the package showed", () => {
    const planted = findLeaks(
      [{ where: "canary", text: `oops ${CLIENT_SECRET} ${PASSWORD}` }],
      [CLIENT_SECRET, PASSWORD],
    );
    assert.equal(planted.length, 2, "the scanner misses a planted leak");
    assert.ok(audit.scenarios > 0, "no scenario ran");
    assert.ok(audit.refreshTokens.size > 0, "no refresh token was seen: the scan would be vacuous");
    const leaks = findLeaks();
    console.log(
      `# secrets audit: ${audit.texts.length} texts from ${audit.scenarios} scenarios ` +
        `(${audit.errors} errors) scanned for ${audit.refreshTokens.size} refresh tokens, the secret and the password`,
    );
    assert.deepEqual(leaks, [], "secrets leaked");
  });
}

// ---- Scenarios ---------------------------------------------------------------

/**
 * A fetch wrapper that records every URL and header set, collects every
 * refresh token that arrives in a readable answer (in order), and can send
 * the next requests to a closed port (a real ECONNREFUSED).
 */
function recordingFetch(net) {
  return async function recordingFetch(input, init) {
    const url = String(input instanceof Request ? input.url : input);
    remember("fetch URL", url);
    remember("fetch headers", JSON.stringify(init?.headers ?? {}));
    net.requests += 1;
    let target = input;
    if (net.refuse > 0) {
      net.refuse -= 1;
      const closed = await net.closedUrl();
      target = url.replace(/^http:\/\/[^/]+/, closed);
    }
    const response = await fetch(target, init);
    if (response.status >= 200 && response.status < 300) {
      net.pending.push(
        response
          .clone()
          .text()
          .then(
            (text) => {
              try {
                const body = JSON.parse(text);
                if (typeof body?.refresh_token === "string" && body.refresh_token !== "") {
                  net.received.push(body.refresh_token);
                  audit.refreshTokens.add(body.refresh_token);
                }
              } catch {
                // Not JSON: nothing was received.
              }
            },
            () => {},
          ),
      );
    }
    return response;
  };
}

let closedUrlPromise = null;

/**
 * Starts a scenario: a fresh tracked stand-in with the distinctive client,
 * a recording storage, a recording fetch and listeners, and a manager.
 *
 * @param {object} [options]
 * @param {"secret"|"public"|"password"} [options.client] What the manager knows.
 * @param {object} [options.manager] Extra manager options (timeoutMs, maxRetries, ...).
 * @param {object} [options.standIn] Stand-in options.
 * @param {number} [options.allowReuse] Reuse the stand-in tolerates (the one
 *   secret-less lost-after-rotate case).
 * @param {boolean} [options.withToken] Obtain a first token set before the fault.
 */
export async function scenario({
  client = "secret",
  manager: managerOptions = {},
  standIn: standInOptions = {},
  allowReuse = 0,
  withToken = true,
  storage = recordingStorage(),
} = {}) {
  audit.scenarios += 1;
  const standIn = await startTrackedStandIn({ lifetimeSeconds: 3600, clients: CLIENTS, ...standInOptions }, { allowReuse });
  const net = {
    requests: 0,
    refuse: 0,
    received: [],
    pending: [],
    closedUrl: () => (closedUrlPromise ??= closedPortUrl()),
  };
  const events = { refresh: [], error: [] };
  const options = {
    clientId: CLIENT_ID,
    baseUrl: standIn.url,
    storage,
    fetch: recordingFetch(net),
    onRefresh: (event) => {
      events.refresh.push(event);
      remember("onRefresh payload", event);
      remember("onRefresh payload JSON", JSON.stringify(event));
    },
    onError: (error) => {
      events.error.push(error);
      recordError("onError payload", error);
    },
    ...managerOptions,
  };
  if (client === "secret" || client === "password") options.clientSecret = CLIENT_SECRET;
  if (client === "password") Object.assign(options, { grant: "password", username: USERNAME, password: PASSWORD });
  const ctx = {
    client,
    standIn,
    storage,
    net,
    events,
    allowReuse,
    saveFailed: false,
    tm: track(new TokenManager(options)),
    /** The newest refresh token the manager received in a readable answer. */
    async lastReceived() {
      await Promise.allSettled(net.pending);
      return net.received.at(-1);
    },
  };
  if (client === "public") {
    // A client without a secret only refreshes tokens it was given.
    await importDonorToken(ctx);
  }
  if (withToken) {
    const token = await ctx.tm.getAccessToken();
    assert.ok(await apiAccepts(standIn, token), "the first token does not work");
  }
  return ctx;
}

/**
 * A token set from a grant the test makes itself (as another device would):
 * its refresh token counts as received, for the invariants and the audit.
 */
export async function donorTokens(ctx) {
  const response = await fetch(`${ctx.standIn.url}/oauth2/access_token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
  });
  assert.equal(response.status, 200, "the donor grant failed");
  const body = await response.json();
  audit.refreshTokens.add(body.refresh_token);
  ctx.net.received.push(body.refresh_token);
  return body;
}

/** A refresh token from a donor grant, imported into the manager. */
export async function importDonorToken(ctx) {
  const { refresh_token: refreshToken } = await donorTokens(ctx);
  await ctx.tm.importTokens({ refreshToken });
  return refreshToken;
}

/** Awaits a call that must reject; records and returns the rejection. */
export async function failure(promise, where = "rejection") {
  const error = await rejection(promise);
  recordError(where, error);
  return error;
}

/** Awaits a call that must resolve; records a rejection before rethrowing it. */
export async function success(promise, where = "call") {
  try {
    return await promise;
  } catch (error) {
    recordError(`${where} (unexpected)`, error);
    throw error;
  }
}

/** The refresh-token requests of the stand-in's log. */
export function refreshRequests(standIn) {
  return standIn.log().filter((entry) => entry.grant === "refresh_token");
}

/**
 * The invariants every scenario ends with:
 * 1. the caller saw the right error (a TokenError with `expectedCode`), or none;
 * 2. the stand-in counted no refresh-token reuse (at most `allowReuse`);
 * 3. the newest refresh token the manager received is the one in storage,
 *    unless a save failed (then the manager must still hold it: point 5);
 * 4. once the fault is gone, getAccessToken() succeeds with a token the
 *    API accepts (for `recover: "import"`, after importing a new refresh
 *    token, as a user must after reauth_required);
 * 5. refresh() then presents exactly the newest refresh token received
 *    (or, when the manager dropped a refresh token in doubt, makes a full
 *    grant); `expectHeld` demands that it still holds one;
 * 6. after that, storage holds the set the stand-in issued last;
 * 7. no unhandled rejection (helpers.mjs, after each test).
 */
export async function checkInvariants(
  ctx,
  { errorSeen, expectedCode, expectHeld = false, recover = "call", storageMayLag = false } = {},
) {
  const { standIn, tm, storage } = ctx;
  // 1. The error the caller saw.
  if (expectedCode) {
    assert.ok(errorSeen, `expected a ${expectedCode} error, none was seen`);
    assertTokenError(errorSeen, expectedCode);
  } else {
    assert.equal(errorSeen, undefined, `unexpected error: ${errorSeen?.code} ${errorSeen?.message}`);
  }
  // 2. Reuse, so far.
  assert.ok(totalReuse(standIn) <= ctx.allowReuse, `${totalReuse(standIn)} refresh-token reuse(s)`);

  // 3. The newest set received is the stored one.
  const received = await ctx.lastReceived();
  const cleared = storage.count?.("clear") > 0;
  if (received && !ctx.saveFailed && !cleared && !storageMayLag) {
    assert.equal(storage.value?.refreshToken, received, "storage does not hold the newest refresh token received");
  }

  // The fault is gone.
  standIn.clearFaults();
  ctx.net.refuse = 0;
  if (storage.behaviour) storage.behaviour = {};

  // 4. The next call succeeds.
  if (recover === "import") await importDonorToken(ctx);
  const token = await success(tm.getAccessToken(), "recovery getAccessToken");
  assert.ok(await apiAccepts(standIn, token), "the token after recovery does not work");

  // 5. The held refresh token is the newest one received.
  const held = tm.info().hasRefreshToken;
  if (expectHeld) assert.ok(held, "the manager lost its refresh token");
  const newest = await ctx.lastReceived();
  const before = standIn.log().length;
  const renewed = await success(tm.refresh(), "recovery refresh");
  assert.notEqual(renewed, token);
  const sent = standIn.log().slice(before);
  if (held) {
    assert.equal(sent[0]?.grant, "refresh_token", "refresh() did not use the held refresh token");
    assert.equal(form(sent[0]).refresh_token, newest, "refresh() presented a refresh token other than the newest");
  } else {
    assert.ok(ctx.client !== "public", "a client without a secret has no refresh token yet succeeded");
    assert.ok(sent.every((entry) => entry.grant !== "refresh_token"), "a refresh token was sent while none is held");
  }
  // 6. Storage caught up with the newest set.
  const latest = await ctx.lastReceived();
  assert.equal(latest, standIn.issuedRefreshTokens()[CLIENT_ID], "the manager did not receive the newest set");
  assert.equal(storage.value?.refreshToken, latest, "storage does not hold the newest set after recovery");
  assert.equal(storage.value?.accessToken, renewed);
  assert.ok(totalReuse(standIn) <= ctx.allowReuse, `${totalReuse(standIn)} refresh-token reuse(s)`);

  harvestStandIn(standIn);
  recordManager("after the scenario", tm);
  tm.dispose();
  recordManager("after dispose", tm);
}

/**
 * One fault scenario as a test: sets up (a first token set unless the fault
 * is on the first grant), injects the fault, makes the call, checks what the
 * scenario expects, then the common invariants.
 *
 * @param {string} name
 * @param {object} spec
 * @param {"first"|"refresh"} [spec.on] The first grant, or a refresh() of a held set.
 * @param {object|object[]} [spec.fault] Stand-in fault(s); on "refresh" they
 *   apply to refresh_token requests unless they name a grant.
 * @param {number} [spec.refuse] Requests sent to a closed port first.
 * @param {string} [spec.expectedCode] The error the call must reject with.
 * @param {(ctx, outcome) => void|Promise<void>} [spec.check] Scenario-specific checks.
 */
export function faultTest(name, spec) {
  const {
    on = "refresh",
    client = "secret",
    manager: managerOptions = {},
    fault,
    refuse = 0,
    expectedCode,
    expectHeld,
    recover,
    allowReuse,
    storageMayLag,
    check,
    todo,
  } = spec;
  test(name, { todo }, async () => {
    const ctx = await scenario({ client, manager: managerOptions, allowReuse, withToken: on === "refresh" });
    const before = { log: ctx.standIn.log().length, token: ctx.net.received.at(-1) };
    for (const one of [fault ?? []].flat()) {
      ctx.standIn.fault(on === "refresh" && !one.grant && one.kind !== "refuse" ? { grant: "refresh_token", ...one } : one);
    }
    ctx.net.refuse = refuse;
    const started = Date.now();
    const call = on === "refresh" ? ctx.tm.refresh() : ctx.tm.getAccessToken();
    let errorSeen;
    let token;
    try {
      token = await call;
    } catch (error) {
      errorSeen = error;
      recordError(name, error);
    }
    const outcome = { errorSeen, token, elapsed: Date.now() - started, sent: ctx.standIn.log().slice(before.log), before };
    if (check) await check(ctx, outcome);
    await checkInvariants(ctx, { errorSeen, expectedCode, expectHeld, recover, storageMayLag });
  });
}
