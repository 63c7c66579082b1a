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
  await page.evaluate(async ({ standinUrl, refreshToken }) => {
    const { TokenManager } = await import("/pkg/browser.js");
    window.tm = new TokenManager({ clientId: "demo-client", baseUrl: standinUrl, maxRetries: 1 });
    await window.tm.importTokens({ refreshToken });
  }, { standinUrl: demo.standin.url, refreshToken: grant.refresh_token });

  // Offline: navigator.onLine turns false, and fetch fails as a browser's
  // does, with a bare TypeError (Chromium's offline mode spares loopback,
  // where the stand-in is, so the failure is made in the page too).
  await context.setOffline(true);
  await page.evaluate(() => {
    window.onlineFetch = window.fetch;
    window.fetch = () => Promise.reject(new TypeError("Failed to fetch"));
  });
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const outcome = await page.evaluate(() => window.tm.getAccessToken().then(() => "ok", (error) => error.code));
    assert.equal(outcome, "network", "not reauth_required: the token never left");
  }
  assert.equal(await page.evaluate(() => window.tm.info().hasRefreshToken), true);

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
