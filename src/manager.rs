//! The exported `TokenManager` class: options in, promises out.
//!
//! All state lives in one `Rc<Shared>` that async methods clone; no borrow of
//! it is ever held across an `.await` or a call into user code, so a listener
//! that calls back into the manager cannot hit wasm-bindgen's "recursive use
//! of an object" error.
//!
//! Operations run one at a time on a single lane (`Shared::lane`). Callers
//! that want a token while a grant is in flight join it rather than start
//! another: however many call at once, the token endpoint sees one grant
//! (badgateway's single-flight refresh). `importTokens` and `clear` wait for
//! the lane to be free, then take it.
//!
//! With `autoRefresh`, one owned timer waits for the core's
//! [`poll_timeout`](Machine::poll_timeout) and runs a `Scheduled` renewal on
//! the same lane; wake-ups (tab shown, network back) check it at once, since
//! timers pause in sleep. Timer and listeners hold only a weak reference, are
//! replaced after every operation and dropped by `dispose()` or when the
//! manager is freed; the Node timer is `unref`ed so it never keeps a script
//! alive.

use crate::core::api::{after_api_response, ApiDecision};
use crate::core::config::Config;
use crate::core::error::{Error, ErrorCode};
use crate::core::machine::{Machine, Operation, OperationKind, Step};
use crate::core::secret::{AccessToken, RefreshToken};
use crate::core::token::TokenSet;
use crate::js::clock::{jitter, now_ms};
use crate::js::error::to_js;
use crate::js::events::Listeners;
use crate::js::object::{get, is_plain_object, optional_number, optional_string, set};
use crate::js::options::LockName;
use crate::js::storage::Storage;
use crate::js::timer::Timeout;
use crate::js::wake::WakeListeners;
use crate::js::{api, http, lock, options, timer};
use js_sys::{Function, Object, Promise};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

/// Gets and keeps a valid EchoVideo access token. See the package README for
/// the options and methods.
#[wasm_bindgen]
pub struct TokenManager {
    shared: Rc<Shared>,
}

/// What kind of operation holds the lane: token operations can be joined by
/// other token callers; import and clear cannot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LaneUse {
    Token,
    Exclusive,
}

/// The operation that holds the lane, or the last one queued on it.
#[derive(Clone)]
struct Lane {
    id: u64,
    usage: LaneUse,
    promise: Promise,
}

struct Shared {
    machine: RefCell<Machine>,
    fetch: Option<Function>,
    storage: Storage,
    listeners: Listeners,
    lane: RefCell<Option<Lane>>,
    next_lane_id: Cell<u64>,
    auto_refresh: bool,
    timer: RefCell<Option<Timeout>>,
    wake: RefCell<Option<WakeListeners>>,
    lock_name: Option<String>,
    unsubscribe: RefCell<Option<Function>>,
    /// Keeps the storage listener alive while subscribed.
    on_storage_change: RefCell<Option<Closure<dyn FnMut()>>>,
    /// `{ token, from, until }`: the fast path's answer for JS to read
    /// without entering the wasm (see `fast_path_slot`).
    slot: Object,
}

/// The longest single timer: `setTimeout` fires at once for delays over
/// 2^31 - 1 ms, so longer waits are taken in steps.
const MAX_TIMER_MS: f64 = 86_400_000.0;

