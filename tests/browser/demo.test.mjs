// The demo page (www/) in headless Chromium, as a new user would use it:
// it loads on the local stand-in with the demo client, gets a token, forces a
// refresh, recovers from every fault it offers (500, 429, invalid_grant, a
// timeout) with each step on its timeline, calls the API through tm.fetch,
// comes back after a reload with no new grant, shares one rotation with a
// second tab, switches to a real region and refuses a bad base URL, reaches
// the stand-in through its relay, renews in the background, and meets basic
// accessibility checks (labels, keyboard, contrast in light and dark, phone
// width). Pages must raise no errors and log nothing to the console but the
// failed token requests the faults cause.
//
// Screenshots of the main states, desktop (1280×800) and phone (390×844),
// light and dark, land in tests/out/screenshots/ for a person to look at.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startDemo } from "../../www/serve.mjs";
import { launchChromium } from "./chromium.mjs";

const SHOTS = new URL("../out/screenshots/", import.meta.url);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** The console errors a fault legitimately causes: the browser reports each failed request. */
const EXPECTED_CONSOLE = /^Failed to load resource: the server responded with a status of (400|401|429|500)\b/;

let demo;
let browser;
let context;
let page;
const taken = [];

before(async () => {
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  // A long lifetime, like EchoVideo's hour: no background renewal unless a test asks for one.
  demo = await startDemo({ lifetimeSeconds: 3600 });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: DESKTOP, colorScheme: "light" });
  page = await open();
});

after(async () => {
  if (taken.length > 0) console.log(`# screenshots in ${fileURLToPath(SHOTS)}: ${taken.join(", ")}`);
  await browser?.close();
  await demo?.close();
});

// ---- Helpers ------------------------------------------------------------------

/** Opens the demo in a new tab of the shared context, watching for errors. */
async function open() {
  const tab = await context.newPage();
  tab.problems = [];
  tab.on("pageerror", (error) => tab.problems.push(`pageerror: ${error.message}`));
  tab.on("console", (message) => {
    if (message.type() === "error" && !EXPECTED_CONSOLE.test(message.text())) tab.problems.push(`console: ${message.text()}`);
  });
  await tab.goto(demo.url);
  await tab.waitForSelector("body[data-ready=true]");
  return tab;
}

const counts = () => demo.standin.counts();
const state = (tab = page) => tab.getAttribute("#state", "data-state");
const waitForState = (value, tab = page) =>
  tab.waitForFunction((expected) => document.querySelector("#state").dataset.state === expected, value);

/** The timeline, oldest first, one "[tag] text" string per entry. */
const timeline = (tab = page) =>
  tab.$$eval("#events li", (items) => items.map((item) =>
    `[${item.querySelector(".tag").textContent}] ${item.querySelector(".text").textContent.replace(/\s+/g, " ").trim()}`).reverse());

/** How many timeline entries match `pattern` (a RegExp source). */
const countEvents = (pattern, tab = page) =>
  tab.$$eval("#events li", (items, source) => items.filter((item) => new RegExp(source).test(item.textContent)).length, pattern);

/** Waits until `pattern` has matched `count` timeline entries. */
async function waitForEvents(pattern, count = 1, tab = page, timeout = 10_000) {
  await tab.waitForFunction(
    ({ source, count }) => [...document.querySelectorAll("#events li")].filter((item) => new RegExp(source).test(item.textContent)).length >= count,
    { source: pattern, count },
    { timeout },
  );
}

/** The timeline entries from the index of the first one matching `start`, oldest first. */
async function eventsSince(start, tab = page) {
  const all = await timeline(tab);
  const index = all.findLastIndex((text) => start.test(text));
  assert.ok(index >= 0, `no timeline entry matches ${start}:\n${all.join("\n")}`);
  return all.slice(index);
}

