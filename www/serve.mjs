// Serves the demo page and starts the local EchoVideo stand-in it talks to.
//
//   node www/serve.mjs [--port 8080] [--standin-port 8787] [--lifetime 60] [--host 127.0.0.1]
//
// The page is plain HTML, CSS and ES modules with no build step; it imports
// "echovideo-auth" through an import map that points at the installed package
// (scripts/pack.sh installs the freshly built tarball into node_modules), served
// here under /pkg/.
//
// Besides the files, the server answers:
//   /config.json        what the page needs to know: the stand-in's URL and the relay prefix
//   /relay/<region>/... a narrow same-origin relay to a real EchoVideo region (us, uk, au, ca),
//                       for hosts that do not allow cross-origin requests from a page: only
//                       POST /oauth2/access_token and GET /public/api/..., redirects never
//                       followed, no cookies. /relay/standin/... reaches the stand-in the same
//                       way (the browser tests use it to exercise the relay offline).
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startStandIn } from "../tests/standin/server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, "..", "node_modules", "echovideo-auth");
const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
};

/** The real EchoVideo regions (as in the package's `region` option): the relay's only upstreams. */
export const REGION_HOSTS = Object.freeze({
  us: "https://echo360.org",
  uk: "https://echo360.org.uk",
  au: "https://echo360.org.au",
  ca: "https://echo360.ca",
});
const RELAY_PREFIX = "/relay/";
const RELAY_TIMEOUT_MS = 30_000;
const RELAY_MAX_BODY = 64 * 1024;
/** Headers passed on in each direction; everything else (cookies included) stays behind. */
const RELAY_REQUEST_HEADERS = ["content-type", "accept", "authorization"];
const RELAY_RESPONSE_HEADERS = ["content-type", "retry-after", "www-authenticate"];

/** Maps a request path to a file under www/ or the installed package, or null. */
function resolve(pathname) {
  const [base, rest] = pathname.startsWith("/pkg/")
    ? [packageDir, pathname.slice("/pkg/".length)]
    : [here, pathname === "/" ? "index.html" : pathname.slice(1)];
  const path = normalize(join(base, rest));
  return path === base || path.startsWith(base + sep) ? path : null;
}

function sendJson(response, status, body) {
  response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  response.end(JSON.stringify(body));
}

function readBody(request) {
  return new Promise((done, fail) => {
    const chunks = [];
    let size = 0;
    request.on("data", (chunk) => {
      size += chunk.length;
      if (size <= RELAY_MAX_BODY) chunks.push(chunk);
    });
    request.on("end", () => done(size > RELAY_MAX_BODY ? null : Buffer.concat(chunks)));
    request.on("error", fail);
  });
}

