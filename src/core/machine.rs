//! The token state machine: what the manager holds, and what it does next.
//!
//! Sans-IO, after quinn-proto: nothing here performs I/O or reads a clock.
//! An operation (get a token, force a refresh, import, clear) is driven by a
//! loop in the JS layer that asks for a [`Step`], performs it (storage call,
//! HTTP request, sleep) and hands the result back with the current time:
//!
//! ```text
//! let mut step = machine.start(&mut op, now);
//! loop {
//!     step = match step {
//!         Step::Load => machine.on_loaded(&mut op, storage.load().await, now),
//!         Step::Send(request) => machine.on_answer(&mut op, fetch(request).await, now, random),
//!         Step::Save(set) => machine.on_saved(&mut op, storage.save(set).await, now),
//!         Step::Clear => machine.on_cleared(&mut op, storage.clear().await, now),
//!         Step::Sleep(ms) => { sleep(ms).await; machine.on_woke(&mut op, now) }
//!         Step::Done(result) => break result,
//!     }
//! }
//! ```
//!
//! The rules that keep a single-use refresh token safe live here:
//! - a new token set is saved before the operation completes, so no caller
//!   holds a token whose refresh token is not yet in storage;
//! - a refresh token the server rotated is remembered as spent and never sent
//!   again, even if storage or `importTokens` brings it back;
//! - a refresh token whose request may have reached the server without the
//!   answer reaching us is in doubt: a client with a secret drops it and makes
//!   a full grant, one without may try it exactly once more.

use super::config::{Config, FullGrant, GrantType};
use super::error::{Error, ErrorCode};
use super::grant::{
    error_from_answer, parse_token_response, GrantRequest, HttpAnswer, TokenRequest,
};
use super::retry::{backoff_ms, MAX_RETRY_AFTER_MS};
use super::secret::{AccessToken, RefreshToken};
use super::text::{concat, decimal};
use super::token::{Event, Source, StoredTokenSet, TokenSet, CLOCK_TOLERANCE_MS};
use std::collections::VecDeque;

/// How long a coordinated renewal waits for shared storage to settle before
/// it trusts a re-read that shows nothing newer. `localStorage` is eventually
/// consistent between tab processes (Chromium caches it per renderer and
/// updates the caches asynchronously), so the write a lock holder made just
/// before letting the lock go can reach the next holder after the lock does.
pub const STORAGE_SETTLE_MS: u64 = 150;

/// How many spent refresh-token fingerprints are remembered.
const SPENT_MEMORY: usize = 32;

/// The automatic renewal of a set fires up to this much before its refresh
/// time (at most a tenth of the time until then), spread by a hash of the
/// token, so that many clients given tokens at the same moment do not all
/// renew at the same moment.
pub const MAX_SCHEDULE_SPREAD_MS: f64 = 30_000.0;

/// What the caller asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationKind {
    /// A valid access token, renewed only if needed (`getAccessToken`).
    Ensure,
    /// A new access token now (`refresh`).
    Force,
    /// The automatic renewal (`autoRefresh`), run when [`Machine::poll_timeout`]
    /// says: renews the held set once its scheduled time has come, and
    /// otherwise behaves like `Ensure`.
    Scheduled,
    /// Adopt tokens obtained elsewhere (`importTokens`).
    Import(TokenSet),
    /// Forget all tokens (`clear`).
    Clear,
    /// Another context changed the shared storage: read it and adopt a newer
    /// set, or forget the held one if the other context logged out.
    Sync,
}

/// One operation in progress. Create with [`Operation::new`], drive with
/// [`Machine::start`] and the `on_*` handlers.
#[derive(Debug)]
pub struct Operation {
    kind: OperationKind,
    phase: Phase,
    retries: u32,
    locked: bool,
    settled: bool,
}

impl Operation {
    /// A new operation of `kind`.
    pub fn new(kind: OperationKind) -> Self {
        Self {
            kind,
            phase: Phase::Start,
            retries: 0,
            locked: false,
            settled: false,
        }
    }
}

#[derive(Debug)]
enum Phase {
    Start,
    Loading,
    Locking,
    Rereading,
    Settling,
    Syncing,
    SavingLeftover,
    Deciding,
    Requesting {
        grant: GrantType,
    },
    Waiting {
        until_ms: f64,
        delay_ms: u64,
    },
    SavingNew {
        source: Source,
        grant: Option<GrantType>,
    },
    Clearing {
        then: Result<(), Error>,
    },
    Finished,
}

/// How far the held refresh token can be trusted not to be spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// Nothing suggests the server consumed it.
    Trusted,
    /// A request with it may have been processed without our seeing the
    /// answer. A client without a secret may send it once more.
    InDoubt,
    /// That one more try has been sent.
    LastTry,
}