/** Asserts that the entries matching `patterns` appear in this order. */
function assertInOrder(entries, patterns) {
  let from = 0;
  for (const pattern of patterns) {
    const index = entries.findIndex((text, i) => i >= from && pattern.test(text));
    assert.ok(index >= 0, `expected ${pattern} after entry ${from} in:\n${entries.join("\n")}`);
    from = index + 1;
  }
}

async function screenshot(name, { tab = page, viewport = DESKTOP, colorScheme = "light" } = {}) {
  await tab.setViewportSize(viewport);
  await tab.emulateMedia({ colorScheme });
  await tab.evaluate(() => window.scrollTo(0, 0));
  await tab.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  const file = `${name}.png`;
  await tab.screenshot({ path: fileURLToPath(new URL(file, SHOTS)), fullPage: true, animations: "disabled" });
  taken.push(file);
  await tab.setViewportSize(DESKTOP);
  await tab.emulateMedia({ colorScheme: "light" });
}

/** The page's current stored set (what the adapter wrote), read by the test. */
const stored = (tab = page) => tab.evaluate(() => JSON.parse(localStorage.getItem("echovideo-auth-demo") ?? "null"));

async function openSettings(tab = page) {
  if (!(await tab.$eval("#settings-panel", (details) => details.open))) await tab.click("#settings-panel summary");
}

// ---- The tests ----------------------------------------------------------------

test("the page opens on the stand-in with the demo client and sends nothing by itself", async () => {
  assert.equal(counts().requests, 0, "no token request on load");
  assert.equal(await state(), "unloaded");
  assert.match(await page.textContent("#target-summary"), new RegExp(`Local stand-in \\(${demo.standin.url.replace(/[.]/g, "\\.")}\\) · demo-client · client credentials`));
  await openSettings();
  assert.equal(await page.inputValue("#server"), "standin");
  assert.equal(await page.inputValue("#clientId"), "demo-client");
  assert.equal(await page.inputValue("#clientSecret"), "demo-secret");
  assert.equal(await page.inputValue("#lifetime"), "3600", "the stand-in's lifetime, as it runs");
  assert.ok(await page.isVisible("#faults"), "fault toggles shown on the stand-in");
  assert.match(await page.textContent(".warning"), /server or in a Worker/);
  await page.click("#settings-panel summary");
  await screenshot("desktop-light-1-start");
  assert.deepEqual(page.problems, []);
});

test("Get token: one client-credentials grant, countdowns, a masked token that reveals on request", async () => {
  await page.click("#get");
  await waitForState("valid");
  assert.equal(counts().grants.client_credentials, 1);
  assert.equal(await page.textContent("#grant"), "client credentials grant");
  assert.match(await page.textContent("#expires-in"), /^(59:[0-5]\d|1:00:00)$/, "an hour's token");
  assert.match(await page.textContent("#refresh-in"), /^\d+:\d\d$/, "a background refresh is scheduled");

  const set = await stored();
  assert.equal(await page.textContent("#token"), `${set.accessToken.slice(0, 8)}…`, "first 8 characters only");
  assert.equal(await page.getAttribute("#reveal", "aria-pressed"), "false");
  await page.click("#reveal");
  assert.equal(await page.getAttribute("#reveal", "aria-pressed"), "true");
  assert.equal(await page.textContent("#token"), set.accessToken);
  await page.click("#reveal");
  assert.equal(await page.textContent("#token"), `${set.accessToken.slice(0, 8)}…`);

  assertInOrder(await timeline(), [/\[request\] token request \(client credentials\) → 200/, /\[grant\] New token set from a client credentials grant, saved in localStorage/]);
  const text = await page.textContent("#events");
  assert.ok(!text.includes(set.accessToken.slice(8, 40)), "no token on the timeline");
  assert.ok(!text.includes(set.refreshToken), "no refresh token on the timeline");
  assert.ok(!text.includes("demo-secret"), "no secret on the timeline");
});

