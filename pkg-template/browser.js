// Browser entry: the .wasm is fetched from beside this file (streaming
// compilation) before the module finishes loading, so importers need no init call.
import init, { TokenManager } from "./echovideo_auth.js";

await init({ module_or_path: new URL("./echovideo_auth_bg.wasm", import.meta.url) });

if (typeof Symbol.dispose === "symbol") {
  TokenManager.prototype[Symbol.dispose] = TokenManager.prototype.dispose;
}

export { TokenManager };
