//! The sans-IO core, exported to the package's JS driver as one class.
//!
//! This is the whole surface between the wasm and JS: the driver
//! (`pkg-template/manager.js`) starts an operation, performs the [`Step`]
//! the core asks for (load, lock, send, save, clear, sleep) with the
//! platform's `fetch`, timers and the caller's callbacks, and feeds the
//! result back, until the step is `Done`. The rules never leave Rust; the
//! I/O never enters it.
//!
//! Why the driver is JS and not async Rust: an `async` driver in the wasm
//! (wasm-bindgen-futures, closures for every callback, web-sys bindings,
//! conversions of every JS object) was more than half of the module, and
//! every kilobyte ships to every user. Plain values cross the boundary here:
//! numbers, strings and short arrays, never a JS object the core must read.
//!
//! Step codes returned by every `start`/`on_*` method:
//! 1 load, 2 lock, 3 send, 4 save, 5 clear, 6 sleep, 7 done with a token
//! (or nothing), 8 done with an error. [`Engine::step_data`] gives the
//! step's details. Errors cross as `[code, message, status, description,
//! retryAfterMs, retryable]`; the driver makes the `TokenError` from them.
//!
//! The renewal timer is owned here ([`RenewalTimer`]): armed by the driver,
//! cancelled by `disarm`, by `dispose`, and when the engine is freed.

use crate::core::api::{after_api_response, ApiDecision};
use crate::core::config::{Config, Options, UrlParts};
use crate::core::error::{Error, ErrorCode};
use crate::core::grant::{HttpAnswer, JsonValue, ResponseBody, ResponseFields};
use crate::core::machine::{Failure, Machine, Operation, OperationKind, Outcome, Step};
use crate::core::secret::{AccessToken, ClientSecret, Password, RefreshToken};
use crate::core::token::{Event, StoredTokenSet, TokenSet};
use crate::timer::RenewalTimer;
use js_sys::Function;
use wasm_bindgen::prelude::*;

/// The core's state machine and the operation in progress.
#[wasm_bindgen]
pub struct Engine {
    machine: Machine,
    operation: Operation,
    step: Step,
    timer: Option<RenewalTimer>,
}

const LOAD: u8 = 1;
const LOCK: u8 = 2;
const SEND: u8 = 3;
const SAVE: u8 = 4;
const CLEAR: u8 = 5;
const SLEEP: u8 = 6;
const DONE: u8 = 7;
const FAILED: u8 = 8;

/// An error as the driver receives it.
fn error_parts(error: &Error) -> JsValue {
    let parts = js_sys::Array::new();
    parts.push(&JsValue::from_str(error.code().as_str()));
    parts.push(&JsValue::from_str(error.message()));
    parts.push(&error.status().map_or(JsValue::UNDEFINED, JsValue::from));
    parts.push(
        &error
            .description()
            .map_or(JsValue::UNDEFINED, JsValue::from_str),
    );
    parts.push(
        &error
            .retry_after_ms()
            .map_or(JsValue::UNDEFINED, |ms| JsValue::from_f64(ms as f64)),
    );
    parts.push(&JsValue::from_bool(error.retryable()));
    parts.into()
}

/// A field of a parsed JSON body, as the core's parser wants it.
fn json_value(value: JsValue) -> JsonValue {
    if value.is_undefined() {
        JsonValue::Absent
    } else if value.is_null() {
        JsonValue::Null
    } else if let Some(flag) = value.as_bool() {
        JsonValue::Bool(flag)
    } else if let Some(number) = value.as_f64() {
        JsonValue::Number(number)
    } else if let Some(text) = value.as_string() {
        JsonValue::String(text)
    } else {
        JsonValue::Other
    }
}

/// A storage callback's failure (`detail`), or success.
fn storage_result(operation: &str, failure: Option<String>) -> Result<(), Error> {
    match failure {
        None => Ok(()),
        Some(detail) => Err(Error::storage(operation, &detail)),
    }
}

