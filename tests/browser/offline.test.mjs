// A page that goes offline must not throw its refresh token away: a
// browser's failed fetch says nothing about why, but navigator.onLine does,
// and a request that never left cannot have spent the token.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startDemo } from "../../www/serve.mjs";
import { launchChromium } from "./chromium.mjs";

let demo;
let browser;

before(async () => {
  demo = await startDemo({ lifetimeSeconds: 3600 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await demo?.close();
});

test("offline, a client without a secret keeps its refresh token and recovers when back online", async () => {
  // A refresh token obtained elsewhere (a sign-in this page does not do).
  const grant = await fetch(`${demo.standin.url}/oauth2/access_token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret",
  }).then((response) => response.json());
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${demo.url}blank.html`);
  // The package (module and wasm) loads while online, as a page's would.
  await page.evaluate(async () => {
    window.TokenManager = (await import("/pkg/browser.js")).TokenManager;
  });

  // Offline before the token arrives: an imported refresh token with no
  // access token is renewed at once in the background, and that renewal
  // must fail offline too, not race the switch. navigator.onLine turns
  // false, and fetch fails as a browser's does, with a bare TypeError
  // (Chromium's offline mode spares loopback, where the stand-in is, so the
  // failure is made in the page too).
  await context.setOffline(true);
  await page.evaluate(() => {
    window.onlineFetch = window.fetch;
    window.fetch = () => Promise.reject(new TypeError("Failed to fetch"));
  });
  await page.evaluate(async ({ standinUrl, refreshToken }) => {
    window.backgroundErrors = [];
    window.tm = new window.TokenManager({
      clientId: "demo-client",
      baseUrl: standinUrl,
      maxRetries: 1,
      onError: (error) => window.backgroundErrors.push(error.code),
    });
    await window.tm.importTokens({ refreshToken });
  }, { standinUrl: demo.standin.url, refreshToken: grant.refresh_token });
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const outcome = await page.evaluate(() => window.tm.getAccessToken().then(() => "ok", (error) => error.code));
    assert.equal(outcome, "network", "not reauth_required: the token never left");
  }
  assert.equal(await page.evaluate(() => window.tm.info().hasRefreshToken), true);
  const background = await page.evaluate(() => window.backgroundErrors);
  assert.ok(background.length >= 1, "the background renewal ran offline and was reported");
  assert.ok(background.every((code) => code === "network"), `background renewal failed as ${background}`);

  await context.setOffline(false);
  await page.evaluate(() => {
    window.fetch = window.onlineFetch;
  });
  assert.equal(demo.standin.counts().requests, 1, "only the sign-in reached the stand-in while offline");
  const token = await page.evaluate(() => window.tm.getAccessToken());
  assert.match(token, /^eyJ/);
  const counts = demo.standin.counts();
  assert.equal(counts.grants.refresh_token, 1);
  assert.equal(counts.reuse, 0);
  await context.close();
});
