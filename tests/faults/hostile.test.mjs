/**
 * Hostile input through the built package (the wasm, not the host build):
 * - baseUrl values that must be refused with invalid_config;
 * - a fuzzer of the options object: random keys and values of every JS type
 *   (including NaN, huge numbers, long strings, Symbols, BigInts, Proxies and
 *   throwing getters) must either construct a manager or throw a TokenError
 *   with code invalid_config, never anything else;
 * - a fuzzer of token-endpoint answers: random bytes, random JSON, token
 *   objects with random field types, odd statuses and Response-like objects
 *   that misbehave, answered through an injected fetch, must each end in a
 *   token or a TokenError with a documented code; the wasm instance keeps
 *   working afterwards.
 * The fuzzers use a seeded PRNG (FAULTS_FUZZ_SEED, printed) and print how
 * many cases ran. Every error seen goes to the file's secrets audit.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  CLIENT_ID,
  CLIENT_SECRET,
  PASSWORD,
  TokenManager,
  assertTokenError,
  auditTest,
  noteRefreshToken,
  recordError,
  scenario,
  success,
} from "./harness.mjs";

const CODES = new Set([
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_request",
  "reauth_required",
  "rate_limited",
  "server_error",
  "network",
  "timeout",
  "malformed_response",
  "storage",
  "invalid_config",
  "disposed",
  "lock_timeout",
]);

const SEED = Number(process.env.FAULTS_FUZZ_SEED ?? 0x5eed4);
const OPTION_CASES = Number(process.env.FAULTS_FUZZ_OPTIONS ?? 3000);
const RESPONSE_CASES = Number(process.env.FAULTS_FUZZ_RESPONSES ?? 3000);

/** mulberry32: a small seeded PRNG, so a failing case can be replayed. */
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generators(random) {
  const int = (n) => Math.floor(random() * n);
  const pick = (items) => items[int(items.length)];
  const text = () => {
    const length = pick([0, 1, 5, 20, 200, 70_000]);
    let out = "";
    const alphabet = ["a", "Z", "0", " ", "/", "%", "\u0000", "é", "\u{1F600}", "\uD800", "&", "=", "+", "?", "#", "@", ":"];
    for (let i = 0; i < Math.min(length, 300); i += 1) out += pick(alphabet);
    return length > 300 ? out.repeat(Math.ceil(length / Math.max(out.length, 1))) : out;
  };
  const number = () =>
    pick([NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, 1e308, -1e308, 5e-324, 2 ** 53 + 2, 300, 10, 11, 600_001, random() * 1e6]);
  const hostile = () =>
    pick([
      () => new Proxy({}, { get() { throw new Error("trap"); } }),
      () => Object.defineProperty({}, "load", { get() { throw new Error("getter"); }, enumerable: true }),
      () => ({ toString() { throw new Error("toString"); }, valueOf() { throw new Error("valueOf"); } }),
      () => Object.create(null),
      () => new Date(NaN),
      () => /re/g,
      () => new Map([["a", 1]]),
    ])();
  const value = (depth = 0) =>
    pick([
      () => undefined,
      () => null,
      () => random() < 0.5,
      number,
      text,
      () => pick([CLIENT_ID, CLIENT_SECRET, PASSWORD, "us", "uk", "au", "ca", "eu", "password", "client_credentials"]),
      () => pick(["http://127.0.0.1:1", "https://echo360.org", "http://echo360.org", "https://u:p@x.org", "not a url", "ftp://x", "https://x.org/?a=1", "http://[::1]:9/"]),
      () => Symbol("s"),
      () => 10n,
      () => () => {},
      () => (depth < 2 ? [value(depth + 1)] : []),
      () => (depth < 2 ? { load: () => null, save() {}, clear() {}, x: value(depth + 1) } : {}),
      hostile,
    ])();
  return { int, pick, text, number, value, hostile };
}

// ---- baseUrl ---------------------------------------------------------------

