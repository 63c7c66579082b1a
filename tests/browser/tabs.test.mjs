// Many tabs, one refresh (issue 6). Eight pages of one origin in headless
// Chromium, each with its own TokenManager on the localStorage adapter,
// all asking for a token at the same instant after it expired, over and
// over: with the Web Lock every rotation costs exactly one grant and no
// refresh token is sent twice; without it the same storm reuses tokens.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startDemo } from "../../www/serve.mjs";
import { launchChromium } from "./chromium.mjs";

const PAGES = 8;
const LIFETIME_S = 1;
const MARGIN_S = 0.2;

let demo;
let browser;

before(async () => {
  demo = await startDemo({ lifetimeSeconds: LIFETIME_S });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await demo?.close();
});

/** Opens `count` pages of the demo origin, each with a manager on localStorage under `key`. */
async function openTabs(context, count, key, options = {}) {
  const pages = [];
  for (let i = 0; i < count; i += 1) {
    const page = await context.newPage();
    await page.goto(`${demo.url}blank.html`);
    await page.evaluate(
      async ({ standinUrl, key, options }) => {
        const { TokenManager, localStorageStorage } = await import("/pkg/browser.js");
        window.tm = new TokenManager({
          clientId: "demo-client",
          clientSecret: "demo-secret",
          baseUrl: standinUrl,
          refreshMarginSeconds: 0.2,
          autoRefresh: false,
          storage: localStorageStorage(key),
          ...options,
        });
      },
      { standinUrl: demo.standin.url, key, options },
    );
    pages.push(page);
  }
  return pages;
}

/** Every page calls getAccessToken() at the same wall-clock instant. */
function stampede(pages) {
  const at = Date.now() + 150;
  return Promise.all(
    pages.map((page) =>
      page.evaluate(async (at) => {
        await new Promise((go) => setTimeout(go, at - Date.now()));
        try {
          return await window.tm.getAccessToken();
        } catch (error) {
          return `error:${error.code}`;
        }
      }, at),
    ),
  );
}

const expire = () => new Promise((done) => setTimeout(done, (LIFETIME_S - MARGIN_S) * 1000 + 50));

async function rotations(pages, count) {
  const grants = () => {
    const { client_credentials, refresh_token } = demo.standin.counts().grants;
    return client_credentials + refresh_token;
  };
  const perRotation = [];
  let tokens = [];
  for (let round = 0; round < count; round += 1) {
    await expire();
    const before = grants();
    tokens = await stampede(pages);
    perRotation.push(grants() - before);
  }
  return { perRotation, tokens };
}

describe("with the Web Lock (default)", () => {
  test(`${PAGES} tabs, 20 rotations: one grant per rotation, no reuse, one shared token`, async () => {
    demo.standin.reset();
    const context = await browser.newContext();
    const pages = await openTabs(context, PAGES, "with-lock");
    await stampede(pages);
    const { perRotation, tokens } = await rotations(pages, 20);
    const counts = demo.standin.counts();
    console.log(`# with lock: grants per rotation ${perRotation.join(",")}; reuse ${counts.reuse}`);
    assert.deepEqual(perRotation, Array(20).fill(1));
    assert.equal(counts.reuse, 0);
    assert.equal(counts.grants.client_credentials, 1, "one full grant at the start, then refreshes only");
    assert.equal(new Set(tokens).size, 1, `every page holds the same token: ${tokens}`);
    const response = await fetch(`${demo.standin.url}/public/api/v1/courses`, {
      headers: { Authorization: `Bearer ${tokens[0]}` },
    });
    assert.equal(response.status, 200, "and it is valid");
    await context.close();
  });

  test("a page closed while holding the lock does not block the others", async () => {
    demo.standin.reset();
    const context = await browser.newContext();
    const [holder, waiter] = await openTabs(context, 2, "closed-holder");
    await stampede([holder, waiter]);
    await expire();
    demo.standin.fault({ kind: "hang", grant: "refresh_token" });
    // The holder takes the lock and hangs in its refresh request ...
    holder.evaluate(() => window.tm.getAccessToken().catch(() => {})).catch(() => {});
    await new Promise((done) => setTimeout(done, 300));
    const started = Date.now();
    const waiting = waiter.evaluate(() => window.tm.getAccessToken().then(() => "ok", (error) => error.code));
    // ... and its tab is closed: the browser lets the lock go.
    await holder.close();
    assert.equal(await waiting, "ok");
    assert.ok(Date.now() - started < 5000, "not held until lockTimeoutMs");
    assert.equal(demo.standin.counts().reuse, 0, "the hung request never rotated, so its token was still good");
    await context.close();
  });

  test("a lock that cannot be had ends in lock_timeout and sends nothing", async () => {
    demo.standin.reset();
    const context = await browser.newContext();
    const [frozen, other] = await openTabs(context, 2, "frozen", { lockTimeoutMs: 500, lock: "frozen-lock" });
    // A frozen tab that never lets the lock go.
    await frozen.evaluate(() => {
      navigator.locks.request("frozen-lock", () => new Promise(() => {}));
    });
    const before = demo.standin.counts().requests;
    const outcome = await other.evaluate(() => window.tm.getAccessToken().then(() => "ok", (error) => `${error.code}:${error.retryable}`));
    assert.equal(outcome, "lock_timeout:true");
    assert.equal(demo.standin.counts().requests, before, "no request without the lock");
    await context.close();
  });

  test("clear() in one tab reaches the others", async () => {
    demo.standin.reset();
    const context = await browser.newContext();
    const pages = await openTabs(context, 3, "logout");
    await stampede(pages);
    assert.deepEqual(await Promise.all(pages.map((page) => page.evaluate(() => window.tm.info().state))), ["valid", "valid", "valid"]);
    await pages[0].evaluate(() => window.tm.clear());
    await new Promise((done) => setTimeout(done, 300));
    const states = await Promise.all(pages.map((page) => page.evaluate(() => window.tm.info().state)));
    assert.deepEqual(states, ["empty", "empty", "empty"]);
    await context.close();
  });

  test("a set rotated in one tab is adopted by the others without a request", async () => {
    demo.standin.reset();
    const context = await browser.newContext();
    const pages = await openTabs(context, 3, "adopt", { autoRefresh: true });
    await stampede(pages);
    const before = demo.standin.counts().requests;
    const rotated = await pages[0].evaluate(() => window.tm.refresh());
    await new Promise((done) => setTimeout(done, 300));
    const tokens = await Promise.all(pages.map((page) => page.evaluate(() => window.tm.getAccessToken())));
    assert.deepEqual(tokens, [rotated, rotated, rotated]);
    assert.equal(demo.standin.counts().requests, before + 1, "the others adopted it from the storage event");
    await context.close();
  });
});

describe("without the lock", () => {
  test("the same stampede reuses refresh tokens: the lock is what prevents it", async () => {
    demo.standin.reset();
    const context = await browser.newContext();
    const pages = await openTabs(context, PAGES, "no-lock", { lock: false });
    await stampede(pages);
    const { perRotation } = await rotations(pages, 10);
    const counts = demo.standin.counts();
    console.log(`# without lock: grants per rotation ${perRotation.join(",")}; reuse ${counts.reuse}`);
    assert.ok(counts.reuse > 0, "tabs racing on one single-use refresh token");
    await context.close();
  });
});