/// What an unsuccessful answer says about the request that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// It surely never reached the server.
    NotSent,
    /// The server answered with a transient error without processing it.
    Answered,
    /// The server refused it (4xx).
    Refused,
    /// The server may have processed it.
    MaybeConsumed,
}

/// The next thing the driver must do.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Call `storage.load()`, then [`Machine::on_loaded`].
    Load,
    /// Take the cross-context lock (held until the operation is done), then
    /// [`Machine::on_locked`]. Asked for only with `Config::coordinated`.
    Lock,
    /// Send this request, then [`Machine::on_answer`].
    Send(TokenRequest),
    /// Call `storage.save(set)`, then [`Machine::on_saved`].
    Save(StoredTokenSet),
    /// Call `storage.clear()`, then [`Machine::on_cleared`].
    Clear,
    /// Wait this long, then [`Machine::on_woke`].
    Sleep(u64),
    /// The operation is over. `Ok` holds the access token where there is one.
    Done(Result<Option<AccessToken>, Error>),
}

/// How a request ended when no HTTP answer arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The request surely never reached the server (connection refused, DNS).
    NotSent(String),
    /// The connection broke; the server may have processed the request.
    Lost(String),
    /// No answer in time; the server may have processed the request.
    TimedOut,
}

/// What came back from sending a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An HTTP answer.
    Answer(HttpAnswer),
    /// No answer.
    Failed(Failure),
}

/// The state of the held tokens, as `info()` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Storage has not been read yet.
    Unloaded,
    /// No tokens.
    Empty,
    /// A fresh access token is held.
    Valid,
    /// The access token is inside the refresh margin but not expired.
    Expiring,
    /// The access token has expired (or there is none, only a refresh token).
    Expired,
    /// The manager was disposed.
    Disposed,
}

impl TokenState {
    /// The string JS sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unloaded => "unloaded",
            Self::Empty => "empty",
            Self::Valid => "valid",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::Disposed => "disposed",
        }
    }
}

/// The wall-clock times between which a held token is handed out without
/// renewal: `from_ms` inclusive, `until_ms` exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServableWindow {
    /// The earliest time (the set's receipt, less the clock tolerance).
    pub from_ms: f64,
    /// The first time at which it is no longer handed out.
    pub until_ms: f64,
}

impl ServableWindow {
    /// Whether `now_ms` lies in the window.
    pub fn contains(&self, now_ms: f64) -> bool {
        now_ms >= self.from_ms && now_ms < self.until_ms
    }
}

/// A snapshot for `info()`. Holds no token.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// The state.
    pub state: TokenState,
    /// When the access token expires, if there is one.
    pub expires_at_ms: Option<f64>,
    /// Whether a refresh token is held.
    pub has_refresh_token: bool,
    /// The grant that produced the current set, if it came from the network.
    pub last_grant: Option<GrantType>,
}

/// The manager's state and rules.
#[derive(Debug)]
pub struct Machine {
    config: Config,
    tokens: Option<TokenSet>,
    loaded: bool,
    unsaved: bool,
    trust: Trust,
    renewal_failures: u32,
    renew_not_before_ms: f64,
    renewal_stopped: bool,
    /// The last `SPENT_MEMORY` spent fingerprints, a ring: slot
    /// `spent_count % SPENT_MEMORY` is the next to overwrite. A fixed array,
    /// not a `VecDeque`, to keep a second deque's code out of the wasm.
    spent: [u64; SPENT_MEMORY],
    /// How many fingerprints `spent` holds while it is filling up; once it
    /// is full, `SPENT_MEMORY` plus the slot to overwrite next.
    spent_count: usize,
    last_grant: Option<GrantType>,
    grants: u64,
    disposed: bool,
    events: VecDeque<Event>,
}

impl Machine {
    /// A machine with no tokens that has not read storage yet.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            tokens: None,
            loaded: false,
            unsaved: false,
            trust: Trust::Trusted,
            renewal_failures: 0,
            renew_not_before_ms: 0.0,
            renewal_stopped: false,
            spent: [0; SPENT_MEMORY],
            spent_count: 0,
            last_grant: None,
            grants: 0,
            disposed: false,
            events: VecDeque::new(),
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The access token, if one is held that is fresh at `now_ms`: the fast
    /// path of `getAccessToken()`, which needs no operation at all. `None`
    /// also while a failed save waits to be retried, so the next operation
    /// retries it.
    pub fn fresh_token(&self, now_ms: f64) -> Option<&AccessToken> {
        let (token, window) = self.fast_path()?;
        window.contains(now_ms).then_some(token)
    }

    /// The held access token and the window of wall-clock time in which
    /// [`fresh_token`](Self::fresh_token) hands it out, so a caller can cache
    /// the answer until something changes (the JS entries do, for speed).
    pub fn fast_path(&self) -> Option<(&AccessToken, ServableWindow)> {
        if self.disposed || !self.loaded || self.unsaved {
            return None;
        }
        self.token_window()
    }

