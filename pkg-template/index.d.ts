/**
 * echovideo-auth: gets and keeps valid access tokens for the EchoVideo
 * (Echo360) public REST API.
 */

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
}

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
  /** Default: the global fetch. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
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
  /** Frees the wasm memory of this instance (wasm-bindgen). */
  free(): void;
}
