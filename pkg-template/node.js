// Node entry: the .wasm is read from beside this file and compiled
// synchronously, so `import { TokenManager } from "echovideo-auth"` (or
// `require`) needs no init call and no top-level await.
import { readFileSync } from "node:fs";
import { initSync, TokenManager } from "./echovideo_auth.js";

initSync({ module: readFileSync(new URL("./echovideo_auth_bg.wasm", import.meta.url)) });

if (typeof Symbol.dispose === "symbol") {
  TokenManager.prototype[Symbol.dispose] = TokenManager.prototype.dispose;
}

export { TokenManager };