    /// The held access token if it may be handed out without renewal at
    /// `now_ms`: it is fresh, or an early renewal failed a moment ago and the
    /// token has not expired yet (the renewal is then retried after a backoff,
    /// not on every call).
    fn servable_token(&self, now_ms: f64) -> Option<&AccessToken> {
        let (token, window) = self.token_window()?;
        window.contains(now_ms).then_some(token)
    }

    /// When the held token is servable: fresh until its refresh time, or,
    /// after a failed early renewal, until the retry or its expiry, whichever
    /// comes first; never while the clock reads more than the tolerance
    /// before it was obtained (the clock jumped back).
    fn token_window(&self) -> Option<(&AccessToken, ServableWindow)> {
        let set = self.tokens.as_ref()?;
        let fresh_until = set.refresh_at_ms(self.config.refresh_margin_ms);
        let cooling_until = self.renew_not_before_ms.min(set.expires_at_ms);
        let window = ServableWindow {
            from_ms: set.obtained_at_ms - CLOCK_TOLERANCE_MS,
            until_ms: fresh_until.max(cooling_until),
        };
        Some((&set.access_token, window))
    }

    /// When the automatic renewal should next run (ms since the epoch), or
    /// `None` when there is nothing to renew: no tokens, no way to renew them,
    /// disposed, or stopped by a failure that retrying cannot mend. The time
    /// may be in the past (a timer that slept through it): run it at once.
    /// The driver runs an [`OperationKind::Scheduled`] operation then.
    pub fn poll_timeout(&self) -> Option<f64> {
        if self.disposed || self.renewal_stopped {
            return None;
        }
        let set = self.tokens.as_ref()?;
        if set.refresh_token.is_none() && self.config.full_grant.is_none() {
            return None;
        }
        Some(self.scheduled_at_ms(set).max(self.renew_not_before_ms))
    }

    /// The scheduled renewal time of `set`: its refresh time, brought
    /// forward by a share of the spread that depends on the token only.
    fn scheduled_at_ms(&self, set: &TokenSet) -> f64 {
        let refresh_at = set.refresh_at_ms(self.config.refresh_margin_ms);
        let spread = ((refresh_at - set.obtained_at_ms) / 10.0).clamp(0.0, MAX_SCHEDULE_SPREAD_MS);
        let share = (set.access_token.fingerprint() % 1024) as f64 / 1024.0;
        refresh_at - spread * share
    }

    /// The access token `kind` may hand out at `now_ms` without a request.
    fn servable_for(&self, kind: &OperationKind, now_ms: f64) -> Option<&AccessToken> {
        match kind {
            OperationKind::Ensure => self.servable_token(now_ms),
            OperationKind::Scheduled => {
                let set = self.tokens.as_ref()?;
                let not_due =
                    now_ms < self.scheduled_at_ms(set) || now_ms < self.renew_not_before_ms;
                (not_due && set.is_fresh(now_ms, 0)).then_some(&set.access_token)
            }
            _ => None,
        }
    }

    /// The held access token, fresh or not (to tell whether a token an API
    /// refused is still the current one).
    pub fn held_access_token(&self) -> Option<&AccessToken> {
        self.tokens.as_ref().map(|set| &set.access_token)
    }

    /// How many grants the token endpoint has answered with a token set.
    pub fn grant_count(&self) -> u64 {
        self.grants
    }

    /// When the held set should be renewed (ms since the epoch), if one is held.
    pub fn refresh_due_at_ms(&self) -> Option<f64> {
        let tokens = self.tokens.as_ref()?;
        Some(tokens.refresh_at_ms(self.config.refresh_margin_ms))
    }

    /// A snapshot for `info()`.
    pub fn info(&self, now_ms: f64) -> Info {
        let state = match &self.tokens {
            _ if self.disposed => TokenState::Disposed,
            None if !self.loaded => TokenState::Unloaded,
            None => TokenState::Empty,
            Some(set) if set.is_fresh(now_ms, self.config.refresh_margin_ms) => TokenState::Valid,
            Some(set) if now_ms < set.expires_at_ms => TokenState::Expiring,
            Some(_) => TokenState::Expired,
        };
        Info {
            state,
            expires_at_ms: self.tokens.as_ref().map(|set| set.expires_at_ms),
            has_refresh_token: self
                .tokens
                .as_ref()
                .is_some_and(|set| set.refresh_token.is_some()),
            last_grant: self.last_grant,
        }
    }

    /// Marks the machine disposed: operations end with `disposed` before
    /// their next request. A set already received is still saved.
    pub fn dispose(&mut self) {
        self.disposed = true;
    }

