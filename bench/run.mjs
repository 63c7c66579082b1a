#!/usr/bin/env node
// The benchmark of issue 8: size, speed and request economy of echovideo-auth
// side by side with the JavaScript libraries people use instead, in one run.
// Prints a table and writes the same figures to bench/out/results.json.
//
//   npm --prefix bench ci          # once: the anchors, esbuild, miniflare
//   bash scripts/pack.sh           # the package under test, from the packed tarball
//   node bench/run.mjs [--quick] [--check] [--only=size,cold,workerd,hot,singleflight,economy,memory]
//
// The package under test is the packed tarball as scripts/pack.sh installed it
// into the root node_modules/echovideo-auth (see lib/common.mjs). Everything
// talks only to stand-ins on 127.0.0.1; nothing is downloaded.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { startStandIn } from "../tests/standin/server.mjs";
import { anchorVersions, outDir, packageUnderTest, rootDir, runChild, summary } from "./lib/common.mjs";
import { measureSize } from "./lib/size.mjs";
import { measureWorkerd } from "./lib/workerd.mjs";

const SECTIONS = ["size", "cold", "workerd", "hot", "singleflight", "economy", "memory"];
/** The browser entry's .wasm plus JS glue, gzip -9: at most 30 KB (taken as KiB). */
const SIZE_TARGET_BYTES = 30 * 1024;

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    check: { type: "boolean", default: false },
    only: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  console.log(`node bench/run.mjs [--quick] [--check] [--only=${SECTIONS.join(",")}]
  --quick  fewer and shorter runs
  --check  exit with status 1 when a target of issue 8 is missed`);
  process.exit(0);
}
const only = flags.only ? flags.only.split(",").map((s) => s.trim()) : SECTIONS;
for (const name of only) if (!SECTIONS.includes(name)) throw new Error(`unknown section ${name}; known: ${SECTIONS.join(", ")}`);
const quick = flags.quick;
const settings = {
  coldRuns: quick ? 5 : 15,
  workerdRuns: quick ? 5 : 15,
  hotRounds: quick ? 3 : 5,
  hotRoundMs: quick ? 500 : 1000,
  singleFlightCalls: 10_000,
  singleFlightRounds: quick ? 2 : 5,
  economy: { lifetimeS: 2, lifetimes: quick ? 4 : 10, callers: 50, meanDelayMs: 50, marginS: 0.5 },
  memory: { rotations: quick ? 3_000 : 10_000, warmup: quick ? 500 : 1_000 },
};

const pkg = packageUnderTest();
const results = {
  meta: {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? "?"}`,
    quick,
    settings,
    package: {
      name: "echovideo-auth",
      version: pkg.version,
      from: relative(rootDir, pkg.dir),
      wasmSha256: pkg.wasmSha256,
      sameAsPkgDir: pkg.sameAsPkgDir,
      tarballs: pkg.tarballs,
    },
    anchors: anchorVersions(),
  },
};
const started = performance.now();
const log = (text) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${text}\n`);
log(`echovideo-auth ${pkg.version} from ${relative(rootDir, pkg.dir)} (wasm ${pkg.wasmSha256.slice(0, 12)}, ${pkg.sameAsPkgDir ? "same build as pkg/" : "NOT the build in pkg/: run bash scripts/pack.sh"})`);

if (only.includes("size")) {
  log("size: package files and esbuild bundles");
  results.size = await measureSize(pkg);
}

if (only.includes("cold")) {
  log(`cold start in Node: ${settings.coldRuns} fresh processes per library`);
  const standIn = await startStandIn({ lifetimeSeconds: 3600 });
  const libs = ["baseline", "ours", "oauth2fetch"];
  const samples = Object.fromEntries(libs.map((lib) => [lib, []]));
  for (const lib of libs) await runChild("lib/cold-node.mjs", [lib, standIn.url]); // warm the page cache
  for (let run = 0; run < settings.coldRuns; run++) {
    for (const lib of libs) samples[lib].push(await runChild("lib/cold-node.mjs", [lib, standIn.url]));
  }
  await standIn.close();
  results.coldNode = Object.fromEntries(libs.map((lib) => [lib, Object.fromEntries(
    ["import", "construct", "firstToken", "importToToken", "firstTokenAt", "wallMs"].map((key) => [key, summary(samples[lib].map((s) => s[key]))]),
  )]));
}

