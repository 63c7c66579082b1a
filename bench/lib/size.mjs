// Size: the files of our package entries, and a one-line import of ours and of
// each anchor package bundled and minified by esbuild for the browser.
// Every figure is raw, gzip -9 and brotli (quality 11), in bytes.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import * as esbuild from "esbuild";
import { benchDir } from "./common.mjs";

/** raw, gzip -9 and brotli q11 sizes of `bytes`. */
export function sizes(bytes) {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return {
    raw: buffer.length,
    gzip: gzipSync(buffer, { level: 9 }).length,
    brotli: brotliCompressSync(buffer, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: buffer.length,
      },
    }).length,
  };
}

/**
 * Every file an entry loads: the entry, the relative modules it imports
 * (statically, dynamically or re-exported), recursively, and the files it
 * loads with `new URL("./…", import.meta.url)` (the .wasm). Paths relative to `dir`.
 */
export function entryClosure(dir, entry) {
  const patterns = [
    /\b(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /\bnew\s+URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/g,
  ];
  const seen = new Set();
  const queue = [normalize(entry)];
  while (queue.length) {
    const name = queue.shift();
    if (seen.has(name) || !existsSync(join(dir, name))) continue;
    seen.add(name);
    if (!/\.m?js$/.test(name)) continue;
    const text = readFileSync(join(dir, name), "utf8");
    for (const pattern of patterns) {
      for (const [, specifier] of text.matchAll(pattern)) {
        if (!specifier.startsWith("./") && !specifier.startsWith("../")) continue;
        queue.push(relative(dir, join(dir, dirname(name), specifier)));
      }
    }
  }
  return [...seen];
}

function add(...parts) {
  return parts.reduce((sum, s) => ({ raw: sum.raw + s.raw, gzip: sum.gzip + s.gzip, brotli: sum.brotli + s.brotli }),
    { raw: 0, gzip: 0, brotli: 0 });
}

/** The one-line imports, each keeping what it imports alive through an export. */
export const ANCHORS = [
  {
    name: "@badgateway/oauth2-client",
    what: "OAuth2Fetch + OAuth2Client",
    source: 'export { OAuth2Fetch, OAuth2Client } from "@badgateway/oauth2-client";',
  },
  {
    name: "@auth0/auth0-spa-js",
    what: "Auth0Client",
    source: 'export { Auth0Client } from "@auth0/auth0-spa-js";',
  },
  {
    name: "oauth4webapi",
    what: "import * as oauth (whole API)",
    source: 'import * as oauth from "oauth4webapi"; export { oauth };',
  },
  {
    name: "oauth4webapi",
    what: "client_credentials subset",
    source: 'export { clientCredentialsGrantRequest, processClientCredentialsResponse, ClientSecretPost } from "oauth4webapi";',
  },
];

/** esbuild bundle + minify of `source` for the browser; JS bytes and any other output. */
async function bundle(source) {
  const result = await esbuild.build({
    stdin: { contents: source, resolveDir: benchDir, sourcefile: "entry.mjs", loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    outdir: "/virtual-out",
    logLevel: "silent",
    legalComments: "none",
  });
  const js = result.outputFiles.filter((file) => file.path.endsWith(".js"));
  const other = result.outputFiles.filter((file) => !file.path.endsWith(".js"));
  return {
    js: Buffer.concat(js.map((file) => Buffer.from(file.contents))),
    assets: other.map((file) => ({ path: file.path, bytes: file.contents.length })),
  };
}

/**
 * @param {{dir: string, exports: object}} pkg the package under test
 */
export async function measureSize(pkg) {
  const file = (name) => {
    const path = join(pkg.dir, name);
    return existsSync(path) ? { name, ...sizes(readFileSync(path)) } : null;
  };
  const wasm = file("echovideo_auth_bg.wasm");
  const glue = file("echovideo_auth.js");
  const entryFiles = { browser: "browser.js", node: "node.js" };
  // A workerd entry, where the package has one (exports condition "workerd" or "worker").
  const conditions = pkg.exports?.["."] ?? {};
  const workerdEntry = conditions.workerd ?? conditions.worker;
  if (typeof workerdEntry === "string") entryFiles.workerd = workerdEntry.replace(/^\.\//, "");

  const measured = new Map();
  const measure = (name) => {
    if (!measured.has(name)) measured.set(name, file(name));
    return measured.get(name);
  };
  measure(wasm.name);
  measure(glue.name);
  const entries = {};
  for (const [entry, name] of Object.entries(entryFiles)) {
    if (!existsSync(join(pkg.dir, name))) continue;
    const loaded = entryClosure(pkg.dir, name);
    const js = loaded.filter((n) => /\.m?js$/.test(n)).map(measure);
    const binaries = loaded.filter((n) => n.endsWith(".wasm")).map(measure);
    entries[entry] = {
      files: loaded,
      js: add(...js),
      wasm: add(...binaries),
      total: add(...js, ...binaries),
    };
  }
  const files = [...measured.values()].filter(Boolean);

  const ours = await bundle('export { TokenManager } from "echovideo-auth";');
  const oursJs = sizes(ours.js);
  const bundled = [{
    name: "echovideo-auth",
    what: "TokenManager (JS; the .wasm stays a separate asset)",
    js: oursJs,
    wasm: { raw: wasm.raw, gzip: wasm.gzip, brotli: wasm.brotli },
    total: add(oursJs, wasm),
    assets: ours.assets,
  }];
  for (const anchor of ANCHORS) {
    const built = await bundle(anchor.source);
    const js = sizes(built.js);
    bundled.push({ name: anchor.name, what: anchor.what, js, wasm: null, total: js, assets: built.assets });
  }
  return { files: files.filter(Boolean), entries, bundled };
}