    /// Whether [`dispose`](Self::dispose) was called.
    pub fn is_disposed(&self) -> bool {
        self.disposed
    }

    /// The next event to report, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Begins `op`.
    pub fn start(&mut self, op: &mut Operation, now_ms: f64) -> Step {
        if self.disposed {
            op.phase = Phase::Finished;
            return Step::Done(Err(Error::disposed()));
        }
        op.phase = Phase::Start;
        op.retries = 0;
        self.advance(op, now_ms)
    }

    /// Hands over what `storage.load()` gave.
    pub fn on_loaded(
        &mut self,
        op: &mut Operation,
        loaded: Result<Option<StoredTokenSet>, Error>,
        now_ms: f64,
    ) -> Step {
        let phase = core::mem::replace(&mut op.phase, Phase::Finished);
        let stored = match (phase, loaded) {
            (Phase::Loading | Phase::Rereading | Phase::Syncing, Err(error)) => {
                return self.finish(op, Err(error))
            }
            (Phase::Loading, Ok(stored)) => {
                self.loaded = true;
                if let Some(stored) = stored {
                    self.adopt_if_newer(stored);
                }
                op.phase = Phase::Start;
                return self.advance(op, now_ms);
            }
            (Phase::Rereading, Ok(stored)) => stored,
            (Phase::Syncing, Ok(stored)) => {
                match stored {
                    Some(stored) => {
                        self.adopt_if_newer(stored);
                    }
                    // Another context logged out. A set that failed to save
                    // here is newer than anything it saw, so it stays.
                    None if !self.unsaved => self.forget_tokens(),
                    None => {}
                }
                return self.finish(op, Ok(None));
            }
            _ => return self.out_of_order(op),
        };
        // Inside the lock: another context may have rotated while this one
        // waited; its set is adopted and no request is made.
        let adopted = stored.is_some_and(|stored| self.adopt_if_newer(stored));
        if !adopted && !op.settled {
            // Nothing newer, yet: read once more after storage has settled.
            op.settled = true;
            op.phase = Phase::Settling;
            return Step::Sleep(STORAGE_SETTLE_MS);
        }
        op.phase = Phase::Deciding;
        self.decide(op, now_ms)
    }

    /// Hands over whether the lock asked for by [`Step::Lock`] was taken.
    /// Holding it, the operation re-reads storage before it decides.
    pub fn on_locked(&mut self, op: &mut Operation, locked: Result<(), Error>) -> Step {
        if !matches!(op.phase, Phase::Locking) {
            return self.out_of_order(op);
        }
        if let Err(error) = locked {
            return self.finish(op, Err(error));
        }
        op.locked = true;
        op.phase = Phase::Rereading;
        Step::Load
    }

    /// Hands over how a request sent for [`Step::Send`] ended. `jitter` is a
    /// random number in `[0, 1)` for the backoff.
    pub fn on_answer(
        &mut self,
        op: &mut Operation,
        outcome: Outcome,
        now_ms: f64,
        jitter: f64,
    ) -> Step {
        let grant = match op.phase {
            Phase::Requesting { grant } => grant,
            _ => return self.out_of_order(op),
        };
        let (error, verdict) = match outcome {
            Outcome::Answer(answer) if answer.is_success() => {
                match parse_token_response(&answer, now_ms) {
                    Ok(set) => return self.accept_grant(op, grant, set),
                    // The server processed the grant, so the refresh token we
                    // sent is spent, and the new one is in a body we cannot read.
                    Err(error) => (error, Verdict::MaybeConsumed),
                }
            }
            Outcome::Answer(answer) => {
                let error = error_from_answer(&answer, now_ms);
                let verdict = match answer.status {
                    _ if error.retryable() => Verdict::Answered,
                    400..=499 => Verdict::Refused,
                    // A redirect or a status the platform could not report:
                    // something answered, and what it did is unknown.
                    _ => Verdict::MaybeConsumed,
                };
                (error, verdict)
            }
            Outcome::Failed(Failure::NotSent(detail)) => (
                Error::new(
                    ErrorCode::Network,
                    concat(&["the token request could not be sent: ", &detail]),
                ),
                Verdict::NotSent,
            ),
            Outcome::Failed(Failure::Lost(detail)) => (
                Error::new(
                    ErrorCode::Network,
                    concat(&["the connection to the token endpoint was lost: ", &detail]),
                ),
                Verdict::MaybeConsumed,
            ),
            Outcome::Failed(Failure::TimedOut) => (
                Error::new(
                    ErrorCode::Timeout,
                    concat(&[
                        "the token endpoint did not answer within ",
                        &decimal(self.config.timeout_ms),
                        " ms",
                    ]),
                ),
                Verdict::MaybeConsumed,
            ),
        };
        if grant == GrantType::RefreshToken {
            match verdict {
                Verdict::Refused => return self.refresh_rejected(op, error, now_ms),
                // The last try never left: it is still to be had.
                Verdict::NotSent if self.trust == Trust::LastTry => self.trust = Trust::InDoubt,
                // The server saw the last try and failed: it is used up.
                Verdict::Answered if self.trust == Trust::LastTry => self.kill_refresh_token(),
                Verdict::NotSent | Verdict::Answered => {}
                Verdict::MaybeConsumed => self.doubt_refresh_token(),
            }
            if self.refresh_token().is_none() && self.config.full_grant.is_none() {
                return self.drop_dead_tokens(op, reauth_required(Some(&error)));
            }
        }
        let renewing_early = matches!(op.kind, OperationKind::Ensure | OperationKind::Scheduled)
            && self
                .tokens
                .as_ref()
                .is_some_and(|set| set.is_fresh(now_ms, 0));
        if verdict == Verdict::Refused || !error.retryable() || renewing_early {
            return self.fail(op, error, now_ms, jitter);
        }
        self.retry_or_fail(op, error, now_ms, jitter)
    }

