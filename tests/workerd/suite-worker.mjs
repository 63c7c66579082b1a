// The shared suite (tests/suite/cases.mjs) inside workerd, in two places:
//   GET /worker          in the Worker's fetch handler, with a real KV namespace;
//   GET /durable-object  inside a Durable Object, with its real transactional
//                        storage for the durableObjectStorage adapter.
// Each answers the results as JSON. Module scope only defines things: workerd
// allows no I/O or timers there, so the suite runs inside the request.
import { DurableObject } from "cloudflare:workers";
import * as pkg from "echovideo-auth";
import { createSuite, runSuite } from "../suite/cases.mjs";
import { standinControl } from "../suite/control.mjs";

async function run(env, backends) {
  const standinUrl = env.STANDIN_URL;
  const suite = createSuite({ pkg, standinUrl, control: standinControl(standinUrl), backends });
  return Response.json(await runSuite(suite));
}

export class SuiteObject extends DurableObject {
  async fetch() {
    return run(this.env, { kv: this.env.KV, doStorage: this.ctx.storage });
  }
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/worker") return run(env, { kv: env.KV });
    if (pathname === "/durable-object") return env.SUITE.get(env.SUITE.idFromName("suite")).fetch(request);
    return new Response("not found", { status: 404 });
  },
};
