// The caller's storage callbacks, and the stored token set's JS shape.
//
// `storage: { load, save, clear }` may return values or promises, throw,
// reject, hang or return garbage: each becomes a failure the engine turns
// into a `storage` error (hangs are cut off after the request timeout),
// never a crash. Without the option tokens live in memory only: the engine
// already holds them, so there is nothing to call.
//
// The stored shape is `{ v: 1, accessToken, refreshToken, tokenType,
// expiresAt, obtainedAt, clientId, baseUrl }`, times in ms since the epoch.
// It never holds the client secret or a password.

import { bounded, TIMEOUT } from "./transport.js";
import { describeThrown, isPlainObject, read } from "./errors.js";

/**
 * Calls `storage[name](argument)` with `this` the storage object, within
 * `timeoutMs`. Resolves to `[undefined, value]`, or `[failure]` describing
 * what went wrong.
 */
export async function callStorage(storage, name, argument, timeoutMs) {
  const callback = read(storage, name);
  if (typeof callback !== "function") return ["it is no longer a function"];
  let returned;
  try {
    returned = argument === undefined ? callback.call(storage) : callback.call(storage, argument);
  } catch (thrown) {
    return [`it threw: ${describeThrown(thrown)}`];
  }
  try {
    const value = await bounded(Promise.resolve(returned), timeoutMs);
    return value === TIMEOUT ? [`it did not settle within ${timeoutMs} ms`] : [undefined, value];
  } catch (thrown) {
    return [`it rejected: ${describeThrown(thrown)}`];
  }
}

/** The record `save` receives, from the engine's save step. */
export function toRecord([accessToken, refreshToken, tokenType, expiresAt, obtainedAt, clientId, baseUrl]) {
  return { v: 1, accessToken, refreshToken, tokenType, expiresAt, obtainedAt, clientId, baseUrl };
}

/**
 * Reads what `load` returned into the engine's onLoaded arguments
 * `[present, accessToken, refreshToken, tokenType, expiresAt, obtainedAt,
 * clientId, baseUrl]`; throws the name of the first bad field.
 */
export function fromRecord(value) {
  if (value == null) return [false, "", undefined, "", 0, 0, "", ""];
  if (!isPlainObject(value)) throw "not an object";
  if (read(value, "v") !== 1) throw "v is not 1";
  const text = (key) => {
    const field = read(value, key);
    if (typeof field !== "string" || field === "") throw key;
    return field;
  };
  const time = (key) => {
    const field = read(value, key);
    if (typeof field !== "number" || !Number.isFinite(field)) throw key;
    return field;
  };
  const refresh = read(value, "refreshToken");
  const refreshToken = refresh == null ? undefined : text("refreshToken");
  const accessToken = text("accessToken");
  let tokenType;
  try {
    tokenType = text("tokenType");
  } catch {
    tokenType = "";
  }
  if (tokenType.toLowerCase() !== "bearer") throw "tokenType";
  return [true, accessToken, refreshToken, tokenType, time("expiresAt"), time("obtainedAt"), text("clientId"), text("baseUrl")];
}