    /// Hands over how `storage.save()` ended.
    pub fn on_saved(&mut self, op: &mut Operation, saved: Result<(), Error>, now_ms: f64) -> Step {
        if !matches!(op.phase, Phase::SavingLeftover | Phase::SavingNew { .. }) {
            return self.out_of_order(op);
        }
        match saved {
            Ok(()) => self.unsaved = false,
            Err(error) => {
                let error = self.scrub(error);
                self.events.push_back(Event::Error(error));
            }
        }
        match core::mem::replace(&mut op.phase, Phase::Finished) {
            Phase::SavingLeftover => {
                op.phase = Phase::Deciding;
                self.advance(op, now_ms)
            }
            Phase::SavingNew { source, grant } => {
                let Some(tokens) = &self.tokens else {
                    return self.out_of_order(op);
                };
                self.events.push_back(Event::Refreshed {
                    grant,
                    expires_at_ms: tokens.expires_at_ms,
                    source,
                });
                let token = tokens.access_token.clone();
                self.finish(op, Ok(Some(token)))
            }
            _ => self.out_of_order(op),
        }
    }

    /// Hands over how `storage.clear()` ended.
    pub fn on_cleared(&mut self, op: &mut Operation, cleared: Result<(), Error>) -> Step {
        let Phase::Clearing { then } = core::mem::replace(&mut op.phase, Phase::Finished) else {
            return self.out_of_order(op);
        };
        match (cleared, then) {
            (Ok(()), then) => self.finish(op, then.map(|()| None)),
            // A logout whose storage could not be cleared must say so.
            (Err(error), Ok(())) => self.finish(op, Err(error)),
            // The caller learns why the tokens died; the failed clear is reported aside.
            (Err(error), Err(then)) => {
                let error = self.scrub(error);
                self.events.push_back(Event::Error(error));
                self.finish(op, Err(then))
            }
        }
    }

    /// Continues after a [`Step::Sleep`].
    pub fn on_woke(&mut self, op: &mut Operation, now_ms: f64) -> Step {
        match op.phase {
            // Early (timers may fire a little early): sleep the rest, but never
            // longer than the delay asked for, in case the clock jumped back.
            Phase::Waiting { until_ms, delay_ms }
                if now_ms + 1.0 < until_ms && until_ms - now_ms <= delay_ms as f64 =>
            {
                Step::Sleep((until_ms - now_ms) as u64)
            }
            Phase::Waiting { .. } => {
                op.phase = Phase::Deciding;
                self.advance(op, now_ms)
            }
            Phase::Settling => {
                op.phase = Phase::Rereading;
                Step::Load
            }
            _ => self.out_of_order(op),
        }
    }

    /// Runs the phases that need no I/O until one does.
    fn advance(&mut self, op: &mut Operation, now_ms: f64) -> Step {
        loop {
            match op.phase {
                Phase::Start => match &op.kind {
                    OperationKind::Import(set) => {
                        let set = set.clone();
                        return self.import(op, set);
                    }
                    OperationKind::Clear => {
                        self.forget_tokens();
                        self.loaded = true;
                        op.phase = Phase::Clearing { then: Ok(()) };
                        return Step::Clear;
                    }
                    OperationKind::Sync => {
                        if !self.loaded {
                            // Nothing read yet: the first operation will read it.
                            return self.finish(op, Ok(None));
                        }
                        op.phase = Phase::Syncing;
                        return Step::Load;
                    }
                    OperationKind::Ensure | OperationKind::Force | OperationKind::Scheduled => {
                        if !self.loaded {
                            op.phase = Phase::Loading;
                            return Step::Load;
                        }
                        if self.unsaved {
                            if let Some(set) = self.stored_set() {
                                op.phase = Phase::SavingLeftover;
                                return Step::Save(set);
                            }
                        }
                        op.phase = Phase::Deciding;
                    }
                },
                Phase::Deciding => return self.decide(op, now_ms),
                _ => return self.out_of_order(op),
            }
        }
    }

