// Issue 3 behaviour in Node: background renewal on a timer, backoff and
// stop on failures, no timer left after dispose(), a script that exits on
// its own, and tm.fetch recovering from a revoked access token.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  CLIENT_ID,
  CLIENT_SECRET,
  apiAccepts,
  manager,
  sleep,
  startTrackedStandIn,
} from "./helpers.mjs";

const LIFETIME_S = 1;
const MARGIN_S = 0.1;

describe("autoRefresh", () => {
  test("a manager left alone keeps a fresh token for ten lifetimes, renewing each set exactly once", async () => {
    const standIn = await startTrackedStandIn({ lifetimeSeconds: LIFETIME_S });
    after(() => standIn.close());
    const refreshed = [];
    const tm = manager(standIn, {
      autoRefresh: true,
      refreshMarginSeconds: MARGIN_S,
      onRefresh: (event) => refreshed.push(event),
    });
    const first = await tm.getAccessToken();
    const started = Date.now();
    const seen = new Set([first]);
    while (Date.now() - started < 10 * LIFETIME_S * 1000) {
      await sleep(50);
      // The timer renews before the margin: a caller always finds a valid
      // token, or at most joins the renewal the timer started.
      const { state } = tm.info();
      assert.ok(state === "valid" || state === "refreshing", `state ${state}`);
      seen.add(await tm.getAccessToken());
    }
    const elapsedS = (Date.now() - started) / 1000;
    tm.dispose();
    const counts = standIn.counts();
    const grants = counts.grants.client_credentials + counts.grants.refresh_token;
    const lifetimes = elapsedS / LIFETIME_S;
    const intervalS = LIFETIME_S - MARGIN_S;
    console.log(
      `# autoRefresh: ${grants} grants over ${lifetimes.toFixed(1)} lifetimes of ${LIFETIME_S}s ` +
        `(${(grants / lifetimes).toFixed(2)} per lifetime; renewal due every ${intervalS}s minus up to 10% spread: ` +
        `${((grants - 1) / (elapsedS / intervalS)).toFixed(2)} per renewal interval), ${counts.reuse} reuse`,
    );
    assert.equal(counts.grants.client_credentials, 1, "one full grant, then only refreshes");
    assert.equal(counts.reuse, 0);
    // Each set was renewed once: one refresh per renewal interval, give or take the spread.
    const minimum = Math.floor(elapsedS / intervalS);
    const maximum = Math.ceil(elapsedS / (intervalS * 0.9)) + 1;
    assert.ok(grants - 1 >= minimum && grants - 1 <= maximum, `${grants - 1} refreshes, expected ${minimum}..${maximum}`);
    assert.equal(seen.size, grants, "every set handed out, none twice");
    assert.equal(refreshed.filter((event) => event.source === "network").length, grants);
    assert.ok(refreshed.every((event) => !JSON.stringify(event).includes("eyJ")), "events carry no token");
  });

  test("info().nextRefreshAt says when the timer will renew", async () => {
    const standIn = await startTrackedStandIn({ lifetimeSeconds: 3600 });
    after(() => standIn.close());
    const tm = manager(standIn, { autoRefresh: true });
    assert.equal(tm.info().nextRefreshAt, null, "nothing to renew yet");
    await tm.getAccessToken();
    const { expiresAt, nextRefreshAt } = tm.info();
    const refreshAt = expiresAt - 300_000;
    assert.ok(nextRefreshAt <= refreshAt && nextRefreshAt >= refreshAt - 30_000, `${refreshAt - nextRefreshAt} ms early`);
    tm.dispose();
    assert.equal(tm.info().nextRefreshAt, null);
    assert.equal(manager(standIn).info().nextRefreshAt, null, "null without autoRefresh");
  });

  test("after dispose() no further request reaches the stand-in", async () => {
    const standIn = await startTrackedStandIn({ lifetimeSeconds: LIFETIME_S });
    after(() => standIn.close());
    const tm = manager(standIn, { autoRefresh: true, refreshMarginSeconds: MARGIN_S });
    await tm.getAccessToken();
    tm.dispose();
    const before = standIn.counts().requests;
    await sleep(3 * LIFETIME_S * 1000);
    assert.equal(standIn.counts().requests, before);
  });

  test("a failing background renewal backs off, reports through onError, keeps serving the valid token, and recovers", async () => {
    const standIn = await startTrackedStandIn({ lifetimeSeconds: 3 });
    after(() => standIn.close());
    const errors = [];
    const tm = manager(standIn, {
      autoRefresh: true,
      refreshMarginSeconds: 1,
      maxRetries: 0,
      onError: (error) => errors.push(error),
    });
    const first = await tm.getAccessToken();
    standIn.fault({ kind: "status", status: 503, times: 3 });
    // Renewal is due at about 2 s; three failures back off 125-250, 250-500, 500-1000 ms.
    await sleep(2600);
    assert.ok(errors.length >= 1, "the failure was reported");
    assert.ok(errors.every((error) => error.code === "server_error"));
    assert.equal(await tm.getAccessToken(), first, "the still valid token is served meanwhile");
    await sleep(1500);
    assert.equal(standIn.counts().faultsServed, 3);
    assert.equal(errors.length, 3, "one report per failed attempt, no tight loop");
    assert.notEqual(await tm.getAccessToken(), first, "renewed once the fault was gone");
    assert.equal(standIn.counts().grants.refresh_token, 1);
  });

  test("a terminal failure stops the timer and is reported once", async () => {
    const standIn = await startTrackedStandIn({ lifetimeSeconds: LIFETIME_S });
    after(() => standIn.close());
    const errors = [];
    const tm = manager(standIn, {
      autoRefresh: true,
      refreshMarginSeconds: MARGIN_S,
      onError: (error) => errors.push(error),
    });
    await tm.getAccessToken();
    // The refresh token is refused, and the full grant after it too.
    standIn.fault({ kind: "oauth", status: 400, error: "invalid_grant" });
    standIn.fault({ kind: "oauth", status: 401, error: "invalid_client" });
    await sleep(2 * LIFETIME_S * 1000);
    const requests = standIn.counts().requests;
    await sleep(2 * LIFETIME_S * 1000);
    assert.equal(standIn.counts().requests, requests, "no more background requests");
    assert.deepEqual(errors.map((error) => error.code), ["invalid_client"]);
  });
});