test("Force refresh: the refresh token rotates and the rotation is saved before use", async () => {
  const before = await stored();
  await page.click("#refresh");
  await waitForEvents("Rotation saved");
  const after = await stored();
  assert.notEqual(after.refreshToken, before.refreshToken);
  assert.equal(counts().grants.refresh_token, 1);
  assert.equal(await page.textContent("#grant"), "refresh grant");
  assertInOrder(await timeline(), [/token request \(refresh\) → 200/, /\[rotation\] Rotation saved/]);
});

test("a 500 on the next token request: the timeline shows the failure, then the retry that succeeds", async () => {
  const before = counts();
  await page.click("[data-fault='500']");
  await waitForEvents("Armed on the stand-in: the next token request answers 500");
  assert.equal(await page.getAttribute("[data-fault='500']", "aria-pressed"), "true");
  await screenshot("desktop-light-2a-fault-armed");
  const rotations = await countEvents("Rotation saved");
  await page.click("#refresh");
  await waitForEvents("Rotation saved", rotations + 1);
  const entries = await eventsSince(/Armed on the stand-in: the next token request answers 500/);
  assertInOrder(entries, [
    /\[request\] token request \(refresh\) → 500 server_error/,
    /\[retry\] Retry 1 after [\d.]+ s: token request \(refresh\) → 200/,
    /\[rotation\] Rotation saved/,
  ]);
  const after = counts();
  assert.equal(after.faultsServed - before.faultsServed, 1);
  assert.equal(after.grants.refresh_token - before.grants.refresh_token, 1);
  assert.equal(after.reuse, 0);
  assert.equal(await state(), "valid");
  assert.equal(await page.getAttribute("[data-fault='500']", "aria-pressed"), "false", "disarmed once served");
  await screenshot("desktop-light-2-retry-after-500");
  await screenshot("desktop-dark-2-retry-after-500", { colorScheme: "dark" });
  await screenshot("phone-light-2-retry-after-500", { viewport: PHONE });
  await screenshot("phone-dark-2-retry-after-500", { viewport: PHONE, colorScheme: "dark" });
});

test("a 429 with Retry-After: 1 is retried no sooner than a second later", async () => {
  await page.click("[data-fault='429']");
  await waitForEvents("answers 429");
  const rotations = await countEvents("Rotation saved");
  await page.click("#refresh");
  await waitForEvents("Rotation saved", rotations + 1);
  const entries = await eventsSince(/answers 429/);
  assertInOrder(entries, [/token request \(refresh\) → 429 .*\(Retry-After: 1\)/, /\[retry\] Retry 1 after/]);
  const waited = Number(entries.find((text) => /Retry 1 after/.test(text)).match(/after ([\d.]+) s/)[1]);
  assert.ok(waited >= 0.95, `waited ${waited} s`);
  assert.equal(await state(), "valid");
});

test("a refused refresh (invalid_grant) falls back on a full grant with the secret", async () => {
  const before = counts();
  await page.click("[data-fault='invalid_grant']");
  await waitForEvents("the next refresh is refused");
  const grants = await countEvents("client credentials grant, saved");
  await page.click("#refresh");
  await waitForEvents("client credentials grant, saved", grants + 1);
  const entries = await eventsSince(/the next refresh is refused/);
  assertInOrder(entries, [
    /token request \(refresh\) → 400 invalid_grant/,
    /\[fallback\] After the failed refresh request, a client credentials grant: .*→ 200/,
    /\[grant\] New token set from a client credentials grant, saved/,
  ]);
  assert.equal(counts().grants.client_credentials - before.grants.client_credentials, 1);
  assert.equal(await state(), "valid");
  assert.equal(await page.textContent("#grant"), "client credentials grant");
});