    /// Hands out the held token, or picks the grant to request.
    fn decide(&mut self, op: &mut Operation, now_ms: f64) -> Step {
        if self.disposed {
            return self.finish(op, Err(Error::disposed()));
        }
        if let Some(token) = self.servable_for(&op.kind, now_ms) {
            let token = token.clone();
            return self.finish(op, Ok(Some(token)));
        }
        if self.config.coordinated && !op.locked {
            op.phase = Phase::Locking;
            return Step::Lock;
        }
        let refresh_token = self
            .tokens
            .as_ref()
            .and_then(|set| set.refresh_token.as_ref());
        let request = match (refresh_token, &self.config.full_grant) {
            (Some(token), _) => {
                if self.trust == Trust::InDoubt {
                    self.trust = Trust::LastTry;
                }
                TokenRequest::new(&self.config, GrantRequest::Refresh(token))
            }
            (None, Some(full)) => TokenRequest::new(&self.config, GrantRequest::Full(full)),
            (None, None) => return self.drop_dead_tokens(op, reauth_required(None)),
        };
        op.phase = Phase::Requesting {
            grant: request.grant,
        };
        Step::Send(request)
    }

    /// A token set arrived: it replaces the held one and is saved before the
    /// operation hands it out.
    fn accept_grant(&mut self, op: &mut Operation, grant: GrantType, mut set: TokenSet) -> Step {
        let previous = self.tokens.take().and_then(|old| old.refresh_token);
        match (&set.refresh_token, previous) {
            // Rotated: the old one is spent for good.
            (Some(new), Some(old)) if *new != old => self.remember_spent(&old),
            (Some(_), Some(_)) => {}
            // No new refresh token: per RFC 6749 section 6 the old one stays
            // valid, so it is kept rather than wiped (badgateway #161).
            (None, Some(old)) => set.refresh_token = Some(old),
            (_, None) => {}
        }
        self.tokens = Some(set);
        self.renewed();
        self.unsaved = true;
        self.last_grant = Some(grant);
        self.grants += 1;
        let stored = self.stored_set();
        op.phase = Phase::SavingNew {
            source: Source::Network,
            grant: Some(grant),
        };
        match stored {
            Some(set) => Step::Save(set),
            None => self.out_of_order(op),
        }
    }

    /// A refresh grant was refused (`invalid_grant`, or any other 4xx): the
    /// refresh token is dead. Fall back on a full grant if there is a secret.
    fn refresh_rejected(&mut self, op: &mut Operation, error: Error, now_ms: f64) -> Step {
        self.kill_refresh_token();
        if self.config.full_grant.is_some() {
            op.phase = Phase::Deciding;
            return self.decide(op, now_ms);
        }
        self.drop_dead_tokens(op, reauth_required(Some(&error)))
    }

    /// Forgets tokens that can no longer be renewed, clears storage, then
    /// ends with `error`.
    fn drop_dead_tokens(&mut self, op: &mut Operation, error: Error) -> Step {
        self.kill_refresh_token();
        self.tokens = None;
        self.unsaved = false;
        self.last_grant = None;
        op.phase = Phase::Clearing { then: Err(error) };
        Step::Clear
    }

    fn retry_or_fail(
        &mut self,
        op: &mut Operation,
        error: Error,
        now_ms: f64,
        jitter: f64,
    ) -> Step {
        if op.retries >= self.config.max_retries {
            return self.fail(op, error, now_ms, jitter);
        }
        let mut delay = backoff_ms(op.retries, jitter);
        if let Some(asked) = error.retry_after_ms() {
            if asked > MAX_RETRY_AFTER_MS {
                return self.fail(op, error, now_ms, jitter);
            }
            delay = delay.max(asked);
        }
        op.retries += 1;
        op.phase = Phase::Waiting {
            until_ms: now_ms + delay as f64,
            delay_ms: delay,
        };
        Step::Sleep(delay)
    }