describe("Node process lifetime", () => {
  test("a script that uses a TokenManager exits on its own when its work is done", async () => {
    const standIn = await startTrackedStandIn({ lifetimeSeconds: 3600 });
    after(() => standIn.close());
    const script = `
      import { TokenManager } from "echovideo-auth";
      const tm = new TokenManager({ clientId: ${JSON.stringify(CLIENT_ID)}, clientSecret: ${JSON.stringify(CLIENT_SECRET)}, baseUrl: ${JSON.stringify(standIn.url)} });
      const token = await tm.getAccessToken();
      console.log(tm.info().state, token.length > 0);
    `;
    const started = Date.now();
    const { code, stdout } = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
        cwd: fileURLToPath(new URL("../..", import.meta.url)),
        stdio: ["ignore", "pipe", "inherit"],
      });
      let stdout = "";
      child.stdout.on("data", (chunk) => (stdout += chunk));
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.on("error", reject);
      child.on("exit", (exitCode) => {
        clearTimeout(killer);
        resolve({ code: exitCode, stdout });
      });
    });
    assert.equal(code, 0, "the process ended by itself, not killed");
    assert.equal(stdout.trim(), "valid true");
    assert.ok(Date.now() - started < 5000, "it did not wait for the renewal timer (about an hour away)");
    assert.equal(standIn.counts().grants.client_credentials, 1);
  });
});

describe("tm.fetch", () => {
  const api = (standIn) => `${standIn.url}/public/api/v1/courses`;

  test("adds the bearer token", async () => {
    const standIn = await startTrackedStandIn();
    after(() => standIn.close());
    const tm = manager(standIn);
    const response = await tm.fetch(api(standIn));
    assert.equal(response.status, 200);
    assert.ok(await apiAccepts(standIn, await tm.getAccessToken()));
    assert.equal(standIn.counts().apiCalls, 2);
  });

  test("recovers from a revoked access token with one refresh and one retry", async () => {
    const standIn = await startTrackedStandIn();
    after(() => standIn.close());
    const tm = manager(standIn);
    const first = await tm.getAccessToken();
    standIn.revokeAccessTokens();
    const response = await tm.fetch(new URL(api(standIn)), { headers: { "X-Trace": "1" } });
    assert.equal(response.status, 200);
    const counts = standIn.counts();
    assert.equal(counts.apiUnauthorized, 1);
    assert.equal(counts.apiCalls, 2);
    assert.equal(counts.grants.refresh_token, 1);
    assert.notEqual(await tm.getAccessToken(), first);
  });

  test("gives up after a second 401 and returns it", async () => {
    const standIn = await startTrackedStandIn();
    after(() => standIn.close());
    let apiCalls = 0;
    const tm = manager(standIn, {
      // The API refuses every token; token requests pass through.
      fetch: async (input, init) => {
        const url = typeof input === "string" ? input : input.url;
        if (url.includes("/public/api/")) {
          apiCalls += 1;
          return new Response('{"error":"invalid_token"}', { status: 401 });
        }
        return fetch(input, init);
      },
    });
    const response = await tm.fetch(api(standIn));
    assert.equal(response.status, 401);
    assert.equal(apiCalls, 2, "one retry, no loop");
    assert.equal(standIn.counts().grants.refresh_token, 1, "one renewal");
  });

  test("concurrent 401s share one renewal", async () => {
    const standIn = await startTrackedStandIn();
    after(() => standIn.close());
    const tm = manager(standIn);
    await tm.getAccessToken();
    standIn.revokeAccessTokens();
    const responses = await Promise.all(Array.from({ length: 20 }, () => tm.fetch(api(standIn))));
    assert.ok(responses.every((response) => response.status === 200));
    assert.equal(standIn.counts().grants.refresh_token, 1);
  });

  test("a 429 is returned as it is", async () => {
    const standIn = await startTrackedStandIn({ rateLimitPerMinute: 1 });
    after(() => standIn.close());
    const tm = manager(standIn);
    assert.equal((await tm.fetch(api(standIn))).status, 200);
    const limited = await tm.fetch(api(standIn));
    assert.equal(limited.status, 429);
    assert.equal(standIn.counts().apiCalls, 2);
  });

  test("a token failure rejects with the TokenError; a bad URL as fetch would", async () => {
    const standIn = await startTrackedStandIn();
    after(() => standIn.close());
    const tm = manager(standIn, { clientSecret: "wrong", maxRetries: 0 });
    await assert.rejects(tm.fetch(api(standIn)), { name: "TokenError", code: "invalid_client" });
    await assert.rejects(tm.fetch("not a url"), TypeError);
  });
});
