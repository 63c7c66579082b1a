// Type test of the package as published: every option, method, adapter and
// type a user touches, checked with `tsc --noEmit --strict` against the
// installed package's index.d.ts (tests/types/types.test.mjs). Never run.
// `@ts-expect-error` lines prove the types reject what the runtime rejects.
import {
  DEFAULT_STORAGE_KEY,
  TokenManager,
  durableObjectStorage,
  kvStorage,
  localStorageStorage,
  memoryStorage,
  type DurableObjectStorageLike,
  type FetchFunction,
  type FullGrantType,
  type GrantType,
  type ImportedTokens,
  type KVNamespaceLike,
  type RefreshEvent,
  type Region,
  type StoredTokenSet,
  type TokenError,
  type TokenErrorCode,
  type TokenInfo,
  type TokenManagerOptions,
  type TokenStorage,
  type WebStorageLike,
} from "echovideo-auth";

const key: "echovideo-auth" = DEFAULT_STORAGE_KEY;

// ---- Storage ---------------------------------------------------------------

const stored: StoredTokenSet = {
  v: 1,
  accessToken: "a",
  refreshToken: null,
  tokenType: "bearer",
  expiresAt: Date.now() + 3_600_000,
  obtainedAt: Date.now(),
  clientId: "client",
  baseUrl: "https://echo360.org",
};

const syncStorage: TokenStorage = {
  load: () => stored,
  save: (set: StoredTokenSet) => void set.accessToken,
  clear: () => {},
};
const asyncStorage: TokenStorage = {
  load: async () => null,
  save: async () => {},
  clear: async () => {},
  subscribe: (listener: () => void) => {
    const channel = new BroadcastChannel("tokens");
    channel.onmessage = () => listener();
    return () => channel.close();
  },
};
const webStorage: WebStorageLike = { getItem: () => null, setItem: () => {}, removeItem: () => {} };
const kv: KVNamespaceLike = {
  get: async () => null,
  put: async () => {},
  delete: async () => {},
};
const doStorage: DurableObjectStorageLike = {
  get: async () => undefined,
  put: async () => {},
  delete: async () => true,
};
const adapters: TokenStorage[] = [
  memoryStorage(),
  localStorageStorage(),
  localStorageStorage("my-key"),
  localStorageStorage(key, webStorage),
  kvStorage(kv),
  kvStorage(kv, "tokens"),
  durableObjectStorage(doStorage),
  durableObjectStorage(doStorage, "tokens"),
  syncStorage,
  asyncStorage,
];

// @ts-expect-error: a storage needs load, save and clear
const incomplete: TokenStorage = { load: () => null, save: () => {} };
// @ts-expect-error: v is always 1
const wrongVersion: StoredTokenSet = { ...stored, v: 2 };

// ---- Options ----------------------------------------------------------------

const region: Region = "uk";
const grant: FullGrantType = "password";
const anyGrant: GrantType = "refresh_token";
const fetchFunction: FetchFunction = (input, init) => fetch(input, init);

const options: TokenManagerOptions = {
  clientId: "client",
  clientSecret: "secret",
  region,
  baseUrl: "https://echo360.org",
  tokenPath: "/oauth2/access_token",
  grant,
  username: "user",
  password: "pass",
  storage: adapters[0],
  refreshMarginSeconds: 300,
  timeoutMs: 10_000,
  maxRetries: 3,
  autoRefresh: false,
  lock: "echovideo-tokens",
  lockTimeoutMs: 30_000,
  fetch: fetchFunction,
  onRefresh: (event: RefreshEvent) => {
    const source: "network" | "storage" | "import" = event.source;
    const expiresAt: number = event.expiresAt;
    const by: GrantType | null = event.grant;
    void [source, expiresAt, by];
  },
  onError: (error: TokenError) => void error.code,
};
new TokenManager({ clientId: "client", fetch: globalThis.fetch });
new TokenManager({ clientId: "client", fetch: async (input: string | URL | Request) => new Response(String(input)) });

// @ts-expect-error: clientId is required
new TokenManager({ clientSecret: "secret" });
// @ts-expect-error: regions are us, uk, au, ca
new TokenManager({ clientId: "client", region: "eu" });
// @ts-expect-error: refresh_token is not a grant to configure
new TokenManager({ clientId: "client", grant: "refresh_token" });
new TokenManager({ clientId: "client", lock: false });
// @ts-expect-error: lock is a boolean or a lock name
new TokenManager({ clientId: "client", lock: 1 });
// @ts-expect-error: autoRefresh is a boolean
new TokenManager({ clientId: "client", autoRefresh: "yes" });

// ---- Methods ----------------------------------------------------------------

async function methods(): Promise<void> {
  const tm = new TokenManager(options);
  const token: string = await tm.getAccessToken();
  const refreshed: string = await tm.refresh();
  const response: Response = await tm.fetch("https://echo360.org/public/api/v1/courses");
  await tm.fetch(new URL("https://echo360.org/public/api/v1/courses"), { method: "GET", headers: { Accept: "application/json" } });
  await tm.fetch(new Request("https://echo360.org/public/api/v1/courses"));
  const imported: ImportedTokens = { refreshToken: "r", accessToken: "a", expiresAt: Date.now(), tokenType: "bearer" };
  const done: void = await tm.importTokens(imported);
  await tm.importTokens({ refreshToken: "r" });
  await tm.clear();
  const info: TokenInfo = tm.info();
  const state: TokenInfo["state"] = info.state;
  const expiresAt: number | null = info.expiresAt;
  const lastGrant: GrantType | null = tm.toJSON().lastGrant;
  const hasRefreshToken: boolean = info.hasRefreshToken;
  const nextRefreshAt: number | null = info.nextRefreshAt;
  tm.dispose();
  tm[Symbol.dispose]();
  tm.free();
  void [token, refreshed, response.status, done, state, expiresAt, lastGrant, hasRefreshToken, nextRefreshAt];

  // @ts-expect-error: importTokens needs a refreshToken
  await tm.importTokens({ accessToken: "a" });
  // @ts-expect-error: getAccessToken takes no argument
  await tm.getAccessToken(true);
}

// ---- Errors -----------------------------------------------------------------

function branch(error: unknown): string {
  const e = error as TokenError;
  const code: TokenErrorCode = e.code;
  switch (code) {
    case "reauth_required":
      return "sign in again";
    case "rate_limited":
      return `wait ${e.retryAfterMs ?? 0} ms`;
    case "invalid_client":
    case "invalid_grant":
    case "unauthorized_client":
    case "unsupported_grant_type":
    case "invalid_request":
    case "server_error":
    case "network":
    case "timeout":
    case "malformed_response":
    case "storage":
    case "lock_timeout":
    case "invalid_config":
    case "disposed":
      return `${e.name}: ${e.message} ${e.status ?? ""} ${e.retryable} ${e.description ?? ""}`;
    default: {
      const exhaustive: never = code;
      return exhaustive;
    }
  }
}
// @ts-expect-error: not a code
const notACode: TokenErrorCode = "expired";
const name: "TokenError" = ({} as TokenError).name;

void [incomplete, wrongVersion, anyGrant, methods, branch, notACode, name];