describe("baseUrl that must be refused", () => {
  const refused = [
    ["http on a public host", "http://echo360.org"],
    ["http on a private address", "http://10.0.0.1:8080"],
    ["http on 0.0.0.0", "http://0.0.0.0:8787"],
    ["http on a host that only starts like loopback", "http://127.0.0.1.nip.io"],
    ["http on a host that contains localhost", "http://localhost.evil.com"],
    ["http on a non-loopback IPv6 address", "http://[::2]/"],
    ["credentials in the URL", "https://user:pw@echo360.org"],
    ["a password-only credential", `https://:${CLIENT_SECRET}@echo360.org`],
    ["credentials on loopback", "http://admin@127.0.0.1:8787"],
    ["not a URL", "not a url"],
    ["an empty string", ""],
    ["a relative path", "/oauth2"],
    ["a bare host name", "echo360.org"],
    ["another scheme", "ftp://echo360.org"],
    ["a javascript: URL", "javascript:alert(1)"],
  ];
  for (const [name, baseUrl] of refused) {
    test(`${name}: invalid_config naming baseUrl, no secret in the message`, () => {
      let thrown;
      try {
        new TokenManager({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl });
      } catch (error) {
        thrown = error;
      }
      assert.ok(thrown, `${baseUrl} was accepted`);
      recordError(`baseUrl ${name}`, thrown);
      assertTokenError(thrown, "invalid_config");
      assert.match(thrown.message, /baseUrl/);
      assert.ok(!thrown.message.includes(CLIENT_SECRET));
      assert.ok(!thrown.message.includes("pw@"));
    });
  }

  test("http on a host the URL parser keeps as a domain name, 127.0.0.+1: invalid_config", () => {
    assert.equal(new URL("http://127.0.0.+1:8787/").hostname, "127.0.0.+1", "the URL parser normalised it");
    assert.throws(
      () => new TokenManager({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: "http://127.0.0.+1:8787" }),
      (error) => error.code === "invalid_config",
    );
  });

  test("loopback http and https are accepted", () => {
    for (const baseUrl of ["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787", "http://app.localhost", "https://echo360.org/"]) {
      new TokenManager({ clientId: CLIENT_ID, baseUrl }).dispose();
    }
  });
});

// ---- The options fuzzer ---------------------------------------------------------

describe("fuzzing the options object", () => {
  test(`${OPTION_CASES} random option objects: a manager or an invalid_config TokenError, nothing else`, async () => {
    const random = prng(SEED);
    const { int, pick, value, hostile } = generators(random);
    const known = [
      "clientId", "clientSecret", "region", "baseUrl", "tokenPath", "grant", "username", "password", "storage",
      "refreshMarginSeconds", "timeoutMs", "maxRetries", "fetch", "onRefresh", "onError", "autoRefresh", "lock",
      "lockTimeoutMs",
    ];
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < OPTION_CASES; i += 1) {
      let options;
      const shape = int(20);
      if (shape === 0) {
        options = value();
      } else if (shape === 1) {
        options = hostile();
      } else {
        options = shape < 12 ? { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } : {};
        for (let k = int(6); k > 0; k -= 1) {
          const key = random() < 0.9 ? pick(known) : pick(["clientID", "secret", "", "__proto__", "constructor", "toJSON"]);
          options[key] = value();
        }
      }
      let manager;
      try {
        manager = new TokenManager(options);
        accepted += 1;
      } catch (error) {
        refused += 1;
        if (error?.name !== "TokenError" || error?.code !== "invalid_config") {
          assert.fail(`case ${i} (seed ${SEED}) threw ${error?.name} ${error?.code}: ${error?.message}`);
        }
        recordError("options fuzz", error);
      }
      manager?.dispose();
    }
    console.log(`# options fuzz (seed ${SEED}): ${OPTION_CASES} cases, ${accepted} accepted, ${refused} refused with invalid_config`);
    assert.ok(accepted > 50 && refused > 50, `${accepted} accepted, ${refused} refused: the generator is lopsided`);
    // The wasm instance still works.
    const ctx = await scenario({});
    assert.equal(typeof (await ctx.tm.getAccessToken()), "string");
    ctx.tm.dispose();
  });

  test("a Proxy whose keys cannot be listed: an invalid_config TokenError", () => {
    const options = new Proxy({ clientId: CLIENT_ID }, { ownKeys() { throw new Error("no keys for you"); } });
    assert.throws(() => new TokenManager(options), (error) => error.name === "TokenError" && error.code === "invalid_config");
  });

  test("after a hostile Proxy as options, the wasm instance still works", async () => {
    const options = new Proxy({ clientId: CLIENT_ID }, { ownKeys() { throw new Error("no keys for you"); } });
    assert.throws(() => new TokenManager(options));
    const ctx = await scenario({});
    assert.equal(typeof (await success(ctx.tm.refresh())), "string");
    ctx.tm.dispose();
  });
});

// ---- The response fuzzer -----------------------------------------------------

