/**
 * echovideo-auth: gets and keeps valid access tokens for the EchoVideo
 * (Echo360) public REST API.
 */

declare global {
  // `Symbol.dispose` (for `using`), declared here too so that projects whose
  // `lib` lacks esnext.disposable still compile; identical to the lib's own.
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}

/** An EchoVideo hosting region. */
export type Region = "us" | "uk" | "au" | "ca";

/** A grant that needs no earlier token. */
export type FullGrantType = "client_credentials" | "password";

/** Every grant type the token endpoint knows. */
export type GrantType = FullGrantType | "refresh_token";

/**
 * A token set as it is saved and loaded through `storage`. Times are ms since
 * the epoch. It never holds the client secret or a password.
 */
export interface StoredTokenSet {
  v: 1;
  accessToken: string;
  refreshToken: string | null;
  tokenType: string;
  expiresAt: number;
  obtainedAt: number;
  clientId: string;
  baseUrl: string;
}

/**
 * Where token sets are kept between runs. Each function may return a value or
 * a Promise. `save` is awaited before a new access token is handed out.
 */
export interface TokenStorage {
  /** The last saved set, or null/undefined if there is none. */
  load(): StoredTokenSet | null | undefined | Promise<StoredTokenSet | null | undefined>;
  /** Keep this set (it replaces any earlier one). */
  save(set: StoredTokenSet): void | Promise<void>;
  /** Forget the saved set. */
  clear(): void | Promise<void>;
  /**
   * Optional: call `listener` whenever another context (tab, worker) changes
   * the saved set, and return a function that stops it. The manager then
   * adopts the new set, or the logout, without a request. The
   * `localStorageStorage` adapter offers it through `storage` events.
   */
  subscribe?(listener: () => void): (() => void) | undefined | void;
}

/** A `fetch`-compatible function: the global `fetch`, or a wrapper of it. */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** What `onRefresh` receives. Never carries a token. */
export interface RefreshEvent {
  /** The grant that produced the set; null when it came from storage or an import. */
  grant: GrantType | null;
  /** When the new access token expires (ms since the epoch). */
  expiresAt: number;
  /** Where the set came from. */
  source: "network" | "storage" | "import";
}

export interface TokenManagerOptions {
  /** The OAuth client id. Required. */
  clientId: string;
  /** Needed for the client_credentials and password grants; not for refresh. */
  clientSecret?: string;
  /** Default "us". Ignored when baseUrl is given. */
  region?: Region;
  /** Overrides region. Must be https unless the host is loopback. */
  baseUrl?: string;
  /** Default "/oauth2/access_token". */
  tokenPath?: string;
  /** Default "client_credentials". "password" also needs username and password. */
  grant?: FullGrantType;
  username?: string;
  password?: string;
  /** Default: in memory. */
  storage?: TokenStorage;
  /** Refresh when less than this is left. Default 300. */
  refreshMarginSeconds?: number;
  /** Per token request (and per storage call). Default 10000. */
  timeoutMs?: number;
  /** Retries of transient failures (network, timeout, 5xx, 429). Default 3. */
  maxRetries?: number;
  /**
   * Refresh in the background shortly before the access token expires, so
   * callers rarely wait. Default true where timers are allowed; false in
   * Cloudflare Workers, where a timer cannot outlive its request. The timer
   * never keeps a Node process alive.
   */
  autoRefresh?: boolean;
  /**
   * Renew under a Web Lock (`navigator.locks`) shared by every tab and worker
   * of the origin, re-reading storage inside it, so two contexts never send
   * the same single-use refresh token. Default: on where Web Locks exist. A
   * string names the lock (default: derived from baseUrl and clientId).
   * `true` or a name where Web Locks are missing throws `invalid_config`.
   */
  lock?: boolean | string;
  /** How long a renewal waits for the lock before rejecting with `lock_timeout`. Default 30000. */
  lockTimeoutMs?: number;
  /** Default: the global fetch, looked up at call time. Used for token requests and by `tm.fetch`. */
  fetch?: FetchFunction;
  /** After every new token set. */
  onRefresh?: (event: RefreshEvent) => void;
  /** Failures no caller awaits, such as a failed save. */
  onError?: (error: TokenError) => void;
}

/** The stable codes of TokenError. */
export type TokenErrorCode =
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_request"
  | "reauth_required"
  | "rate_limited"
  | "server_error"
  | "network"
  | "timeout"
  | "malformed_response"
  | "storage"
  | "lock_timeout"
  | "invalid_config"
  | "disposed";

/** Every rejection and every constructor failure is an Error of this shape. */
export interface TokenError extends Error {
  name: "TokenError";
  code: TokenErrorCode;
  /** The HTTP status, where there was an answer. */
  status?: number;
  /** Whether trying again later may succeed. */
  retryable: boolean;
  /** The server's error_description, where it sent one. */
  description?: string;
  /** The delay the server asked for (Retry-After), in ms. */
  retryAfterMs?: number;
}

