/**
 * Local stand-in for the EchoVideo (Echo360) OAuth2 token endpoint and a
 * protected API.
 *
 * Why it exists: the echovideo-auth package manages access and refresh
 * tokens, and its hardest behaviour (single-use refresh tokens, rotation,
 * retries after network failures, expiry, lost responses) cannot be tested
 * against the real service: it needs credentials, cannot be made to fail on
 * demand, and a refresh token spent by a test is gone for good. This server
 * mirrors the real token API closely enough for the package's tests (native,
 * browser and Workers builds alike) to run offline, lets them inject faults
 * deterministically, and counts what the client did so that tests can assert
 * on it (how many grants, whether a refresh token was reused, whether a secret
 * ever travelled in a URL).
 *
 * Only Node's built-in modules are used, so it runs anywhere Node 20 runs.
 *
 * What it mirrors:
 * - `POST /oauth2/access_token` (form-encoded) for the `client_credentials`,
 *   `password` and `refresh_token` grants; client authentication in the body
 *   or as HTTP Basic; OAuth JSON errors with the real status codes.
 * - JWT-shaped access tokens (HS256 with a random per-server key) that expire
 *   `lifetimeSeconds` after issue by the server clock, and opaque refresh
 *   tokens that never expire but are single-use and bound to their client.
 * - `GET /public/api/v1/...`: a protected API that accepts only live bearer
 *   tokens issued here, with an optional rolling-minute rate limit.
 *
 * What it adds for tests: counters, a request log, a FIFO queue of faults for
 * the token endpoint, and the same controls over HTTP under `/__standin/` so
 * that a browser page or a Workers runtime can drive it.
 *
 * Usage as a library: `const standIn = await startStandIn({ ... })`.
 * Usage from a shell: `node tests/standin/server.mjs [--port 8787]
 * [--host 127.0.0.1] [--lifetime 3600]`.
 */

import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { realpathSync } from "node:fs";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** The single token endpoint, shared by every grant. */
export const TOKEN_PATH = "/oauth2/access_token";
/** Every GET below this prefix is a protected API call. */
export const API_PREFIX = "/public/api/v1/";
/** Test controls reachable over HTTP. */
export const CONTROL_PREFIX = "/__standin/";
/** Request bodies above this size are answered 413. */
export const MAX_BODY_BYTES = 64 * 1024;
/** The grant types the token endpoint knows. */
export const GRANT_TYPES = Object.freeze(["client_credentials", "password", "refresh_token"]);

/** The client used when `startStandIn` is given none. */
export const DEFAULT_CLIENTS = Object.freeze([
  Object.freeze({
    clientId: "demo-client",
    clientSecret: "demo-secret",
    username: "demo-user",
    password: "demo-pass",
  }),
]);

const ISSUER = "echovideo-standin";
const RATE_WINDOW_MS = 60_000;

/** Query parameters that carry a secret or a token and so must never be in a URL. */
const SECRET_QUERY_PARAMS = new Set(["client_secret", "password", "refresh_token", "access_token"]);

/** Fault kinds, each with the fields it accepts besides `kind`, `times` and `grant`. */
const FAULT_FIELDS = Object.freeze({
  status: ["status", "retryAfter", "body", "contentType"],
  oauth: ["status", "error", "description", "retryAfter"],
  body: ["status", "body", "contentType", "retryAfter"],
  refuse: [],
  reset: [],
  hang: ["ms"],
  "lose-after-rotate": [],
  delay: ["ms"],
});

/** Fields a fault of the given kind cannot do without. */
const FAULT_REQUIRED = Object.freeze({ status: ["status"], oauth: ["error"], body: ["body"], delay: ["ms"] });

