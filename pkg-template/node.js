// Node entry: the .wasm is read from beside this file and compiled
// synchronously, so `import { TokenManager } from "echovideo-auth"` (or
// `require`, through Node's require(esm)) needs no init call and no
// top-level await.
import { readFileSync } from "node:fs";
import { initSync, TokenManager } from "./echovideo_auth.js";
import { installFastPath } from "./fast-path.js";

initSync({ module: readFileSync(new URL("./echovideo_auth_bg.wasm", import.meta.url)) });

installFastPath(TokenManager);
if (typeof Symbol.dispose === "symbol") {
  TokenManager.prototype[Symbol.dispose] = TokenManager.prototype.dispose;
}

export { TokenManager };
export * from "./adapters.js";
