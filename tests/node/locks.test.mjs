// The `lock` option where there is no Web Locks API (Node has none): by
// default the manager works alone, coordinating nothing; asking for a lock
// explicitly fails loudly instead of silently not locking.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CLIENT_ID, TokenManager, manager, startTrackedStandIn } from "./helpers.mjs";

test("without Web Locks, the default is to work alone", async (t) => {
  assert.equal(typeof globalThis.navigator?.locks, "undefined", "this runtime has no Web Locks");
  const standIn = await startTrackedStandIn();
  t.after(() => standIn.close());
  const tm = manager(standIn);
  assert.match(await tm.getAccessToken(), /^eyJ/);
  assert.equal(standIn.counts().grants.client_credentials, 1);
});

for (const lock of [true, "my-lock"]) {
  test(`lock: ${JSON.stringify(lock)} without Web Locks is invalid_config`, () => {
    assert.throws(
      () => new TokenManager({ clientId: CLIENT_ID, clientSecret: "s", lock }),
      (error) => error.name === "TokenError" && error.code === "invalid_config" && /`lock`/.test(error.message),
    );
  });
}

test("lock: false and bad lock values", () => {
  assert.doesNotThrow(() => new TokenManager({ clientId: CLIENT_ID, clientSecret: "s", lock: false }).dispose());
  for (const lock of [42, "", {}]) {
    assert.throws(
      () => new TokenManager({ clientId: CLIENT_ID, clientSecret: "s", lock }),
      (error) => error.code === "invalid_config" && /`lock`/.test(error.message),
      JSON.stringify(lock),
    );
  }
  assert.throws(
    () => new TokenManager({ clientId: CLIENT_ID, clientSecret: "s", lockTimeoutMs: 0 }),
    (error) => error.code === "invalid_config" && /`lockTimeoutMs`/.test(error.message),
  );
});