test("a token request that never answers is aborted after 3 s, and the manager recovers", async () => {
  await page.click("[data-fault='timeout']");
  await waitForEvents("never answers");
  const started = Date.now();
  await page.click("#refresh");
  await waitForEvents("timed out after", 1, page, 8000);
  await waitForState("valid");
  assert.ok(Date.now() - started >= 2900, "the manager waited its timeoutMs (3000)");
  const entries = await eventsSince(/never answers/);
  // The answer to a refresh may have been lost after the server rotated: with a secret, a full grant follows.
  assertInOrder(entries, [/token request \(refresh\) → no answer: timed out after 3\.\d s, aborted/, /→ 200/, /\[(grant|rotation)\]/]);
  assert.equal(counts().reuse, 0);
});

test("Call the API through tm.fetch; after the stand-in revokes the token it renews once and retries", async () => {
  await page.click("#call");
  await page.waitForFunction(() => /^200/.test(document.querySelector("#api-status").textContent));
  assert.match(await page.textContent("#api-body"), /"client_id": "demo-client"/);

  const before = counts();
  await page.click("#revoke");
  await waitForEvents("revoked \\d+ access tokens?:");
  await page.click("#call");
  await waitForEvents("GET /public/api/v1/courses → 200", 2);
  assertInOrder(await eventsSince(/revoked \d+ access tokens?:/), [
    /GET \/public\/api\/v1\/courses → 401/,
    /token request \(refresh\) → 200/,
    /Rotation saved/,
    /GET \/public\/api\/v1\/courses → 200/,
  ]);
  const after = counts();
  assert.equal(after.apiUnauthorized - before.apiUnauthorized, 1);
  assert.equal(after.grants.refresh_token - before.grants.refresh_token, 1);
  assert.match(await page.textContent("#api-status"), /^200/);
  assert.deepEqual(page.problems, []);
});

test("reload: the token comes back from localStorage with no request at all", async () => {
  const set = await stored();
  const before = counts().requests;
  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  await waitForState("valid");
  assert.equal(counts().requests, before, "no grant, no refresh");
  assert.match((await timeline()).join("\n"), /\[storage\] Adopted the token set from localStorage/);
  assert.equal(await page.textContent("#token"), `${set.accessToken.slice(0, 8)}…`);
  await page.click("#reveal");
  assert.equal(await page.textContent("#token"), set.accessToken, "the same token as before the reload");
  await page.click("#reveal");
  await screenshot("desktop-light-3-after-reload");
  assert.deepEqual(page.problems, []);
});

test("a second tab shares one rotation: it adopts the new set with no request, and a logout", async () => {
  const second = await open();
  await waitForState("valid", second);
  const before = counts().requests;
  await page.click("#refresh");
  await waitForEvents("Adopted the token set from localStorage", 2, second);
  assert.equal(counts().requests, before + 1, "one refresh for both tabs");
  assert.equal(counts().reuse, 0);
  const reveal = async (tab) => {
    await tab.click("#reveal");
    const shown = await tab.textContent("#token");
    await tab.click("#reveal");
    return shown;
  };
  await second.waitForFunction(() => document.querySelector("#token").textContent !== "–");
  assert.equal(await reveal(second), await reveal(page), "both tabs hold the rotated token");
  await screenshot("desktop-dark-4-second-tab", { tab: second, colorScheme: "dark" });

  await second.click("#clear");
  await waitForState("empty", second);
  await waitForState("empty");
  await waitForEvents("Another tab cleared the tokens");
  assert.equal(await page.textContent("#token"), "–");
  assert.equal(await stored(), null);
  assert.deepEqual(second.problems, []);
  await second.close();
});

