// The app each bundler builds (tests/bundlers/bundlers.test.mjs): a plain
// import of the package, as a user's code would have it, and the shared
// suite run against the stand-in named in the page's ?standin= parameter.
// Named imports, as users write them: with `import *` a bundler cannot drop
// the entry module, so a wrong "sideEffects" would go unnoticed.
import {
  DEFAULT_STORAGE_KEY,
  TokenManager,
  durableObjectStorage,
  kvStorage,
  localStorageStorage,
  memoryStorage,
} from "echovideo-auth";
import { createSuite, runSuite } from "../../suite/cases.mjs";
import { standinControl } from "../../suite/control.mjs";

const pkg = { DEFAULT_STORAGE_KEY, TokenManager, durableObjectStorage, kvStorage, localStorageStorage, memoryStorage };
const standinUrl = new URL(location.href).searchParams.get("standin");
const suite = createSuite({
  pkg,
  standinUrl,
  control: standinControl(standinUrl),
  backends: { localStorage: globalThis.localStorage },
});
const results = await runSuite(suite);
document.querySelector("#out").textContent = results
  .map((result) => `${result.ok ? "ok  " : "FAIL"} ${result.name}${result.ok ? "" : `\n${result.error}`}`)
  .join("\n");
window.suiteResults = results;
