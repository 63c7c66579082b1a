// Sends the engine's token request with `fetch` and reads the answer into
// the values the engine's onAnswer takes; and the plumbing of `tm.fetch`.
//
// `fetch` is the caller's (the `fetch` option) or `globalThis.fetch` looked
// up at call time, called with `this` undefined so a page, a worker, Node and
// workerd all accept it. The whole exchange, answer and body, is bounded by
// the timeout with a race (an injected fetch may ignore the abort signal) and
// aborted when it fires. Redirects are never followed: they would re-send the
// secret or refresh token to wherever the Location points.

import { describeThrown, isPlainObject, read, thrownCode } from "./errors.js";

/** System error codes that mean the request never left this machine. */
const NOT_SENT_CODES = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "ERR_INVALID_URL"];

/** How a token request ended, in the engine's terms (see Engine.onAnswer). */
export const ANSWERED = 0;
export const NOT_SENT = 1;
export const LOST = 2;
export const TIMED_OUT = 3;

/** What bounded() settles with when the time is up. */
export const TIMEOUT = Symbol("timeout");

/**
 * Settles like `promise`, or with TIMEOUT after `ms`. Without timers (a
 * runtime that refuses them) it waits unbounded rather than failing.
 */
export function bounded(promise, ms) {
  let timer;
  const deadline = new Promise((resolve) => {
    try {
      timer = setTimeout(resolve, ms, TIMEOUT);
    } catch {
      // No timer: no deadline.
    }
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The fetch to use: the caller's, or the global one looked up now. */
export function resolveFetch(fetch) {
  const found = fetch ?? globalThis.fetch;
  if (typeof found !== "function") throw new TypeError("no global fetch in this runtime");
  return found;
}

/**
 * Sends `[url, body, method, ...headers]` within `timeoutMs`. Resolves to
 * `[failure, detail, status, retryAfter, bodyKind, fields]` for onAnswer.
 */
export async function sendTokenRequest(fetch, [url, body, method, ...headerPairs], timeoutMs) {
  let send;
  try {
    send = resolveFetch(fetch);
  } catch (error) {
    return [NOT_SENT, error.message];
  }
  const headers = {};
  for (let i = 0; i < headerPairs.length; i += 2) headers[headerPairs[i]] = headerPairs[i + 1];
  const controller = typeof AbortController === "function" ? new AbortController() : undefined;
  const init = { method, headers, body, redirect: "manual", signal: controller?.signal };
  const deadline = Date.now() + timeoutMs;
  let started;
  try {
    started = send.call(undefined, url, init);
  } catch (thrown) {
    return [NOT_SENT, describeThrown(thrown)];
  }
  let response;
  try {
    response = await bounded(started, timeoutMs);
  } catch (thrown) {
    return classify(thrown);
  }
  if (response === TIMEOUT) {
    controller?.abort();
    return [TIMED_OUT, ""];
  }
  let status = read(response, "status");
  status = typeof status === "number" && status >= 100 && status <= 999 ? Math.trunc(status) : 0;
  const retryAfter = header(response, "retry-after");
  if (typeof read(response, "text") !== "function") return [LOST, "the response has no text() method"];
  let text;
  try {
    text = await bounded(response.text(), Math.max(deadline - Date.now(), 1));
  } catch (thrown) {
    return [LOST, describeThrown(thrown)];
  }
  if (text === TIMEOUT) {
    controller?.abort();
    return [TIMED_OUT, ""];
  }
  return [ANSWERED, "", status, retryAfter, ...parseBody(text)];
}

/**
 * Whether a rejected fetch surely never reached the server: Node names the
 * system error; a browser says nothing, except that it is offline.
 */
function classify(thrown) {
  const detail = describeThrown(thrown);
  if (read(globalThis.navigator, "onLine") === false) return [NOT_SENT, `${detail} (offline)`];
  return NOT_SENT_CODES.includes(thrownCode(thrown)) ? [NOT_SENT, detail] : [LOST, detail];
}

function header(response, name) {
  try {
    const value = response.headers.get(name);
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

const FIELDS = ["token_type", "access_token", "refresh_token", "expires_in", "error", "error_description"];

/** `[bodyKind, fields]`: 0 a JSON object, 1 JSON but no object, 2 not JSON. */
function parseBody(text) {
  if (typeof text !== "string") return [2, []];
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [2, []];
  }
  if (!isPlainObject(parsed)) return [1, []];
  return [0, FIELDS.map((name) => parsed[name])];
}

/**
 * `new Request(input, init)` for `tm.fetch`, and a copy to send again after a
 * 401 (undefined when the body cannot be replayed). Throws what the Request
 * constructor throws, as fetch would reject with it.
 */
export function apiRequest(input, init) {
  if (typeof globalThis.Request !== "function") throw new TypeError("this runtime has no Request constructor");
  const request = new Request(input, init);
  let spare;
  try {
    spare = request.clone();
  } catch {
    spare = undefined;
  }
  return [request, spare];
}

/** The status of an API response (0 if it has none). */
export function responseStatus(response) {
  const status = read(response, "status");
  return typeof status === "number" && status >= 0 && status <= 999 ? Math.trunc(status) : 0;
}

/** Sends `request` with `Authorization: Bearer <token>`. */
export function sendWithToken(fetch, request, token) {
  request.headers.set("Authorization", `Bearer ${token}`);
  return fetch.call(undefined, request);
}

/** Releases the body of a response that will not be read. */
export function discardBody(response) {
  try {
    response.body?.cancel().catch(() => {});
  } catch {
    // Nothing to release.
  }
}