#[wasm_bindgen]
impl Engine {
    /// Validates the options (already type-checked by the driver) and makes
    /// the engine; throws the error parts on an invalid option. `url` is
    /// `baseUrl` split by the platform's `URL`: protocol, username,
    /// password, hostname, port, pathname, search, hash.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client_id: Option<String>,
        client_secret: Option<String>,
        region: Option<String>,
        url: Option<Vec<String>>,
        token_path: Option<String>,
        grant: Option<String>,
        username: Option<String>,
        password: Option<String>,
        refresh_margin_seconds: Option<f64>,
        timeout_ms: Option<f64>,
        max_retries: Option<f64>,
        coordinated: bool,
        lock_timeout_ms: Option<f64>,
    ) -> Result<Engine, JsValue> {
        let base_url = url.map(|parts| {
            let mut parts = parts.into_iter();
            let mut next = || parts.next().unwrap_or_default();
            UrlParts {
                protocol: next(),
                username: next(),
                password: next(),
                hostname: next(),
                port: next(),
                pathname: next(),
                search: next(),
                hash: next(),
            }
        });
        let config = Config::new(Options {
            client_id,
            client_secret: client_secret.map(ClientSecret::new),
            region,
            base_url,
            token_path,
            grant,
            username,
            password: password.map(Password::new),
            refresh_margin_seconds,
            timeout_ms,
            max_retries,
            coordinated,
            lock_timeout_ms,
        })
        .map_err(|error| error_parts(&error))?;
        Ok(Engine {
            machine: Machine::new(config),
            operation: Operation::new(OperationKind::Ensure),
            step: Step::Load,
            timer: None,
        })
    }

    /// The name of the lock shared by every context using this client on
    /// this server.
    #[wasm_bindgen(js_name = lockName)]
    pub fn lock_name(&self) -> String {
        let config = self.machine.config();
        let mut name = String::from("echovideo-auth ");
        name.push_str(&config.base_url);
        name.push(' ');
        name.push_str(&config.client_id);
        name
    }

    /// The per-request timeout (ms), also the bound on storage callbacks.
    #[wasm_bindgen(js_name = timeoutMs)]
    pub fn timeout_ms(&self) -> f64 {
        self.machine.config().timeout_ms as f64
    }

    /// How long a renewal waits for the shared lock (ms).
    #[wasm_bindgen(js_name = lockTimeoutMs)]
    pub fn lock_timeout_ms(&self) -> f64 {
        self.machine.config().lock_timeout_ms as f64
    }

    /// A token that may be handed out at `now` with no I/O.
    pub fn fresh(&self, now: f64) -> Option<String> {
        self.machine
            .fresh_token(now)
            .map(|token| token.secret().to_owned())
    }

    /// `[token, from, until]`: while `from <= now < until` the held token is
    /// what an idle engine would hand out; empty when there is none.
    #[wasm_bindgen(js_name = fastPath)]
    pub fn fast_path(&self) -> Vec<JsValue> {
        match self.machine.fast_path() {
            Some((token, window)) => vec![
                JsValue::from_str(token.secret()),
                JsValue::from_f64(window.from_ms),
                JsValue::from_f64(window.until_ms),
            ],
            None => Vec::new(),
        }
    }

    /// Whether `token` is the access token held now (fresh or not).
    pub fn holds(&self, token: &str) -> bool {
        self.machine
            .held_access_token()
            .is_some_and(|held| held.secret() == token)
    }

    /// Whether `tm.fetch` should renew the token and send its request once
    /// more after the API answered `status` to the first attempt
    /// (`replayable`: the request's body can be sent again).
    #[wasm_bindgen(js_name = renewAfter)]
    pub fn renew_after(&self, status: u16, replayable: bool) -> bool {
        after_api_response(status, 0, replayable) == ApiDecision::RenewAndRetry
    }

    /// How many grants the token endpoint has answered with a token set.
    pub fn grants(&self) -> f64 {
        self.machine.grant_count() as f64
    }

    /// When the background renewal should run (ms since the epoch).
    pub fn due(&self) -> Option<f64> {
        self.machine.poll_timeout()
    }

    /// `[state, expiresAt, hasRefreshToken, lastGrant]` at `now`.
    pub fn info(&self, now: f64) -> Vec<JsValue> {
        let info = self.machine.info(now);
        vec![
            JsValue::from_str(info.state.as_str()),
            info.expires_at_ms.map_or(JsValue::NULL, JsValue::from_f64),
            JsValue::from_bool(info.has_refresh_token),
            info.last_grant
                .map_or(JsValue::NULL, |grant| JsValue::from_str(grant.as_str())),
        ]
    }

    /// Stops the engine: no further request; the timer is cancelled.
    pub fn dispose(&mut self) {
        self.machine.dispose();
        self.timer = None;
    }

    /// Whether `dispose` was called.
    pub fn disposed(&self) -> bool {
        self.machine.is_disposed()
    }

    /// Calls `callback` after `delay` ms, replacing any pending renewal
    /// timer. `false` where the runtime refuses timers (workerd outside a
    /// request): the manager then renews lazily.
    pub fn arm(&mut self, delay: f64, callback: &Function) -> bool {
        self.timer = RenewalTimer::new(delay, callback);
        self.timer.is_some()
    }

    /// Cancels the renewal timer.
    pub fn disarm(&mut self) {
        self.timer = None;
    }

    /// Starts an operation: 0 ensure, 1 force, 2 scheduled, 3 clear,
    /// 4 sync with storage.
    pub fn start(&mut self, kind: u8, now: f64) -> u8 {
        let kind = match kind {
            1 => OperationKind::Force,
            2 => OperationKind::Scheduled,
            3 => OperationKind::Clear,
            4 => OperationKind::Sync,
            _ => OperationKind::Ensure,
        };
        self.begin(kind, now)
    }

    /// Starts adopting tokens obtained elsewhere (already checked by the
    /// driver). Without an access token and its expiry the set counts as
    /// expired, so the next use refreshes.
    #[wasm_bindgen(js_name = startImport)]
    pub fn start_import(
        &mut self,
        refresh_token: String,
        access_token: Option<String>,
        token_type: String,
        expires_at: Option<f64>,
        now: f64,
    ) -> u8 {
        let (access_token, expires_at) = match (access_token, expires_at) {
            (Some(token), Some(at)) => (token, at),
            _ => (String::from("-"), now),
        };
        let set = TokenSet {
            access_token: AccessToken::new(access_token),
            refresh_token: Some(RefreshToken::new(refresh_token)),
            token_type,
            expires_at_ms: expires_at,
            obtained_at_ms: now,
        };
        self.begin(OperationKind::Import(set), now)
    }

    /// The result of a load: `failure` describes a callback that failed; a
    /// record that is present comes as its fields (already type-checked).
    #[wasm_bindgen(js_name = onLoaded)]
    #[allow(clippy::too_many_arguments)]
    pub fn on_loaded(
        &mut self,
        failure: Option<String>,
        present: bool,
        access_token: String,
        refresh_token: Option<String>,
        token_type: String,
        expires_at: f64,
        obtained_at: f64,
        client_id: String,
        base_url: String,
        now: f64,
    ) -> u8 {
        let loaded = match failure {
            Some(detail) => Err(Error::storage("load", &detail)),
            None => Ok(present.then(|| StoredTokenSet {
                tokens: TokenSet {
                    access_token: AccessToken::new(access_token),
                    refresh_token: refresh_token.map(RefreshToken::new),
                    token_type,
                    expires_at_ms: expires_at,
                    obtained_at_ms: obtained_at,
                },
                client_id,
                base_url,
            })),
        };
        let step = self.machine.on_loaded(&mut self.operation, loaded, now);
        self.set(step)
    }

    /// The lock was taken (`failure` absent) or not (its message).
    #[wasm_bindgen(js_name = onLocked)]
    pub fn on_locked(&mut self, failure: Option<String>) -> u8 {
        let locked = match failure {
            None => Ok(()),
            Some(message) => Err(Error::new(ErrorCode::LockTimeout, message)),
        };
        let step = self.machine.on_locked(&mut self.operation, locked);
        self.set(step)
    }

    /// `storage.save` settled.
    #[wasm_bindgen(js_name = onSaved)]
    pub fn on_saved(&mut self, failure: Option<String>, now: f64) -> u8 {
        let saved = storage_result("save", failure);
        let step = self.machine.on_saved(&mut self.operation, saved, now);
        self.set(step)
    }

    /// `storage.clear` settled.
    #[wasm_bindgen(js_name = onCleared)]
    pub fn on_cleared(&mut self, failure: Option<String>) -> u8 {
        let cleared = storage_result("clear", failure);
        let step = self.machine.on_cleared(&mut self.operation, cleared);
        self.set(step)
    }

    /// A sleep ended.
    #[wasm_bindgen(js_name = onWoke)]
    pub fn on_woke(&mut self, now: f64) -> u8 {
        let step = self.machine.on_woke(&mut self.operation, now);
        self.set(step)
    }

    /// The token endpoint's answer, or why there is none. `failure`: 0 an
    /// answer, 1 surely not sent, 2 lost after sending, 3 timed out.
    /// `body`: 0 a JSON object (its fields follow), 1 JSON but not an
    /// object, 2 not JSON.
    #[wasm_bindgen(js_name = onAnswer)]
    #[allow(clippy::too_many_arguments)]
    pub fn on_answer(
        &mut self,
        failure: u8,
        detail: String,
        status: u16,
        retry_after: Option<String>,
        body: u8,
        token_type: JsValue,
        access_token: JsValue,
        refresh_token: JsValue,
        expires_in: JsValue,
        error: JsValue,
        error_description: JsValue,
        now: f64,
        jitter: f64,
    ) -> u8 {
        let outcome = match failure {
            1 => Outcome::Failed(Failure::NotSent(detail)),
            2 => Outcome::Failed(Failure::Lost(detail)),
            3 => Outcome::Failed(Failure::TimedOut),
            _ => Outcome::Answer(HttpAnswer {
                status,
                retry_after,
                body: match body {
                    0 => ResponseBody::Object(ResponseFields {
                        token_type: json_value(token_type),
                        access_token: json_value(access_token),
                        refresh_token: json_value(refresh_token),
                        expires_in: json_value(expires_in),
                        error: json_value(error),
                        error_description: json_value(error_description),
                    }),
                    1 => ResponseBody::NotAnObject,
                    _ => ResponseBody::NotJson,
                },
            }),
        };
        let step = self
            .machine
            .on_answer(&mut self.operation, outcome, now, jitter);
        self.set(step)
    }

    /// The current step's details: send `[url, body, method, headers...]`
    /// (header names and values alternate); save the stored record's fields
    /// `[accessToken, refreshToken, tokenType, expiresAt, obtainedAt,
    /// clientId, baseUrl]`; sleep `[ms]`; done `[token]` or `[error parts]`.
    #[wasm_bindgen(js_name = stepData)]
    pub fn step_data(&self) -> Vec<JsValue> {
        match &self.step {
            Step::Send(request) => {
                let mut data = vec![
                    JsValue::from_str(&request.url),
                    JsValue::from_str(request.body.secret()),
                    JsValue::from_str(crate::core::grant::TokenRequest::METHOD),
                ];
                for (name, value) in crate::core::grant::TokenRequest::HEADERS {
                    data.push(JsValue::from_str(name));
                    data.push(JsValue::from_str(value));
                }
                data
            }
            Step::Save(stored) => {
                let tokens = &stored.tokens;
                vec![
                    JsValue::from_str(tokens.access_token.secret()),
                    tokens
                        .refresh_token
                        .as_ref()
                        .map_or(JsValue::NULL, |token| JsValue::from_str(token.secret())),
                    JsValue::from_str(&tokens.token_type),
                    JsValue::from_f64(tokens.expires_at_ms),
                    JsValue::from_f64(tokens.obtained_at_ms),
                    JsValue::from_str(&stored.client_id),
                    JsValue::from_str(&stored.base_url),
                ]
            }
            Step::Sleep(ms) => vec![JsValue::from_f64(*ms as f64)],
            Step::Done(Ok(token)) => vec![token.as_ref().map_or(JsValue::UNDEFINED, |token| {
                JsValue::from_str(token.secret())
            })],
            Step::Done(Err(error)) => vec![error_parts(error)],
            Step::Load | Step::Lock | Step::Clear => Vec::new(),
        }
    }

    /// The next queued event: `[grant, expiresAt, source]` for a new token
    /// set, `[error parts]` for a background failure, empty when none is left.
    #[wasm_bindgen(js_name = nextEvent)]
    pub fn next_event(&mut self) -> Vec<JsValue> {
        match self.machine.poll_event() {
            Some(Event::Refreshed {
                grant,
                expires_at_ms,
                source,
            }) => vec![
                grant.map_or(JsValue::NULL, |grant| JsValue::from_str(grant.as_str())),
                JsValue::from_f64(expires_at_ms),
                JsValue::from_str(source.as_str()),
            ],
            Some(Event::Error(error)) => vec![error_parts(&error)],
            None => Vec::new(),
        }
    }
}

impl Engine {
    fn begin(&mut self, kind: OperationKind, now: f64) -> u8 {
        self.operation = Operation::new(kind);
        let step = self.machine.start(&mut self.operation, now);
        self.set(step)
    }

    fn set(&mut self, step: Step) -> u8 {
        let code = match &step {
            Step::Load => LOAD,
            Step::Lock => LOCK,
            Step::Send(_) => SEND,
            Step::Save(_) => SAVE,
            Step::Clear => CLEAR,
            Step::Sleep(_) => SLEEP,
            Step::Done(Ok(_)) => DONE,
            Step::Done(Err(_)) => FAILED,
        };
        self.step = step;
        code
    }
}
