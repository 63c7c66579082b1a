// An example Cloudflare Worker: a read-only proxy to the EchoVideo public API
// that adds a valid access token to every call.
//
//   GET /api/<path>?<query>  ->  GET <EchoVideo>/public/api/v1/<path>?<query>
//                               with Authorization: Bearer <access token>
//
// The client secret stays in an environment binding (a Wrangler secret). One
// Durable Object per client id, EchoTokens, owns the TokenManager: a Durable
// Object is a single instance worldwide with strongly consistent storage, so
// every rotated refresh token is saved (durableObjectStorage) before it is
// used and no other isolate can spend it. Worker isolates only ask it for a
// token over RPC; they keep no manager of their own (a manager's promises
// cannot be shared across Worker requests).
//
// Callers must present `Authorization: Bearer <PROXY_KEY>`: without that
// check anyone who can reach the Worker could use your EchoVideo credentials.
import { DurableObject } from "cloudflare:workers";
import { TokenManager, durableObjectStorage } from "echovideo-auth";

export class EchoTokens extends DurableObject {
  #tokenManager = null;

  /** The manager, made on first use so a configuration error reaches the caller. */
  #manager() {
    this.#tokenManager ??= new TokenManager({
      clientId: this.env.ECHO_CLIENT_ID,
      clientSecret: this.env.ECHO_CLIENT_SECRET,
      ...(this.env.ECHO_BASE_URL ? { baseUrl: this.env.ECHO_BASE_URL } : { region: this.env.ECHO_REGION ?? "us" }),
      storage: durableObjectStorage(this.ctx.storage),
    });
    return this.#tokenManager;
  }

  /** `{ token }`: a valid access token (no request while the held one has time left), or `{ error }`. */
  async accessToken() {
    return settle(() => this.#manager().getAccessToken());
  }

  /**
   * `{ token }` to retry with after the API refused `stale`: a new one if
   * `stale` is still the current token, else the current one (another
   * request already refreshed it), so a burst of 401s costs one refresh.
   */
  async tokenReplacing(stale) {
    return settle(async () => {
      const manager = this.#manager();
      const current = await manager.getAccessToken();
      return current === stale ? manager.refresh() : current;
    });
  }
}

/**
 * Runs `get` and answers plain data, which crosses RPC intact (an Error's
 * own properties such as `code` would not).
 */
async function settle(get) {
  try {
    return { token: await get() };
  } catch (error) {
    return {
      error: {
        code: typeof error?.code === "string" ? error.code : "internal_error",
        message: String(error?.message ?? error),
        retryAfterMs: error?.retryAfterMs,
      },
    };
  }
}

/** The EchoVideo API origin the manager talks to. */
function apiBase(env) {
  if (env.ECHO_BASE_URL) return env.ECHO_BASE_URL.replace(/\/+$/, "");
  const regions = { us: "https://echo360.org", uk: "https://echo360.org.uk", au: "https://echo360.org.au", ca: "https://echo360.ca" };
  return regions[env.ECHO_REGION ?? "us"];
}

function json(status, body) {
  return Response.json(body, { status, headers: { "Cache-Control": "no-store" } });
}

/** Compares two strings in time independent of where they differ. */
function sameSecret(a, b) {
  const left = new TextEncoder().encode(a);
  const right = new TextEncoder().encode(b);
  if (left.length !== right.length) return false;
  let difference = 0;
  for (let i = 0; i < left.length; i += 1) difference |= left[i] ^ right[i];
  return difference === 0;
}

/** The answer when no token could be had (a TokenError's message never holds a secret or token). */
function tokenFailure({ code, message, retryAfterMs }) {
  if (code === "rate_limited") {
    const headers = retryAfterMs ? { "Retry-After": String(Math.ceil(retryAfterMs / 1000)) } : {};
    return Response.json({ error: code, error_description: message }, { status: 429, headers });
  }
  return json(502, { error: code, error_description: message });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/api/")) return json(404, { error: "not_found" });
    if (!env.PROXY_KEY) return json(500, { error: "misconfigured", error_description: "PROXY_KEY is not set" });
    const presented = /^Bearer (.+)$/.exec(request.headers.get("Authorization") ?? "")?.[1] ?? "";
    if (!sameSecret(presented, env.PROXY_KEY)) return json(401, { error: "unauthorized" });
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response(null, { status: 405, headers: { Allow: "GET, HEAD" } });
    }

    const path = url.pathname.slice("/api/".length);
    // Only paths below /public/api/v1/: no encoded slashes or dot segments.
    if (/%2f|%5c|\\|(^|\/)\.{1,2}(\/|$)/i.test(path)) return json(400, { error: "invalid_path" });
    const target = `${apiBase(env)}/public/api/v1/${path}${url.search}`;
    const tokens = env.ECHO_TOKENS.get(env.ECHO_TOKENS.idFromName(env.ECHO_CLIENT_ID));
    const call = (token) =>
      fetch(target, {
        method: request.method,
        headers: { Authorization: `Bearer ${token}`, Accept: request.headers.get("Accept") ?? "application/json" },
      });
    let { token, error } = await tokens.accessToken();
    if (error) return tokenFailure(error);
    let response = await call(token);
    if (response.status === 401) {
      // Revoked or expired early: one retry with a replaced token.
      await response.body?.cancel();
      ({ token, error } = await tokens.tokenReplacing(token));
      if (error) return tokenFailure(error);
      response = await call(token);
    }
    return new Response(response.body, {
      status: response.status,
      headers: {
        "Content-Type": response.headers.get("Content-Type") ?? "application/json",
        "Cache-Control": "no-store",
      },
    });
  },
};
