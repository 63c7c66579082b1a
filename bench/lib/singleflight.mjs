// Single flight: N concurrent calls (issued in one synchronous burst) on a
// client that has no token yet ("empty": needs a client_credentials grant) or
// whose token has expired ("expired": needs a refresh_token grant). Measures
// the time until every call has settled and the grants a fresh stand-in saw,
// for ours (`getAccessToken()`) and OAuth2Fetch (`getToken()`), in
// alternating rounds. Every call must resolve to the same, new token.
//
// Usage: node lib/singleflight.mjs CALLS ROUNDS

import { TokenManager } from "echovideo-auth";
import * as badgateway from "@badgateway/oauth2-client";
import { startStandIn } from "../../tests/standin/server.mjs";
import { makeOurs, makeTheirs, report, sleep, summary } from "./common.mjs";

const calls = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 3);
const SHORT_LIFETIME_S = 0.3;

const libs = {
  ours: (url, scenario) => {
    // "expired" needs a token that really expires in the client's hands:
    // background renewal (autoRefresh, where the build has it) would renew it first.
    const tm = makeOurs(TokenManager, url, {}, scenario === "expired" ? { autoRefresh: false } : {});
    return () => tm.getAccessToken();
  },
  oauth2fetch: (url) => {
    const of = makeTheirs(badgateway, url);
    return async () => (await of.getToken()).accessToken;
  },
};

async function once(lib, scenario) {
  const standIn = await startStandIn({ lifetimeSeconds: scenario === "expired" ? SHORT_LIFETIME_S : 3600 });
  try {
    const get = libs[lib](standIn.url, scenario);
    let old = null;
    if (scenario === "expired") {
      old = await get();
      standIn.configure({ lifetimeSeconds: 3600 });
      await sleep(SHORT_LIFETIME_S * 1000 + 100);
    }
    const before = standIn.counts();
    const started = performance.now();
    const results = await Promise.allSettled(Array.from({ length: calls }, () => get()));
    const settledMs = performance.now() - started;
    const after = standIn.counts();
    const tokens = new Set(results.map((r) => (r.status === "fulfilled" ? r.value : `rejected: ${r.reason?.message}`)));
    const grants = Object.fromEntries(Object.keys(after.grants).map((g) => [g, after.grants[g] - before.grants[g]]));
    return {
      settledMs,
      grants: Object.values(grants).reduce((a, b) => a + b, 0),
      byGrant: grants,
      requests: after.requests - before.requests,
      rejected: results.filter((r) => r.status === "rejected").length,
      distinctTokens: tokens.size,
      gotOldToken: old !== null && tokens.has(old),
      reuse: after.reuse,
    };
  } finally {
    await standIn.close();
  }
}

const result = {};
for (const scenario of ["empty", "expired"]) {
  const samples = { ours: [], oauth2fetch: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? ["oauth2fetch", "ours"] : ["ours", "oauth2fetch"];
    for (const lib of order) samples[lib].push(await once(lib, scenario));
  }
  result[scenario] = Object.fromEntries(Object.entries(samples).map(([lib, list]) => [lib, {
    settledMs: summary(list.map((s) => s.settledMs)),
    grantsPerRound: list.map((s) => s.grants),
    byGrant: list[0].byGrant,
    requestsPerRound: list.map((s) => s.requests),
    rejected: list.reduce((a, s) => a + s.rejected, 0),
    distinctTokensPerRound: list.map((s) => s.distinctTokens),
    gotOldToken: list.some((s) => s.gotOldToken),
    refreshTokenReuse: list.reduce((a, s) => a + s.reuse, 0),
  }]));
}
report({ calls, rounds, scenarios: result });