/** An OAuth error raised while processing a grant; becomes the JSON error reply. */
class OAuthError extends Error {
  constructor(status, code, description, headers = {}) {
    super(description);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/**
 * Starts a stand-in server and resolves once it is listening.
 *
 * @param {object} [options]
 * @param {number} [options.port=0] TCP port; 0 picks a free one.
 * @param {string} [options.host="127.0.0.1"]
 * @param {number} [options.lifetimeSeconds=3600] Access-token lifetime (may be fractional, or 0).
 * @param {Array<{clientId: string, clientSecret: string, username?: string, password?: string}>} [options.clients]
 * @param {boolean} [options.passwordGrant=true] When false, the password grant is unsupported.
 * @param {number|null} [options.rateLimitPerMinute=null] API calls allowed per rolling minute.
 * @param {boolean} [options.cors=true] Answer preflights and allow any origin.
 * @returns {Promise<object>} The stand-in: `url`, `port` and the control methods
 *   below (`close`, `counts`, `reset`, `configure`, `fault`, `clearFaults`,
 *   `revokeAccessTokens`, `log`, `issuedRefreshTokens`).
 */
export async function startStandIn(options = {}) {
  const {
    port = 0,
    host = "127.0.0.1",
    clients = DEFAULT_CLIENTS,
    cors = true,
    ...settings
  } = checkOptions(options);
  const config = { lifetimeSeconds: 3600, passwordGrant: true, rateLimitPerMinute: null };
  applySettings(config, settings);
  const clientsById = new Map(clients.map((client) => [client.clientId, { ...client }]));
  const signingKey = randomBytes(32);

  // Mutable state; `reset()` returns all of it to empty.
  let counts = zeroCounts();
  let requestLog = [];
  let faults = [];
  const accessTokens = new Map(); // token -> { clientId, sub, expiresAt }
  const refreshTokens = new Map(); // token -> { clientId, sub, used }
  const latestRefresh = new Map(); // clientId -> newest refresh token
  let apiWindow = []; // timestamps of admitted API calls, oldest first

  // ---- Token issuing and grant processing -------------------------------

  function issueTokens(clientId, sub) {
    const now = Date.now();
    const expiresAt = now + config.lifetimeSeconds * 1000;
    const accessToken = signJwt(
      {
        iss: ISSUER,
        sub,
        client_id: clientId,
        iat: Math.floor(now / 1000),
        exp: Math.floor(expiresAt / 1000),
        jti: randomUUID(),
      },
      signingKey,
    );
    const refreshToken = randomBytes(32).toString("base64url");
    accessTokens.set(accessToken, { clientId, sub, expiresAt });
    refreshTokens.set(refreshToken, { clientId, sub, used: false });
    latestRefresh.set(clientId, refreshToken);
    return {
      token_type: "bearer",
      access_token: accessToken,
      refresh_token: refreshToken,
      expires_in: config.lifetimeSeconds,
    };
  }

  /** Checks client_id and client_secret against the configured clients. */
  function authenticateClient({ clientId, clientSecret, viaBasic }, secretRequired) {
    const headers = viaBasic ? { "WWW-Authenticate": 'Basic realm="EchoVideo"' } : {};
    const client = clientId === undefined ? undefined : clientsById.get(clientId);
    if (!client) throw new OAuthError(401, "invalid_client", "unknown or missing client_id", headers);
    if (clientSecret === undefined ? secretRequired : clientSecret !== client.clientSecret) {
      throw new OAuthError(401, "invalid_client", "client authentication failed", headers);
    }
    return client;
  }

  /** Runs one grant to completion; returns the token response or throws OAuthError. */
  function runGrant({ method, leaked, tooLarge, form, authorization }) {
    if (method !== "POST") {
      throw new OAuthError(405, "invalid_request", "the token endpoint only accepts POST", { Allow: "POST" });
    }
    if (leaked) {
      throw new OAuthError(400, "invalid_request", "secrets and tokens must not be sent in the URL query string");
    }
    if (tooLarge) throw new OAuthError(413, "invalid_request", `request body exceeds ${MAX_BODY_BYTES} bytes`);
    if (!form) throw new OAuthError(400, "invalid_request", "body must be application/x-www-form-urlencoded");
    const repeated = [...new Set(form.keys())].find((key) => form.getAll(key).length > 1);
    if (repeated) throw new OAuthError(400, "invalid_request", `parameter ${repeated} is repeated`);

    const grantType = form.get("grant_type");
    if (!grantType) throw new OAuthError(400, "invalid_request", "missing grant_type");
    if (!GRANT_TYPES.includes(grantType) || (grantType === "password" && !config.passwordGrant)) {
      throw new OAuthError(400, "unsupported_grant_type", `grant_type ${grantType} is not supported`);
    }
    const credentials = clientCredentials(form, authorization);

    if (grantType === "client_credentials") {
      const client = authenticateClient(credentials, true);
      counts.grants.client_credentials += 1;
      return issueTokens(client.clientId, client.clientId);
    }

    if (grantType === "password") {
      const client = authenticateClient(credentials, true);
      const username = form.get("username");
      const password = form.get("password");
      if (!username || !password) throw new OAuthError(400, "invalid_request", "missing username or password");
      if (client.username === undefined || username !== client.username || password !== client.password) {
        throw new OAuthError(400, "invalid_grant", "invalid username or password");
      }
      counts.grants.password += 1;
      return issueTokens(client.clientId, username);
    }

    // refresh_token: the client must identify itself, but needs no secret.
    const client = authenticateClient(credentials, false);
    const presented = form.get("refresh_token");
    if (!presented) throw new OAuthError(400, "invalid_request", "missing refresh_token");
    const record = refreshTokens.get(presented);
    if (!record) {
      counts.unknownRefresh += 1;
      throw new OAuthError(400, "invalid_grant", "refresh token is invalid");
    }
    if (record.used) {
      counts.reuse += 1;
      throw new OAuthError(400, "invalid_grant", "refresh token has already been used");
    }
    if (record.clientId !== client.clientId) {
      throw new OAuthError(400, "invalid_grant", "refresh token was issued to another client");
    }
    record.used = true;
    counts.grants.refresh_token += 1;
    return issueTokens(record.clientId, record.sub);
  }

  /** Processes a token request and turns the outcome into a reply. */
  function processTokenRequest(request) {
    try {
      return jsonReply(200, runGrant(request));
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      if (err.code === "invalid_client") counts.invalidClient += 1;
      return jsonReply(err.status, { error: err.code, error_description: err.message }, err.headers);
    }
  }

  /** Removes one use of the first queued fault that applies to `grantType`. */
  function takeFault(grantType, entry) {
    const index = faults.findIndex((f) => f.grant === null || f.grant === grantType);
    if (index === -1) return null;
    const fault = faults[index];
    fault.remaining -= 1;
    if (fault.remaining === 0) faults.splice(index, 1);
    counts.faultsServed += 1;
    entry.fault = fault.kind;
    return fault;
  }

  // ---- HTTP handlers ----------------------------------------------------

  async function handleToken(req, res, url) {
    counts.requests += 1;
    res.setHeader("Cache-Control", "no-store");
    res.setHeader("Pragma", "no-cache");
    const entry = {
      method: req.method,
      url: req.url,
      headers: { ...req.headers },
      body: null,
      grant: null,
      status: null,
      fault: null,
    };
    requestLog.push(entry);
    const leaked = hasSecretInQuery(url);
    if (leaked) counts.secretInUrl += 1;

    // An unrestricted "refuse" at the head of the queue applies whatever the
    // grant, so the connection can be dropped before the body is even read.
    if (faults[0]?.kind === "refuse" && faults[0].grant === null) {
      takeFault(null, entry);
      req.socket.destroy();
      return;
    }

    const body = await readBody(req);
    const form = body !== null && isFormContentType(req.headers["content-type"]) ? new URLSearchParams(body) : null;
    const grantType = form?.get("grant_type") ?? null;
    entry.body = body;
    entry.grant = grantType;
    if (GRANT_TYPES.includes(grantType)) counts.attempts[grantType] += 1;

    const request = { method: req.method, leaked, tooLarge: body === null, form, authorization: req.headers.authorization };
    const fault = takeFault(grantType, entry);
    if (!fault) {
      deliver(res, processTokenRequest(request), entry);
      return;
    }
    switch (fault.kind) {
      case "status":
      case "oauth":
      case "body":
        deliver(res, faultReply(fault), entry);
        return;
      case "refuse":
        req.socket.destroy();
        return;
      case "reset": {
        // Promise a full token response, send the start of it, then drop.
        const partial = '{"token_type":"bearer","access_token":"';
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": partial.length + 512 });
        entry.status = 200;
        res.write(partial, () => res.destroy());
        return;
      }
      case "hang":
        if (fault.ms !== undefined) {
          const reply = jsonReply(503, { error: "temporarily_unavailable", error_description: "request timed out" });
          later(res, fault.ms, () => deliver(res, reply, entry));
        }
        return;
      case "lose-after-rotate":
        processTokenRequest(request);
        res.destroy();
        return;
      case "delay": {
        const reply = processTokenRequest(request);
        later(res, fault.ms, () => deliver(res, reply, entry));
        return;
      }
    }
  }

  function handleApi(req, res, url) {
    counts.apiCalls += 1;
    if (req.method !== "GET") {
      deliver(res, jsonReply(405, { error: "invalid_request", error_description: "only GET is supported" }, { Allow: "GET" }));
      return;
    }
    if (hasSecretInQuery(url)) {
      counts.secretInUrl += 1;
      const description = "secrets and tokens must not be sent in the URL query string";
      deliver(res, jsonReply(400, { error: "invalid_request", error_description: description }));
      return;
    }
    const retryAfter = admitApiCall();
    if (retryAfter !== null) {
      counts.apiRateLimited += 1;
      const body = { error: "rate_limited", error_description: "too many requests" };
      deliver(res, jsonReply(429, body, { "Retry-After": String(retryAfter) }));
      return;
    }
    const token = bearerToken(req.headers.authorization);
    const record = token === null ? undefined : accessTokens.get(token);
    if (!record || Date.now() >= record.expiresAt) {
      counts.apiUnauthorized += 1;
      const body = { error: "invalid_token", error_description: "the access token is missing, invalid or expired" };
      deliver(res, jsonReply(401, body, { "WWW-Authenticate": 'Bearer error="invalid_token"' }));
      return;
    }
    deliver(res, jsonReply(200, { data: [], path: url.pathname, client_id: record.clientId, sub: record.sub }));
  }

  /** Returns null when the call is admitted, else the seconds until a slot frees up. */
  function admitApiCall() {
    if (config.rateLimitPerMinute === null) return null;
    const now = Date.now();
    apiWindow = apiWindow.filter((t) => t > now - RATE_WINDOW_MS);
    if (apiWindow.length >= config.rateLimitPerMinute) {
      return Math.max(1, Math.ceil((apiWindow[0] + RATE_WINDOW_MS - now) / 1000));
    }
    apiWindow.push(now);
    return null;
  }

  const controlRoutes = {
    "GET counts": () => standIn.counts(),
    "GET log": () => standIn.log(),
    "GET refresh-tokens": () => standIn.issuedRefreshTokens(),
    "POST reset": () => (standIn.reset(), { ok: true }),
    "POST fault": (spec) => ({ queued: standIn.fault(spec) }),
    "POST clear-faults": () => (standIn.clearFaults(), { ok: true }),
    "POST configure": (settings) => standIn.configure(settings),
    "POST revoke": () => ({ revoked: standIn.revokeAccessTokens() }),
  };

  async function handleControl(req, res, action) {
    const route = controlRoutes[`${req.method} ${action}`];
    if (!route) {
      deliver(res, jsonReply(404, { error: "not_found", error_description: `no control ${req.method} ${action}` }));
      return;
    }
    let input;
    if (req.method === "POST") {
      const text = await readBody(req);
      if (text === null) {
        deliver(res, jsonReply(413, { error: "invalid_request", error_description: "body too large" }));
        return;
      }
      try {
        input = text.trim() === "" ? {} : JSON.parse(text);
      } catch {
        deliver(res, jsonReply(400, { error: "invalid_request", error_description: "body is not valid JSON" }));
        return;
      }
    }
    try {
      deliver(res, jsonReply(200, route(input)));
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      deliver(res, jsonReply(400, { error: "invalid_request", error_description: err.message }));
    }
  }

  async function route(req, res) {
    if (cors) {
      res.setHeader("Access-Control-Allow-Origin", "*");
      res.setHeader("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After");
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "Access-Control-Allow-Methods": "GET, POST",
          "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept",
          "Access-Control-Max-Age": "600",
        });
        res.end();
        return;
      }
    }
    const url = parseRequestUrl(req.url);
    if (!url) {
      deliver(res, jsonReply(400, { error: "invalid_request", error_description: "malformed request URL" }));
    } else if (url.pathname === TOKEN_PATH) {
      await handleToken(req, res, url);
    } else if (url.pathname.startsWith(API_PREFIX)) {
      handleApi(req, res, url);
    } else if (url.pathname.startsWith(CONTROL_PREFIX)) {
      await handleControl(req, res, url.pathname.slice(CONTROL_PREFIX.length));
    } else {
      deliver(res, jsonReply(404, { error: "not_found", error_description: `nothing at ${url.pathname}` }));
    }
  }

  // ---- Server -----------------------------------------------------------

  const server = createServer((req, res) => {
    route(req, res).catch((err) => {
      // A client that went away mid-request lands here too; nothing to answer.
      if (res.headersSent || res.destroyed) {
        res.destroy();
      } else {
        deliver(res, jsonReply(500, { error: "server_error", error_description: String(err?.message ?? err) }));
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const boundPort = server.address().port;
  let closing = null;

  const standIn = {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${boundPort}`,
    port: boundPort,

    /** Stops listening and drops every connection, hung ones included. */
    close() {
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },

    /** A snapshot of the counters. */
    counts() {
      return structuredClone(counts);
    },

    /** Zeroes the counters, forgets every token, clears faults, the log and the rate window. */
    reset() {
      counts = zeroCounts();
      requestLog = [];
      faults = [];
      apiWindow = [];
      accessTokens.clear();
      refreshTokens.clear();
      latestRefresh.clear();
    },

    /** Changes lifetimeSeconds, passwordGrant and/or rateLimitPerMinute; returns the settings now in force. */
    configure(changes = {}) {
      applySettings(config, changes);
      return { ...config };
    },

    /** Queues a fault for the next matching token request(s); returns the queue length. */
    fault(spec) {
      faults.push(normalizeFault(spec));
      return faults.length;
    },

    /** Drops every queued fault. */
    clearFaults() {
      faults = [];
    },

    /** Makes every access token issued so far fail on the API; returns how many there were. */
    revokeAccessTokens() {
      const revoked = accessTokens.size;
      accessTokens.clear();
      return revoked;
    },

    /** Every token-endpoint request so far: { method, url, headers, body, grant, status, fault }. */
    log() {
      return structuredClone(requestLog);
    },

    /** The newest refresh token issued to each client, as { [clientId]: token }. */
    issuedRefreshTokens() {
      return Object.fromEntries(latestRefresh);
    },
  };
  return standIn;
}

// ---- Helpers ------------------------------------------------------------

function zeroCounts() {
  const perGrant = () => Object.fromEntries(GRANT_TYPES.map((grant) => [grant, 0]));
  return {
    requests: 0, // token-endpoint requests of any kind
    grants: perGrant(), // grants carried out (a lose-after-rotate grant counts: it was carried out)
    attempts: perGrant(), // token requests whose grant_type could be read, faulted or failed ones included
    reuse: 0,
    unknownRefresh: 0,
    invalidClient: 0,
    secretInUrl: 0,
    apiCalls: 0,
    apiUnauthorized: 0,
    apiRateLimited: 0,
    faultsServed: 0,
  };
}

function checkOptions(options) {
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  const known = ["port", "host", "clients", "cors", "lifetimeSeconds", "passwordGrant", "rateLimitPerMinute"];
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new TypeError(`unknown option(s): ${unknown.join(", ")}`);
  const { port, host, clients, cors } = options;
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new TypeError("port must be an integer from 0 to 65535");
  }
  if (host !== undefined && (typeof host !== "string" || host === "")) throw new TypeError("host must be a string");
  if (cors !== undefined && typeof cors !== "boolean") throw new TypeError("cors must be a boolean");
  if (clients !== undefined) {
    if (!Array.isArray(clients) || clients.length === 0) throw new TypeError("clients must be a non-empty array");
    for (const client of clients) {
      if (typeof client?.clientId !== "string" || client.clientId === "" || typeof client.clientSecret !== "string") {
        throw new TypeError("each client needs a clientId and a clientSecret string");
      }
      if ((client.username !== undefined || client.password !== undefined)
        && (typeof client.username !== "string" || typeof client.password !== "string")) {
        throw new TypeError("a client's username and password must both be strings");
      }
    }
  }
  return options;
}

/** Validates the runtime-changeable settings and copies the given ones into `config`. */
function applySettings(config, changes) {
  if (changes === null || typeof changes !== "object" || Array.isArray(changes)) {
    throw new TypeError("settings must be an object");
  }
  const unknown = Object.keys(changes).filter((key) => !(key in config));
  if (unknown.length > 0) throw new TypeError(`unknown setting(s): ${unknown.join(", ")}`);
  const { lifetimeSeconds, passwordGrant, rateLimitPerMinute } = changes;
  if (lifetimeSeconds !== undefined && !(Number.isFinite(lifetimeSeconds) && lifetimeSeconds >= 0)) {
    throw new TypeError("lifetimeSeconds must be a non-negative number");
  }
  if (passwordGrant !== undefined && typeof passwordGrant !== "boolean") {
    throw new TypeError("passwordGrant must be a boolean");
  }
  if (rateLimitPerMinute !== undefined && rateLimitPerMinute !== null
    && !(Number.isInteger(rateLimitPerMinute) && rateLimitPerMinute > 0)) {
    throw new TypeError("rateLimitPerMinute must be a positive integer or null");
  }
  for (const [key, value] of Object.entries(changes)) {
    if (value !== undefined) config[key] = value;
  }
}

/**
 * Validates a fault spec and returns the queue entry for it:
 * the spec's fields plus `grant` (null = any) and `remaining` uses.
 */
function normalizeFault(spec) {
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
    throw new TypeError("a fault spec must be an object");
  }
  const { kind, times = 1, grant = null, ...fields } = spec;
  if (!Object.hasOwn(FAULT_FIELDS, kind)) {
    throw new TypeError(`unknown fault kind ${JSON.stringify(kind)}; expected one of ${Object.keys(FAULT_FIELDS).join(", ")}`);
  }
  if (!Number.isInteger(times) || times < 1) throw new TypeError("times must be a positive integer");
  if (grant !== null && !GRANT_TYPES.includes(grant)) throw new TypeError(`grant must be one of ${GRANT_TYPES.join(", ")}`);
  const extra = Object.keys(fields).filter((key) => !FAULT_FIELDS[kind].includes(key));
  if (extra.length > 0) throw new TypeError(`fault kind ${kind} does not take: ${extra.join(", ")}`);
  const missing = (FAULT_REQUIRED[kind] ?? []).filter((key) => fields[key] === undefined);
  if (missing.length > 0) throw new TypeError(`fault kind ${kind} needs: ${missing.join(", ")}`);

  const { status, retryAfter, body, contentType, error, description, ms } = fields;
  if (status !== undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
    throw new TypeError("status must be an integer from 200 to 599");
  }
  if (retryAfter !== undefined && typeof retryAfter !== "string"
    && !(Number.isFinite(retryAfter) && retryAfter >= 0)) {
    throw new TypeError("retryAfter must be a non-negative number of seconds or a string");
  }
  for (const [key, value] of Object.entries({ body, contentType, description })) {
    if (value !== undefined && typeof value !== "string") throw new TypeError(`${key} must be a string`);
  }
  if (error !== undefined && (typeof error !== "string" || error === "")) throw new TypeError("error must be a non-empty string");
  if (ms !== undefined && !(Number.isFinite(ms) && ms >= 0)) throw new TypeError("ms must be a non-negative number");
  return { kind, grant, remaining: times, ...fields };
}

/** The reply for the faults that answer without processing the grant. */
function faultReply(fault) {
  const headers = fault.retryAfter === undefined ? {} : { "Retry-After": String(fault.retryAfter) };
  if (fault.kind === "oauth") {
    const body = { error: fault.error };
    if (fault.description !== undefined) body.error_description = fault.description;
    return jsonReply(fault.status ?? 400, body, headers);
  }
  const status = fault.status ?? 200; // "status" faults always carry one
  const text = fault.body ?? JSON.stringify({ error: defaultErrorCode(status) });
  return { status, headers: { "Content-Type": fault.contentType ?? "application/json", ...headers }, text };
}

/** The OAuth error code a server would most plausibly send with a bare status. */
function defaultErrorCode(status) {
  if (status === 429 || status === 503) return "temporarily_unavailable";
  return status >= 500 ? "server_error" : "invalid_request";
}

function jsonReply(status, body, headers = {}) {
  return { status, headers: { "Content-Type": "application/json", ...headers }, text: JSON.stringify(body) };
}

/** Sends a reply and records its status in the log entry, if there is one. */
function deliver(res, { status, headers, text }, entry) {
  res.writeHead(status, { ...headers, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
  if (entry) entry.status = status;
}

/** Runs `fn` after `ms`, unless the response is closed first (client gone or server closing). */
function later(res, ms, fn) {
  const timer = setTimeout(fn, ms);
  res.once("close", () => clearTimeout(timer));
}

/** Reads the whole body as UTF-8; resolves null when it exceeds MAX_BODY_BYTES. */
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
    req.on("close", () => reject(new Error("request closed before its body was read")));
  });
}

/** Parses a request target (origin or absolute form); null when it is not a URL. */
function parseRequestUrl(target) {
  try {
    return new URL(target.startsWith("/") ? `http://standin${target}` : target);
  } catch {
    return null;
  }
}

function hasSecretInQuery(url) {
  return [...url.searchParams.keys()].some((key) => SECRET_QUERY_PARAMS.has(key.toLowerCase()));
}

function isFormContentType(header) {
  return (header ?? "").split(";")[0].trim().toLowerCase() === "application/x-www-form-urlencoded";
}

function bearerToken(header) {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match ? match[1] : null;
}

/**
 * Client credentials from the form and/or HTTP Basic. Both may be used only
 * if they agree. Basic values are percent-decoded (RFC 6749 §2.3.1) when they
 * are valid percent-encoding, else taken as they are.
 */
function clientCredentials(form, authorization) {
  const fromForm = { clientId: form.get("client_id") ?? undefined, clientSecret: form.get("client_secret") ?? undefined };
  const match = /^Basic\s+(.*)$/i.exec(authorization ?? "");
  if (!match) return { ...fromForm, viaBasic: false };

  const challenge = { "WWW-Authenticate": 'Basic realm="EchoVideo"' };
  const encoded = match[1].trim();
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, "base64").toString("utf8") : "";
  const colon = decoded.indexOf(":");
  if (colon === -1) throw new OAuthError(401, "invalid_client", "malformed Basic credentials", challenge);
  const fromBasic = { clientId: percentDecode(decoded.slice(0, colon)), clientSecret: percentDecode(decoded.slice(colon + 1)) };
  for (const key of ["clientId", "clientSecret"]) {
    if (fromForm[key] !== undefined && fromForm[key] !== fromBasic[key]) {
      throw new OAuthError(400, "invalid_request", "client credentials in the body and in Basic auth disagree");
    }
  }
  return { ...fromBasic, viaBasic: true };
}

function percentDecode(value) {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function signJwt(payload, key) {
  const encode = (part) => Buffer.from(JSON.stringify(part)).toString("base64url");
  const unsigned = `${encode({ alg: "HS256", typ: "JWT" })}.${encode(payload)}`;
  return `${unsigned}.${createHmac("sha256", key).update(unsigned).digest("base64url")}`;
}

// ---- Command line -------------------------------------------------------

async function main(args) {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "8787" },
      host: { type: "string", default: "127.0.0.1" },
      lifetime: { type: "string", default: "3600" },
    },
  });
  const standIn = await startStandIn({
    port: Number(values.port),
    host: values.host,
    lifetimeSeconds: Number(values.lifetime),
  });
  console.log(`EchoVideo stand-in listening on ${standIn.url}`);
  const stop = () => standIn.close();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function isMainModule() {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMainModule()) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`stand-in: ${err.message}`);
    process.exitCode = 1;
  });
}
