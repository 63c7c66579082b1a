/**
 * The storage callbacks: what is saved and when, starting from a stored set,
 * and every way `load`, `save` and `clear` can misbehave.
 */

import assert from "node:assert/strict";
import { before, beforeEach, describe, test } from "node:test";

import {
  CLIENT_ID,
  CLIENT_SECRET,
  apiAccepts,
  assertNoSecrets,
  assertTokenError,
  directGrant,
  form,
  manager,
  publicManager,
  recordingStorage,
  rejectsWith,
  requestsOf,
  sleep,
  startTrackedStandIn,
  storedSet,
} from "./helpers.mjs";

const LIFETIME_S = 3600;
/** Storage callbacks that hang are cut off after the request timeout. */
const SHORT_TIMEOUT_MS = 300;

let standIn;

before(async () => {
  standIn = await startTrackedStandIn({ lifetimeSeconds: LIFETIME_S });
});

beforeEach(() => standIn.reset());

/** A set the stand-in really issued, in the stored shape. */
async function realStoredSet(fields = {}) {
  const tokens = await directGrant(standIn);
  return storedSet(standIn, { accessToken: tokens.access_token, refreshToken: tokens.refresh_token, ...fields });
}

describe("saving", () => {
  test("a new set is saved in the documented shape before the caller gets its token", async () => {
    const order = [];
    const storage = recordingStorage();
    storage.behaviour.save = async (set, base) => {
      order.push("save:start");
      await sleep(150);
      base(set);
      order.push("save:end");
    };
    const tm = manager(standIn, {
      storage,
      onRefresh: (event) => order.push(`onRefresh:${event.source}`),
    });

    const before = Date.now();
    const token = await tm.getAccessToken();
    order.push("resolved");
    assert.deepEqual(order, ["save:start", "save:end", "onRefresh:network", "resolved"]);

    const [set] = storage.saved;
    assert.deepEqual(Object.keys(set).sort(),
      ["accessToken", "baseUrl", "clientId", "expiresAt", "obtainedAt", "refreshToken", "tokenType", "v"]);
    assert.equal(set.v, 1);
    assert.equal(set.accessToken, token);
    assert.equal(set.refreshToken, standIn.issuedRefreshTokens()[CLIENT_ID]);
    assert.match(set.tokenType, /^bearer$/i);
    assert.equal(set.clientId, CLIENT_ID);
    assert.equal(set.baseUrl, standIn.url);
    assert.ok(set.obtainedAt >= before && set.obtainedAt <= Date.now());
    assert.equal(set.expiresAt - set.obtainedAt, LIFETIME_S * 1000);
    assert.equal(tm.info().expiresAt, set.expiresAt);
    assertNoSecrets(JSON.stringify(set), [CLIENT_SECRET], "the stored set");
  });

  test("a rotated refresh token is saved (awaited) before refresh() resolves", async () => {
    const storage = recordingStorage();
    const tm = manager(standIn, { storage });
    await tm.getAccessToken();
    const firstRefreshToken = storage.saved[0].refreshToken;

    const order = [];
    storage.behaviour.save = async (set, base) => {
      order.push("save:start");
      await sleep(200);
      base(set);
      order.push("save:end");
    };
    const refreshing = tm.refresh().then((token) => {
      order.push("resolved");
      return token;
    });
    // While the save is pending the caller has nothing yet.
    await sleep(100);
    assert.deepEqual(order, ["save:start"]);
    const token = await refreshing;
    assert.deepEqual(order, ["save:start", "save:end", "resolved"]);
    assert.equal(storage.saved.length, 2);
    assert.equal(storage.saved[1].accessToken, token);
    assert.notEqual(storage.saved[1].refreshToken, firstRefreshToken);
    assert.equal(storage.saved[1].refreshToken, standIn.issuedRefreshTokens()[CLIENT_ID]);
  });

  const saveFaults = {
    throwing: () => {
      throw new Error("disk full");
    },
    "throwing a non-Error": () => {
      throw "quota exceeded"; // eslint-disable-line no-throw-literal
    },
    rejecting: () => Promise.reject(new Error("disk full")),
    hanging: () => new Promise(() => {}),
  };
  for (const [name, faulty] of Object.entries(saveFaults)) {
    test(`save ${name}: the token is still returned, onError gets "storage", the next operation saves again`, async () => {
      const errors = [];
      const storage = recordingStorage();
      storage.behaviour.save = faulty;
      const tm = manager(standIn, { storage, timeoutMs: SHORT_TIMEOUT_MS, onError: (error) => errors.push(error) });

      const started = Date.now();
      const token = await tm.getAccessToken();
      if (name === "hanging") assert.ok(Date.now() - started >= SHORT_TIMEOUT_MS - 20, "a hung save is waited for up to timeoutMs");
      assert.ok(await apiAccepts(standIn, token));
      assert.equal(errors.length, 1);
      assertTokenError(errors[0], "storage", { retryable: true });
      assert.match(errors[0].message, /save/);
      assert.equal(storage.count("save"), 1);

      // The fault is gone: the next operation saves the unsaved set, with no request.
      delete storage.behaviour.save;
      assert.equal(await tm.getAccessToken(), token);
      assert.equal(storage.count("save"), 2);
      assert.equal(storage.saved.length, 1);
      assert.equal(storage.saved[0].accessToken, token);
      assert.equal(storage.saved[0].refreshToken, standIn.issuedRefreshTokens()[CLIENT_ID]);
      assert.equal(standIn.counts().requests, 1);

      // Saved now: the fast path needs neither storage nor network.
      assert.equal(await tm.getAccessToken(), token);
      assert.equal(storage.count("save"), 2);
      assert.equal(errors.length, 1);
    });
  }

  test("a save that keeps failing never costs the caller its token or a request", async () => {
    const errors = [];
    const storage = recordingStorage();
    storage.behaviour.save = () => Promise.reject(new Error("read-only"));
    const tm = manager(standIn, { storage, onError: (error) => errors.push(error.code) });
    const token = await tm.getAccessToken();
    for (let i = 0; i < 3; i += 1) assert.equal(await tm.getAccessToken(), token);
    assert.equal(standIn.counts().requests, 1);
    assert.equal(storage.count("save"), 4);
    assert.deepEqual(errors, ["storage", "storage", "storage", "storage"]);
  });

  test("storage may be a class instance whose methods use this", async () => {
    class FileLikeStore {
      constructor() {
        this.data = null;
        this.writes = 0;
      }

      async load() {
        return this.data;
      }

      async save(set) {
        this.writes += 1;
        this.data = set;
      }

      async clear() {
        this.data = null;
      }
    }
    const store = new FileLikeStore();
    const first = manager(standIn, { storage: store });
    const token = await first.getAccessToken();
    assert.equal(store.writes, 1);
    assert.equal(store.data.accessToken, token);
    first.dispose();

    // A second manager on the same store picks the set up without a request.
    const second = manager(standIn, { storage: store });
    assert.equal(await second.getAccessToken(), token);
    assert.equal(standIn.counts().requests, 1);
    await second.clear();
    assert.equal(store.data, null);
  });
});

