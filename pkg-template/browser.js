// Browser entry (also what Vite, webpack and esbuild pick for a page): the
// .wasm is fetched from beside this file (streaming compilation) before the
// module finishes loading, so importers need no init call. Bundlers see the
// `new URL(..., import.meta.url)` below and ship the .wasm as an asset.
import init from "./echovideo_auth.js";
import { TokenManager } from "./manager.js";

await init({ module_or_path: new URL("./echovideo_auth_bg.wasm", import.meta.url) });

export { TokenManager };
export * from "./adapters.js";
