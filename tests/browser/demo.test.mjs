// The demo page in headless Chromium: the browser entry of the package loads
// with no init call, gets a token from the stand-in, refreshes it, keeps it
// across a reload through localStorage, and recovers from a 500.
// Screenshots land in tests/out/screenshots for a person to look at.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { startDemo } from "../../www/serve.mjs";
import { launchChromium } from "./chromium.mjs";

const SHOTS = new URL("../out/screenshots/", import.meta.url);
let demo;
let browser;
let page;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  demo = await startDemo({ lifetimeSeconds: 3600 });
  browser = await launchChromium();
  page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  page.problems = problems;
  await page.goto(demo.url);
  await page.waitForSelector("body[data-ready=true]");
});

after(async () => {
  await browser?.close();
  await demo?.close();
});

const state = () => page.textContent("#state");

test("get token, force refresh and reload without a new grant", async () => {
  await page.click("#get");
  await page.waitForFunction(() => document.querySelector("#state").textContent === "valid");
  assert.equal(demo.standin.counts().grants.client_credentials, 1);
  assert.match(await page.textContent("#token"), /^eyJ/);
  await page.screenshot({ path: new URL("demo-valid.png", SHOTS).pathname, fullPage: true });

  await page.click("#refresh");
  await page.waitForFunction(() => /refresh\(\) resolved/.test(document.querySelector("#events").textContent));
  assert.equal(demo.standin.counts().grants.refresh_token, 1);

  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  await page.click("#get");
  await page.waitForFunction(() => document.querySelector("#state").textContent === "valid");
  const counts = demo.standin.counts();
  assert.equal(counts.grants.client_credentials + counts.grants.refresh_token, 2, "the reload adopted the stored set");
  assert.match(await page.textContent("#events"), /new token set: storage/);
  assert.equal(counts.reuse, 0);
});

test("a 500 from the token endpoint is retried and the refresh succeeds", async () => {
  const before = demo.standin.counts();
  await page.click("#fault");
  await page.waitForFunction(() => /fail the next token request/.test(document.querySelector("#events").textContent));
  await page.click("#refresh");
  await page.waitForFunction(() => document.querySelectorAll("#events li").length > 0 &&
    /refresh\(\) resolved/.test(document.querySelector("#events li").textContent));
  const after = demo.standin.counts();
  assert.equal(after.faultsServed - before.faultsServed, 1);
  assert.equal(after.grants.refresh_token - before.grants.refresh_token, 1);
  assert.equal(await state(), "valid");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: new URL("demo-phone.png", SHOTS).pathname, fullPage: true });
  assert.deepEqual(page.problems, []);
});
