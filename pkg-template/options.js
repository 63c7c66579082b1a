// Reads the options object given to `new TokenManager(options)`.
//
// Every option is checked here for its JS type and in the engine (Rust) for
// its meaning; both report `invalid_config` naming the option. Unknown
// option names are refused too, so a typo such as `clientID` fails loudly
// instead of being ignored. The client secret and password go straight to
// the engine and are not kept here.

import { invalidConfig, isPlainObject, read } from "./errors.js";
import { webLocks } from "./lock.js";

/** Every option name the constructor knows. */
export const KNOWN_OPTIONS = [
  "clientId", "clientSecret", "region", "baseUrl", "tokenPath", "grant", "username", "password",
  "storage", "refreshMarginSeconds", "timeoutMs", "maxRetries", "fetch", "onRefresh", "onError",
  "autoRefresh", "lock", "lockTimeoutMs",
];

function typed(options, name, type) {
  const value = read(options, name);
  if (value == null) return undefined;
  if (typeof value !== type) {
    throw invalidConfig(name, `must be a ${type}`);
  }
  return value;
}

/**
 * Reads `options` into the engine's constructor arguments and the JS
 * handles the driver uses.
 */
export function readOptions(options) {
  if (!isPlainObject(options)) throw invalidConfig("options", "must be an object");
  let keys;
  try {
    keys = Reflect.ownKeys(options);
  } catch {
    throw invalidConfig("options", "its option names cannot be read");
  }
  for (const key of keys) {
    // Symbol keys are not options anyone could mean; string keys must be known.
    if (typeof key === "string" && !KNOWN_OPTIONS.includes(key)) {
      throw invalidConfig(key, "is not a known option");
    }
  }
  const string = (name) => typed(options, name, "string");
  const number = (name) => typed(options, name, "number");
  const fn = (name) => typed(options, name, "function");
  const baseUrl = string("baseUrl");
  const url = baseUrl === undefined ? undefined : splitUrl(baseUrl);
  const storage = readStorage(read(options, "storage"));
  const lock = readLock(read(options, "lock"), storage !== undefined);
  return {
    engine: [
      string("clientId"), string("clientSecret"), string("region"),
      url,
      string("tokenPath"), string("grant"), string("username"), string("password"),
      number("refreshMarginSeconds"), number("timeoutMs"), number("maxRetries"),
      lock !== undefined, number("lockTimeoutMs"),
    ],
    fetch: fn("fetch"),
    storage,
    onRefresh: fn("onRefresh"),
    onError: fn("onError"),
    autoRefresh: readAutoRefresh(read(options, "autoRefresh")),
    lock,
  };
}

/** `baseUrl` split by the platform's WHATWG URL parser, in the engine's order. */
function splitUrl(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw invalidConfig("baseUrl", "is not a valid absolute URL");
  }
  return [url.protocol, url.username, url.password, url.hostname, url.port, url.pathname, url.search, url.hash];
}

/** `storage`: absent means in memory; otherwise `{ load, save, clear }` functions. */
function readStorage(value) {
  if (value == null) return undefined;
  const valid = typeof value === "object" && ["load", "save", "clear"].every((name) => typeof read(value, name) === "function");
  if (!valid) throw invalidConfig("storage", "must be an object with load, save and clear functions");
  return value;
}

/**
 * `autoRefresh`: a boolean, by default on except in Cloudflare Workers, where
 * timers outside a request are not allowed and every request may run in a
 * new isolate (there `getAccessToken()` renews lazily).
 */
function readAutoRefresh(value) {
  if (value == null) return read(globalThis.navigator, "userAgent") !== "Cloudflare-Workers";
  if (typeof value !== "boolean") throw invalidConfig("autoRefresh", "must be a boolean");
  return value;
}

/**
 * `lock`: by default on wherever Web Locks exist and a `storage` is shared
 * (with tokens in memory there is nothing to coordinate); `true` or a name
 * insist on it; `false` turns coordination off. Returns `true` for the
 * default name, a string for a chosen one, or undefined for none.
 */
function readLock(value, sharedStorage) {
  const available = webLocks() !== undefined;
  if (value == null) return available && sharedStorage ? true : undefined;
  if (value === false) return undefined;
  if (value !== true && (typeof value !== "string" || value === "")) {
    throw invalidConfig("lock", "must be a boolean or a lock name");
  }
  if (!available) {
    throw invalidConfig("lock", "needs the Web Locks API (navigator.locks), which this runtime does not have");
  }
  return value;
}