describe("starting from storage", () => {
  test("a valid stored set is used with no request and onRefresh source storage", async () => {
    const stored = await realStoredSet();
    const requests = standIn.counts().requests;
    const events = [];
    const storage = recordingStorage(stored);
    storage.behaviour.load = async (base) => base(); // a Promise, as async storage returns
    const tm = manager(standIn, { storage, onRefresh: (event) => events.push(event) });

    assert.equal(await tm.getAccessToken(), stored.accessToken);
    assert.equal(standIn.counts().requests, requests);
    assert.deepEqual(events, [{ grant: null, expiresAt: stored.expiresAt, source: "storage" }]);
    assert.deepEqual(tm.info(), { state: "valid", expiresAt: stored.expiresAt, hasRefreshToken: true, lastGrant: null, nextRefreshAt: null });
    assert.equal(await tm.getAccessToken(), stored.accessToken);
    assert.deepEqual(storage.calls, ["load"], "loaded once, nothing to save");
  });

  for (const [what, fields] of [
    ["another clientId", { clientId: "other-client" }],
    ["another baseUrl", { baseUrl: "https://echo360.org" }],
  ]) {
    test(`a stored set for ${what} is ignored`, async () => {
      const stored = storedSet(standIn, { accessToken: "foreign-access", refreshToken: "foreign-refresh", ...fields });
      const storage = recordingStorage(stored);
      const events = [];
      const tm = manager(standIn, { storage, onRefresh: (event) => events.push(event.source) });
      const token = await tm.getAccessToken();
      assert.notEqual(token, "foreign-access");
      assert.ok(await apiAccepts(standIn, token));
      assert.deepEqual(standIn.counts().grants, { client_credentials: 1, password: 0, refresh_token: 0 });
      assert.equal(standIn.counts().unknownRefresh, 0, "the foreign refresh token was never presented");
      assert.deepEqual(events, ["network"]);
      assert.equal(storage.value.clientId, CLIENT_ID);
      assert.equal(storage.value.baseUrl, standIn.url);
    });
  }

  test("an expired stored set is renewed with its refresh token", async () => {
    const stored = await realStoredSet({ expiresAt: Date.now() - 1000, obtainedAt: Date.now() - 3_601_000 });
    const storage = recordingStorage(stored);
    const tm = manager(standIn, { storage });
    const token = await tm.getAccessToken();
    assert.notEqual(token, stored.accessToken);
    assert.ok(await apiAccepts(standIn, token));
    const refreshes = requestsOf(standIn, "refresh_token");
    assert.equal(refreshes.length, 1);
    assert.equal(form(refreshes[0]).refresh_token, stored.refreshToken);
    assert.equal(standIn.counts().grants.client_credentials, 1, "only the test's own grant");
    assert.equal(storage.saved.length, 1);
    assert.notEqual(storage.saved[0].refreshToken, stored.refreshToken);
  });

  test("a client without a secret starts from an expired stored set", async () => {
    const stored = await realStoredSet({ expiresAt: Date.now() - 1000 });
    const tm = publicManager(standIn, { storage: recordingStorage(stored) });
    const token = await tm.getAccessToken();
    assert.ok(await apiAccepts(standIn, token));
    assert.equal(standIn.counts().grants.refresh_token, 1);
  });

  test("a stored set obtained in the future (the clock went back) is not trusted", async () => {
    const stored = await realStoredSet({ obtainedAt: Date.now() + 600_000, expiresAt: Date.now() + 4_200_000 });
    const tm = manager(standIn, { storage: recordingStorage(stored) });
    const token = await tm.getAccessToken();
    assert.notEqual(token, stored.accessToken);
    assert.equal(standIn.counts().grants.refresh_token, 1);
  });

  test("refresh() right after start-up uses the stored refresh token", async () => {
    const stored = await realStoredSet();
    const tm = manager(standIn, { storage: recordingStorage(stored) });
    const token = await tm.refresh();
    assert.notEqual(token, stored.accessToken);
    assert.equal(form(requestsOf(standIn, "refresh_token")[0]).refresh_token, stored.refreshToken);
  });
});