/** What info() returns. Never holds a token. */
export interface TokenInfo {
  state: "unloaded" | "empty" | "valid" | "expiring" | "expired" | "refreshing" | "disposed";
  expiresAt: number | null;
  hasRefreshToken: boolean;
  lastGrant: GrantType | null;
  /** When the background renewal will run (ms since the epoch); null without autoRefresh or with nothing to renew. */
  nextRefreshAt: number | null;
}

/** Tokens obtained elsewhere, for importTokens. */
export interface ImportedTokens {
  refreshToken: string;
  /** Used only together with expiresAt. */
  accessToken?: string;
  /** When accessToken expires (ms since the epoch). */
  expiresAt?: number;
  /** Must be "bearer" (any case). Default "bearer". */
  tokenType?: string;
}

export class TokenManager {
  /** Throws a TokenError with code "invalid_config" naming a bad option. */
  constructor(options: TokenManagerOptions);
  /** A valid access token; grants or refreshes only when needed. */
  getAccessToken(): Promise<string>;
  /** A new access token now (refresh grant if a refresh token is held). */
  refresh(): Promise<string>;
  /**
   * `fetch(input, init)` with `Authorization: Bearer <access token>` set
   * (a valid token, as from `getAccessToken()`), through the `fetch` option
   * if given. On a 401 the token is renewed once and the request repeated,
   * when its body can be sent again. Rejects with a TokenError when no token
   * can be had; otherwise resolves to the API's Response, whatever its status.
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Adopts tokens obtained elsewhere and saves them. */
  importTokens(tokens: ImportedTokens): Promise<void>;
  /** Forgets tokens in memory and in storage. */
  clear(): Promise<void>;
  /** A snapshot with no network call. */
  info(): TokenInfo;
  /** What JSON.stringify shows: info(). */
  toJSON(): TokenInfo;
  /** Later calls reject with code "disposed". */
  dispose(): void;
  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void;
  /** Same as dispose() (wasm-bindgen classes have free(); the wasm memory is freed with the manager). */
  free(): void;
}

// ---- Storage adapters ---------------------------------------------------

/** The key every adapter uses unless given another: "echovideo-auth". */
export declare const DEFAULT_STORAGE_KEY: "echovideo-auth";

/**
 * In memory, in this JS realm only (deep copies in and out). The manager's
 * default already keeps tokens in memory; use this to share one set between
 * managers of the same client. Not shared across tabs, workers or isolates.
 */
export declare function memoryStorage(): TokenStorage;

/** The part of the Web Storage API that `localStorageStorage` uses. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * JSON under `key` (default "echovideo-auth") in `storage` (default
 * `globalThis.localStorage`). Throws a TypeError at once when there is no
 * such storage. A stored value that is not JSON, or not a token set, makes
 * calls reject with code "storage" until `tm.clear()` removes it. Its
 * `subscribe` follows other tabs' writes (`storage` events); with the
 * manager's `lock` (on by default where Web Locks exist) tabs renew one at a
 * time and never send the same single-use refresh token.
 */
export declare function localStorageStorage(key?: string, storage?: WebStorageLike): TokenStorage;

/**
 * The part of a Cloudflare Workers KV namespace (`KVNamespace`) that
 * `kvStorage` uses.
 */
export interface KVNamespaceLike {
  get(key: string, type: "json"): Promise<unknown>;
  put(key: string, value: string): Promise<unknown>;
  delete(key: string): Promise<unknown>;
}

/**
 * JSON under `key` in a Workers KV namespace. KV is eventually consistent
 * and shared by every isolate: another isolate may load a refresh token this
 * one already spent. Safe only where refresh tokens are expendable (a client
 * secret is configured, so a refused refresh falls back on a full grant);
 * for single-use refresh tokens use `durableObjectStorage`.
 */
export declare function kvStorage(namespace: KVNamespaceLike, key?: string): TokenStorage;

/**
 * The part of a Durable Object's storage (`ctx.storage`,
 * `DurableObjectStorage`) that `durableObjectStorage` uses.
 */
export interface DurableObjectStorageLike {
  get(key: string): Promise<unknown>;
  put(key: string, value: StoredTokenSet): Promise<unknown>;
  delete(key: string): Promise<unknown>;
}

/**
 * The set under `key` in a Durable Object's transactional storage. With the
 * TokenManager inside the Durable Object (one instance worldwide, strongly
 * consistent storage), rotated single-use refresh tokens are safe in Workers.
 */
export declare function durableObjectStorage(storage: DurableObjectStorageLike, key?: string): TokenStorage;
