// The exported TokenManager class: the JS driver of the wasm engine.
//
// The rules (what to request, how to read the answer, when to renew, retry
// or fall back, the rotation state machine) are the engine's, in Rust; this
// file performs the steps the engine asks for with fetch, timers, locks and
// the caller's storage callbacks, and turns promises into calls back into
// the engine. See src/engine.rs for the protocol.
//
// Operations run one at a time on a single lane. Callers that want a token
// while a grant is in flight join it rather than start another: however many
// call at once, the token endpoint sees one grant (badgateway's single-flight
// refresh). importTokens() and clear() wait for the lane to be free, then
// take it. With autoRefresh, the engine's timer (owned by the wasm, cancelled
// by dispose() or when the manager is collected) runs a renewal on the same
// lane at the engine's deadline; wake-ups (tab shown, network back) check it
// at once, since timers pause in sleep. Timer and listeners reach the manager
// only through a WeakRef, so they never keep it alive.

import { Engine } from "./echovideo_auth.js";
import { isPlainObject, read, refusal, tokenError } from "./errors.js";
import { acquireLock } from "./lock.js";
import { readOptions } from "./options.js";
import { callStorage, fromRecord, toRecord } from "./storage.js";
import {
  apiRequest, discardBody, resolveFetch, responseStatus, sendTokenRequest, sendWithToken,
} from "./transport.js";

// Engine steps (src/engine.rs).
const LOAD = 1;
const LOCK = 2;
const SEND = 3;
const SAVE = 4;
const CLEAR = 5;
const SLEEP = 6;
const DONE = 7;

// Operations: the engine's kinds, and import.
const ENSURE = 0;
const FORCE = 1;
const SCHEDULED = 2;
const CLEAR_TOKENS = 3;
const SYNC = 4;
const IMPORT = 5;

// Lane users: token operations can be joined by other token callers; import,
// clear and storage sync cannot.
const TOKEN = 0;
const EXCLUSIVE = 1;

/** setTimeout fires at once for delays over 2^31 - 1 ms: longer waits are taken in steps. */
const MAX_TIMER_MS = 86_400_000;

/**
 * The fast path of each manager: while `from <= Date.now() < until`, `token`
 * is what the idle manager hands out. Kept here, not on the instance, so the
 * token never shows when a manager is inspected (devtools show private fields).
 */
const fastPaths = new WeakMap();

/**
 * Undoes what a collected manager left registered (listeners, subscriptions).
 * workerd has neither FinalizationRegistry nor WeakRef (nothing there is
 * registered: no timers, no wake-ups), so both are optional.
 */
const leftovers =
  typeof FinalizationRegistry === "function" ? new FinalizationRegistry((stop) => stop()) : undefined;

/** A reference to `target` that does not keep it alive, where the runtime allows one. */
const weakly = (target) => (typeof WeakRef === "function" ? new WeakRef(target) : { deref: () => target });

export class TokenManager {
  #engine;
  #fetch;
  #storage;
  #onRefresh;
  #onError;
  #autoRefresh;
  #lockName;
  /** `{ id, usage, promise }` of the operation holding the lane, or of the last one queued. */
  #lane;
  #laneIds = 0;
  /** The timer's and wake-ups' way in. */
  #wake;
  #stop;