#[wasm_bindgen]
impl TokenManager {
    /// Creates a manager. Throws a `TokenError` with code `invalid_config`,
    /// naming the option, when an option is missing or wrong. Makes no
    /// request and reads no storage until a token is asked for.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<TokenManager, JsValue> {
        let settings = options::read(&options).map_err(|error| to_js(&error))?;
        let config = Config::new(settings.options).map_err(|error| to_js(&error))?;
        let lock_name = settings.lock.map(|lock| match lock {
            LockName::Named(name) => name,
            LockName::Default => format!("echovideo-auth {} {}", config.base_url, config.client_id),
        });
        let shared = Rc::new(Shared {
            machine: RefCell::new(Machine::new(config)),
            fetch: settings.fetch,
            storage: settings.storage,
            listeners: Listeners {
                on_refresh: settings.on_refresh,
                on_error: settings.on_error,
            },
            lane: RefCell::new(None),
            next_lane_id: Cell::new(0),
            auto_refresh: settings.auto_refresh,
            timer: RefCell::new(None),
            wake: RefCell::new(None),
            lock_name,
            unsubscribe: RefCell::new(None),
            on_storage_change: RefCell::new(None),
            slot: Object::new(),
        });
        shared.refresh_slot();
        let weak = Rc::downgrade(&shared);
        let listener = Closure::<dyn FnMut()>::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.on_storage_change();
            }
        });
        if let Some(unsubscribe) = shared.storage.subscribe(listener.as_ref()) {
            *shared.unsubscribe.borrow_mut() = Some(unsubscribe);
            *shared.on_storage_change.borrow_mut() = Some(listener);
        }
        if shared.auto_refresh {
            let weak = Rc::downgrade(&shared);
            *shared.wake.borrow_mut() = WakeListeners::install(move || wake_up(&weak));
        }
        Ok(Self { shared })
    }

    /// Resolves to a valid access token: the held one while more than the
    /// refresh margin is left (no I/O at all), otherwise after loading,
    /// refreshing or granting as needed.
    #[wasm_bindgen(js_name = getAccessToken)]
    pub fn get_access_token(&self) -> Promise {
        let lane = self.shared.lane.borrow().clone();
        match lane {
            None => {
                if let Some(token) = self.shared.machine.borrow().fresh_token(now_ms()) {
                    return Promise::resolve(&JsValue::from_str(token.secret()));
                }
                // Take the lane now: every caller until it is done gets its
                // promise, with no future of its own (10,000 concurrent
                // callers cost one operation, not 10,000 joiners).
                self.shared
                    .clone()
                    .take_lane(OperationKind::Ensure, LaneUse::Token, None)
            }
            Some(lane) if lane.usage == LaneUse::Token => lane.promise,
            Some(_) => {
                let shared = self.shared.clone();
                future_to_promise(async move { shared.run(OperationKind::Ensure).await })
            }
        }
    }

    /// `{ token, from, until }`, kept current by the manager: while
    /// `from <= Date.now() < until`, `getAccessToken()` would resolve to
    /// `token` at once. The package's entry files read it to answer the hot
    /// path without entering the wasm; not part of the documented API.
    #[wasm_bindgen(js_name = __fastPath)]
    pub fn fast_path_slot(&self) -> Object {
        self.shared.slot.clone()
    }

    /// Gets a new access token now (with the refresh token if one is held)
    /// and resolves to it. Joins a grant already in flight.
    pub fn refresh(&self) -> Promise {
        // On an idle manager take the lane now, so that a getAccessToken()
        // in the same tick waits for the new token instead of the old one.
        if self.shared.lane.borrow().is_none() {
            return self
                .shared
                .clone()
                .take_lane(OperationKind::Force, LaneUse::Token, None);
        }
        let shared = self.shared.clone();
        future_to_promise(async move { shared.run(OperationKind::Force).await })
    }

    /// Adopts tokens obtained elsewhere: `{ refreshToken, accessToken?,
    /// expiresAt?, tokenType? }`. The access token is used only with its
    /// `expiresAt` (ms since the epoch); without them the next
    /// `getAccessToken()` refreshes. Saved through storage like any new set.
    #[wasm_bindgen(js_name = importTokens)]
    pub fn import_tokens(&self, tokens: JsValue) -> Promise {
        match imported_set(&tokens) {
            Ok(set) => self.shared.queue_exclusive(OperationKind::Import(set)),
            Err(error) => Promise::reject(&to_js(&error)),
        }
    }

    /// Forgets the tokens, in memory and in storage (logout).
    pub fn clear(&self) -> Promise {
        self.shared.queue_exclusive(OperationKind::Clear)
    }

    /// `{ state, expiresAt, hasRefreshToken, lastGrant, nextRefreshAt }`, with
    /// no I/O. `nextRefreshAt` is when the background renewal will run (null
    /// without `autoRefresh` or with nothing to renew).
    /// `state` is one of `unloaded`, `empty`, `valid`, `expiring`,
    /// `expired`, `refreshing`, `disposed`. Never holds a token.
    pub fn info(&self) -> JsValue {
        let info = self.shared.machine.borrow().info(now_ms());
        let busy =
            matches!(&*self.shared.lane.borrow(), Some(lane) if lane.usage == LaneUse::Token);
        let state = match info.state {
            crate::core::machine::TokenState::Disposed => "disposed",
            _ if busy => "refreshing",
            state => state.as_str(),
        };
        let object = Object::new();
        set(&object, "state", &JsValue::from_str(state));
        let expires_at = info.expires_at_ms.map_or(JsValue::NULL, JsValue::from_f64);
        set(&object, "expiresAt", &expires_at);
        set(
            &object,
            "hasRefreshToken",
            &JsValue::from_bool(info.has_refresh_token),
        );
        let last_grant = info
            .last_grant
            .map_or(JsValue::NULL, |grant| JsValue::from_str(grant.as_str()));
        set(&object, "lastGrant", &last_grant);
        let next_refresh = if self.shared.auto_refresh {
            self.shared.machine.borrow().poll_timeout()
        } else {
            None
        };
        set(
            &object,
            "nextRefreshAt",
            &next_refresh.map_or(JsValue::NULL, JsValue::from_f64),
        );
        object.into()
    }

    /// What `JSON.stringify(manager)` shows: the `info()` snapshot, never a
    /// token or secret.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> JsValue {
        self.info()
    }

    /// Stops the manager: later calls reject with code `disposed`, and no
    /// further request is sent. A token set already received is still saved.
    pub fn dispose(&self) {
        self.shared.machine.borrow_mut().dispose();
        self.shared.stop();
        self.shared.refresh_slot();
    }

    /// Like `fetch(input, init)`, with `Authorization: Bearer <token>` added.
    /// On a 401 it renews the token once and sends the request once more
    /// (when its body can be replayed); a second 401, a 429 and every other
    /// answer are returned as they are. Rejects with a `TokenError` when no
    /// token can be had, and as `fetch` does when the request fails.
    pub fn fetch(&self, input: JsValue, init: JsValue) -> Promise {
        let shared = self.shared.clone();
        future_to_promise(async move { shared.authorized_fetch(input, init).await })
    }
}