describe("load faults", () => {
  const valid = () => storedSet(standIn);
  const without = (key) => {
    const set = valid();
    delete set[key];
    return set;
  };
  const loadFaults = {
    throwing: () => {
      throw new Error("corrupt");
    },
    rejecting: () => Promise.reject(new Error("corrupt")),
    "rejecting with undefined": () => Promise.reject(undefined),
    hanging: () => new Promise(() => {}),
    'returning "x"': () => "x",
    "returning 42": () => 42,
    "returning true": () => true,
    "returning an array": () => [valid()],
    "returning {v: 2}": () => ({ ...valid(), v: 2 }),
    'returning v: "1"': () => ({ ...valid(), v: "1" }),
    "returning a set without accessToken": () => without("accessToken"),
    "returning a set without expiresAt": () => without("expiresAt"),
    "returning a set without obtainedAt": () => without("obtainedAt"),
    "returning a set without clientId": () => without("clientId"),
    "returning a set without baseUrl": () => without("baseUrl"),
    "returning a set without tokenType": () => without("tokenType"),
    "returning a string expiresAt": () => ({ ...valid(), expiresAt: String(Date.now() + 1000) }),
    "returning a numeric refreshToken": () => ({ ...valid(), refreshToken: 12 }),
    "returning an empty accessToken": () => ({ ...valid(), accessToken: "" }),
    "returning a NaN expiresAt": () => ({ ...valid(), expiresAt: Number.NaN }),
  };
  for (const [name, faulty] of Object.entries(loadFaults)) {
    test(`load ${name}: rejects with "storage", sends nothing, works once the fault is gone`, async () => {
      const storage = recordingStorage();
      storage.behaviour.load = faulty;
      const tm = manager(standIn, { storage, timeoutMs: SHORT_TIMEOUT_MS });

      const error = await rejectsWith(tm.getAccessToken(), "storage", { retryable: true });
      assert.match(error.message, /load/);
      assert.equal(standIn.counts().requests, 0, "a storage fault must not lead to a grant");
      assert.equal(tm.info().state, "unloaded");
      await rejectsWith(tm.refresh(), "storage");

      delete storage.behaviour.load;
      const token = await tm.getAccessToken();
      assert.ok(await apiAccepts(standIn, token));
      assert.equal(storage.count("load"), 3);
      assert.equal(standIn.counts().requests, 1);
    });
  }

  test("a stored set with refreshToken null and an expired access token leads to a full grant", async () => {
    const stored = storedSet(standIn, { refreshToken: null, expiresAt: Date.now() - 1 });
    const tm = manager(standIn, { storage: recordingStorage(stored) });
    const token = await tm.getAccessToken();
    assert.ok(await apiAccepts(standIn, token));
    assert.deepEqual(standIn.counts().grants, { client_credentials: 1, password: 0, refresh_token: 0 });
  });
});

describe("clear faults", () => {
  for (const [name, faulty] of [
    ["throws", () => {
      throw new Error("locked");
    }],
    ["rejects", () => Promise.reject(new Error("locked"))],
    ["hangs", () => new Promise(() => {})],
  ]) {
    test(`clear() whose storage.clear ${name} rejects with "storage" but forgets the tokens in memory`, async () => {
      const storage = recordingStorage();
      const tm = manager(standIn, { storage, timeoutMs: SHORT_TIMEOUT_MS });
      const token = await tm.getAccessToken();
      storage.behaviour.clear = faulty;
      const error = await rejectsWith(tm.clear(), "storage");
      assert.match(error.message, /clear/);
      assert.equal(tm.info().state, "empty");
      assert.equal(tm.info().hasRefreshToken, false);
      const next = await tm.getAccessToken();
      assert.notEqual(next, token);
      assert.deepEqual(standIn.counts().grants, { client_credentials: 2, password: 0, refresh_token: 0 });
    });
  }
});