if (only.includes("workerd")) {
  log(`cold start in workerd (miniflare): ${settings.workerdRuns} fresh instances per worker`);
  const standIn = await startStandIn({ lifetimeSeconds: 3600 });
  try {
    results.coldWorkerd = await measureWorkerd(pkg, standIn, settings.workerdRuns);
  } catch (error) {
    results.coldWorkerd = { error: String(error?.stack ?? error) };
  }
  await standIn.close();
}

if (only.includes("hot")) {
  log(`hot path: ${settings.hotRounds} alternating rounds of ${settings.hotRoundMs} ms`);
  results.hotPath = await runChild("lib/hot.mjs", [settings.hotRounds, settings.hotRoundMs].map(String));
}

if (only.includes("singleflight")) {
  log(`single flight: ${settings.singleFlightCalls} concurrent calls, ${settings.singleFlightRounds} rounds`);
  results.singleFlight = await runChild("lib/singleflight.mjs", [settings.singleFlightCalls, settings.singleFlightRounds].map(String));
}

if (only.includes("economy")) {
  const e = settings.economy;
  log(`request economy: ${e.callers} callers for ${e.lifetimes} lifetimes of ${e.lifetimeS} s, per library`);
  results.economy = {};
  for (const lib of ["ours", "oauth2fetch"]) {
    results.economy[lib] = await runChild("lib/economy.mjs",
      [lib, e.lifetimeS, e.lifetimes, e.callers, e.meanDelayMs, e.marginS].map(String),
      { timeoutMs: (e.lifetimeS * e.lifetimes + 60) * 1000 });
  }
}

if (only.includes("memory")) {
  const m = settings.memory;
  log(`memory: ${m.rotations} rotations per library`);
  results.memory = {};
  for (const lib of ["ours", "oauth2fetch", "baseline"]) {
    const standIn = await startStandIn({ lifetimeSeconds: 3600 });
    const result = await runChild("lib/memory.mjs", [lib, standIn.url, m.rotations, m.warmup].map(String),
      { nodeArgs: ["--expose-gc"], timeoutMs: 300_000 });
    const counts = standIn.counts();
    await standIn.close();
    results.memory[lib] = { ...result, grants: counts.grants, refreshTokenReuse: counts.reuse };
  }
}

results.targets = targets(results);
results.meta.elapsedS = Math.round((performance.now() - started) / 100) / 10;
mkdirSync(outDir, { recursive: true });
const jsonPath = join(outDir, "results.json");
writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
console.log(render(results));
console.log(`\nWritten to ${relative(process.cwd(), jsonPath) || jsonPath} in ${results.meta.elapsedS} s.`);
if (flags.check && results.targets.some((t) => !t.pass)) process.exitCode = 1;

// ---- Targets ---------------------------------------------------------------------

