// Storage adapters for the `storage` option of TokenManager. Each returns the
// `{ load, save, clear }` object the manager calls; the manager awaits `save`
// before it hands out a new access token, and turns anything these throw or
// reject with into a TokenError with code "storage".
//
// Plain JS with no imports and nothing at module scope but constants, so every
// entry (Node, browsers, workerd) re-exports it and bundlers can drop it.

/** The key every adapter uses unless given another. */
export const DEFAULT_STORAGE_KEY = "echovideo-auth";

function checkKey(adapter, key) {
  if (typeof key !== "string" || key === "") {
    throw new TypeError(`${adapter}: the key must be a non-empty string`);
  }
}

function checkMethods(adapter, what, target, methods) {
  const ok = target !== null
    && (typeof target === "object" || typeof target === "function")
    && methods.every((name) => typeof target[name] === "function");
  if (!ok) {
    throw new TypeError(`${adapter}: expected ${what} with ${methods.join(", ")} methods`);
  }
}

/**
 * Keeps the set in this JS realm only. Without a `storage` option a manager
 * already keeps its tokens in memory; this adapter is for sharing one set
 * between several managers of the same client in one process or page.
 */
export function memoryStorage() {
  let saved = null;
  return {
    load() {
      return saved === null ? null : structuredClone(saved);
    },
    save(set) {
      saved = structuredClone(set);
    },
    clear() {
      saved = null;
    },
  };
}

/**
 * Keeps the set as JSON under `key` in a Web Storage object (by default the
 * page's `localStorage`). A value that is not JSON makes `load` throw, so the
 * manager rejects with code "storage" until `tm.clear()` removes it.
 */
export function localStorageStorage(key = DEFAULT_STORAGE_KEY, storage = globalThis.localStorage) {
  checkKey("localStorageStorage", key);
  if (storage === undefined || storage === null) {
    throw new TypeError(
      "localStorageStorage: there is no localStorage in this runtime; pass a Storage object as the second argument",
    );
  }
  checkMethods("localStorageStorage", "a Storage object", storage, ["getItem", "setItem", "removeItem"]);
  return {
    load() {
      const text = storage.getItem(key);
      return text === null ? null : JSON.parse(text);
    },
    save(set) {
      storage.setItem(key, JSON.stringify(set));
    },
    clear() {
      storage.removeItem(key);
    },
    /**
     * Calls `listener` when another tab or window of this origin writes or
     * removes the set (the `storage` event, which never fires in the context
     * that wrote). The manager then adopts the new set, or forgets its own
     * after a logout elsewhere. Returns the function that unsubscribes.
     */
    subscribe(listener) {
      if (typeof globalThis.addEventListener !== "function") return undefined;
      const onStorage = (event) => {
        if (event.storageArea === storage && (event.key === key || event.key === null)) listener();
      };
      globalThis.addEventListener("storage", onStorage);
      return () => globalThis.removeEventListener("storage", onStorage);
    },
  };
}

/**
 * Keeps the set as JSON under `key` in a Cloudflare Workers KV namespace.
 *
 * KV is eventually consistent (a write can take 60 s or more to be seen
 * elsewhere) and shared by every isolate: another isolate may still load a
 * refresh token that this one has already spent. Use it only where refresh
 * tokens may be lost (a client secret is configured, so a dead refresh token
 * falls back on a full grant). For single-use refresh tokens, keep the
 * manager in a Durable Object with `durableObjectStorage`.
 */
export function kvStorage(namespace, key = DEFAULT_STORAGE_KEY) {
  checkKey("kvStorage", key);
  checkMethods("kvStorage", "a KV namespace", namespace, ["get", "put", "delete"]);
  return {
    load() {
      return namespace.get(key, "json");
    },
    save(set) {
      return namespace.put(key, JSON.stringify(set));
    },
    clear() {
      return namespace.delete(key);
    },
  };
}

/**
 * Keeps the set under `key` in a Durable Object's transactional storage
 * (`ctx.storage` / `state.storage`). A Durable Object is one instance
 * worldwide, its storage strongly consistent: with the TokenManager living in
 * the object, every rotated refresh token is saved before it is used and no
 * other instance can spend it. This is the way to keep single-use refresh
 * tokens in Workers.
 */
export function durableObjectStorage(storage, key = DEFAULT_STORAGE_KEY) {
  checkKey("durableObjectStorage", key);
  checkMethods("durableObjectStorage", "Durable Object storage", storage, ["get", "put", "delete"]);
  return {
    load() {
      return storage.get(key);
    },
    save(set) {
      return storage.put(key, set);
    },
    clear() {
      return storage.delete(key);
    },
  };
}
