// Builds the npm package into pkg/ as wasm-pack.toml says:
//   cargo build (wasm32) -> wasm-bindgen --target web -> wasm-opt -> template files.
// Every setting comes from wasm-pack.toml; this script only carries it out, then
// prints the size of each file that ships and of what each entry loads (raw
// and gzip -9; also written to tests/out/sizes.json).
//
// Usage: node scripts/build.mjs

import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { parse } from "smol-toml";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const settings = parse(readFileSync(join(root, "wasm-pack.toml"), "utf8"));
const { package: pkg, build, "wasm-opt": wasmOpt } = settings;

const crate = parse(readFileSync(join(root, "Cargo.toml"), "utf8")).package;
const libName = crate.name.replaceAll("-", "_");
const outDir = join(root, pkg["out-dir"]);
const templateDir = join(root, pkg["template-dir"]);

function run(command, args) {
  console.log(`$ ${command} ${args.join(" ")}`);
  execFileSync(command, args, { cwd: root, stdio: "inherit" });
}

/** The wasm-bindgen version Cargo.lock resolved: the CLI must be the same. */
function lockedBindgenVersion() {
  const lock = parse(readFileSync(join(root, "Cargo.lock"), "utf8"));
  const entry = lock.package.find((p) => p.name === "wasm-bindgen");
  if (!entry) throw new Error("wasm-bindgen is not in Cargo.lock");
  return entry.version;
}

run("cargo", ["build", "--lib", "--profile", build.profile, "--target", build.target]);

const wanted = lockedBindgenVersion();
const cli = execFileSync("wasm-bindgen", ["--version"], { encoding: "utf8" }).trim();
if (!cli.endsWith(` ${wanted}`)) {
  throw new Error(`${cli} does not match wasm-bindgen ${wanted} in Cargo.lock: run scripts/setup.sh`);
}

const profileDir = build.profile === "dev" ? "debug" : build.profile;
const wasmIn = join(root, "target", build.target, profileDir, `${libName}.wasm`);
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
run("wasm-bindgen", [
  wasmIn,
  "--out-dir", outDir,
  "--target", build["bindgen-target"],
  ...(build.typescript ? [] : ["--no-typescript"]),
]);

const wasmOut = join(outDir, `${libName}_bg.wasm`);
if (wasmOpt.enabled) {
  const binary = join(root, "node_modules", ".bin", "wasm-opt");
  if (!existsSync(binary)) throw new Error("node_modules/.bin/wasm-opt is missing: run npm ci (scripts/setup.sh)");
  run(binary, [wasmOut, "-o", wasmOut, ...wasmOpt.flags]);
}

cpSync(templateDir, outDir, { recursive: true });
const manifestPath = join(outDir, "package.json");
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
manifest.name = pkg.name;
manifest.version = crate.version;
manifest.description = crate.description;
manifest.license = crate.license;
writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

// Every file the manifest ships and every exports target must exist.
const exportTargets = (value) =>
  typeof value === "string" ? [value] : Object.values(value ?? {}).flatMap(exportTargets);
for (const file of [...manifest.files, ...exportTargets(manifest.exports).map((target) => target.replace(/^\.\//, ""))]) {
  if (!existsSync(join(outDir, file))) throw new Error(`package.json names ${file}, which the build did not produce`);
}

/** Raw and gzip -9 bytes of one file of the package. */
function sizeOf(name) {
  const bytes = readFileSync(join(outDir, name));
  return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

/** The files an entry loads: itself and, transitively, its relative imports (.js and .wasm). */
function closure(entry, seen = new Set()) {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  if (entry.endsWith(".js")) {
    const text = readFileSync(join(outDir, entry), "utf8");
    for (const [, spec] of text.matchAll(/(?:import|export)\s[^;]*?from\s+["']\.\/([^"']+)["']/g)) {
      closure(spec, seen);
    }
    for (const [, spec] of text.matchAll(/new URL\(["']\.?\/?([^"']+\.wasm)["'], import\.meta\.url\)/g)) {
      closure(spec, seen);
    }
  }
  return seen;
}

const row = (name, { raw, gzip }) =>
  `  ${name.padEnd(28)} ${String(raw).padStart(8)} B raw ${String(gzip).padStart(8)} B gzip`;
const sizes = { files: {}, entries: {} };
console.log(`\nBuilt ${pkg.name}@${crate.version} in ${pkg["out-dir"]}/:`);
for (const name of readdirSync(outDir).sort()) {
  if (!statSync(join(outDir, name)).isFile() || !/\.(wasm|js)$/.test(name)) continue;
  sizes.files[name] = sizeOf(name);
  console.log(row(name, sizes.files[name]));
}
console.log("What each entry loads (itself and every file it imports, the .wasm included):");
for (const [condition, target] of Object.entries(manifest.exports["."])) {
  if (condition === "types" || !target.endsWith(".js")) continue;
  const entry = target.replace(/^\.\//, "");
  if (sizes.entries[entry]) continue;
  const files = [...closure(entry)].sort();
  const total = files.map((file) => sizes.files[file]).reduce((a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip }));
  const unshipped = files.filter((file) => !manifest.files.includes(file));
  if (unshipped.length > 0) throw new Error(`${entry} loads ${unshipped.join(", ")}, missing from package.json "files"`);
  sizes.entries[entry] = { files, ...total };
  console.log(row(`${entry} (${files.length} files)`, total));
}
mkdirSync(join(root, "tests", "out"), { recursive: true });
writeFileSync(join(root, "tests", "out", "sizes.json"), `${JSON.stringify(sizes, null, 2)}\n`);