  /**
   * Creates a manager. Throws a TokenError with code `invalid_config`, naming
   * the option, when an option is missing or wrong. Makes no request and
   * reads no storage until a token is asked for.
   */
  constructor(options) {
    const settings = readOptions(options);
    try {
      this.#engine = new Engine(...settings.engine);
    } catch (parts) {
      throw Array.isArray(parts) ? tokenError(parts) : parts;
    }
    this.#fetch = settings.fetch;
    this.#storage = settings.storage;
    this.#onRefresh = settings.onRefresh;
    this.#onError = settings.onError;
    this.#autoRefresh = settings.autoRefresh;
    this.#lockName = settings.lock === true ? this.#engine.lockName() : settings.lock;

    const self = weakly(this);
    this.#wake = () => self.deref()?.#onWake();
    const undo = [];
    const subscribe = read(this.#storage, "subscribe");
    if (typeof subscribe === "function") {
      try {
        const unsubscribe = subscribe.call(this.#storage, () => self.deref()?.#onStorageChange());
        if (typeof unsubscribe === "function") undo.push(() => unsubscribe.call(undefined));
      } catch {
        // A storage that cannot subscribe is read at each operation instead.
      }
    }
    if (this.#autoRefresh) {
      const onWakeEvent = () => {
        if (read(globalThis.document, "visibilityState") !== "hidden") self.deref()?.#onWake();
      };
      for (const [target, type] of [[globalThis.document, "visibilitychange"], [globalThis, "online"]]) {
        try {
          if (typeof target?.addEventListener !== "function") continue;
          target.addEventListener(type, onWakeEvent);
          undo.push(() => target.removeEventListener(type, onWakeEvent));
        } catch {
          // No such event here.
        }
      }
    }
    this.#stop = () => {
      for (const step of undo.splice(0)) {
        try {
          step();
        } catch {
          // Already gone.
        }
      }
    };
    leftovers?.register(this, this.#stop, this);
    this.#refreshSlot();
  }

  /**
   * Resolves to a valid access token: the held one while more than the
   * refresh margin is left (no I/O at all), otherwise after loading,
   * refreshing or granting as needed.
   */
  getAccessToken() {
    const lane = this.#lane;
    if (lane === undefined) {
      const now = Date.now();
      const fast = fastPaths.get(this);
      if (now >= fast.from && now < fast.until) return Promise.resolve(fast.token);
      const token = this.#engine.fresh(now);
      if (token !== undefined) return Promise.resolve(token);
      // Take the lane now: every caller until it is done gets its promise
      // (10,000 concurrent callers cost one operation, not 10,000 joiners).
      return this.#takeLane(ENSURE, TOKEN);
    }
    return lane.usage === TOKEN ? lane.promise : this.#run(ENSURE);
  }

  /**
   * Gets a new access token now (with the refresh token if one is held) and
   * resolves to it. Joins a grant already in flight.
   */
  refresh() {
    // On an idle manager take the lane now, so that a getAccessToken() in the
    // same tick waits for the new token instead of the old one.
    return this.#lane === undefined ? this.#takeLane(FORCE, TOKEN) : this.#run(FORCE);
  }

  /**
   * Adopts tokens obtained elsewhere: `{ refreshToken, accessToken?,
   * expiresAt?, tokenType? }`. The access token is used only with its
   * `expiresAt` (ms since the epoch); without them the next getAccessToken()
   * refreshes. Saved through storage like any new set.
   */
  importTokens(tokens) {
    let imported;
    try {
      imported = readImport(tokens);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#queueExclusive(IMPORT, imported);
  }

  /** Forgets the tokens, in memory and in storage (logout). */
  clear() {
    return this.#queueExclusive(CLEAR_TOKENS);
  }

  /**
   * `{ state, expiresAt, hasRefreshToken, lastGrant, nextRefreshAt }`, with no
   * I/O and never a token. `state` is one of `unloaded`, `empty`, `valid`,
   * `expiring`, `expired`, `refreshing`, `disposed`; `nextRefreshAt` is when
   * the background renewal will run (null without autoRefresh or with
   * nothing to renew).
   */
  info() {
    const [state, expiresAt, hasRefreshToken, lastGrant] = this.#engine.info(Date.now());
    const busy = this.#lane?.usage === TOKEN;
    return {
      state: state !== "disposed" && busy ? "refreshing" : state,
      expiresAt,
      hasRefreshToken,
      lastGrant,
      nextRefreshAt: (this.#autoRefresh && this.#engine.due()) || null,
    };
  }

  /** Same as dispose(); for code written against wasm-bindgen classes, which have free(). */
  free() {
    this.dispose();
  }

  /** What JSON.stringify(manager) shows: the info() snapshot, never a token or secret. */
  toJSON() {
    return this.info();
  }

  /**
   * Stops the manager: later calls reject with code `disposed`, and no
   * further request is sent. A token set already received is still saved.
   */
  dispose() {
    this.#engine.dispose();
    leftovers?.unregister(this);
    this.#stop();
    this.#refreshSlot();
  }

  /**
   * Like fetch(input, init), with `Authorization: Bearer <token>` added. On a
   * 401 it renews the token once and sends the request once more (when its
   * body can be replayed); a second 401, a 429 and every other answer are
   * returned as they are. Rejects with a TokenError when no token can be
   * had, and as fetch does when the request fails.
   */
  async fetch(input, init) {
    const [request, spare] = apiRequest(input, init);
    const send = resolveFetch(this.#fetch);
    const token = await this.#run(ENSURE);
    const response = await sendWithToken(send, request, token);
    if (!this.#engine.renewAfter(responseStatus(response), spare !== undefined)) return response;
    discardBody(response);
    // Renew only if the refused token is still the held one: a caller that
    // raced us may have renewed it already.
    const renewed = await this.#run(this.#engine.holds(token) ? FORCE : ENSURE);
    return sendWithToken(send, spare, renewed);
  }

  /**
   * Runs a token operation (ENSURE or FORCE): waits out import and clear,
   * joins a token operation in flight where that gives the caller what it
   * asked for, and otherwise takes the lane.
   */
  async #run(kind) {
    const grantsBefore = this.#engine.grants();
    for (;;) {
      if (this.#engine.disposed()) throw refusal("disposed", "the TokenManager was disposed");
      const lane = this.#lane;
      if (lane === undefined) break;
      let outcome;
      try {
        outcome = { token: await lane.promise };
      } catch (error) {
        outcome = { error };
      }
      // A token caller shares the outcome of the token operation it waited
      // for; refresh() only if that one made a new grant.
      if (lane.usage === TOKEN && (kind === ENSURE || this.#engine.grants() > grantsBefore)) {
        if ("error" in outcome) throw outcome.error;
        return outcome.token;
      }
    }
    if (kind === ENSURE) {
      const token = this.#engine.fresh(Date.now());
      if (token !== undefined) return token;
    }
    return this.#takeLane(kind, TOKEN);
  }

  /**
   * Queues import, clear or a storage sync behind whatever holds the lane, at
   * once: a getAccessToken() called right after waits instead of handing out
   * the token being replaced. Resolves to undefined.
   */
  #queueExclusive(kind, imported) {
    const previous = this.#lane?.promise;
    return this.#takeLane(kind, EXCLUSIVE, previous, imported).then(() => undefined);
  }

  /**
   * Starts `kind` on the lane (after `previous` settles) and registers it
   * synchronously. The lane is released when the operation ends, unless
   * another one was queued meanwhile.
   */
  #takeLane(kind, usage, previous, imported) {
    const id = ++this.#laneIds;
    const promise = (async () => {
      // Always yields first: the lane below is registered before any step runs.
      try {
        await previous;
      } catch {
        // The previous operation's caller sees its failure.
      }
      try {
        return await this.#drive(kind, imported);
      } finally {
        if (this.#lane?.id === id) this.#lane = undefined;
        this.#refreshSlot();
        this.#reschedule();
      }
    })();
    this.#lane = { id, usage, promise };
    return promise;
  }

  /** Performs the engine's steps for one operation until it is done. */
  async #drive(kind, imported) {
    const engine = this.#engine;
    const timeoutMs = engine.timeoutMs();
    const storage = this.#storage;
    let release;
    let step =
      kind === IMPORT ? engine.startImport(...imported, Date.now()) : engine.start(kind, Date.now());
    try {
      for (;;) {
        this.#deliverEvents();
        if (step === LOCK) {
          let failure = "no lock is configured";
          if (this.#lockName !== undefined) {
            [failure, release] = await acquireLock(this.#lockName, engine.lockTimeoutMs());
          }
          step = engine.onLocked(failure);
        } else if (step === LOAD) {
          let failure;
          let record = fromRecord(undefined);
          if (storage !== undefined) {
            let value;
            [failure, value] = await callStorage(storage, "load", undefined, timeoutMs);
            try {
              if (failure === undefined) record = fromRecord(value);
            } catch (field) {
              failure = `it returned an invalid token set (${field})`;
            }
          }
          step = engine.onLoaded(failure, ...record, Date.now());
        } else if (step === SEND) {
          const [failure, detail, status = 0, retryAfter, body = 2, fields = []] = await sendTokenRequest(
            this.#fetch,
            engine.stepData(),
            timeoutMs,
          );
          const [tokenType, accessToken, refreshToken, expiresIn, error, description] = fields;
          step = engine.onAnswer(
            failure, detail, status, retryAfter, body,
            tokenType, accessToken, refreshToken, expiresIn, error, description,
            Date.now(), Math.random(),
          );
        } else if (step === SAVE) {
          const record = toRecord(engine.stepData());
          const [failure] = storage === undefined ? [] : await callStorage(storage, "save", record, timeoutMs);
          step = engine.onSaved(failure, Date.now());
        } else if (step === CLEAR) {
          const [failure] = storage === undefined ? [] : await callStorage(storage, "clear", undefined, timeoutMs);
          step = engine.onCleared(failure);
        } else if (step === SLEEP) {
          const [ms] = engine.stepData();
          if (!(await sleep(ms))) {
            throw tokenError([
              "network", "a retry could not be scheduled: this runtime refused a timer",
              undefined, undefined, undefined, true,
            ]);
          }
          step = engine.onWoke(Date.now());
        } else if (step === DONE) {
          return engine.stepData()[0];
        } else {
          throw tokenError(engine.stepData()[0]);
        }
      }
    } finally {
      release?.();
    }
  }

  /** Hands the events the engine queued to onRefresh and onError. Never a token. */
  #deliverEvents() {
    for (let event = this.#engine.nextEvent(); event.length > 0; event = this.#engine.nextEvent()) {
      if (event.length === 1) {
        this.#report(tokenError(event[0]));
      } else if (this.#onRefresh !== undefined) {
        const [grant, expiresAt, source] = event;
        settle(this.#onRefresh, { grant, expiresAt, source });
      }
    }
  }

  /** Hands onError a failure no caller awaits. */
  #report(error) {
    if (this.#onError !== undefined) settle(this.#onError, error);
  }

  /**
   * Writes the fast path's current answer: the held token and its servable
   * window, or an empty window when there is nothing to serve. Called
   * whenever the engine's state may have changed (an operation ended,
   * dispose). getAccessToken() reads it only while no operation holds the
   * lane, so it need not be emptied while one does.
   */
  #refreshSlot() {
    const [token, from = 0, until = 0] = this.#engine.fastPath();
    fastPaths.set(this, { token, from, until });
  }

  /** Another context changed the stored set: adopt it (or its logout) behind the lane. */
  #onStorageChange() {
    if (this.#engine.disposed()) return;
    this.#queueExclusive(SYNC).catch((error) => this.#report(error));
  }

  /**
   * Replaces the renewal timer with one for the engine's next deadline (or
   * none). Where the runtime refuses a timer the manager stays lazy.
   */
  #reschedule() {
    if (!this.#autoRefresh) return;
    const due = this.#engine.due();
    if (due === undefined) {
      this.#engine.disarm();
    } else {
      this.#engine.arm(Math.min(Math.max(due - Date.now(), 0), MAX_TIMER_MS), this.#wake);
    }
  }

  /**
   * The timer fired or the page woke: renew now if the deadline has passed,
   * otherwise wait again. A renewal already on the lane reschedules when it ends.
   */
  #onWake() {
    if (this.#lane !== undefined) return;
    const due = this.#engine.due();
    if (due !== undefined && due <= Date.now() + 1) {
      this.#engine.disarm();
      this.#takeLane(SCHEDULED, TOKEN).catch((error) => this.#report(error));
    } else {
      this.#reschedule();
    }
  }
}

if (typeof Symbol.dispose === "symbol") {
  TokenManager.prototype[Symbol.dispose] = TokenManager.prototype.dispose;
}

/**
 * Calls a listener with `this` undefined, swallowing what it throws and a
 * rejection of the promise it returns: a listener's bug must not break token
 * handling or become an unhandled rejection.
 */
function settle(listener, payload) {
  try {
    const returned = listener.call(undefined, payload);
    if (returned instanceof Promise) returned.catch(() => {});
  } catch {
    // Ignored, as documented.
  }
}

/** Waits `ms`; false at once if the runtime refuses a timer. */
function sleep(ms) {
  return new Promise((resolve) => {
    try {
      setTimeout(resolve, ms, true);
    } catch {
      resolve(false);
    }
  });
}

/** Checks the argument of importTokens() into the engine's startImport arguments. */
function readImport(tokens) {
  const invalid = (field, reason) => refusal("invalid_request", `importTokens: \`${field}\` ${reason}`);
  if (!isPlainObject(tokens)) throw invalid("tokens", "must be an object");
  const text = (field) => {
    const value = read(tokens, field);
    if (value == null) return undefined;
    if (typeof value !== "string") throw invalid(field, "must be a string");
    return value === "" ? undefined : value;
  };
  const refreshToken = text("refreshToken");
  if (refreshToken === undefined) throw invalid("refreshToken", "is required");
  const accessToken = text("accessToken");
  const tokenType = text("tokenType") ?? "bearer";
  if (tokenType.toLowerCase() !== "bearer") throw invalid("tokenType", "must be bearer");
  let expiresAt = read(tokens, "expiresAt");
  if (expiresAt != null && typeof expiresAt !== "number") {
    throw invalid("expiresAt", "must be a number (ms since the epoch)");
  }
  if (!Number.isFinite(expiresAt)) expiresAt = undefined;
  return [refreshToken, accessToken, tokenType, expiresAt];
}