    /// Ends `op` with `error`. A renewal nobody forced (`Ensure`,
    /// `Scheduled`) also backs off: the next automatic try waits, and a
    /// failure retrying cannot mend stops the automatic renewal. If the held
    /// token has not expired yet, it is handed out instead and the error
    /// goes to `onError`.
    fn fail(&mut self, op: &mut Operation, error: Error, now_ms: f64, jitter: f64) -> Step {
        if !matches!(op.kind, OperationKind::Ensure | OperationKind::Scheduled) {
            return self.finish(op, Err(error));
        }
        if !error.retryable() {
            self.renewal_stopped = true;
        }
        let delay =
            backoff_ms(self.renewal_failures, jitter).max(error.retry_after_ms().unwrap_or(0));
        self.renewal_failures = self.renewal_failures.saturating_add(1);
        self.renew_not_before_ms = now_ms + delay as f64;
        let held = match &self.tokens {
            Some(set) if set.is_fresh(now_ms, 0) => set.access_token.clone(),
            _ => return self.finish(op, Err(error)),
        };
        let error = self.scrub(error);
        self.events.push_back(Event::Error(error));
        self.finish(op, Ok(Some(held)))
    }

    /// Forgets the renewal backoff: a new set is held (or none at all).
    fn renewed(&mut self) {
        self.renewal_failures = 0;
        self.renew_not_before_ms = 0.0;
        self.renewal_stopped = false;
        self.trust = Trust::Trusted;
    }

    fn import(&mut self, op: &mut Operation, set: TokenSet) -> Step {
        if let Some(token) = &set.refresh_token {
            if self.is_spent(token) {
                return self.finish(
                    op,
                    Err(Error::new(
                        ErrorCode::InvalidGrant,
                        "this refresh token was already used and rotated; import the newest one",
                    )),
                );
            }
        }
        // A replaced refresh token that may already have been consumed must
        // never come back as trusted (say from storage, if this save fails).
        if self.trust != Trust::Trusted {
            if let Some(old) = self.refresh_token().cloned() {
                if set.refresh_token.as_ref() != Some(&old) {
                    self.remember_spent(&old);
                }
            }
        }
        self.tokens = Some(set);
        self.loaded = true;
        self.unsaved = true;
        self.renewed();
        self.last_grant = None;
        op.phase = Phase::SavingNew {
            source: Source::Import,
            grant: None,
        };
        match self.stored_set() {
            Some(set) => Step::Save(set),
            None => self.out_of_order(op),
        }
    }

    /// Takes a set read from storage if it belongs to this client and server,
    /// carries no refresh token known to be spent, and is newer than the held
    /// one (another context rotated).
    fn adopt_if_newer(&mut self, stored: StoredTokenSet) -> bool {
        if stored.client_id != self.config.client_id || stored.base_url != self.config.base_url {
            return false;
        }
        // A set that failed to save is the newest this client knows of: its
        // refresh token replaced the stored one, whatever the clocks say.
        if self.unsaved && self.tokens.is_some() {
            return false;
        }
        if stored
            .tokens
            .refresh_token
            .as_ref()
            .is_some_and(|token| self.is_spent(token))
        {
            return false;
        }
        let newer = self
            .tokens
            .as_ref()
            .is_none_or(|held| stored.tokens.obtained_at_ms > held.obtained_at_ms);
        if !newer {
            return false;
        }
        self.events.push_back(Event::Refreshed {
            grant: None,
            expires_at_ms: stored.tokens.expires_at_ms,
            source: Source::Storage,
        });
        self.tokens = Some(stored.tokens);
        self.unsaved = false;
        self.renewed();
        true
    }

    /// Forgets the held tokens (a logout here or in another context).
    /// The refresh token is remembered as never to be used again: should a
    /// storage that failed to clear hand it back, it is not adopted (it may
    /// even have been in doubt, consumed by a request whose answer was lost).
    fn forget_tokens(&mut self) {
        if let Some(token) = self.refresh_token().cloned() {
            self.remember_spent(&token);
        }
        self.tokens = None;
        self.unsaved = false;
        self.last_grant = None;
        self.renewed();
    }

    /// The server may have consumed the refresh token without our seeing the
    /// answer. With a secret a full grant is always safe, so the token is
    /// dropped; without one it is the only way back, so it may be tried once
    /// more, and doubt about that last try drops it.
    fn doubt_refresh_token(&mut self) {
        if self.config.full_grant.is_some() || self.trust == Trust::LastTry {
            self.kill_refresh_token();
        } else {
            self.trust = Trust::InDoubt;
        }
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.tokens.as_ref()?.refresh_token.as_ref()
    }

    fn kill_refresh_token(&mut self) {
        if let Some(token) = self
            .tokens
            .as_mut()
            .and_then(|set| set.refresh_token.take())
        {
            self.remember_spent(&token);
            self.unsaved = true;
        }
        self.trust = Trust::Trusted;
    }

    fn remember_spent(&mut self, token: &RefreshToken) {
        // Once full, the oldest is overwritten, as a deque bounded to
        // `SPENT_MEMORY` would drop it.
        let slot = self.spent_count % SPENT_MEMORY;
        self.spent[slot] = token.fingerprint();
        // Once full, the count stays in `SPENT_MEMORY..2 * SPENT_MEMORY`: only
        // the slot it names still matters, and it never overflows.
        self.spent_count = if self.spent_count >= SPENT_MEMORY {
            SPENT_MEMORY + (slot + 1) % SPENT_MEMORY
        } else {
            self.spent_count + 1
        };
    }

