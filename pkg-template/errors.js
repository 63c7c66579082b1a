// The one place where errors cross between the wasm and JS.
//
// Outward: the engine reports an error as [code, message, status,
// description, retryAfterMs, retryable]; tokenError() makes the `TokenError`
// callers see. Inward: whatever a callback throws (an Error, a string,
// undefined, a Proxy) becomes a short description, never a crash; and
// what callers hand in (options, stored records, imported tokens) is read
// with read() and isPlainObject(), which never throw.

/** A TokenError from the engine's error parts. */
export function tokenError([code, message, status, description, retryAfterMs, retryable]) {
  const error = new Error(message);
  error.name = "TokenError";
  error.code = code;
  error.status = status;
  error.retryable = retryable;
  error.description = description;
  if (retryAfterMs !== undefined) error.retryAfterMs = retryAfterMs;
  return error;
}

/** A TokenError made on the JS side (a bad argument, a disposed manager). */
export function refusal(code, message) {
  return tokenError([code, message, undefined, undefined, undefined, false]);
}

/** `invalid_config`, naming the option. */
export function invalidConfig(option, reason) {
  return refusal("invalid_config", `invalid option \`${option}\`: ${reason}`);
}

/** Whether `value` is a non-null object that is not an array. */
export function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A property read that may throw (a getter, a Proxy): undefined instead. */
export function read(target, key) {
  try {
    return target == null ? undefined : target[key];
  } catch {
    return undefined;
  }
}

/**
 * A short description of a thrown value: an Error's message (with the system
 * code Node puts in `cause.code`, e.g. ECONNREFUSED), a string as it is, or
 * the value's type.
 */
export function describeThrown(thrown) {
  if (typeof thrown === "string") return thrown;
  try {
    if (thrown instanceof Error) {
      const code = thrownCode(thrown);
      return code === undefined ? String(thrown.message) : `${thrown.message} (${code})`;
    }
  } catch {
    return "an unreadable error was thrown";
  }
  return `a non-Error value of type ${typeof thrown} was thrown`;
}

/** The system error code behind a failed fetch, if any. */
export function thrownCode(thrown) {
  const code = read(read(thrown, "cause"), "code") ?? read(thrown, "code");
  return typeof code === "string" ? code : undefined;
}
