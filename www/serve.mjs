// Serves the demo page and starts the local EchoVideo stand-in it talks to.
//
//   node www/serve.mjs [--port 8080] [--standin-port 8787] [--lifetime 60]
//
// The page is plain HTML and a module script; it imports "echovideo-auth"
// through an import map that points at the installed package (scripts/pack.sh
// installs the freshly built tarball into node_modules).
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize } from "node:path";
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
  ".wasm": "application/wasm",
  ".json": "application/json",
};

/** Maps a request path to a file under www/ or the installed package, or null. */
function resolve(pathname) {
  const [base, rest] = pathname.startsWith("/pkg/")
    ? [packageDir, pathname.slice("/pkg/".length)]
    : [here, pathname === "/" ? "index.html" : pathname.slice(1)];
  const path = normalize(join(base, rest));
  return path.startsWith(base) ? path : null;
}

export async function startDemo({ host = "127.0.0.1", port = 0, standinPort = 0, lifetimeSeconds = 60 } = {}) {
  const standin = await startStandIn({ host, port: standinPort, lifetimeSeconds });
  const server = createServer(async (request, response) => {
    const { pathname } = new URL(request.url, "http://demo");
    if (pathname === "/config.json") {
      response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      response.end(JSON.stringify({ standinUrl: standin.url }));
      return;
    }
    const path = resolve(decodeURIComponent(pathname));
    try {
      if (!path) throw new Error("outside the served folders");
      const body = await readFile(path);
      response.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream", "cache-control": "no-store" });
      response.end(body);
    } catch {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("not found\n");
    }
  });
  await new Promise((ready) => server.listen(port, host, ready));
  const url = `http://${host}:${server.address().port}/`;
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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8080" },
      "standin-port": { type: "string", default: "8787" },
      lifetime: { type: "string", default: "60" },
      host: { type: "string", default: "127.0.0.1" },
    },
  });
  const demo = await startDemo({
    host: values.host,
    port: Number(values.port),
    standinPort: Number(values["standin-port"]),
    lifetimeSeconds: Number(values.lifetime),
  });
  console.log(`EchoVideo stand-in: ${demo.standin.url}`);
  console.log(`Demo page:          ${demo.url}`);
  const stop = async () => {
    await demo.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