    fn is_spent(&self, token: &RefreshToken) -> bool {
        let fingerprint = token.fingerprint();
        self.spent
            .iter()
            .take(self.spent_count)
            .any(|&spent| spent == fingerprint)
    }

    fn stored_set(&self) -> Option<StoredTokenSet> {
        Some(StoredTokenSet {
            tokens: self.tokens.clone()?,
            client_id: self.config.client_id.clone(),
            base_url: self.config.base_url.clone(),
        })
    }

    fn finish(&mut self, op: &mut Operation, result: Result<Option<AccessToken>, Error>) -> Step {
        op.phase = Phase::Finished;
        Step::Done(result.map_err(|error| self.scrub(error)))
    }

    /// Redacts every secret this machine knows from an error, since parts of
    /// its text may come from a callback, `fetch` or the server.
    fn scrub(&self, error: Error) -> Error {
        let mut secrets = Vec::with_capacity(4);
        if let Some(secret) = &self.config.client_secret {
            secrets.push(secret.secret());
        }
        if let Some(FullGrant::Password { password, .. }) = &self.config.full_grant {
            secrets.push(password.secret());
        }
        if let Some(set) = &self.tokens {
            secrets.push(set.access_token.secret());
            if let Some(refresh) = &set.refresh_token {
                secrets.push(refresh.secret());
            }
        }
        error.redact(&secrets)
    }

    /// A handler called in a phase that does not expect it: a driver bug.
    /// Ends the operation with an error instead of panicking.
    fn out_of_order(&mut self, op: &mut Operation) -> Step {
        self.finish(
            op,
            Err(Error::new(
                ErrorCode::InvalidRequest,
                "internal error: token operation driven out of order",
            )),
        )
    }
}

/// The error of a client that has no way left to get a token: no usable
/// refresh token and no secret for a full grant. Carries the status and
/// description of the answer that killed the refresh token, if one did.
fn reauth_required(cause: Option<&Error>) -> Error {
    let error = Error::new(
        ErrorCode::ReauthRequired,
        "no usable refresh token and no client secret: sign in again or import a new refresh token",
    )
    .with_description(cause.and_then(|cause| cause.description().map(str::to_owned)));
    match cause.and_then(Error::status) {
        Some(status) => error.with_status(status),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Options;
    use crate::core::secret::ClientSecret;

    #[test]
    fn the_last_spent_memory_fingerprints_are_remembered() {
        let config = Config::new(Options {
            client_id: Some("client-1".into()),
            ..Options::default()
        })
        .unwrap();
        let mut machine = Machine::new(config);
        let token = |i: usize| RefreshToken::new(crate::core::text::decimal(i as u64));
        for i in 0..3 * SPENT_MEMORY + 5 {
            machine.remember_spent(&token(i));
            // Exactly the last SPENT_MEMORY (or all, while fewer) are spent.
            for j in 0..=i + 1 {
                assert_eq!(
                    machine.is_spent(&token(j)),
                    j <= i && i - j < SPENT_MEMORY,
                    "after {i}: {j}"
                );
            }
        }
    }

    /// The messages built without `core::fmt` read exactly as before.
    #[test]
    fn failure_messages_name_the_detail_and_the_timeout() {
        let cases = [
            (
                Failure::NotSent("connection refused".into()),
                ErrorCode::Network,
                "the token request could not be sent: connection refused",
            ),
            (
                Failure::Lost("socket hang up".into()),
                ErrorCode::Network,
                "the connection to the token endpoint was lost: socket hang up",
            ),
            (
                Failure::TimedOut,
                ErrorCode::Timeout,
                "the token endpoint did not answer within 2500 ms",
            ),
        ];
        for (failure, code, message) in cases {
            let config = Config::new(Options {
                client_id: Some("client-1".into()),
                client_secret: Some(ClientSecret::new("secret-1")),
                timeout_ms: Some(2500.0),
                max_retries: Some(0.0),
                ..Options::default()
            })
            .unwrap();
            let mut machine = Machine::new(config);
            let mut op = Operation::new(OperationKind::Force);
            assert_eq!(machine.start(&mut op, 0.0), Step::Load);
            let step = machine.on_loaded(&mut op, Ok(None), 0.0);
            assert!(matches!(step, Step::Send(_)), "{step:?}");
            match machine.on_answer(&mut op, Outcome::Failed(failure), 0.0, 0.0) {
                Step::Done(Err(error)) => {
                    assert_eq!((error.code(), error.message()), (code, message));
                }
                step => panic!("{step:?}"),
            }
        }
    }
}
