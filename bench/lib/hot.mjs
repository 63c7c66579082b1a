// Hot path: a cached, valid token asked for again and again, in one process.
// Ours: `tm.getAccessToken()`; theirs: `OAuth2Fetch.getToken()` (what the
// issue names; it resolves to the cached token object) and, for reference,
// `OAuth2Fetch.getAccessToken()` (resolves to the string, like ours). Each
// call is awaited before the next, as a caller would. Both are warmed first,
// then timed in alternating rounds (the order flips every round) so neither
// gets the better half of the JIT or of the machine; the figure is the median
// of the rounds. The token lifetime is one hour: no request is made while timed.
//
// Usage: node lib/hot.mjs ROUNDS ROUND_MS

import { TokenManager } from "echovideo-auth";
import * as badgateway from "@badgateway/oauth2-client";
import { startStandIn } from "../../tests/standin/server.mjs";
import { makeOurs, makeTheirs, median, report, summary } from "./common.mjs";

const rounds = Number(process.argv[2] ?? 5);
const roundMs = Number(process.argv[3] ?? 1000);
const BATCH = 1000;

const standIn = await startStandIn({ lifetimeSeconds: 3600 });
const tm = makeOurs(TokenManager, standIn.url);
const of = makeTheirs(badgateway, standIn.url);

const contenders = {
  ours: () => tm.getAccessToken(),
  getToken: () => of.getToken(),
  getAccessToken: () => of.getAccessToken(),
};

// The first token of each, then the same checks every timed call relies on.
const first = { ours: await contenders.ours(), theirs: (await of.getToken()).accessToken };
if (await contenders.ours() !== first.ours) throw new Error("ours did not cache its token");
if ((await contenders.getToken()).accessToken !== first.theirs) throw new Error("OAuth2Fetch did not cache its token");

/** Calls per second of `fn`, awaited one after another for about `ms`. */
async function rate(fn, ms) {
  let calls = 0;
  const started = performance.now();
  let now = started;
  do {
    for (let i = 0; i < BATCH; i++) await fn();
    calls += BATCH;
    now = performance.now();
  } while (now - started < ms);
  return calls / ((now - started) / 1000);
}

// Warm-up: enough calls for both JITs to settle.
for (const fn of Object.values(contenders)) await rate(fn, Math.min(500, roundMs));

const before = standIn.counts().requests;
const samples = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
const ratios = { getToken: [], getAccessToken: [] };
for (let round = 0; round < rounds; round++) {
  const order = Object.keys(contenders);
  if (round % 2) order.reverse();
  const rates = {};
  for (const name of order) rates[name] = await rate(contenders[name], roundMs);
  for (const name of order) samples[name].push(rates[name]);
  ratios.getToken.push(rates.ours / rates.getToken);
  ratios.getAccessToken.push(rates.ours / rates.getAccessToken);
}
const requestsWhileTimed = standIn.counts().requests - before;
await standIn.close();

report({
  rounds,
  roundMs,
  callsPerSecond: Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, summary(list)])),
  ratioOursToGetToken: Math.round(median(ratios.getToken) * 1000) / 1000,
  ratioOursToGetAccessToken: Math.round(median(ratios.getAccessToken) * 1000) / 1000,
  requestsWhileTimed,
});