/** One random answer of the token endpoint, as a fetch result. */
function randomAnswer(random, g) {
  const { int, pick, text, number, value } = g;
  const statuses = [200, 200, 200, 201, 204, 400, 401, 403, 404, 429, 500, 502, 503, 599];
  const retryAfter = () => pick([null, "0", "1", "120", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "1e3"]);
  const field = () =>
    pick([() => undefined, () => null, () => random() < 0.5, number, text, () => "bearer", () => "BeArEr", () => [], () => ({}), () => `eyJ${int(1e9)}`]);
  const body = () =>
    pick([
      () => {
        const bytes = new Uint8Array(int(2000));
        for (let i = 0; i < bytes.length; i += 1) bytes[i] = int(256);
        return bytes;
      },
      () => {
        try {
          return JSON.stringify(value()) ?? "";
        } catch {
          return "{}"; // a BigInt or a throwing toJSON
        }
      },
      () => JSON.stringify({
        token_type: field(),
        access_token: field(),
        refresh_token: field(),
        expires_in: field(),
        error: pick([undefined, "invalid_grant", "invalid_client", "server_error", "temporarily_unavailable", 5]),
        error_description: field(),
      }),
      () => JSON.stringify({ token_type: "bearer", access_token: `eyJ${int(1e9)}`, refresh_token: `rt-${int(1e9)}`, expires_in: number() }),
      () => `${"[".repeat(20_000)}${"]".repeat(20_000)}`,
      () => '{"access_token":"eyJ',
      () => "",
      text,
    ])();
  if (random() < 0.15) {
    // A Response-like object that misbehaves in some way.
    return pick([
      () => ({ status: pick([0, NaN, "200", 1e9, -1, undefined]), headers: { get: () => null }, text: async () => "{}" }),
      () => ({ status: 200, headers: null, text: async () => JSON.stringify({ token_type: "bearer", access_token: "a", expires_in: 60 }) }),
      () => ({ status: 200, headers: { get() { throw new Error("headers"); } }, text: async () => "{}" }),
      () => ({ status: 200, headers: { get: () => null }, text() { throw new Error("text threw"); } }),
      () => ({ status: 200, headers: { get: () => null }, text: async () => { throw new Error("text rejected"); } }),
      () => ({ status: 200, headers: { get: () => null }, text: async () => 42 }),
      () => ({ status: 200, headers: { get: () => 5 }, text: async () => null }),
      () => ({ status: 503, headers: { get: () => "1e309" }, text: async () => "" }),
      () => null,
      () => 42,
      () => Promise.reject(new TypeError("fetch failed")),
    ])();
  }
  const status = pick(statuses);
  const headers = {};
  const after = retryAfter();
  if (after !== null) headers["retry-after"] = after;
  const payload = status === 204 ? null : body();
  return new Response(payload, { status, headers });
}

describe("fuzzing the token endpoint's answers", () => {
  test(`${RESPONSE_CASES} random answers: a token or a documented TokenError, and the instance keeps working`, async () => {
    const random = prng(SEED + 1);
    const g = generators(random);
    const outcomes = new Map();
    for (let i = 0; i < RESPONSE_CASES; i += 1) {
      const answer = randomAnswer(random, g);
      const tm = new TokenManager({
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        baseUrl: "http://127.0.0.1:9",
        timeoutMs: 200,
        maxRetries: 0,
        autoRefresh: false,
        fetch: async () => {
          if (answer instanceof Response) {
            // The refresh tokens handed to the package join the audit's list.
            answer.clone().text().then((text) => {
              try {
                const token = JSON.parse(text)?.refresh_token;
                if (/^rt-[0-9]+$/.test(token)) noteRefreshToken(token);
              } catch {
                // Not JSON.
              }
            }, () => {});
          }
          return answer;
        },
        onError: (error) => recordError("response fuzz onError", error),
      });
      try {
        const token = await tm.getAccessToken();
        assert.equal(typeof token, "string", `case ${i}: resolved with ${typeof token}`);
        outcomes.set("token", (outcomes.get("token") ?? 0) + 1);
      } catch (error) {
        if (error?.name !== "TokenError" || !CODES.has(error.code)) {
          assert.fail(`case ${i} (seed ${SEED + 1}) rejected with ${error?.name} ${error?.code}: ${error?.message}`);
        }
        recordError("response fuzz", error);
        outcomes.set(error.code, (outcomes.get(error.code) ?? 0) + 1);
      } finally {
        tm.dispose();
      }
    }
    console.log(
      `# response fuzz (seed ${SEED + 1}): ${RESPONSE_CASES} cases: ` +
        [...outcomes].map(([outcome, count]) => `${outcome} ${count}`).join(", "),
    );
    assert.ok((outcomes.get("token") ?? 0) > 10, "no random answer was a valid token response");
    assert.ok((outcomes.get("malformed_response") ?? 0) > 100);
    // The same wasm instance still works against the stand-in.
    const ctx = await scenario({});
    assert.equal(typeof (await success(ctx.tm.refresh())), "string");
    ctx.tm.dispose();
  });
});

auditTest();
