// The stand-in's test controls (tests/standin/server.mjs, under /__standin/)
// over plain fetch, so the shared suite drives the stand-in the same way from
// Node, a browser page and workerd. Runtime-agnostic: no Node imports.

/** Control calls for the stand-in at `standinUrl`. */
export function standinControl(standinUrl, fetchFn = globalThis.fetch) {
  async function call(method, action, body) {
    const init = { method };
    if (body !== undefined) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(body);
    }
    const response = await fetchFn(`${standinUrl}/__standin/${action}`, init);
    const text = await response.text();
    if (!response.ok) throw new Error(`stand-in control ${method} ${action}: ${response.status} ${text}`);
    return JSON.parse(text);
  }
  return {
    /** The counters: requests, grants, attempts, reuse, apiCalls, faultsServed, … */
    counts: () => call("GET", "counts"),
    /** Every token-endpoint request so far. */
    log: () => call("GET", "log"),
    /** The newest refresh token issued to each client: { [clientId]: token }. */
    refreshTokens: () => call("GET", "refresh-tokens"),
    /** Forgets every token, counter, fault and log entry. */
    reset: () => call("POST", "reset", {}),
    /** Queues a fault for the next matching token request(s). */
    fault: (spec) => call("POST", "fault", spec),
    clearFaults: () => call("POST", "clear-faults", {}),
    /** Changes lifetimeSeconds, passwordGrant and/or rateLimitPerMinute. */
    configure: (settings) => call("POST", "configure", settings),
    /** Makes every access token issued so far fail on the API. */
    revoke: () => call("POST", "revoke", {}),
  };
}
