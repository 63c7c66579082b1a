// The package through the bundlers users have: Vite (build and dev server),
// webpack 5 and esbuild each build tests/bundlers/app (a plain
// `import ... from "echovideo-auth"` and the shared suite) with the settings
// the README gives, and the output runs the whole shared suite in headless
// Chromium against the stand-in. Vite and webpack ship the .wasm as an asset
// because they understand `new URL("./…wasm", import.meta.url)`; esbuild
// leaves that expression alone, so the README has it copy the .wasm next to
// the bundle (its `copy` loader). esbuild's Node build runs in Node.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { build as esbuild } from "esbuild";
import { build as viteBuild, createServer as createViteServer } from "vite";
import webpack from "webpack";

import { launchChromium } from "../browser/chromium.mjs";
import { startStandIn } from "../standin/server.mjs";
import { reportCases, runSuitePage } from "../suite/browser-runner.mjs";
import { serveStatic } from "../suite/static.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const appDir = `${root}/tests/bundlers/app`;
const outRoot = `${root}/tests/out/bundlers`;
const wasmInPackage = `${root}/node_modules/echovideo-auth/echovideo_auth_bg.wasm`;

let standIn;
let browser;
const closers = [];

before(async () => {
  rmSync(outRoot, { recursive: true, force: true });
  standIn = await startStandIn();
  browser = await launchChromium();
});

after(async () => {
  for (const close of closers.reverse()) await close();
  await browser?.close();
  await standIn?.close();
});

/** Serves `dir` and runs the suite page at `page` in Chromium; reports every case. */
async function runBuiltApp(t, dir, label, page = "index.html") {
  const site = await serveStatic({ "/": dir });
  closers.push(() => site.close());
  const { results, problems, wasm } = await runSuitePage(
    browser,
    `${site.url}/${page}?standin=${encodeURIComponent(standIn.url)}`,
  );
  await reportCases(t, results, label);
  assert.equal(wasm.length, 1, `one .wasm request: ${wasm.join(", ")}`);
  assert.deepEqual(problems, []);
  return wasm[0];
}

const filesUnder = (dir) => readdirSync(dir, { recursive: true }).map(String);

describe("Vite 7", () => {
  test("vite build: the .wasm is an emitted asset and the suite passes", async (t) => {
    const outDir = `${outRoot}/vite`;
    await viteBuild({
      configFile: false,
      root: appDir,
      cacheDir: `${outRoot}/vite-cache`,
      logLevel: "warn",
      build: { outDir, emptyOutDir: true },
    });
    assert.ok(filesUnder(outDir).some((file) => /^assets\/echovideo_auth_bg-[\w-]+\.wasm$/.test(file)), filesUnder(outDir).join("\n"));
    const wasm = await runBuiltApp(t, outDir, "Vite build");
    assert.match(wasm, /\/assets\/echovideo_auth_bg-[\w-]+\.wasm$/);
  });

  test("vite dev server (the package excluded from dependency pre-bundling)", async (t) => {
    const server = await createViteServer({
      configFile: false,
      root: appDir,
      cacheDir: `${outRoot}/vite-cache`,
      logLevel: "warn",
      // Pre-bundling would move the entry away from its .wasm (README: Vite).
      optimizeDeps: { exclude: ["echovideo-auth"] },
      server: { host: "127.0.0.1", port: 0, strictPort: false, fs: { allow: [root] } },
    });
    await server.listen();
    closers.push(() => server.close());
    const url = server.resolvedUrls.local[0];
    const { results, problems, wasm } = await runSuitePage(
      browser,
      `${url}index.html?standin=${encodeURIComponent(standIn.url)}`,
    );
    await reportCases(t, results, "Vite dev server");
    assert.equal(wasm.length, 1, wasm.join(", "));
    assert.deepEqual(problems, []);
  });
});

describe("webpack 5", () => {
  test("webpack build with no special configuration: the .wasm is an asset and the suite passes", async (t) => {
    const outDir = `${outRoot}/webpack`;
    const stats = await new Promise((resolve, reject) => {
      webpack(
        {
          mode: "production",
          context: appDir,
          entry: "./main.js",
          output: { path: outDir, filename: "main.js", clean: true },
          devtool: false,
          performance: { hints: false },
        },
        (error, result) => (error ? reject(error) : resolve(result)),
      );
    });
    assert.ok(!stats.hasErrors(), stats.toString("errors-only"));
    assert.ok(!stats.hasWarnings(), stats.toString("errors-warnings"));
    assert.equal(filesUnder(outDir).filter((file) => file.endsWith(".wasm")).length, 1, filesUnder(outDir).join("\n"));
    writeFileSync(
      `${outDir}/index.html`,
      '<!doctype html><meta charset="utf-8"><title>webpack</title><pre id="out"></pre><script src="main.js"></script>\n',
    );
    await runBuiltApp(t, outDir, "webpack 5");
  });
});

describe("esbuild", () => {
  test("esbuild for the browser: ESM output with the .wasm copied beside it", async (t) => {
    const outDir = `${outRoot}/esbuild`;
    const result = await esbuild({
      entryPoints: [`${appDir}/main.js`, wasmInPackage],
      bundle: true,
      format: "esm",
      platform: "browser",
      outdir: outDir,
      entryNames: "[name]",
      loader: { ".wasm": "copy" },
      metafile: true,
      logLevel: "warning",
    });
    assert.ok(Object.keys(result.metafile.inputs).some((input) => input.endsWith("echovideo-auth/browser.js")));
    assert.deepEqual(filesUnder(outDir).sort(), ["echovideo_auth_bg.wasm", "main.js"]);
    writeFileSync(
      `${outDir}/index.html`,
      '<!doctype html><meta charset="utf-8"><title>esbuild</title><pre id="out"></pre><script type="module" src="main.js"></script>\n',
    );
    const wasm = await runBuiltApp(t, outDir, "esbuild (browser)");
    assert.match(wasm, /\/echovideo_auth_bg\.wasm$/);
  });

  test("esbuild for Node: the node entry, and the bundle gets a token", async () => {
    const outDir = `${outRoot}/esbuild-node`;
    const result = await esbuild({
      entryPoints: [`${appDir}/node-main.js`, wasmInPackage],
      bundle: true,
      format: "esm",
      platform: "node",
      outdir: outDir,
      outExtension: { ".js": ".mjs" },
      entryNames: "[name]",
      loader: { ".wasm": "copy" },
      metafile: true,
      logLevel: "warning",
    });
    assert.ok(Object.keys(result.metafile.inputs).some((input) => input.endsWith("echovideo-auth/node.js")));
    const before = standIn.counts().grants.client_credentials;
    const { stdout } = await promisify(execFile)(process.execPath, [`${outDir}/node-main.mjs`, standIn.url]);
    assert.equal(stdout.trim(), "3", "printed the parts of a JWT");
    assert.equal(standIn.counts().grants.client_credentials, before + 1);
  });
});