function targets(r) {
  const list = [];
  const browser = r.size?.entries?.browser;
  const glue = r.size?.files?.find((file) => file.name === "echovideo_auth.js");
  if (browser && glue) {
    // The JS glue is what wasm-bindgen generates for the .wasm. The browser
    // entry also loads the hand-written driver (the TokenManager class) and
    // the storage adapters: that whole figure is printed beside it.
    const value = browser.wasm.gzip + glue.gzip;
    list.push({
      target: "browser entry .wasm + JS glue (wasm-bindgen's echovideo_auth.js), gzip -9, at most 30 KB (30,720 B)",
      value: `${value} B (wasm ${browser.wasm.gzip} + glue ${glue.gzip}); everything the browser entry loads, `
        + `driver and adapters included: ${browser.total.gzip} B`,
      pass: value <= SIZE_TARGET_BYTES,
    });
  }
  if (r.hotPath) {
    list.push({
      target: "hot path at least as fast as OAuth2Fetch.getToken() (ratio ours/theirs >= 1)",
      value: `${r.hotPath.ratioOursToGetToken}`,
      pass: r.hotPath.ratioOursToGetToken >= 1,
    });
  }
  const grantChecks = [];
  for (const [scenario, libs] of Object.entries(r.singleFlight?.scenarios ?? {})) {
    const ours = libs.ours;
    grantChecks.push([`single flight (${scenario})`, ours.grantsPerRound.every((g) => g === 1) && ours.rejected === 0
      && ours.distinctTokensPerRound.every((n) => n === 1) && !ours.gotOldToken, `${ours.grantsPerRound.join("/")} grants`]);
  }
  if (r.economy?.ours) {
    const e = r.economy.ours;
    grantChecks.push(["steady use", e.overlapping === 0 && e.early === 0 && e.unused === 0 && e.refreshTokenReuse === 0 && e.failed === 0
      && e.renewals >= e.idealRenewals.min && e.renewals <= e.idealRenewals.max,
      `${e.renewals} renewals (ideal ${e.idealRenewals.min}-${e.idealRenewals.max}), ${e.overlapping} overlapping, ${e.early} early, ${e.unused} unused`]);
  }
  if (r.memory?.ours) {
    const m = r.memory.ours;
    grantChecks.push(["rotations", m.grants.refresh_token === m.rotations && m.refreshTokenReuse === 0,
      `${m.grants.refresh_token} refresh grants for ${m.rotations} rotations`]);
  }
  if (grantChecks.length) {
    list.push({
      target: "exactly one grant per token lifetime and per rotation, whatever the number of callers",
      value: grantChecks.map(([name, , detail]) => `${name}: ${detail}`).join("; "),
      pass: grantChecks.every(([, pass]) => pass),
    });
  }
  return list;
}

// ---- Rendering ---------------------------------------------------------------------

function table(title, note, header, rows) {
  const cells = [header, ...rows].map((row) => row.map((cell) => (cell === null || cell === undefined ? "-" : String(cell))));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  const out = [`\n## ${title}`];
  if (note) out.push(...note.split("\n").map((l) => `   ${l}`));
  out.push(line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line));
  return out.join("\n");
}

function kb(bytes) {
  return bytes === null || bytes === undefined ? "-" : bytes.toLocaleString("en-US");
}
function ms(value) {
  return value === null || value === undefined ? "-" : value.toFixed(1);
}
function iqr(s) {
  return `${ms(s.median)} (${ms(s.p25)}-${ms(s.p75)})`;
}

