// Cold start in workerd through Miniflare: every run is a fresh Miniflare
// instance, that is a fresh workerd process that loads the worker's modules
// (for us: compiles the .wasm and instantiates it), then one request that
// constructs a client and gets the first token from the stand-in on 127.0.0.1.
//
// Worker variants:
// - ours:        the package's workerd entry when its package.json has one
//                (exports condition "workerd" or "worker"); otherwise the
//                wasm-bindgen glue with `initSync({ module })` from the .wasm
//                imported as a CompiledWasm module, which is how a Worker
//                loads wasm.
// - oauth2fetch: @badgateway/oauth2-client bundled into the worker by esbuild.
// - baseline:    a worker that fetches a token by hand (workerd's own cost).

import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";
import { CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, benchDir, outDir, summary } from "./common.mjs";

const HANDLER = `
export default {
  async fetch(request) {
    const url = new URL(request.url).searchParams.get("standin");
    const started = performance.now(); // advances only across I/O in workerd
    const token = await firstToken(url);
    return Response.json({ ok: typeof token === "string" && token.length > 20, ms: performance.now() - started });
  },
};
`;

const CREDENTIALS = `const CLIENT_ID = ${JSON.stringify(CLIENT_ID)}, CLIENT_SECRET = ${JSON.stringify(CLIENT_SECRET)}, TOKEN_PATH = ${JSON.stringify(TOKEN_PATH)};`;

/** Writes the worker of `variant` under bench/out/workerd/ and returns its directory and how it loads us. */
async function prepare(variant, pkg) {
  const dir = join(outDir, "workerd", variant);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let loading = null;
  if (variant === "ours") {
    mkdirSync(join(dir, "pkg"));
    for (const name of readdirSync(pkg.dir)) {
      if (/\.(m?js|wasm)$/.test(name)) cpSync(join(pkg.dir, name), join(dir, "pkg", name));
    }
    const conditions = pkg.exports?.["."] ?? {};
    const entry = conditions.workerd ?? conditions.worker;
    let imports;
    if (typeof entry === "string") {
      loading = `package entry ${entry}`;
      imports = `import { TokenManager } from ${JSON.stringify(`./pkg/${entry.replace(/^\.\//, "")}`)};`;
    } else {
      loading = "glue + initSync({ module }) (the package has no workerd entry yet)";
      imports = [
        'import { initSync, TokenManager } from "./pkg/echovideo_auth.js";',
        'import wasmModule from "./pkg/echovideo_auth_bg.wasm";',
        "initSync({ module: wasmModule });",
      ].join("\n");
    }
    writeFileSync(join(dir, "worker.mjs"), `${imports}
${CREDENTIALS}
async function firstToken(url) {
  const tm = new TokenManager({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: url });
  return tm.getAccessToken();
}
${HANDLER}`);
  } else if (variant === "oauth2fetch") {
    await esbuild.build({
      stdin: {
        resolveDir: benchDir,
        sourcefile: "worker.mjs",
        loader: "js",
        contents: `import { OAuth2Client, OAuth2Fetch } from "@badgateway/oauth2-client";
${CREDENTIALS}
async function firstToken(url) {
  const client = new OAuth2Client({ server: url, tokenEndpoint: TOKEN_PATH, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  const of = new OAuth2Fetch({ client, getNewToken: () => client.clientCredentials(), scheduleRefresh: false });
  return (await of.getToken()).accessToken;
}
${HANDLER}`,
      },
      bundle: true,
      minify: true,
      format: "esm",
      platform: "browser",
      conditions: ["workerd", "worker", "browser"],
      target: "es2022",
      outfile: join(dir, "worker.mjs"),
      logLevel: "silent",
    });
  } else {
    writeFileSync(join(dir, "worker.mjs"), `${CREDENTIALS}
async function firstToken(url) {
  const response = await fetch(url + TOKEN_PATH, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
  });
  return (await response.json()).access_token;
}
${HANDLER}`);
  }
  return { dir, loading };
}

async function once(dir, standInUrl) {
  const t0 = performance.now();
  const mf = new Miniflare({
    modules: true,
    modulesRoot: dir,
    scriptPath: join(dir, "worker.mjs"),
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-09-01",
  });
  try {
    await mf.ready;
    const t1 = performance.now();
    const response = await mf.dispatchFetch(`http://bench.local/?standin=${encodeURIComponent(standInUrl)}`);
    const body = await response.json();
    const t2 = performance.now();
    if (!body.ok) throw new Error(`the worker got no token: ${JSON.stringify(body)}`);
    return { startup: t1 - t0, firstRequest: t2 - t1, total: t2 - t0, inWorker: body.ms };
  } finally {
    await mf.dispose();
  }
}

/**
 * Runs `runs` cold starts of each variant, interleaved, after one warm-up
 * each (not counted: the first workerd launch also pays for the page cache).
 */
export async function measureWorkerd(pkg, standIn, runs) {
  const variants = ["baseline", "ours", "oauth2fetch"];
  const prepared = {};
  for (const variant of variants) prepared[variant] = await prepare(variant, pkg);
  const samples = Object.fromEntries(variants.map((v) => [v, []]));
  for (const variant of variants) await once(prepared[variant].dir, standIn.url);
  for (let run = 0; run < runs; run++) {
    for (const variant of variants) samples[variant].push(await once(prepared[variant].dir, standIn.url));
  }
  const result = {};
  for (const variant of variants) {
    const list = samples[variant];
    result[variant] = {
      loading: prepared[variant].loading,
      startup: summary(list.map((s) => s.startup)),
      firstRequest: summary(list.map((s) => s.firstRequest)),
      total: summary(list.map((s) => s.total)),
    };
  }
  return result;
}