test("keyboard and accessibility basics: labels, names, focus, contrast in light and dark, phone width", async () => {
  // Every visible control has a label, every button a name.
  await openSettings();
  const unlabelled = await page.$$eval("input, select, textarea", (controls) =>
    controls.filter((c) => c.offsetParent !== null && c.labels.length === 0 && !c.getAttribute("aria-label")).map((c) => c.id || c.name));
  assert.deepEqual(unlabelled, []);
  const nameless = await page.$$eval("button", (buttons) => buttons.filter((b) => b.textContent.trim() === "" && !b.getAttribute("aria-label")).map((b) => b.outerHTML));
  assert.deepEqual(nameless, []);

  // Contrast of every piece of visible text against its background, light and dark.
  for (const colorScheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme });
    const low = await page.evaluate(lowContrastText);
    assert.deepEqual(low, [], `${colorScheme}: text under 4.5:1`);
  }
  await page.emulateMedia({ colorScheme: "light" });
  await page.click("#settings-panel summary");

  // Tab to "Get token" and press Enter: a token, with a visible focus ring.
  await page.evaluate(() => document.activeElement?.blur());
  await page.focus("body");
  let focused = "";
  for (let i = 0; i < 40 && focused !== "get"; i += 1) {
    await page.keyboard.press("Tab");
    focused = await page.evaluate(() => document.activeElement?.id ?? "");
  }
  assert.equal(focused, "get", "Get token is reachable with Tab");
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle), "none", "visible focus");
  await page.keyboard.press("Enter");
  await waitForState("valid");

  // Phone width: nothing wider than the screen.
  await page.setViewportSize(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 390px`);
  await page.setViewportSize(DESKTOP);
  await screenshot("phone-light-5-valid", { viewport: PHONE });
  await screenshot("phone-dark-5-valid", { viewport: PHONE, colorScheme: "dark" });
  assert.deepEqual(page.problems, []);
});

test("settings: a real region hides the stand-in's controls and sends nothing; a bad base URL is refused", async () => {
  const before = counts().requests;
  await openSettings();
  await page.selectOption("#server", "us");
  assert.equal(await page.inputValue("#clientId"), "", "the demo client is for the stand-in only");
  assert.ok(await page.isVisible("#relay"));
  assert.ok(!(await page.isVisible("#lifetime")), "the lifetime is the stand-in's");
  await page.fill("#clientId", "my-echovideo-client");
  await page.fill("#clientSecret", "my-secret-value");
  await page.check("input[name=grant][value=password]");
  await page.fill("#username", "admin@example.edu");
  await page.fill("#password", "my-password-value");
  await page.click("#settings button[type=submit]");
  await page.waitForFunction(() => /US region/.test(document.querySelector("#target-summary").textContent));
  assert.ok(!(await page.isVisible("#faults")), "no fault toggles off the stand-in");
  const code = await page.textContent("#code");
  assert.match(code, /baseUrl: "http:\/\/127\.0\.0\.1:\d+\/relay\/us"/);
  assert.match(code, /grant: "password"/);
  assert.ok(!code.includes("my-secret-value") && !code.includes("my-password-value"), "secrets masked in the code");
  const saved = await page.evaluate(() => localStorage.getItem("echovideo-auth-demo:settings"));
  assert.ok(!saved.includes("my-secret-value") && !saved.includes("my-password-value"), "secrets never stored");
  await screenshot("desktop-light-6-settings-us-region");

  await page.selectOption("#server", "custom");
  await page.fill("#baseUrl", "http://echo360.example.edu");
  await page.click("#settings button[type=submit]");
  await page.waitForSelector("#settings-error:not([hidden])");
  assert.match(await page.textContent("#settings-error"), /invalid_config.*baseUrl/);
  assert.match((await timeline()).join("\n"), /\[error\] Settings not applied: invalid_config/);
  await screenshot("phone-dark-6-settings-refused", { viewport: PHONE, colorScheme: "dark" });

  await page.click("#defaults");
  await page.waitForFunction(() => /Local stand-in/.test(document.querySelector("#target-summary").textContent));
  assert.ok(await page.isVisible("#faults"));
  await waitForState("valid");
  assert.equal(counts().requests, before, "nothing was sent, and the stand-in's token came back from storage");
  assert.deepEqual(page.problems, []);
});

test("the relay: the same client through the demo server's /relay/ reaches the stand-in", async () => {
  const before = counts();
  await openSettings();
  await page.selectOption("#server", "custom");
  await page.fill("#baseUrl", `${demo.url}relay/standin`);
  await page.fill("#clientId", "demo-client");
  await page.fill("#clientSecret", "demo-secret");
  await page.click("#settings button[type=submit]");
  await page.waitForFunction(() => /custom server/.test(document.querySelector("#target-summary").textContent));
  await page.click("#get");
  await waitForState("valid");
  await page.click("#call");
  await page.waitForFunction(() => /^200/.test(document.querySelector("#api-status").textContent));
  const after = counts();
  assert.equal(after.grants.client_credentials - before.grants.client_credentials, 1);
  assert.equal(after.apiCalls - before.apiCalls, 1);
  assertInOrder(await eventsSince(/Settings applied: custom server/), [
    /\[request\] token request \(client credentials\) → 200/,
    /\[api\] GET \/relay\/standin\/public\/api\/v1\/courses → 200/,
  ]);
  await page.click("#defaults");
  await page.waitForFunction(() => /Local stand-in/.test(document.querySelector("#target-summary").textContent));
  assert.deepEqual(page.problems, []);
});

test("password grant on the stand-in", async () => {
  await openSettings();
  await page.click("#clear");
  await waitForState("empty");
  await page.check("input[name=grant][value=password]");
  assert.equal(await page.inputValue("#username"), "demo-user", "the stand-in's demo user is filled in");
  await page.click("#settings button[type=submit]");
  await page.waitForFunction(() => /· password$/.test(document.querySelector("#target-summary").textContent));
  const before = counts().grants.password;
  await page.click("#get");
  await waitForState("valid");
  assert.equal(counts().grants.password, before + 1);
  assert.equal(await page.textContent("#grant"), "password grant");
  await page.click("#defaults");
  await page.waitForFunction(() => /client credentials$/.test(document.querySelector("#target-summary").textContent));
});

test("a short lifetime set from the page: the manager renews in the background with no click", async () => {
  await openSettings();
  await page.fill("#lifetime", "4");
  await page.click("#settings button[type=submit]");
  await waitForEvents("tokens for 4 s");
  let rotations = await countEvents("Rotation saved");
  await page.click("#refresh");
  await waitForEvents("Rotation saved", rotations + 1);
  rotations += 1;
  const before = counts().grants.refresh_token;
  // Renewal falls due at half the lifetime (2 s), brought forward a little.
  await waitForEvents("Rotation saved", rotations + 1, page, 6000);
  assert.ok(counts().grants.refresh_token > before, "renewed by the timer");
  assert.equal(counts().reuse, 0);
  assert.match(await page.textContent("#refresh-in"), /^(\d+:\d\d|due now)$/);
  await page.fill("#lifetime", "3600");
  await page.click("#settings button[type=submit]");
  await waitForEvents("tokens for 3600 s");
  await page.click("#refresh");
  await page.waitForFunction(() => /^(59:[0-5]\d|1:00:00)$/.test(document.querySelector("#expires-in").textContent));
  assert.deepEqual(page.problems, []);
});

// Runs in the page: visible text whose colour is under 4.5:1 on the background behind it.
function lowContrastText() {
  const channels = (color) => color.match(/[\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const linear = (v) => {
      const c = v / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const color = channels(getComputedStyle(e).backgroundColor);
      if (color.length === 3 || color[3] === 1) return color;
    }
    return channels(getComputedStyle(document.documentElement).backgroundColor);
  };
  const problems = [];
  for (const element of document.querySelectorAll("body *")) {
    const ownText = [...element.childNodes].some((node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim() !== "");
    if (!ownText || element.getClientRects().length === 0 || element.closest("[hidden], :disabled, option, optgroup")) continue;
    if (element.closest(".skip") && document.activeElement !== element) continue; // off screen until focused
    const fg = luminance(channels(getComputedStyle(element).color));
    const bg = luminance(background(element));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) problems.push(`${element.tagName.toLowerCase()}#${element.id}.${element.className}: ${ratio.toFixed(2)} "${element.textContent.trim().slice(0, 40)}"`);
  }
  return problems;
}
