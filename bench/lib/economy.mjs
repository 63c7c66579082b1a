// Request economy: a day of steady use, compressed. The stand-in's tokens
// live LIFETIME seconds; CALLERS concurrent callers each loop for
// LIFETIMES token lifetimes: get a token, call the stand-in's protected API
// with it, wait a random 0-2x MEAN_DELAY ms. Each library runs with its
// defaults, as a user would get them (ours: background renewal on, with
// refreshMarginSeconds MARGIN; OAuth2Fetch: renews lazily once the token has
// expired; its own timer only runs for lifetimes over two minutes).
//
// Every token request goes through a logging fetch (the `fetch` option of
// both), which records when it started and ended and which access token it
// brought. From that:
// - grants per lifetime: grants / (duration / lifetime)
// - renewals (grants after the first) against the ideal: what a client that
//   renews exactly at its own renewal point would make in that time (ours:
//   the margin, and up to 10% of scheduled spread, bring it forward)
// - overlapping: grants started while another was in flight (must be 0)
// - early: grants started before the previous token had lived half its
//   lifetime (must be 0)
// - unused: grants whose token no caller ever received (must be 0; grants
//   that ended in the last 2 x MEAN_DELAY + 50 ms are not judged)
// - stale handed out: tokens the API refused (401) right after a caller got them
// - wait: how long getAccessToken()/getToken() took for callers (p50/p99/max)
//
// Usage: node lib/economy.mjs ours|oauth2fetch LIFETIME LIFETIMES CALLERS MEAN_DELAY MARGIN

import { TokenManager } from "echovideo-auth";
import * as badgateway from "@badgateway/oauth2-client";
import { startStandIn } from "../../tests/standin/server.mjs";
import { makeOurs, makeTheirs, quantile, report, sleep } from "./common.mjs";

const [lib, lifetimeArg, lifetimesArg, callersArg, delayArg, marginArg] = process.argv.slice(2);
const lifetimeS = Number(lifetimeArg ?? 2);
const lifetimes = Number(lifetimesArg ?? 10);
const callers = Number(callersArg ?? 50);
const meanDelayMs = Number(delayArg ?? 50);
const marginS = Number(marginArg ?? 0.5);

const standIn = await startStandIn({ lifetimeSeconds: lifetimeS });
const apiUrl = `${standIn.url}/public/api/v1/courses`;

const grants = []; // { start, end, token }
const pending = [];
async function loggingFetch(input, init) {
  const entry = { start: performance.now(), end: null, token: null };
  grants.push(entry);
  const response = await fetch(input, init);
  entry.end = performance.now();
  pending.push(response.clone().json().then((body) => { entry.token = body.access_token ?? null; }, () => {}));
  return response;
}

let get;
if (lib === "ours") {
  const tm = makeOurs(TokenManager, standIn.url, { refreshMarginSeconds: marginS, fetch: loggingFetch });
  get = () => tm.getAccessToken();
} else {
  const of = makeTheirs(badgateway, standIn.url, { fetch: loggingFetch, scheduleRefresh: true });
  get = async () => (await of.getToken()).accessToken;
}

const handedOut = new Set();
const waits = [];
let calls = 0;
let stale = 0;
let failed = 0;
const started = performance.now();
const deadline = started + lifetimes * lifetimeS * 1000;

async function caller() {
  while (performance.now() < deadline) {
    const t0 = performance.now();
    let token;
    try {
      token = await get();
    } catch {
      failed += 1;
      continue;
    }
    waits.push(performance.now() - t0);
    calls += 1;
    handedOut.add(token);
    const response = await fetch(apiUrl, { headers: { Authorization: `Bearer ${token}` } });
    await response.arrayBuffer();
    if (response.status === 401) stale += 1;
    await sleep(Math.random() * 2 * meanDelayMs);
  }
}
await Promise.all(Array.from({ length: callers }, caller));
const durationS = (performance.now() - started) / 1000;
await Promise.all(pending);
const counts = standIn.counts();
await standIn.close();

// Grants in start order; judge each against the one before.
grants.sort((a, b) => a.start - b.start);
let overlapping = 0;
let early = 0;
for (let i = 1; i < grants.length; i++) {
  const previous = grants[i - 1];
  if (previous.end === null || grants[i].start < previous.end) overlapping += 1;
  else if (grants[i].start < previous.end + (lifetimeS * 1000) / 2) early += 1;
}
// A grant that ended in the last moments of the run may simply have had no
// caller left to hand its token to: only earlier ones count as unused.
const lastUseful = deadline - (2 * meanDelayMs + 50);
const neverHandedOut = grants.filter((g) => g.token !== null && !handedOut.has(g.token));
const unused = neverHandedOut.filter((g) => g.end < lastUseful).length;
const unusedAtEnd = neverHandedOut.length - unused;
const lifetimesElapsed = durationS / lifetimeS;
// The renewal point of each library, as a share of the lifetime: ours renews
// when the margin is left (at most 10% earlier: the scheduled spread) but
// never before half the lifetime; OAuth2Fetch when the token has expired.
const renewAt = lib === "ours" ? Math.max(0.5, 1 - marginS / lifetimeS) : 1;
const earliest = lib === "ours" ? 0.9 * renewAt : renewAt;
const grantCount = Object.values(counts.grants).reduce((a, b) => a + b, 0);
const renewals = grantCount - 1; // the first grant is the initial one
const durationMs = durationS * 1000;
// Renewals a client renewing exactly at its renewal point would make in this
// time (one fewer allowed for the latency each renewal adds).
const idealRenewals = {
  min: Math.max(0, Math.floor(durationMs / (renewAt * lifetimeS * 1000)) - 1),
  max: Math.floor(durationMs / (earliest * lifetimeS * 1000)),
};
const r = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

report({
  lib,
  lifetimeS,
  marginS: lib === "ours" ? marginS : 0,
  callers,
  meanDelayMs,
  durationS: r(durationS),
  calls,
  failed,
  grants: grantCount,
  byGrant: counts.grants,
  lifetimesElapsed: r(lifetimesElapsed),
  grantsPerLifetime: r(grantCount / lifetimesElapsed, 3),
  renewals,
  idealRenewals,
  renewalsPerLifetime: r(renewals / lifetimesElapsed, 3),
  renewalPointShareOfLifetime: lib === "ours" ? [r(earliest, 3), r(renewAt, 3)] : [1, 1],
  overlapping,
  early,
  unused,
  unusedAtEnd,
  refreshTokenReuse: counts.reuse,
  staleHandedOut: stale,
  apiCalls: counts.apiCalls,
  waitMs: { p50: r(quantile(waits, 0.5), 3), p99: r(quantile(waits, 0.99), 3), max: r(Math.max(...waits), 3) },
});
