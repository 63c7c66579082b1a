// Bundles a Worker the way Wrangler does, for Miniflare: esbuild with the
// Workers export conditions ("workerd", "worker", "browser"), `cloudflare:*`
// left to the runtime, and every `.wasm` import kept as a separate
// CompiledWasm module (workerd hands it to the importer as a
// WebAssembly.Module). Resolves `echovideo-auth` from the installed package,
// as a user's project would.
import { readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { build } from "esbuild";

/** The conditions Wrangler resolves package exports with. */
export const WORKERS_CONDITIONS = ["workerd", "worker", "browser"];

/**
 * Bundles `entry`. Resolves to { modules, modulesRoot, inputs } for
 * `new Miniflare({ modules, modulesRoot, ... })`; `inputs` lists the files
 * esbuild read (relative to the workspace), to check which entry it took.
 */
export async function bundleWorker(entry) {
  const modulesRoot = dirname(entry);
  const wasmModules = new Map();
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2024",
    conditions: WORKERS_CONDITIONS,
    mainFields: ["browser", "module", "main"],
    external: ["cloudflare:*"],
    metafile: true,
    logLevel: "silent",
    plugins: [
      {
        name: "wasm-modules",
        setup(esbuild) {
          esbuild.onResolve({ filter: /\.wasm(\?module)?$/ }, (args) => {
            const path = resolve(args.resolveDir, args.path.replace(/\?module$/, ""));
            const name = basename(path);
            wasmModules.set(name, path);
            return { path: `./${name}`, external: true };
          });
        },
      },
    ],
    outfile: resolve(modulesRoot, "worker.bundle.mjs"),
  });
  const modules = [
    { type: "ESModule", path: resolve(modulesRoot, "worker.bundle.mjs"), contents: result.outputFiles[0].text },
    ...[...wasmModules].map(([name, path]) => ({
      type: "CompiledWasm",
      path: resolve(modulesRoot, name),
      contents: readFileSync(path),
    })),
  ];
  return { modules, modulesRoot, inputs: Object.keys(result.metafile.inputs) };
}