impl Shared {
    /// Runs a token operation (`Ensure` or `Force`): waits out import and
    /// clear, joins a token operation in flight where that gives the caller
    /// what it asked for, and otherwise takes the lane.
    async fn run(self: Rc<Self>, kind: OperationKind) -> Result<JsValue, JsValue> {
        let grants_before = self.machine.borrow().grant_count();
        loop {
            if self.machine.borrow().is_disposed() {
                return Err(to_js(&Error::disposed()));
            }
            let current = self.lane.borrow().clone();
            let Some(lane) = current else { break };
            let result = JsFuture::from(lane.promise).await;
            // A token caller shares the outcome of the token operation it
            // waited for; `refresh()` only if that one made a new grant.
            if lane.usage == LaneUse::Token {
                let granted = self.machine.borrow().grant_count() > grants_before;
                if kind == OperationKind::Ensure || granted {
                    return result;
                }
            }
        }
        if kind == OperationKind::Ensure {
            if let Some(token) = self.machine.borrow().fresh_token(now_ms()) {
                return Ok(JsValue::from_str(token.secret()));
            }
        }
        JsFuture::from(self.take_lane(kind, LaneUse::Token, None)).await
    }

    /// Queues `importTokens` or `clear` behind whatever holds the lane, at
    /// once: a `getAccessToken()` called right after sees the lane taken and
    /// waits, instead of handing out the token being replaced.
    fn queue_exclusive(self: &Rc<Self>, kind: OperationKind) -> Promise {
        let previous = self.lane.borrow().as_ref().map(|lane| lane.promise.clone());
        let promise = self.clone().take_lane(kind, LaneUse::Exclusive, previous);
        // Resolves to undefined: the operation's token is not the caller's business.
        future_to_promise(async move { JsFuture::from(promise).await.map(|_| JsValue::UNDEFINED) })
    }

    /// Starts `kind` on the lane (after `previous` settles, if given) and
    /// registers it synchronously. The lane is released when the operation
    /// ends, unless another one was queued meanwhile.
    fn take_lane(
        self: Rc<Self>,
        kind: OperationKind,
        usage: LaneUse,
        previous: Option<Promise>,
    ) -> Promise {
        let id = self.next_lane_id.get() + 1;
        self.next_lane_id.set(id);
        let driver = self.clone();
        let promise = future_to_promise(async move {
            if let Some(previous) = previous {
                let _ = JsFuture::from(previous).await;
            }
            let result = driver.drive(Operation::new(kind)).await;
            {
                let mut lane = driver.lane.borrow_mut();
                if lane.as_ref().is_some_and(|lane| lane.id == id) {
                    *lane = None;
                }
            }
            driver.refresh_slot();
            driver.reschedule();
            result
        });
        *self.lane.borrow_mut() = Some(Lane {
            id,
            usage,
            promise: promise.clone(),
        });
        self.refresh_slot();
        promise
    }

