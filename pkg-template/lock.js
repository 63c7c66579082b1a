// The lock shared by every context of an origin (tabs, workers), on the Web
// Locks API (`navigator.locks`).
//
// A renewal holds it from before it re-reads storage until the new set is
// saved, so two tabs never send the same single-use refresh token. The
// browser releases a lock whose holder closes or crashes; a holder that is
// merely frozen keeps it, so waiting is bounded (`lockTimeoutMs`) and ends in
// `lock_timeout` rather than in sending a token without the lock.

import { read } from "./errors.js";

/** `navigator.locks`, or undefined where this runtime has no Web Locks. */
export function webLocks() {
  const locks = read(read(globalThis, "navigator"), "locks");
  return typeof read(locks, "request") === "function" ? locks : undefined;
}

/**
 * Takes the lock `name`, waiting at most `timeoutMs`. Resolves to
 * `[undefined, release]` once held, or `[message]` when it was not granted.
 */
export async function acquireLock(name, timeoutMs) {
  const locks = webLocks();
  if (locks === undefined) {
    return [`the lock "${name}" could not be taken: this runtime has no Web Locks`];
  }
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  let grant;
  const granted = new Promise((resolve) => {
    grant = resolve;
  });
  let options = {};
  try {
    const { AbortSignal } = globalThis;
    if (typeof AbortSignal?.timeout === "function") options = { signal: AbortSignal.timeout(timeoutMs) };
  } catch {
    // No signal: waiting is then bounded by the lock holder alone.
  }
  let requested;
  try {
    requested = Promise.resolve(
      locks.request(name, options, () => {
        grant();
        return held;
      }),
    );
  } catch {
    return [`the lock "${name}" could not be taken: navigator.locks.request threw`];
  }
  // The request settles before the grant only when it is refused (the signal
  // timed out): once granted it settles when the lock is let go, after this race.
  try {
    await Promise.race([granted, requested]);
    return [undefined, release];
  } catch {
    return [`the lock "${name}" was not granted within ${timeoutMs} ms: another context holds it`];
  }
}
