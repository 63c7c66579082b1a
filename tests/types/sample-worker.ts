// Type test in a Cloudflare Workers project (@cloudflare/workers-types, no
// DOM lib): the adapters accept the real KVNamespace and Durable Object
// storage types, and the example Worker's pattern compiles.
import { DurableObject } from "cloudflare:workers";
import { TokenManager, durableObjectStorage, kvStorage } from "echovideo-auth";

interface Env {
  ECHO_CLIENT_ID: string;
  ECHO_CLIENT_SECRET: string;
  TOKENS_KV: KVNamespace;
  ECHO_TOKENS: DurableObjectNamespace<EchoTokens>;
}

export class EchoTokens extends DurableObject<Env> {
  #manager = new TokenManager({
    clientId: this.env.ECHO_CLIENT_ID,
    clientSecret: this.env.ECHO_CLIENT_SECRET,
    autoRefresh: false,
    storage: durableObjectStorage(this.ctx.storage),
  });

  async accessToken(): Promise<string> {
    return this.#manager.getAccessToken();
  }
}

export default {
  async fetch(request, env): Promise<Response> {
    // KV only where a lost refresh token costs a full grant (a secret is configured).
    const cached = new TokenManager({
      clientId: env.ECHO_CLIENT_ID,
      clientSecret: env.ECHO_CLIENT_SECRET,
      storage: kvStorage(env.TOKENS_KV, "tokens"),
    });
    const fromKv = await cached.getAccessToken();
    const stub = env.ECHO_TOKENS.get(env.ECHO_TOKENS.idFromName(env.ECHO_CLIENT_ID));
    const fromObject: string = await stub.accessToken();
    const proxied: Response = await cached.fetch(request.url, { headers: { Accept: "application/json" } });
    return new Response(`${fromKv.length} ${fromObject.length} ${proxied.status}`);
  },
} satisfies ExportedHandler<Env>;