    /// Sends an API request with the bearer token; see `TokenManager::fetch`.
    async fn authorized_fetch(
        self: Rc<Self>,
        input: JsValue,
        init: JsValue,
    ) -> Result<JsValue, JsValue> {
        let request = api::new_request(&input, &init)?;
        let spare = api::replay_copy(&request);
        let fetch = http::resolve_fetch(self.fetch.as_ref())
            .map_err(|detail| js_sys::TypeError::new(&detail))?;
        let token = self.clone().run(OperationKind::Ensure).await?;
        let response = api::send_with_token(&fetch, &request, &token).await?;
        let decision = after_api_response(api::status(&response), 0, spare.is_some());
        let (ApiDecision::RenewAndRetry, Some(spare)) = (decision, spare) else {
            return Ok(response);
        };
        api::discard_body(&response);
        // Renew only if the refused token is still the held one: a caller
        // that raced us may have renewed it already.
        let still_held = self
            .machine
            .borrow()
            .held_access_token()
            .is_some_and(|held| token.as_string().as_deref() == Some(held.secret()));
        let kind = if still_held {
            OperationKind::Force
        } else {
            OperationKind::Ensure
        };
        let token = self.clone().run(kind).await?;
        api::send_with_token(&fetch, &spare, &token).await
    }

    /// Writes the fast path's current answer into the slot: the held token
    /// and its servable window, or an empty window while an operation holds
    /// the lane or there is nothing to serve. Called whenever either changes.
    fn refresh_slot(&self) {
        let busy = self.lane.borrow().is_some();
        let machine = self.machine.borrow();
        let (token, from, until) = match machine.fast_path() {
            Some((token, window)) if !busy => (
                JsValue::from_str(token.secret()),
                window.from_ms,
                window.until_ms,
            ),
            _ => (JsValue::UNDEFINED, 0.0, 0.0),
        };
        set(&self.slot, "token", &token);
        set(&self.slot, "from", &JsValue::from_f64(from));
        set(&self.slot, "until", &JsValue::from_f64(until));
    }

    /// Cancels the timer and removes every listener.
    fn stop(&self) {
        self.timer.borrow_mut().take();
        self.wake.borrow_mut().take();
        if let Some(unsubscribe) = self.unsubscribe.borrow_mut().take() {
            let _ = unsubscribe.call0(&JsValue::UNDEFINED);
        }
        self.on_storage_change.borrow_mut().take();
    }

    /// Another context changed the stored set: adopt it (or its logout)
    /// behind whatever holds the lane, then reschedule for the new set.
    fn on_storage_change(self: &Rc<Self>) {
        if self.machine.borrow().is_disposed() {
            return;
        }
        let synced = self.queue_exclusive(OperationKind::Sync);
        self.report_rejection(synced);
    }

