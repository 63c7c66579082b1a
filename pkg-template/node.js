// Node entry: the .wasm is read from beside this file and compiled
// synchronously, so `import { TokenManager } from "echovideo-auth"` (or
// `require`, through Node's require(esm)) needs no init call and no
// top-level await.
import { readFileSync } from "node:fs";
import { initSync } from "./echovideo_auth.js";
import { TokenManager } from "./manager.js";

initSync({ module: readFileSync(new URL("./echovideo_auth_bg.wasm", import.meta.url)) });

export { TokenManager };
export * from "./adapters.js";