/** Passes one token request or API call on to `upstream` and its answer back, as it is. */
async function relay(request, response, upstream, path, search) {
  const isToken = request.method === "POST" && path === "/oauth2/access_token";
  const isApi = request.method === "GET" && path.startsWith("/public/api/");
  if (!isToken && !isApi) {
    sendJson(response, 404, { error: "not_found", error_description: "the relay passes on only POST /oauth2/access_token and GET /public/api/..." });
    return;
  }
  const body = isToken ? await readBody(request) : undefined;
  if (body === null) {
    sendJson(response, 413, { error: "invalid_request", error_description: "request body too large" });
    return;
  }
  const headers = {};
  for (const name of RELAY_REQUEST_HEADERS) {
    if (request.headers[name] !== undefined) headers[name] = request.headers[name];
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("timed out")), RELAY_TIMEOUT_MS);
  // The page gave up (the manager's own timeout aborted its fetch): stop waiting upstream too.
  response.on("close", () => controller.abort(new Error("the page closed the request")));
  try {
    const answer = await fetch(`${upstream}${path}${search}`, {
      method: request.method,
      headers,
      body,
      redirect: "manual", // never carry a secret or a token to wherever a Location points
      signal: controller.signal,
    });
    const bytes = Buffer.from(await answer.arrayBuffer());
    const out = { "cache-control": "no-store", "content-length": bytes.length };
    for (const name of RELAY_RESPONSE_HEADERS) {
      const value = answer.headers.get(name);
      if (value !== null) out[name] = value;
    }
    response.writeHead(answer.status, out);
    response.end(bytes);
  } catch (error) {
    if (response.destroyed || response.headersSent) return;
    const timedOut = controller.signal.aborted;
    sendJson(response, timedOut ? 504 : 502, {
      error: "temporarily_unavailable",
      error_description: `the demo relay could not reach ${new URL(upstream).host}: ${error.cause?.code ?? error.message}`,
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts the stand-in and the page server.
 *
 * @param {object} [options]
 * @param {string} [options.host="127.0.0.1"]
 * @param {number} [options.port=0] the page server's port (0 picks a free one)
 * @param {number} [options.standinPort=0] the stand-in's port (0 picks a free one)
 * @param {number} [options.lifetimeSeconds=60] the stand-in's access-token lifetime
 * @param {boolean} [options.fallbackToFreePort=false] when a port is taken, use a free one instead of failing
 * @returns {Promise<{ url: string, standin: object, close(): Promise<void> }>}
 */
export async function startDemo({
  host = "127.0.0.1",
  port = 0,
  standinPort = 0,
  lifetimeSeconds = 60,
  fallbackToFreePort = false,
} = {}) {
  const standin = await retryOnFreePort(fallbackToFreePort, standinPort, (p) => startStandIn({ host, port: p, lifetimeSeconds }));
  const server = createServer(async (request, response) => {
    const url = new URL(request.url, "http://demo");
    const { pathname } = url;
    if (pathname === "/config.json") {
      sendJson(response, 200, { standinUrl: standin.url, relayPrefix: RELAY_PREFIX, regions: REGION_HOSTS });
      return;
    }
    if (pathname.startsWith(RELAY_PREFIX)) {
      const [key, ...rest] = pathname.slice(RELAY_PREFIX.length).split("/");
      const upstream = key === "standin" ? standin.url : Object.hasOwn(REGION_HOSTS, key) ? REGION_HOSTS[key] : null;
      if (!upstream) {
        sendJson(response, 404, { error: "not_found", error_description: `no relay for ${key}` });
        return;
      }
      await relay(request, response, upstream, `/${rest.join("/")}`, url.search);
      return;
    }
    let path = null;
    try {
      path = resolve(decodeURIComponent(pathname));
    } catch {
      // a malformed escape: not found
    }
    try {
      if (!path || request.method !== "GET") throw new Error("not served");
      const body = await readFile(path);
      response.writeHead(200, {
        "content-type": types[extname(path)] ?? "application/octet-stream",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      });
      response.end(body);
    } catch {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("not found\n");
    }
  });
  try {
    await retryOnFreePort(fallbackToFreePort, port, (p) => listen(server, p, host));
  } catch (error) {
    await standin.close();
    throw error;
  }
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${server.address().port}/`;
  return {
    url,
    standin,
    async close() {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
      await standin.close();
    },
  };
}

function listen(server, port, host) {
  return new Promise((ready, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      ready();
    });
  });
}

async function retryOnFreePort(enabled, port, start) {
  try {
    return await start(port);
  } catch (error) {
    if (!enabled || error.code !== "EADDRINUSE" || port === 0) throw error;
    console.warn(`Port ${port} is in use; using a free port instead.`);
    return start(0);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8080" },
      "standin-port": { type: "string", default: "8787" },
      lifetime: { type: "string", default: "60" },
      host: { type: "string", default: "127.0.0.1" },
    },
  });
  if (!existsSync(join(packageDir, "browser.js"))) {
    console.error("The echovideo-auth package is not installed in node_modules: run `npm run demo` (it builds and installs it first).");
    process.exit(1);
  }
  const demo = await startDemo({
    host: values.host,
    port: Number(values.port),
    standinPort: Number(values["standin-port"]),
    lifetimeSeconds: Number(values.lifetime),
    fallbackToFreePort: true,
  });
  console.log(`
echovideo-auth demo

  Demo page:           ${demo.url}
  EchoVideo stand-in:  ${demo.standin.url}  (token lifetime ${values.lifetime} s, client demo-client / demo-secret)

Open the page and press "Get token". Press Ctrl-C to stop.
`);
  const stop = async () => {
    await demo.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