    /// A background operation has no caller to reject: its failure goes to
    /// `onError` (if the manager still exists by then).
    fn report_rejection(self: &Rc<Self>, operation: Promise) {
        let shared = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(error) = JsFuture::from(operation).await {
                if let Some(shared) = shared.upgrade() {
                    shared.listeners.report(&error);
                }
            }
        });
    }

    /// Replaces the renewal timer with one for the core's next deadline (or
    /// none). Where the runtime refuses a timer the manager stays lazy.
    fn reschedule(self: &Rc<Self>) {
        if !self.auto_refresh {
            return;
        }
        let due = self.machine.borrow().poll_timeout();
        let timer = due.and_then(|due| {
            let delay = (due - now_ms()).clamp(0.0, MAX_TIMER_MS);
            let weak = Rc::downgrade(self);
            let timer = Timeout::new(delay, move || wake_up(&weak)).ok()?;
            timer.unref();
            Some(timer)
        });
        *self.timer.borrow_mut() = timer;
    }

    /// The timer fired or the page woke: renew now if the deadline has
    /// passed, otherwise wait again. A renewal already on the lane will
    /// reschedule when it ends.
    fn on_wake(self: &Rc<Self>) {
        if self.lane.borrow().is_some() {
            return;
        }
        let due = self.machine.borrow().poll_timeout();
        match due {
            Some(due) if due <= now_ms() + 1.0 => {
                self.timer.borrow_mut().take();
                let renewal =
                    self.clone()
                        .take_lane(OperationKind::Scheduled, LaneUse::Token, None);
                self.report_rejection(renewal);
            }
            _ => self.reschedule(),
        }
    }

    /// Performs the steps of one operation until it is done.
    async fn drive(&self, mut op: Operation) -> Result<JsValue, JsValue> {
        let (timeout_ms, lock_timeout_ms) = {
            let machine = self.machine.borrow();
            (
                machine.config().timeout_ms,
                machine.config().lock_timeout_ms,
            )
        };
        // Held from `Step::Lock` until this operation is done (dropped here).
        let mut _held_lock = None;
        let mut step = self.step(|machine| machine.start(&mut op, now_ms()));
        let result = loop {
            step = match step {
                Step::Lock => {
                    let locked = match &self.lock_name {
                        Some(name) => lock::acquire(name, lock_timeout_ms).await.map(|held| {
                            _held_lock = Some(held);
                        }),
                        None => Err(Error::new(ErrorCode::LockTimeout, "no lock is configured")),
                    };
                    self.step(|machine| machine.on_locked(&mut op, locked))
                }
                Step::Load => {
                    let loaded = self.storage.load(timeout_ms).await;
                    self.step(|machine| machine.on_loaded(&mut op, loaded, now_ms()))
                }
                Step::Send(request) => {
                    let outcome = http::send(self.fetch.as_ref(), &request, timeout_ms).await;
                    self.step(|machine| machine.on_answer(&mut op, outcome, now_ms(), jitter()))
                }
                Step::Save(set) => {
                    let saved = self.storage.save(&set, timeout_ms).await;
                    self.step(|machine| machine.on_saved(&mut op, saved, now_ms()))
                }
                Step::Clear => {
                    let cleared = self.storage.clear(timeout_ms).await;
                    self.step(|machine| machine.on_cleared(&mut op, cleared))
                }
                Step::Sleep(millis) => {
                    if timer::sleep(millis as f64).await.is_err() {
                        break Err(Error::new(
                            ErrorCode::Network,
                            "a retry could not be scheduled: this runtime refused a timer",
                        ));
                    }
                    self.step(|machine| machine.on_woke(&mut op, now_ms()))
                }
                Step::Done(result) => break result,
            };
        };
        result
            .map(|token| {
                token.map_or(JsValue::UNDEFINED, |token| {
                    JsValue::from_str(token.secret())
                })
            })
            .map_err(|error| to_js(&error))
    }

    /// Calls the machine, then delivers the events it queued, with no borrow
    /// held while listeners run.
    fn step(&self, handle: impl FnOnce(&mut Machine) -> Step) -> Step {
        let step = handle(&mut self.machine.borrow_mut());
        loop {
            let event = self.machine.borrow_mut().poll_event();
            match event {
                Some(event) => self.listeners.deliver(event),
                None => return step,
            }
        }
    }
}

/// Reads the argument of `importTokens`.
fn imported_set(tokens: &JsValue) -> Result<TokenSet, Error> {
    let invalid = |field: &str, reason: &str| {
        Error::new(
            ErrorCode::InvalidRequest,
            format!("importTokens: `{field}` {reason}"),
        )
    };
    if !is_plain_object(tokens) {
        return Err(invalid("tokens", "must be an object"));
    }
    let text = |field: &str| {
        optional_string(&get(tokens, field))
            .map_err(|_| invalid(field, "must be a string"))
            .map(|value| value.filter(|text| !text.is_empty()))
    };
    let refresh_token =
        text("refreshToken")?.ok_or_else(|| invalid("refreshToken", "is required"))?;
    let access_token = text("accessToken")?;
    let token_type = text("tokenType")?.unwrap_or_else(|| "bearer".to_owned());
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(invalid("tokenType", "must be bearer"));
    }
    let expires_at = optional_number(&get(tokens, "expiresAt"))
        .map_err(|_| invalid("expiresAt", "must be a number (ms since the epoch)"))?
        .filter(|time| time.is_finite());
    let now = now_ms();
    // Without a known expiry the access token cannot be trusted: the set
    // counts as expired, so the first use refreshes.
    let (access_token, expires_at) = match (access_token, expires_at) {
        (Some(token), Some(at)) => (token, at),
        _ => (String::from("-"), now),
    };
    Ok(TokenSet {
        access_token: AccessToken::new(access_token),
        refresh_token: Some(RefreshToken::new(refresh_token)),
        token_type,
        expires_at_ms: expires_at,
        obtained_at_ms: now,
    })
}

/// Timer and wake-up entry point: does nothing once the manager is gone.
fn wake_up(shared: &Weak<Shared>) {
    if let Some(shared) = shared.upgrade() {
        shared.on_wake();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop();
    }
}
