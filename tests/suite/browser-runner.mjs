// Opens a page that runs the shared suite (it sets window.suiteResults) in
// Chromium through playwright-core, and reports each case as a node:test
// subtest of `t`. Shared by tests/suite/chromium.test.mjs and
// tests/bundlers/bundlers.test.mjs.
import assert from "node:assert/strict";

/** Loads `url` in a new page of `browser`; resolves to { results, problems, wasm }. */
export async function runSuitePage(browser, url) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  try {
    await page.goto(url);
    await page.waitForFunction(() => Array.isArray(window.suiteResults), null, { timeout: 120_000 });
    const results = await page.evaluate(() => window.suiteResults);
    const wasm = await page.evaluate(() =>
      performance.getEntriesByType("resource").map((entry) => entry.name).filter((name) => /\.wasm(\?|$)/.test(name)));
    // Chromium logs the connection the "network" case drops; anything else is a problem.
    const unexpected = problems.filter((problem) => !/Failed to load resource|ERR_CONNECTION|ERR_EMPTY_RESPONSE/.test(problem));
    return { results, problems: unexpected, wasm };
  } catch (error) {
    error.message += `\npage problems:\n${problems.join("\n")}`;
    throw error;
  } finally {
    await page.close();
  }
}

/** Reports `results` as subtests of `t`; fails unless every case ran and passed. */
export async function reportCases(t, results, label) {
  assert.ok(results.length >= 20, `only ${results.length} cases ran`);
  for (const result of results) {
    await t.test(result.name, () => {
      if (!result.ok) assert.fail(result.error);
    });
  }
  t.diagnostic(`${label}: ${results.filter((result) => result.ok).length} of ${results.length} cases passed`);
}
