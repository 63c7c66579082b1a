// A small static file server for the browser tests: maps URL prefixes to
// folders, with the MIME types that matter (application/wasm for streaming
// compilation, text/javascript for modules). Loopback only.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
};

/**
 * Serves `mounts`, { "/prefix/": "/abs/folder" }, longest prefix first;
 * a path ending in "/" serves index.html. Resolves to { url, close() }.
 */
export async function serveStatic(mounts, { host = "127.0.0.1" } = {}) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server = createServer(async (request, response) => {
    const { pathname } = new URL(request.url, "http://static");
    const prefix = prefixes.find((candidate) => pathname.startsWith(candidate));
    let path = null;
    if (prefix !== undefined) {
      const base = normalize(mounts[prefix]);
      let rest = decodeURIComponent(pathname.slice(prefix.length));
      if (rest === "" || rest.endsWith("/")) rest += "index.html";
      const candidate = normalize(join(base, rest));
      if (candidate === base || candidate.startsWith(base.endsWith(sep) ? base : base + sep)) path = candidate;
    }
    try {
      if (path === null) throw new Error("not served");
      const body = await readFile(path);
      response.writeHead(200, {
        "Content-Type": TYPES[extname(path)] ?? "application/octet-stream",
        "Cache-Control": "no-store",
      });
      response.end(body);
    } catch {
      response.writeHead(404, { "Content-Type": "text/plain" });
      response.end("not found\n");
    }
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  return {
    url: `http://${host}:${server.address().port}`,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
