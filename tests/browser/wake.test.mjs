// Timers lie: they pause while a laptop sleeps and are throttled in
// background tabs. In headless Chromium, freeze the page's timers (the
// manager's renewal timer then never fires, as in sleep), let the token
// expire, then fire the events a waking page gets: the manager must renew at
// once, with no caller asking.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startDemo } from "../../www/serve.mjs";
import { launchChromium } from "./chromium.mjs";

let demo;
let browser;
let page;

before(async () => {
  demo = await startDemo({ lifetimeSeconds: 2 });
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(demo.url);
  await page.waitForSelector("body[data-ready=true]");
  await page.evaluate(async (standinUrl) => {
    const { TokenManager } = await import("/pkg/browser.js");
    window.realSetTimeout = window.setTimeout.bind(window);
    window.tm = new TokenManager({
      clientId: "demo-client",
      clientSecret: "demo-secret",
      baseUrl: standinUrl,
      refreshMarginSeconds: 0.5,
    });
    // From now on no timer fires: the page is "asleep" whenever it waits.
    window.setTimeout = () => 0;
    await window.tm.getAccessToken();
  }, demo.standin.url);
});

after(async () => {
  await browser?.close();
  await demo?.close();
});

const grants = () => demo.standin.counts().grants.refresh_token;
const waitInPage = (ms) => page.evaluate((delay) => new Promise((done) => window.realSetTimeout(done, delay)), ms);

for (const [name, wake] of [
  ["visibilitychange", () => document.dispatchEvent(new Event("visibilitychange"))],
  ["online", () => window.dispatchEvent(new Event("online"))],
]) {
  test(`a renewal that fell due while asleep happens at once on ${name}`, async () => {
    const before = grants();
    await waitInPage(2300);
    assert.equal(grants(), before, "asleep: the frozen timer renewed nothing");
    assert.equal(await page.evaluate(() => window.tm.info().state), "expired");
    await page.evaluate(wake);
    await waitInPage(300);
    assert.equal(grants(), before + 1, "woken: renewed without any caller");
    assert.equal(await page.evaluate(() => window.tm.info().state), "valid");
  });
}
