// Builds the npm package into pkg/ as wasm-pack.toml says:
//   cargo build (wasm32) -> wasm-bindgen --target web -> wasm-opt -> template files.
// Every setting comes from wasm-pack.toml; this script only carries it out, then
// prints the size of each file that ships (raw and gzip -9).
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

console.log(`\nBuilt ${pkg.name}@${crate.version} in ${pkg["out-dir"]}/:`);
for (const name of readdirSync(outDir).sort()) {
  const path = join(outDir, name);
  if (!statSync(path).isFile() || !/\.(wasm|js)$/.test(name)) continue;
  const bytes = readFileSync(path);
  const gzip = gzipSync(bytes, { level: 9 }).length;
  console.log(`  ${name.padEnd(28)} ${String(bytes.length).padStart(8)} B raw ${String(gzip).padStart(8)} B gzip`);
}
