// Cloudflare Workers (workerd) entry: Wrangler and workerd load a `.wasm`
// import as a compiled WebAssembly.Module, which is instantiated here
// synchronously. Nothing at module scope does I/O or sets a timer (workerd
// forbids both outside a request); the manager does its I/O when called.
import { initSync } from "./echovideo_auth.js";
import { TokenManager } from "./manager.js";
import wasmModule from "./echovideo_auth_bg.wasm";

initSync({ module: wasmModule });

export { TokenManager };
export * from "./adapters.js";
