// The shared suite (tests/suite/cases.mjs) in headless Chromium: a plain page
// (tests/suite/page.html) imports the installed package through an import
// map, with no bundler and no init call, runs every case against the
// stand-in, and playwright-core collects the results. Each case is reported
// as its own subtest here.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { launchChromium } from "../browser/chromium.mjs";
import { startStandIn } from "../standin/server.mjs";
import { reportCases, runSuitePage } from "./browser-runner.mjs";
import { serveStatic } from "./static.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));
let standIn;
let site;
let browser;

before(async () => {
  standIn = await startStandIn();
  site = await serveStatic({
    "/node_modules/echovideo-auth/": `${root}/node_modules/echovideo-auth`,
    "/suite/": `${root}/tests/suite`,
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await standIn?.close();
});

test("shared suite in headless Chromium (import map, browser entry)", async (t) => {
  const { results, problems, wasm } = await runSuitePage(
    browser,
    `${site.url}/suite/page.html?standin=${encodeURIComponent(standIn.url)}`,
  );
  await reportCases(t, results, "Chromium (import map)");
  assert.deepEqual(wasm, [`${site.url}/node_modules/echovideo-auth/echovideo_auth_bg.wasm`], "the .wasm beside the entry, fetched once");
  assert.deepEqual(problems, []);
});