function render(r) {
  const parts = [];
  const m = r.meta;
  parts.push(`# echovideo-auth ${m.package.version} benchmark (${m.date}, Node ${m.node}, ${m.cpus}${m.quick ? ", --quick" : ""})`);
  parts.push(`   anchors: ${Object.entries(m.anchors).map(([n, v]) => `${n}@${v}`).join(", ")}`);

  if (r.size) {
    const rows = [];
    for (const file of r.size.files) rows.push([`file ${file.name}`, kb(file.raw), kb(file.gzip), kb(file.brotli)]);
    for (const [entry, e] of Object.entries(r.size.entries)) {
      const jsFiles = e.files.filter((n) => !n.endsWith(".wasm"));
      rows.push([`${entry} entry: JS (${jsFiles.join(" + ")})`, kb(e.js.raw), kb(e.js.gzip), kb(e.js.brotli)]);
      rows.push([`${entry} entry: JS + .wasm`, kb(e.total.raw), kb(e.total.gzip), kb(e.total.brotli)]);
    }
    for (const b of r.size.bundled) {
      if (b.wasm) {
        rows.push([`esbuild ${b.name}: JS`, kb(b.js.raw), kb(b.js.gzip), kb(b.js.brotli)]);
        rows.push([`esbuild ${b.name}: JS + .wasm`, kb(b.total.raw), kb(b.total.gzip), kb(b.total.brotli)]);
      } else {
        rows.push([`esbuild ${b.name} (${b.what})`, kb(b.js.raw), kb(b.js.gzip), kb(b.js.brotli)]);
      }
    }
    parts.push(table("Size (bytes)",
      "Files as shipped in the package; an entry = its file + every module it imports + the .wasm it loads, each compressed\n"
      + "on its own and added up.\n"
      + "esbuild rows: a one-line import bundled + minified for the browser (ESM, es2022); our .wasm stays a separate asset.\n"
      + "gzip = zlib level 9; brotli = quality 11.",
      ["what", "raw", "gzip -9", "brotli"], rows));
  }

  if (r.coldNode) {
    const rows = Object.entries(r.coldNode).map(([lib, c]) => [
      lib === "baseline" ? "baseline (no library: one fetch)" : lib === "ours" ? "echovideo-auth" : "OAuth2Fetch",
      ms(c.import.median), ms(c.construct.median), ms(c.firstToken.median), iqr(c.importToToken), ms(c.firstTokenAt.median), ms(c.wallMs.median),
    ]);
    parts.push(table("Cold start in Node (ms, median of fresh processes; IQR in brackets)",
      "import + construct + first token from the stand-in; 'process start -> token' adds Node's bootstrap;\n"
      + "'wall' is spawn to exit as the parent saw it. The first token includes undici's first fetch for everyone.",
      ["library", "import", "construct", "first token", "import->token", "process start->token", "wall"], rows));
  }

  if (r.coldWorkerd) {
    if (r.coldWorkerd.error) {
      parts.push(`\n## Cold start in workerd\n   failed: ${r.coldWorkerd.error.split("\n")[0]}`);
    } else {
      const rows = Object.entries(r.coldWorkerd).map(([variant, w]) => [
        variant === "baseline" ? "baseline (one fetch by hand)" : variant === "ours" ? "echovideo-auth" : "OAuth2Fetch (esbuild bundle)",
        iqr(w.startup), iqr(w.firstRequest), iqr(w.total),
      ]);
      parts.push(table("Cold start in workerd via miniflare (ms, median of fresh instances; IQR in brackets)",
        "startup = new Miniflare() until ready: a new workerd process loads the worker (our .wasm is compiled and\n"
        + "instantiated here); first request = dispatchFetch that constructs the client and gets the first token.\n"
        + `ours loads through: ${r.coldWorkerd.ours?.loading}`,
        ["worker", "startup", "first request", "total"], rows));
    }
  }

  if (r.hotPath) {
    const h = r.hotPath;
    const c = h.callsPerSecond;
    const fmt = (s) => `${(s.median / 1e6).toFixed(2)} M/s`;
    parts.push(table("Hot path: cached valid token, same process (calls per second, median of alternating rounds)",
      "each call awaited before the next; ratio = ours / theirs, median of per-round ratios.\n"
      + "getToken() resolves to OAuth2Fetch's cached token object; getAccessToken() to the string, as ours does.",
      ["call", "calls/s", "ours / this"], [
        ["echovideo-auth getAccessToken()", fmt(c.ours), "1"],
        ["OAuth2Fetch getToken()", fmt(c.getToken), String(h.ratioOursToGetToken)],
        ["OAuth2Fetch getAccessToken()", fmt(c.getAccessToken), String(h.ratioOursToGetAccessToken)],
      ]));
  }

  if (r.singleFlight) {
    const rows = [];
    for (const [scenario, libs] of Object.entries(r.singleFlight.scenarios)) {
      for (const [lib, s] of Object.entries(libs)) {
        rows.push([
          `${scenario === "empty" ? "no token yet" : "expired token"}: ${lib === "ours" ? "echovideo-auth" : "OAuth2Fetch"}`,
          iqr(s.settledMs),
          s.grantsPerRound.join("/"),
          Object.entries(s.byGrant).filter(([, n]) => n > 0).map(([g]) => g).join(",") || "-",
          s.distinctTokensPerRound.join("/"),
          s.rejected,
        ]);
      }
    }
    parts.push(table(`Single flight: ${r.singleFlight.calls.toLocaleString("en-US")} concurrent calls (per round: fresh stand-in)`,
      "time until every call settled, ms median (IQR); grants the stand-in saw, per round; distinct tokens the calls got.",
      ["scenario", "settle ms", "grants", "grant type", "tokens", "rejected"], rows));
  }

  if (r.economy) {
    const rows = Object.entries(r.economy).map(([lib, e]) => [
      lib === "ours" ? `echovideo-auth (margin ${e.marginS} s)` : "OAuth2Fetch (renews at expiry)",
      e.calls.toLocaleString("en-US"),
      e.grants,
      e.grantsPerLifetime,
      `${e.renewals} (${e.idealRenewals.min}-${e.idealRenewals.max})`,
      e.renewalPointShareOfLifetime[0] === e.renewalPointShareOfLifetime[1] ? `${e.renewalPointShareOfLifetime[0] * 100}%`
        : `${e.renewalPointShareOfLifetime.map((x) => Math.round(x * 100)).join("-")}%`,
      `${e.overlapping}/${e.early}/${e.unused}`,
      e.staleHandedOut,
      `${e.waitMs.p99} / ${e.waitMs.max.toFixed(1)}`,
    ]);
    const e0 = Object.values(r.economy)[0];
    parts.push(table(`Request economy: ${e0.callers} callers, ${e0.lifetimeS} s token lifetime, ${e0.lifetimesElapsed} lifetimes`,
      "Each caller loops: get a token, call the API with it, sleep 0-2x" + `${e0.meanDelayMs} ms.\n`
      + "renewals = grants after the first; in brackets, what a client renewing exactly at its renewal point would make.\n"
      + "renew at = share of the lifetime after which it renews (a margin renews earlier: more grants per lifetime, but no\n"
      + "caller ever gets a token about to expire). overlap/early/unused = grants started during another,\n"
      + "before half the previous token's lifetime, or whose token nobody got: each must be 0. stale = tokens the API\n"
      + "refused (401) right after a caller got them. wait = how long callers waited for a token, ms p99 / max.",
      ["library", "calls", "grants", "grants/lifetime", "renewals (ideal)", "renew at", "overlap/early/unused", "stale", "wait p99/max"], rows));
  }

  if (r.memory) {
    const mb = (b) => `${(b / 1048576).toFixed(2)} MB`;
    const rows = Object.entries(r.memory).map(([lib, x]) => [
      lib === "ours" ? "echovideo-auth refresh()" : lib === "oauth2fetch" ? "OAuth2Fetch refreshToken()" : "baseline (bare fetch)",
      x.rotations.toLocaleString("en-US"),
      x.grants.refresh_token.toLocaleString("en-US"),
      x.msPerRotation.toFixed(2),
      mb(x.atEnd.heapUsed),
      `${x.growthPerRotationAfterWarmup.heapUsed} B`,
      x.atEnd.wasm ? mb(x.atEnd.wasm) : "-",
      x.atEnd.wasm ? `${x.atEnd.wasm - x.atStart.wasm} B` : "-",
      mb(x.atEnd.rss),
    ]);
    parts.push(table("Memory after rotations (forced refresh, one after another; after a full GC)",
      "heap growth per rotation = least-squares slope through 10 checkpoints after a warm-up; run-to-run noise is a few\n"
      + "tens of bytes. wasm = linear memory of our instance; ms/rotation = one refresh grant, awaited.",
      ["client", "rotations", "refresh grants", "ms/rotation", "JS heap at end", "heap growth/rotation", "wasm memory", "wasm growth", "RSS at end"], rows));
  }

  if (r.targets.length) {
    parts.push("\n## Targets (issue 8)");
    for (const t of r.targets) parts.push(`${t.pass ? "PASS" : "FAIL"}  ${t.target}\n      ${t.value}`);
  }
  return parts.join("\n");
}
