// Shared helpers of the benchmark: where things are, the package under test,
// statistics, child processes and the clients under comparison.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const rootDir = join(benchDir, "..");
export const outDir = join(benchDir, "out");
export const standInUrl = new URL("../../tests/standin/server.mjs", import.meta.url).href;

/** Demo credentials the stand-in knows. */
export const CLIENT_ID = "demo-client";
export const CLIENT_SECRET = "demo-secret";
export const TOKEN_PATH = "/oauth2/access_token";

/** Marks the line a child process reports its result on. */
const RESULT_MARK = "@@bench-result ";

/**
 * The package under test: the packed tarball as `scripts/pack.sh` installed it
 * into the root node_modules, which is also where a bare
 * `import "echovideo-auth"` from bench/ resolves (bench/node_modules has no
 * copy of its own). Also says whether it is the same build as pkg/ and the
 * newest tarball in tests/out, so a stale install is visible in the results.
 */
export function packageUnderTest() {
  const require = createRequire(join(benchDir, "package.json"));
  let manifestPath;
  try {
    manifestPath = require.resolve("echovideo-auth/package.json");
  } catch {
    throw new Error("echovideo-auth is not installed: run `bash scripts/pack.sh` at the repository root first");
  }
  const dir = dirname(manifestPath);
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  const wasmName = "echovideo_auth_bg.wasm";
  const wasmHash = sha256(readFileSync(join(dir, wasmName)));
  const pkgWasm = join(rootDir, "pkg", wasmName);
  const tarballs = existsSync(join(rootDir, "tests", "out"))
    ? readdirSync(join(rootDir, "tests", "out")).filter((name) => /^echovideo-auth-.*\.tgz$/.test(name))
    : [];
  return {
    dir,
    version: manifest.version,
    exports: manifest.exports,
    wasmSha256: wasmHash,
    sameAsPkgDir: existsSync(pkgWasm) ? sha256(readFileSync(pkgWasm)) === wasmHash : null,
    tarballs,
  };
}

/** Versions of the anchor packages, from their installed manifests. */
export function anchorVersions() {
  const require = createRequire(join(benchDir, "package.json"));
  const names = ["@badgateway/oauth2-client", "@auth0/auth0-spa-js", "oauth4webapi", "esbuild", "miniflare"];
  return Object.fromEntries(names.map((name) => {
    const dir = findPackageDir(require, name);
    return [name, dir ? JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version : null];
  }));
}

function findPackageDir(require, name) {
  for (const base of require.resolve.paths(name) ?? []) {
    const dir = join(base, name);
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  return null;
}

export function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

// ---- Statistics -------------------------------------------------------------

export function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function quantile(values, q) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

/** median, min, max, p25, p75 of a list of numbers, rounded to 0.01. */
export function summary(values) {
  const r = (x) => (x === null ? null : Math.round(x * 100) / 100);
  return {
    n: values.length,
    median: r(median(values)),
    min: r(Math.min(...values)),
    p25: r(quantile(values, 0.25)),
    p75: r(quantile(values, 0.75)),
    max: r(Math.max(...values)),
  };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- Child processes ------------------------------------------------------

/**
 * Runs `node [nodeArgs] script [args]` and resolves to the JSON the child
 * reported with `report()`, plus the wall time from spawn to exit. Rejects
 * when the child fails, reports nothing, or runs longer than `timeoutMs`.
 */
export function runChild(script, args = [], { nodeArgs = [], timeoutMs = 120_000, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
      cwd: benchDir,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => { stdout += chunk; });
    child.stderr.on("data", (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} ${args.join(" ")} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("error", (err) => { clearTimeout(timer); reject(err); });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const wallMs = performance.now() - started;
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_MARK));
      if (code !== 0 || !line) {
        reject(new Error(`${script} ${args.join(" ")} failed (exit ${code ?? signal}):\n${stderr || stdout}`.trim()));
        return;
      }
      resolve({ ...JSON.parse(line.slice(RESULT_MARK.length)), wallMs });
    });
  });
}

/**
 * Reports a child's result to `runChild` and ends the child (writes to a pipe
 * are synchronous on Linux), so that no timer a library left behind can keep
 * it running.
 */
export function report(result) {
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
  process.exit(0);
}

// ---- The clients under comparison ---------------------------------------------

/**
 * Our TokenManager against the stand-in at `url`. Options in `optional` are
 * dropped when this build of the package does not know them yet (it refuses
 * unknown options with invalid_config naming the option).
 */
export function makeOurs(TokenManager, url, extra = {}, optional = {}) {
  const options = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: url, ...extra, ...optional };
  for (;;) {
    try {
      return new TokenManager(options);
    } catch (error) {
      const unknown = Object.keys(optional).find((name) => name in options && error?.code === "invalid_config"
        && String(error.message).includes(`\`${name}\``) && String(error.message).includes("not a known option"));
      if (!unknown) throw error;
      delete options[unknown];
    }
  }
}

/**
 * `OAuth2Fetch` of @badgateway/oauth2-client against the stand-in at `url`,
 * getting its tokens with the client_credentials grant and refreshing them
 * with the refresh token the stand-in hands out, as its README shows.
 * `scheduleRefresh` is off unless asked for: its timer only runs for
 * lifetimes over two minutes and would keep the process alive; the hot path
 * and single flight do not depend on it.
 */
export function makeTheirs({ OAuth2Client, OAuth2Fetch }, url, { fetch, scheduleRefresh = false } = {}) {
  const client = new OAuth2Client({
    server: url,
    tokenEndpoint: TOKEN_PATH,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    ...(fetch ? { fetch } : {}),
  });
  return new OAuth2Fetch({ client, getNewToken: () => client.clientCredentials(), scheduleRefresh });
}
