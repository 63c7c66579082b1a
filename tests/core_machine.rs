//! Host integration tests of the sans-IO token state machine
//! (`echovideo_auth::core::machine::Machine`).
//!
//! Every scenario is driven step by step, the way the JS driver loop does it,
//! but with a virtual clock: `Harness::now` only moves when a test moves it,
//! nothing sleeps and nothing runs on another thread. The harness only
//! performs the plumbing (passing `now` and a fixed jitter, counting the
//! requests the machine asks for, remembering what it asked to save); every
//! assertion about behaviour is written out in the test itself.

use echovideo_auth::core::config::{Config, GrantType, Options};
use echovideo_auth::core::error::{Error, ErrorCode};
use echovideo_auth::core::grant::{
    HttpAnswer, JsonValue, ResponseBody, ResponseFields, TokenRequest,
};
use echovideo_auth::core::machine::{
    Failure, Machine, Operation, OperationKind, Outcome, Step, TokenState,
};
use echovideo_auth::core::retry::backoff_ms;
use echovideo_auth::core::secret::{AccessToken, ClientSecret, Password, RefreshToken};
use echovideo_auth::core::token::{Event, Source, StoredTokenSet, TokenSet};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// The virtual wall clock at the start of every test (ms since the epoch).
const T0: f64 = 1_700_000_000_000.0;
const HOUR_MS: f64 = 3_600_000.0;
/// The default refresh margin (300 s).
const MARGIN_MS: f64 = 300_000.0;
/// The jitter every `on_answer` gets: backoffs are then 187, 375, 750, 1500 ms.
const JITTER: f64 = 0.5;

const CLIENT_ID: &str = "client-1";
/// Has a `+` so the exact bodies also show it is form-encoded.
const SECRET: &str = "s3cr3t+key";
const BASE_URL: &str = "https://echo360.org";
const TOKEN_URL: &str = "https://echo360.org/oauth2/access_token";
const CLIENT_CREDENTIALS_BODY: &str =
    "grant_type=client_credentials&client_id=client-1&client_secret=s3cr3t%2Bkey";

fn refresh_body(refresh_token: &str) -> String {
    format!("grant_type=refresh_token&client_id={CLIENT_ID}&refresh_token={refresh_token}")
}

fn options_with_secret() -> Options {
    Options {
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(ClientSecret::new(SECRET)),
        ..Options::default()
    }
}

fn options_without_secret() -> Options {
    Options {
        client_secret: None,
        ..options_with_secret()
    }
}

/// A successful token answer.
fn tokens(access: &str, refresh: Option<&str>, expires_in_s: f64) -> Outcome {
    Outcome::Answer(HttpAnswer {
        status: 200,
        retry_after: None,
        body: ResponseBody::Object(ResponseFields {
            token_type: JsonValue::String("Bearer".into()),
            access_token: JsonValue::String(access.into()),
            refresh_token: refresh
                .map_or(JsonValue::Absent, |token| JsonValue::String(token.into())),
            expires_in: JsonValue::Number(expires_in_s),
            ..ResponseFields::default()
        }),
    })
}

/// An OAuth error answer (`{"error": .., "error_description": ..}`).
fn oauth_error(status: u16, error: &str, description: Option<&str>) -> Outcome {
    Outcome::Answer(HttpAnswer {
        status,
        retry_after: None,
        body: ResponseBody::Object(ResponseFields {
            error: JsonValue::String(error.into()),
            error_description: description
                .map_or(JsonValue::Absent, |text| JsonValue::String(text.into())),
            ..ResponseFields::default()
        }),
    })
}

/// An answer with a status, an optional `Retry-After` and a body that is not JSON.
fn bare_status(status: u16, retry_after: Option<&str>) -> Outcome {
    Outcome::Answer(HttpAnswer {
        status,
        retry_after: retry_after.map(str::to_owned),
        body: ResponseBody::NotJson,
    })
}

fn token_set(
    access: &str,
    refresh: Option<&str>,
    obtained_at_ms: f64,
    expires_at_ms: f64,
) -> TokenSet {
    TokenSet {
        access_token: AccessToken::new(access),
        refresh_token: refresh.map(RefreshToken::new),
        token_type: "bearer".into(),
        expires_at_ms,
        obtained_at_ms,
    }
}

/// A set as storage would hand it back, tied to this test's client and server.
fn stored(
    access: &str,
    refresh: Option<&str>,
    obtained_at_ms: f64,
    expires_at_ms: f64,
) -> StoredTokenSet {
    StoredTokenSet {
        tokens: token_set(access, refresh, obtained_at_ms, expires_at_ms),
        client_id: CLIENT_ID.into(),
        base_url: BASE_URL.into(),
    }
}

/// Every value a stored set would put in storage, joined, to look for secrets in.
fn stored_text(set: &StoredTokenSet) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        set.tokens.access_token.secret(),
        set.tokens
            .refresh_token
            .as_ref()
            .map_or("", RefreshToken::secret),
        set.tokens.token_type,
        set.tokens.expires_at_ms,
        set.tokens.obtained_at_ms,
        set.client_id,
        set.base_url,
    )
}

fn refresh_of(set: &StoredTokenSet) -> Option<&str> {
    set.tokens.refresh_token.as_ref().map(RefreshToken::secret)
}

fn storage_error(operation: &str) -> Error {
    Error::storage(operation, "quota exceeded")
}

// ---------------------------------------------------------------------------
// Step matchers: each unwraps the step it expects or fails the test with the
// step it got.
// ---------------------------------------------------------------------------

#[track_caller]
fn expect_load(step: Step) {
    assert!(matches!(step, Step::Load), "expected Load, got {step:?}");
}

#[track_caller]
fn expect_send(step: Step) -> TokenRequest {
    match step {
        Step::Send(request) => request,
        other => panic!("expected Send, got {other:?}"),
    }
}

#[track_caller]
fn expect_save(step: Step) -> StoredTokenSet {
    match step {
        Step::Save(set) => set,
        other => panic!("expected Save, got {other:?}"),
    }
}

#[track_caller]
fn expect_clear(step: Step) {
    assert!(matches!(step, Step::Clear), "expected Clear, got {step:?}");
}

#[track_caller]
fn expect_sleep(step: Step) -> u64 {
    match step {
        Step::Sleep(ms) => ms,
        other => panic!("expected Sleep, got {other:?}"),
    }
}

/// `Done(Ok(Some(token)))`: the access token handed out.
#[track_caller]
fn expect_token(step: Step) -> String {
    match step {
        Step::Done(Ok(Some(token))) => token.secret().to_owned(),
        other => panic!("expected Done(Ok(token)), got {other:?}"),
    }
}

/// `Done(Ok(None))`: the operation succeeded without a token (a clear).
#[track_caller]
fn expect_done_empty(step: Step) {
    assert!(
        matches!(step, Step::Done(Ok(None))),
        "expected Done(Ok(None)), got {step:?}"
    );
}

#[track_caller]
fn expect_error(step: Step) -> Error {
    match step {
        Step::Done(Err(error)) => error,
        other => panic!("expected Done(Err), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

/// A machine plus a virtual clock, and a record of what the machine asked for.
struct Harness {
    machine: Machine,
    /// The virtual wall clock, handed to every call.
    now: f64,
    /// Every set the machine asked to save (`Step::Save`), in order,
    /// whatever the save's result.
    saves: Vec<StoredTokenSet>,
    /// How many requests the machine asked to send (`Step::Send`).
    sends: usize,
    /// The body of every request it asked to send, in order.
    bodies: Vec<String>,
}

impl Harness {
    fn new(options: Options) -> Self {
        let config = Config::new(options).expect("the test options are valid");
        Self {
            machine: Machine::new(config),
            now: T0,
            saves: Vec::new(),
            sends: 0,
            bodies: Vec::new(),
        }
    }

    fn with_secret() -> Self {
        Self::new(options_with_secret())
    }

    fn without_secret() -> Self {
        Self::new(options_without_secret())
    }

    fn advance(&mut self, ms: f64) {
        self.now += ms;
    }

    fn set_now(&mut self, now: f64) {
        self.now = now;
    }

    fn start(&mut self, kind: OperationKind) -> (Operation, Step) {
        let mut op = Operation::new(kind);
        let step = self.machine.start(&mut op, self.now);
        (op, self.record(step))
    }

    fn loaded(
        &mut self,
        op: &mut Operation,
        loaded: Result<Option<StoredTokenSet>, Error>,
    ) -> Step {
        let step = self.machine.on_loaded(op, loaded, self.now);
        self.record(step)
    }

    fn answer(&mut self, op: &mut Operation, outcome: Outcome) -> Step {
        let step = self.machine.on_answer(op, outcome, self.now, JITTER);
        self.record(step)
    }

    fn saved(&mut self, op: &mut Operation, result: Result<(), Error>) -> Step {
        let step = self.machine.on_saved(op, result, self.now);
        self.record(step)
    }

    fn cleared(&mut self, op: &mut Operation, result: Result<(), Error>) -> Step {
        let step = self.machine.on_cleared(op, result);
        self.record(step)
    }

    fn woke(&mut self, op: &mut Operation) -> Step {
        let step = self.machine.on_woke(op, self.now);
        self.record(step)
    }

    /// Drains the event queue.
    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.machine.poll_event()).collect()
    }

    fn fresh_token(&self) -> Option<String> {
        self.machine
            .fresh_token(self.now)
            .map(|token| token.secret().to_owned())
    }

    /// How many times exactly this body was sent.
    fn times_sent(&self, body: &str) -> usize {
        self.bodies.iter().filter(|sent| *sent == body).count()
    }

    fn record(&mut self, step: Step) -> Step {
        match &step {
            Step::Send(request) => {
                self.sends += 1;
                self.bodies.push(request.body.secret().to_owned());
            }
            Step::Save(set) => self.saves.push(set.clone()),
            _ => {}
        }
        step
    }

    /// Set-up only: a first `Ensure` on a machine that has not read storage,
    /// with empty storage, one full grant answered with these tokens at
    /// `now`, and a successful save. Drains the events it caused.
    fn grant_from_empty_storage(
        &mut self,
        access: &str,
        refresh: Option<&str>,
        expires_in_s: f64,
    ) -> String {
        let (mut op, step) = self.start(OperationKind::Ensure);
        expect_load(step);
        expect_send(self.loaded(&mut op, Ok(None)));
        expect_save(self.answer(&mut op, tokens(access, refresh, expires_in_s)));
        let token = expect_token(self.saved(&mut op, Ok(())));
        self.events();
        token
    }

    /// Set-up only: imports `set` and saves it successfully. Drains the
    /// events it caused.
    fn import(&mut self, set: TokenSet) {
        let (mut op, step) = self.start(OperationKind::Import(set));
        expect_save(step);
        expect_token(self.saved(&mut op, Ok(())));
        self.events();
    }
}

// ---------------------------------------------------------------------------
// 1. The first Ensure
// ---------------------------------------------------------------------------

#[test]
fn first_ensure_loads_grants_client_credentials_saves_then_hands_out_the_token() {
    let mut h = Harness::with_secret();

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);

    let request = expect_send(h.loaded(&mut op, Ok(None)));
    assert_eq!(request.url, TOKEN_URL);
    assert_eq!(request.grant, GrantType::ClientCredentials);
    assert_eq!(
        request.body.secret(),
        "grant_type=client_credentials&client_id=client-1&client_secret=s3cr3t%2Bkey"
    );

    // The answer arrives 250 ms after the request left.
    h.advance(250.0);
    let set = expect_save(h.answer(&mut op, tokens("at-1", Some("rt-1"), 3600.0)));
    assert_eq!(set.client_id, "client-1");
    assert_eq!(set.base_url, "https://echo360.org");
    assert_eq!(set.tokens.access_token.secret(), "at-1");
    assert_eq!(refresh_of(&set), Some("rt-1"));
    assert_eq!(set.tokens.token_type, "Bearer");
    assert_eq!(set.tokens.obtained_at_ms, T0 + 250.0);
    assert_eq!(set.tokens.expires_at_ms, T0 + 250.0 + HOUR_MS);
    assert!(
        !stored_text(&set).contains("s3cr3t"),
        "the secret must never be stored"
    );

    // Nothing is reported, and the token is not handed out, before the save
    // result is in.
    assert_eq!(h.events(), vec![]);
    assert_eq!(h.fresh_token(), None);

    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-1");
    assert_eq!(
        h.events(),
        vec![Event::Refreshed {
            grant: Some(GrantType::ClientCredentials),
            expires_at_ms: T0 + 250.0 + HOUR_MS,
            source: Source::Network,
        }]
    );
    assert_eq!(h.fresh_token().as_deref(), Some("at-1"));
    assert_eq!(h.sends, 1);
    assert_eq!(h.machine.grant_count(), 1);
}

#[test]
fn password_grant_sends_the_user_credentials_and_never_stores_them() {
    let mut h = Harness::new(Options {
        grant: Some("password".into()),
        username: Some("ann@uni.edu".into()),
        password: Some(Password::new("hunter 2")),
        ..options_with_secret()
    });

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    let request = expect_send(h.loaded(&mut op, Ok(None)));
    assert_eq!(request.grant, GrantType::Password);
    assert_eq!(
        request.body.secret(),
        "grant_type=password&client_id=client-1&client_secret=s3cr3t%2Bkey&username=ann%40uni.edu&password=hunter+2"
    );

    let set = expect_save(h.answer(&mut op, tokens("at-1", Some("rt-1"), 3600.0)));
    let text = stored_text(&set);
    assert!(!text.contains("hunter"), "password stored: {text}");
    assert!(!text.contains("s3cr3t"), "secret stored: {text}");
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-1");
    assert_eq!(h.machine.info(h.now).last_grant, Some(GrantType::Password));
}

// ---------------------------------------------------------------------------
// 2. The cached token, then a refresh
// ---------------------------------------------------------------------------

#[test]
fn a_fresh_token_is_served_without_a_request_and_refreshed_with_the_refresh_token_after_the_margin()
{
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    assert_eq!(h.sends, 1);

    h.advance(60_000.0);
    let (_op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_token(step), "at-1");
    assert_eq!(h.sends, 1, "a fresh token needs no request");
    assert_eq!(h.fresh_token().as_deref(), Some("at-1"));

    let refresh_at = T0 + HOUR_MS - MARGIN_MS;
    assert_eq!(h.machine.refresh_due_at_ms(), Some(refresh_at));

    // One millisecond before the margin: still served from memory.
    h.set_now(refresh_at - 1.0);
    let (_op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_token(step), "at-1");
    assert_eq!(h.sends, 1);

    // At the margin: no longer fresh, a refresh grant goes out.
    h.set_now(refresh_at);
    assert_eq!(h.fresh_token(), None);
    let (mut op, step) = h.start(OperationKind::Ensure);
    let request = expect_send(step);
    assert_eq!(request.url, TOKEN_URL);
    assert_eq!(request.grant, GrantType::RefreshToken);
    assert_eq!(
        request.body.secret(),
        "grant_type=refresh_token&client_id=client-1&refresh_token=rt-1"
    );
    assert!(!request.body.secret().contains("client_secret"));
    assert_eq!(h.sends, 2);

    let set = expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    assert_eq!(set.tokens.access_token.secret(), "at-2");
    assert_eq!(refresh_of(&set), Some("rt-2"));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
    assert_eq!(
        h.events(),
        vec![Event::Refreshed {
            grant: Some(GrantType::RefreshToken),
            expires_at_ms: refresh_at + HOUR_MS,
            source: Source::Network,
        }]
    );
    assert_eq!(h.machine.grant_count(), 2);
}

// ---------------------------------------------------------------------------
// 3. Rotation: a rotated refresh token is spent for good
// ---------------------------------------------------------------------------

#[test]
fn a_rotated_refresh_token_is_never_sent_again_and_cannot_be_imported_back() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);

    // Refresh: rt-1 is rotated to rt-2.
    let (mut op, step) = h.start(OperationKind::Force);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));
    expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    expect_token(h.saved(&mut op, Ok(())));

    // The next refresh presents rt-2, not rt-1. rt-2 is rotated to rt-3.
    let (mut op, step) = h.start(OperationKind::Force);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-2"));
    expect_save(h.answer(&mut op, tokens("at-3", Some("rt-3"), 3600.0)));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-3");
    h.events();

    // Importing either spent token back is refused, and changes nothing.
    let saves_before = h.saves.len();
    for spent in ["rt-1", "rt-2"] {
        let set = token_set("at-old", Some(spent), h.now, h.now + HOUR_MS);
        let (_op, step) = h.start(OperationKind::Import(set));
        let error = expect_error(step);
        assert_eq!(error.code(), ErrorCode::InvalidGrant, "{spent}");
    }
    assert_eq!(
        h.saves.len(),
        saves_before,
        "a refused import saves nothing"
    );
    assert_eq!(h.events(), vec![]);
    assert_eq!(h.fresh_token().as_deref(), Some("at-3"));

    // Each refresh token went out exactly once.
    assert_eq!(h.times_sent(&refresh_body("rt-1")), 1);
    assert_eq!(h.times_sent(&refresh_body("rt-2")), 1);
    assert_eq!(h.sends, 3);

    // A new token can be imported. The one it replaces (rt-3) was never
    // rotated by the server, so it is not spent: importing it back works.
    let set = token_set("at-new", Some("rt-new"), h.now, h.now + HOUR_MS);
    let (mut op, step) = h.start(OperationKind::Import(set));
    let saved = expect_save(step);
    assert_eq!(refresh_of(&saved), Some("rt-new"));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-new");
    assert_eq!(
        h.events(),
        vec![Event::Refreshed {
            grant: None,
            expires_at_ms: h.now + HOUR_MS,
            source: Source::Import,
        }]
    );
    let set = token_set("at-old", Some("rt-3"), h.now, h.now + HOUR_MS);
    let (_op, step) = h.start(OperationKind::Import(set));
    assert_eq!(refresh_of(&expect_save(step)), Some("rt-3"));
}

#[test]
fn a_refresh_answer_repeating_the_same_refresh_token_does_not_spend_it() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);

    // A server that does not rotate answers with the same refresh token.
    let (mut op, step) = h.start(OperationKind::Force);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));
    let set = expect_save(h.answer(&mut op, tokens("at-2", Some("rt-1"), 3600.0)));
    assert_eq!(refresh_of(&set), Some("rt-1"));
    expect_token(h.saved(&mut op, Ok(())));

    // rt-1 is the live refresh token, so importing it must be accepted.
    let set = token_set("at-x", Some("rt-1"), h.now, h.now + HOUR_MS);
    let (_op, step) = h.start(OperationKind::Import(set));
    expect_save(step);
}

// ---------------------------------------------------------------------------
// 4. Start-up from storage
// ---------------------------------------------------------------------------

#[test]
fn a_valid_stored_set_is_used_without_a_request() {
    let mut h = Harness::with_secret();
    let set = stored("at-s", Some("rt-s"), T0 - 600_000.0, T0 + 3_000_000.0);

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    assert_eq!(expect_token(h.loaded(&mut op, Ok(Some(set)))), "at-s");

    assert_eq!(h.sends, 0);
    assert_eq!(
        h.saves,
        vec![],
        "a set read from storage is not written back"
    );
    assert_eq!(
        h.events(),
        vec![Event::Refreshed {
            grant: None,
            expires_at_ms: T0 + 3_000_000.0,
            source: Source::Storage,
        }]
    );
    assert_eq!(h.fresh_token().as_deref(), Some("at-s"));
    assert_eq!(h.machine.grant_count(), 0);
    let info = h.machine.info(h.now);
    assert_eq!(info.state, TokenState::Valid);
    assert!(info.has_refresh_token);
    assert_eq!(info.last_grant, None);
}

#[test]
fn a_stored_set_of_another_client_or_server_is_ignored() {
    let other_client = StoredTokenSet {
        client_id: "client-2".into(),
        ..stored("at-s", Some("rt-s"), T0, T0 + HOUR_MS)
    };
    let other_server = StoredTokenSet {
        base_url: "https://echo360.org.uk".into(),
        ..stored("at-s", Some("rt-s"), T0, T0 + HOUR_MS)
    };
    for set in [other_client, other_server] {
        let mut h = Harness::with_secret();
        let (mut op, step) = h.start(OperationKind::Ensure);
        expect_load(step);

        // Neither its access token nor its refresh token is used: a full grant follows.
        let request = expect_send(h.loaded(&mut op, Ok(Some(set.clone()))));
        assert_eq!(request.grant, GrantType::ClientCredentials, "{set:?}");
        assert_eq!(request.body.secret(), CLIENT_CREDENTIALS_BODY);
        assert_eq!(h.events(), vec![], "an ignored set is not reported");
        assert_eq!(h.machine.info(h.now).state, TokenState::Empty);
    }
}

#[test]
fn an_expired_stored_set_is_refreshed_first() {
    let mut h = Harness::with_secret();
    let set = stored("at-s", Some("rt-s"), T0 - 2.0 * HOUR_MS, T0 - HOUR_MS);

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    let request = expect_send(h.loaded(&mut op, Ok(Some(set))));
    assert_eq!(request.grant, GrantType::RefreshToken);
    assert_eq!(request.body.secret(), refresh_body("rt-s"));
    assert_eq!(
        h.events(),
        vec![Event::Refreshed {
            grant: None,
            expires_at_ms: T0 - HOUR_MS,
            source: Source::Storage,
        }]
    );

    let saved = expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    assert_eq!(refresh_of(&saved), Some("rt-2"));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
    assert_eq!(h.sends, 1);
}

// ---------------------------------------------------------------------------
// 5. Load errors
// ---------------------------------------------------------------------------

#[test]
fn a_load_error_fails_the_operation_and_the_next_operation_loads_again() {
    let mut h = Harness::with_secret();

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    let error = expect_error(h.loaded(&mut op, Err(storage_error("load"))));
    assert_eq!(error.code(), ErrorCode::Storage);
    assert_eq!(error.message(), "storage.load failed: quota exceeded");
    assert_eq!(h.sends, 0, "no grant without knowing what storage holds");
    assert_eq!(h.machine.info(h.now).state, TokenState::Unloaded);
    assert_eq!(h.fresh_token(), None);

    // The next operation reads storage again.
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    let set = stored("at-s", Some("rt-s"), T0, T0 + HOUR_MS);
    assert_eq!(expect_token(h.loaded(&mut op, Ok(Some(set)))), "at-s");
    assert_eq!(h.sends, 0);
}

// ---------------------------------------------------------------------------
// 6. Save failures
// ---------------------------------------------------------------------------

#[test]
fn a_failed_save_still_hands_out_the_token_reports_an_error_and_is_retried_by_the_next_operation() {
    let mut h = Harness::with_secret();
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));
    let first_save = expect_save(h.answer(&mut op, tokens("at-1", Some("rt-1"), 3600.0)));

    let token = expect_token(h.saved(&mut op, Err(storage_error("save"))));
    assert_eq!(token, "at-1", "the caller gets the token anyway");
    let events = h.events();
    assert_eq!(events.len(), 2, "{events:?}");
    match &events[0] {
        Event::Error(error) => {
            assert_eq!(error.code(), ErrorCode::Storage);
            assert_eq!(error.message(), "storage.save failed: quota exceeded");
        }
        other => panic!("expected an Error event first, got {other:?}"),
    }
    assert_eq!(
        events[1],
        Event::Refreshed {
            grant: Some(GrantType::ClientCredentials),
            expires_at_ms: T0 + HOUR_MS,
            source: Source::Network,
        }
    );

    // While the set is unsaved, the fast path hands nothing out...
    assert_eq!(h.fresh_token(), None);

    // ...so the next Ensure first saves it again, then returns it with no request.
    let (mut op, step) = h.start(OperationKind::Ensure);
    let resave = expect_save(step);
    assert_eq!(resave, first_save);
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-1");
    assert_eq!(h.sends, 1);
    assert_eq!(h.events(), vec![], "a leftover save reports no new set");
    assert_eq!(h.fresh_token().as_deref(), Some("at-1"));

    // Saved now: the next Ensure is served from memory.
    let (_op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_token(step), "at-1");
    assert_eq!(h.saves.len(), 2);
}

// ---------------------------------------------------------------------------
// 7. invalid_grant on a refresh
// ---------------------------------------------------------------------------

#[test]
fn invalid_grant_on_a_refresh_with_a_secret_falls_back_on_a_full_grant_at_once() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    h.set_now(T0 + HOUR_MS);

    let (mut op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));

    // No Sleep in between: the full grant is the very next step.
    let request = expect_send(h.answer(
        &mut op,
        oauth_error(400, "invalid_grant", Some("Refresh token expired")),
    ));
    assert_eq!(request.grant, GrantType::ClientCredentials);
    assert_eq!(request.body.secret(), CLIENT_CREDENTIALS_BODY);

    let saved = expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    assert_eq!(refresh_of(&saved), Some("rt-2"));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
    assert_eq!(h.sends, 3);
    assert_eq!(
        h.events(),
        vec![Event::Refreshed {
            grant: Some(GrantType::ClientCredentials),
            expires_at_ms: T0 + 2.0 * HOUR_MS,
            source: Source::Network,
        }]
    );

    // The refused refresh token is dead: it cannot be imported back.
    let set = token_set("at-x", Some("rt-1"), h.now, h.now + HOUR_MS);
    let (_op, step) = h.start(OperationKind::Import(set));
    assert_eq!(expect_error(step).code(), ErrorCode::InvalidGrant);
}

#[test]
fn invalid_grant_on_a_refresh_without_a_secret_clears_storage_and_requires_reauth() {
    let mut h = Harness::without_secret();
    // Import on a machine that never read storage: no Load, straight to Save.
    let set = token_set("at-i", Some("rt-i"), T0 - 2.0 * HOUR_MS, T0 - HOUR_MS);
    let (mut op, step) = h.start(OperationKind::Import(set));
    let saved = expect_save(step);
    assert_eq!(refresh_of(&saved), Some("rt-i"));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-i");
    assert_eq!(
        h.events(),
        vec![Event::Refreshed {
            grant: None,
            expires_at_ms: T0 - HOUR_MS,
            source: Source::Import,
        }]
    );

    let (mut op, step) = h.start(OperationKind::Ensure);
    let request = expect_send(step);
    assert_eq!(
        request.body.secret(),
        "grant_type=refresh_token&client_id=client-1&refresh_token=rt-i"
    );

    expect_clear(h.answer(
        &mut op,
        oauth_error(400, "invalid_grant", Some("Refresh token expired")),
    ));
    // Memory is already empty while storage is being cleared.
    let info = h.machine.info(h.now);
    assert_eq!(info.state, TokenState::Empty);
    assert!(!info.has_refresh_token);

    let error = expect_error(h.cleared(&mut op, Ok(())));
    assert_eq!(error.code(), ErrorCode::ReauthRequired);
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.description(), Some("Refresh token expired"));
    assert_eq!(h.sends, 1, "no retry of a refused refresh token");

    // Nothing left to try: the next Ensure needs no request to know it.
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_clear(step);
    let error = expect_error(h.cleared(&mut op, Ok(())));
    assert_eq!(error.code(), ErrorCode::ReauthRequired);
    assert_eq!(h.sends, 1);
}

// ---------------------------------------------------------------------------
// 8. Retries of transient answers
// ---------------------------------------------------------------------------

#[test]
fn transient_answers_are_retried_with_backoff_resending_the_same_refresh_token() {
    let mut h = Harness::new(Options {
        max_retries: Some(4.0),
        ..options_with_secret()
    });
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    h.set_now(T0 + HOUR_MS);

    let (mut op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));

    let expected_sleeps = [(500, 187), (502, 375), (503, 750), (429, 1500)];
    for (retry, (status, sleep)) in expected_sleeps.into_iter().enumerate() {
        let ms = expect_sleep(h.answer(&mut op, bare_status(status, None)));
        assert_eq!(ms, sleep, "HTTP {status}");
        assert_eq!(ms, backoff_ms(retry as u32, JITTER), "HTTP {status}");
        h.advance(ms as f64);
        let request = expect_send(h.woke(&mut op));
        assert_eq!(
            request.grant,
            GrantType::RefreshToken,
            "after HTTP {status}"
        );
        assert_eq!(
            request.body.secret(),
            refresh_body("rt-1"),
            "after HTTP {status}"
        );
    }

    expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
    assert_eq!(h.times_sent(&refresh_body("rt-1")), 5);
    assert_eq!(h.sends, 6);
}

#[test]
fn retry_after_stretches_the_backoff() {
    let mut h = Harness::with_secret();
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));

    let ms = expect_sleep(h.answer(&mut op, bare_status(503, Some("2"))));
    assert!(ms >= 2000, "slept {ms}");
    assert_eq!(ms, 2000);

    // Waking at the backoff alone (187 ms) is too early.
    h.advance(187.0);
    assert_eq!(expect_sleep(h.woke(&mut op)), 2000 - 187);
    h.advance(2000.0 - 187.0);
    let request = expect_send(h.woke(&mut op));
    assert_eq!(request.body.secret(), CLIENT_CREDENTIALS_BODY);

    // A Retry-After shorter than the backoff does not shorten it.
    let ms = expect_sleep(h.answer(&mut op, bare_status(429, Some("0"))));
    assert_eq!(ms, backoff_ms(1, JITTER));
}

#[test]
fn retry_after_over_a_minute_fails_at_once_with_rate_limited() {
    let mut h = Harness::with_secret();
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));

    let error = expect_error(h.answer(&mut op, bare_status(429, Some("61"))));
    assert_eq!(error.code(), ErrorCode::RateLimited);
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.retry_after_ms(), Some(61_000));
    assert!(error.retryable());
    assert_eq!(h.sends, 1);

    // Exactly one minute is still waited out.
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_send(step);
    assert_eq!(
        expect_sleep(h.answer(&mut op, bare_status(429, Some("60")))),
        60_000
    );
}

#[test]
fn after_max_retries_the_last_error_is_returned() {
    let mut h = Harness::with_secret(); // maxRetries defaults to 3
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));

    for (retry, status) in [500, 502, 500].into_iter().enumerate() {
        let ms = expect_sleep(h.answer(&mut op, bare_status(status, None)));
        assert_eq!(ms, backoff_ms(retry as u32, JITTER));
        h.advance(ms as f64);
        expect_send(h.woke(&mut op));
    }
    let error = expect_error(h.answer(&mut op, bare_status(503, None)));
    assert_eq!(error.code(), ErrorCode::ServerError);
    assert_eq!(error.status(), Some(503), "the last answer's error");
    assert_eq!(h.sends, 1 + 3);

    // With maxRetries 0 the first failure is final.
    let mut h = Harness::new(Options {
        max_retries: Some(0.0),
        ..options_with_secret()
    });
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));
    let error = expect_error(h.answer(&mut op, bare_status(502, None)));
    assert_eq!(error.code(), ErrorCode::ServerError);
    assert_eq!(h.sends, 1);
}

#[test]
fn waking_early_sleeps_again_for_the_remainder() {
    let mut h = Harness::with_secret();
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));

    assert_eq!(expect_sleep(h.answer(&mut op, bare_status(500, None))), 187);
    h.advance(100.0);
    assert_eq!(expect_sleep(h.woke(&mut op)), 87);
    h.advance(50.0);
    assert_eq!(expect_sleep(h.woke(&mut op)), 37);
    assert_eq!(h.sends, 1, "no request before the backoff is over");
    h.advance(37.0);
    expect_send(h.woke(&mut op));
    assert_eq!(h.sends, 2);
}

#[test]
fn a_wall_clock_jump_back_during_a_backoff_does_not_stretch_it() {
    let mut h = Harness::with_secret();
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));
    assert_eq!(expect_sleep(h.answer(&mut op, bare_status(500, None))), 187);

    // The driver slept 187 ms (timers are monotonic), but meanwhile the wall
    // clock was set back by an hour (NTP correction, manual change).
    h.advance(187.0 - HOUR_MS);
    match h.woke(&mut op) {
        Step::Send(_) => {}
        Step::Sleep(ms) => assert!(ms <= 187, "asked to sleep another {ms} ms"),
        other => panic!("expected Send or a short Sleep, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 9. Requests that got no answer
// ---------------------------------------------------------------------------

#[test]
fn a_refresh_that_was_not_sent_is_retried_with_the_same_refresh_token() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    h.set_now(T0 + HOUR_MS);

    let (mut op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));
    let ms = expect_sleep(h.answer(
        &mut op,
        Outcome::Failed(Failure::NotSent("ECONNREFUSED".into())),
    ));
    assert_eq!(ms, 187);
    h.advance(ms as f64);

    let request = expect_send(h.woke(&mut op));
    assert_eq!(request.grant, GrantType::RefreshToken);
    assert_eq!(request.body.secret(), refresh_body("rt-1"));
    expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
    assert_eq!(h.times_sent(&refresh_body("rt-1")), 2);
}

#[test]
fn a_lost_or_timed_out_refresh_with_a_secret_is_followed_by_a_full_grant() {
    for failure in [Failure::Lost("socket hang up".into()), Failure::TimedOut] {
        let mut h = Harness::with_secret();
        h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
        h.set_now(T0 + HOUR_MS);

        let (mut op, step) = h.start(OperationKind::Ensure);
        assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));
        let ms = expect_sleep(h.answer(&mut op, Outcome::Failed(failure.clone())));
        assert_eq!(ms, 187, "{failure:?}");
        // The refresh token is in doubt and dropped at once.
        assert!(!h.machine.info(h.now).has_refresh_token, "{failure:?}");
        h.advance(ms as f64);

        let request = expect_send(h.woke(&mut op));
        assert_eq!(request.grant, GrantType::ClientCredentials, "{failure:?}");
        assert_eq!(request.body.secret(), CLIENT_CREDENTIALS_BODY);

        let saved = expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
        assert_eq!(refresh_of(&saved), Some("rt-2"));
        assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
        assert_eq!(h.times_sent(&refresh_body("rt-1")), 1, "{failure:?}");

        // The doubtful token is treated as spent.
        let set = token_set("at-x", Some("rt-1"), h.now, h.now + HOUR_MS);
        let (_op, step) = h.start(OperationKind::Import(set));
        assert_eq!(expect_error(step).code(), ErrorCode::InvalidGrant);
    }
}

#[test]
fn a_doubtful_refresh_without_a_secret_is_retried_once_and_invalid_grant_then_requires_reauth() {
    for failure in [Failure::Lost("socket hang up".into()), Failure::TimedOut] {
        let mut h = Harness::without_secret();
        h.import(token_set(
            "at-i",
            Some("rt-i"),
            T0 - 2.0 * HOUR_MS,
            T0 - HOUR_MS,
        ));

        let (mut op, step) = h.start(OperationKind::Ensure);
        assert_eq!(expect_send(step).body.secret(), refresh_body("rt-i"));
        let ms = expect_sleep(h.answer(&mut op, Outcome::Failed(failure.clone())));
        assert!(h.machine.info(h.now).has_refresh_token, "{failure:?}");
        h.advance(ms as f64);

        // The same refresh token, once more: it is the only way back.
        let request = expect_send(h.woke(&mut op));
        assert_eq!(request.body.secret(), refresh_body("rt-i"), "{failure:?}");

        expect_clear(h.answer(&mut op, oauth_error(400, "invalid_grant", None)));
        let error = expect_error(h.cleared(&mut op, Ok(())));
        assert_eq!(error.code(), ErrorCode::ReauthRequired, "{failure:?}");
        assert_eq!(error.status(), Some(400));
        assert_eq!(h.sends, 2);
        assert_eq!(h.machine.info(h.now).state, TokenState::Empty);
    }
}

#[test]
fn a_refresh_without_a_secret_that_times_out_twice_is_not_tried_again_and_requires_reauth() {
    let mut h = Harness::without_secret();
    h.import(token_set(
        "at-i",
        Some("rt-i"),
        T0 - 2.0 * HOUR_MS,
        T0 - HOUR_MS,
    ));

    let (mut op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-i"));
    let ms = expect_sleep(h.answer(&mut op, Outcome::Failed(Failure::TimedOut)));
    h.advance(ms as f64);
    assert_eq!(
        expect_send(h.woke(&mut op)).body.secret(),
        refresh_body("rt-i")
    );

    // Doubt about the last try: the token is dropped and, with nothing left
    // to try, the operation ends at once without another backoff.
    expect_clear(h.answer(&mut op, Outcome::Failed(Failure::TimedOut)));
    assert!(!h.machine.info(h.now).has_refresh_token);
    let error = expect_error(h.cleared(&mut op, Ok(())));
    assert_eq!(error.code(), ErrorCode::ReauthRequired);
    assert_eq!(error.status(), None);

    assert_eq!(h.times_sent(&refresh_body("rt-i")), 2);
    assert_eq!(h.sends, 2);
}

#[test]
fn a_server_error_on_the_last_try_uses_it_up_but_a_request_that_never_left_does_not() {
    let mut h = Harness::without_secret();
    h.import(token_set(
        "at-i",
        Some("rt-i"),
        T0 - 2.0 * HOUR_MS,
        T0 - HOUR_MS,
    ));

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_send(step);
    let ms = expect_sleep(h.answer(&mut op, Outcome::Failed(Failure::Lost("reset".into()))));
    h.advance(ms as f64);
    // The last try: refused before it left, so it is still to be had.
    expect_send(h.woke(&mut op));
    let ms = expect_sleep(h.answer(
        &mut op,
        Outcome::Failed(Failure::NotSent("ECONNREFUSED".into())),
    ));
    h.advance(ms as f64);
    // Sent for real this time; the server fails: the try is used up.
    expect_send(h.woke(&mut op));
    expect_clear(h.answer(&mut op, bare_status(503, None)));
    let error = expect_error(h.cleared(&mut op, Ok(())));
    assert_eq!(error.code(), ErrorCode::ReauthRequired);
    assert_eq!(error.status(), Some(503));
    assert_eq!(
        h.times_sent(&refresh_body("rt-i")),
        3,
        "two reached the server, one never left"
    );
}

#[test]
fn the_one_extra_try_of_a_doubtful_refresh_token_holds_across_operations() {
    let mut h = Harness::new(Options {
        max_retries: Some(0.0),
        ..options_without_secret()
    });
    h.import(token_set(
        "at-i",
        Some("rt-i"),
        T0 - 2.0 * HOUR_MS,
        T0 - HOUR_MS,
    ));

    // First operation: times out, no retries allowed.
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_send(step);
    let error = expect_error(h.answer(&mut op, Outcome::Failed(Failure::TimedOut)));
    assert_eq!(error.code(), ErrorCode::Timeout);

    // Second operation: the one extra try, which times out too. The token
    // is dropped, storage cleared, and the caller told to sign in again.
    let (mut op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-i"));
    expect_clear(h.answer(&mut op, Outcome::Failed(Failure::TimedOut)));
    let error = expect_error(h.cleared(&mut op, Ok(())));
    assert_eq!(error.code(), ErrorCode::ReauthRequired);
    assert!(!h.machine.info(h.now).has_refresh_token);

    // Third operation: nothing left to send.
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_clear(step);
    let error = expect_error(h.cleared(&mut op, Ok(())));
    assert_eq!(error.code(), ErrorCode::ReauthRequired);
    assert_eq!(h.times_sent(&refresh_body("rt-i")), 2);
    assert_eq!(h.sends, 2);
}

// ---------------------------------------------------------------------------
// 10. A malformed success answer to a refresh
// ---------------------------------------------------------------------------

#[test]
fn a_malformed_200_to_a_refresh_fails_without_retry_and_the_refresh_token_is_spent() {
    let bodies = [
        ResponseBody::NotJson,
        ResponseBody::NotAnObject,
        ResponseBody::Object(ResponseFields {
            token_type: JsonValue::String("Bearer".into()),
            expires_in: JsonValue::Number(3600.0),
            ..ResponseFields::default()
        }),
    ];
    for body in bodies {
        let mut h = Harness::with_secret();
        h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
        h.set_now(T0 + HOUR_MS);

        let (mut op, step) = h.start(OperationKind::Ensure);
        assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));
        let answer = Outcome::Answer(HttpAnswer {
            status: 200,
            retry_after: None,
            body: body.clone(),
        });
        let error = expect_error(h.answer(&mut op, answer));
        assert_eq!(error.code(), ErrorCode::MalformedResponse, "{body:?}");
        assert_eq!(error.status(), Some(200));
        assert!(!error.retryable());
        assert_eq!(h.sends, 2, "no retry: {body:?}");

        // The next Ensure saves the set without the spent refresh token,
        // then makes a full grant.
        let (mut op, step) = h.start(OperationKind::Ensure);
        let leftover = expect_save(step);
        assert_eq!(refresh_of(&leftover), None);
        assert_eq!(leftover.tokens.access_token.secret(), "at-1");
        let request = expect_send(h.saved(&mut op, Ok(())));
        assert_eq!(request.grant, GrantType::ClientCredentials);
        assert_eq!(request.body.secret(), CLIENT_CREDENTIALS_BODY);
        expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
        assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
        assert_eq!(h.times_sent(&refresh_body("rt-1")), 1);
    }
}

// ---------------------------------------------------------------------------
// 11. A refused full grant
// ---------------------------------------------------------------------------

#[test]
fn invalid_client_on_a_full_grant_fails_at_once() {
    let mut h = Harness::with_secret();
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));

    let error = expect_error(h.answer(
        &mut op,
        oauth_error(401, "invalid_client", Some("Client authentication failed")),
    ));
    assert_eq!(error.code(), ErrorCode::InvalidClient);
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.description(), Some("Client authentication failed"));
    assert!(!error.retryable());
    assert_eq!(h.sends, 1);
    assert_eq!(h.saves, vec![]);
    assert_eq!(h.events(), vec![]);
    assert_eq!(h.machine.grant_count(), 0);
}

// ---------------------------------------------------------------------------
// 12. Force, Clear, Dispose
// ---------------------------------------------------------------------------

#[test]
fn force_sends_a_grant_even_while_the_token_is_fresh() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    h.advance(60_000.0);
    assert_eq!(h.fresh_token().as_deref(), Some("at-1"));

    let (mut op, step) = h.start(OperationKind::Force);
    let request = expect_send(step);
    assert_eq!(request.body.secret(), refresh_body("rt-1"));
    expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
    assert_eq!(h.sends, 2);

    // Without a refresh token, Force makes a full grant.
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", None, 3600.0);
    let (mut op, step) = h.start(OperationKind::Force);
    assert_eq!(expect_send(step).body.secret(), CLIENT_CREDENTIALS_BODY);
    expect_save(h.answer(&mut op, tokens("at-2", None, 3600.0)));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
}

#[test]
fn clear_forgets_the_tokens_and_clears_storage() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);

    let (mut op, step) = h.start(OperationKind::Clear);
    expect_clear(step);
    let info = h.machine.info(h.now);
    assert_eq!(info.state, TokenState::Empty);
    assert_eq!(info.expires_at_ms, None);
    assert!(!info.has_refresh_token);
    assert_eq!(h.fresh_token(), None);
    expect_done_empty(h.cleared(&mut op, Ok(())));
    assert_eq!(h.machine.refresh_due_at_ms(), None);

    // Storage is not read again; the next Ensure makes a full grant.
    let (mut op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), CLIENT_CREDENTIALS_BODY);
    expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    expect_token(h.saved(&mut op, Ok(())));

    // A clear that storage refuses is reported to the caller.
    let (mut op, step) = h.start(OperationKind::Clear);
    expect_clear(step);
    let error = expect_error(h.cleared(&mut op, Err(storage_error("clear"))));
    assert_eq!(error.code(), ErrorCode::Storage);
    assert_eq!(h.machine.info(h.now).state, TokenState::Empty);
}

#[test]
fn every_operation_started_after_dispose_fails_with_disposed() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    h.machine.dispose();

    let kinds = [
        OperationKind::Ensure,
        OperationKind::Force,
        OperationKind::Clear,
        OperationKind::Import(token_set("at-x", Some("rt-x"), T0, T0 + HOUR_MS)),
    ];
    for kind in kinds {
        let (_op, step) = h.start(kind.clone());
        assert_eq!(expect_error(step).code(), ErrorCode::Disposed, "{kind:?}");
    }
    assert_eq!(h.fresh_token(), None);
    assert_eq!(h.machine.info(h.now).state, TokenState::Disposed);
    assert_eq!(h.sends, 1);
    assert_eq!(h.saves.len(), 1);
}

#[test]
fn dispose_during_a_backoff_ends_the_operation_at_wake_without_another_request() {
    let mut h = Harness::with_secret();
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));
    let ms = expect_sleep(h.answer(&mut op, bare_status(500, None)));

    h.machine.dispose();
    h.advance(ms as f64);
    assert_eq!(expect_error(h.woke(&mut op)).code(), ErrorCode::Disposed);
    assert_eq!(h.sends, 1);
}

#[test]
fn dispose_while_a_request_is_in_flight_still_saves_the_answer() {
    let mut h = Harness::with_secret();
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));

    h.machine.dispose();
    let set = expect_save(h.answer(&mut op, tokens("at-1", Some("rt-1"), 3600.0)));
    assert_eq!(
        refresh_of(&set),
        Some("rt-1"),
        "the new refresh token is kept"
    );
    // The operation that was already running completes with its token.
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-1");
    assert_eq!(
        h.fresh_token(),
        None,
        "a disposed machine hands out nothing"
    );
    assert_eq!(h.machine.info(h.now).state, TokenState::Disposed);
}

// ---------------------------------------------------------------------------
// 13. The clock
// ---------------------------------------------------------------------------

#[test]
fn a_set_obtained_more_than_a_minute_in_the_future_is_stale_and_refreshed() {
    // Up to 60 s in the future is tolerated.
    let mut h = Harness::with_secret();
    let set = stored("at-s", Some("rt-s"), T0 + 60_000.0, T0 + 60_000.0 + HOUR_MS);
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    assert_eq!(expect_token(h.loaded(&mut op, Ok(Some(set)))), "at-s");

    // Further than that, the clock jumped back and the expiry cannot be trusted.
    let mut h = Harness::with_secret();
    let set = stored("at-s", Some("rt-s"), T0 + 60_001.0, T0 + 60_001.0 + HOUR_MS);
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    let request = expect_send(h.loaded(&mut op, Ok(Some(set))));
    assert_eq!(request.body.secret(), refresh_body("rt-s"));
    assert_eq!(h.fresh_token(), None);
    assert_ne!(h.machine.info(h.now).state, TokenState::Valid);
}

#[test]
fn a_margin_longer_than_the_lifetime_keeps_the_token_fresh_for_half_of_it() {
    // Default margin 300 s, but the token lives only 60 s.
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 60.0);
    assert_eq!(h.machine.refresh_due_at_ms(), Some(T0 + 30_000.0));

    h.set_now(T0 + 29_999.0);
    let (_op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_token(step), "at-1");
    assert_eq!(h.sends, 1);

    h.set_now(T0 + 30_000.0);
    let (_op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));
}

// ---------------------------------------------------------------------------
// 14. A refresh answer without a refresh token
// ---------------------------------------------------------------------------

#[test]
fn a_refresh_answer_without_a_refresh_token_keeps_the_previous_one() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    h.set_now(T0 + HOUR_MS);

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_send(step);
    let saved = expect_save(h.answer(&mut op, tokens("at-2", None, 3600.0)));
    assert_eq!(saved.tokens.access_token.secret(), "at-2");
    assert_eq!(refresh_of(&saved), Some("rt-1"), "the old one is stored");
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
    assert!(h.machine.info(h.now).has_refresh_token);

    // The next refresh presents rt-1 again.
    h.set_now(T0 + 2.0 * HOUR_MS);
    let (mut op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));
    expect_save(h.answer(&mut op, tokens("at-3", Some("rt-3"), 3600.0)));
    expect_token(h.saved(&mut op, Ok(())));
    assert_eq!(h.times_sent(&refresh_body("rt-1")), 2);
}

// ---------------------------------------------------------------------------
// 15. info()
// ---------------------------------------------------------------------------

#[test]
fn info_follows_the_token_state_over_time() {
    let mut h = Harness::with_secret();
    let info = h.machine.info(h.now);
    assert_eq!(info.state, TokenState::Unloaded);
    assert_eq!(info.state.as_str(), "unloaded");
    assert_eq!(info.expires_at_ms, None);
    assert!(!info.has_refresh_token);
    assert_eq!(info.last_grant, None);

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));
    assert_eq!(h.machine.info(h.now).state, TokenState::Empty);
    expect_save(h.answer(&mut op, tokens("at-1", Some("rt-1"), 3600.0)));
    expect_token(h.saved(&mut op, Ok(())));

    let info = h.machine.info(h.now);
    assert_eq!(info.state, TokenState::Valid);
    assert_eq!(info.expires_at_ms, Some(T0 + HOUR_MS));
    assert!(info.has_refresh_token);
    assert_eq!(info.last_grant, Some(GrantType::ClientCredentials));

    let refresh_at = T0 + HOUR_MS - MARGIN_MS;
    assert_eq!(h.machine.info(refresh_at - 1.0).state, TokenState::Valid);
    assert_eq!(h.machine.info(refresh_at).state, TokenState::Expiring);
    assert_eq!(
        h.machine.info(T0 + HOUR_MS - 1.0).state,
        TokenState::Expiring
    );
    assert_eq!(h.machine.info(T0 + HOUR_MS).state, TokenState::Expired);
    assert_eq!(h.machine.info(T0 + HOUR_MS).state.as_str(), "expired");

    h.set_now(T0 + HOUR_MS);
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_send(step);
    expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    expect_token(h.saved(&mut op, Ok(())));
    let info = h.machine.info(h.now);
    assert_eq!(info.state, TokenState::Valid);
    assert_eq!(info.expires_at_ms, Some(T0 + 2.0 * HOUR_MS));
    assert_eq!(info.last_grant, Some(GrantType::RefreshToken));

    // Imported tokens came from no grant of ours.
    h.import(token_set("at-i", None, h.now, h.now + HOUR_MS));
    let info = h.machine.info(h.now);
    assert_eq!(info.state, TokenState::Valid);
    assert!(!info.has_refresh_token);
    assert_eq!(info.last_grant, None);

    h.machine.dispose();
    assert_eq!(h.machine.info(h.now).state, TokenState::Disposed);
    assert_eq!(h.machine.info(h.now).state.as_str(), "disposed");
}

// ---------------------------------------------------------------------------
// 16. Driving out of order
// ---------------------------------------------------------------------------

#[track_caller]
fn expect_out_of_order(step: Step) {
    let error = expect_error(step);
    assert_eq!(error.code(), ErrorCode::InvalidRequest);
    assert!(error.message().contains("out of order"), "{error}");
}

#[test]
fn handlers_called_out_of_order_end_the_operation_with_an_error_instead_of_panicking() {
    let mut h = Harness::with_secret();

    // Each handler other than on_loaded while the operation waits for a Load.
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_out_of_order(h.answer(&mut op, tokens("at-x", Some("rt-x"), 3600.0)));

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_out_of_order(h.saved(&mut op, Ok(())));

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_out_of_order(h.cleared(&mut op, Ok(())));

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_out_of_order(h.woke(&mut op));

    // Handlers on an operation that was never started.
    let mut op = Operation::new(OperationKind::Ensure);
    expect_out_of_order(h.loaded(&mut op, Ok(None)));
    let mut op = Operation::new(OperationKind::Ensure);
    expect_out_of_order(h.answer(&mut op, bare_status(500, None)));

    // The machine is still unloaded and unharmed: nothing was adopted.
    assert_eq!(h.machine.info(h.now).state, TokenState::Unloaded);
    assert_eq!(h.sends, 0);

    // Handlers while a request is in flight, and on a finished operation.
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));
    let stray = stored("at-x", Some("rt-x"), T0, T0 + HOUR_MS);
    expect_out_of_order(h.loaded(&mut op, Ok(Some(stray))));
    expect_out_of_order(h.answer(&mut op, tokens("at-x", Some("rt-x"), 3600.0)));
    expect_out_of_order(h.woke(&mut op));
    assert_eq!(h.machine.info(h.now).state, TokenState::Empty);
    assert_eq!(h.machine.grant_count(), 0);

    // A properly driven operation still works afterwards.
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_send(step);
    expect_save(h.answer(&mut op, tokens("at-1", Some("rt-1"), 3600.0)));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-1");
}

#[test]
fn an_out_of_order_save_result_does_not_mark_unsaved_tokens_as_saved() {
    let mut h = Harness::with_secret();
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_load(step);
    expect_send(h.loaded(&mut op, Ok(None)));
    expect_save(h.answer(&mut op, tokens("at-1", Some("rt-1"), 3600.0)));
    expect_token(h.saved(&mut op, Err(storage_error("save"))));
    h.events();
    assert_eq!(h.fresh_token(), None, "unsaved");

    // A buggy driver hands a save result to the finished operation.
    expect_out_of_order(h.saved(&mut op, Ok(())));
    assert_eq!(h.events(), vec![]);

    // Nothing was saved: the fast path must still refuse and the next
    // Ensure must still save first.
    assert_eq!(h.fresh_token(), None);
    let (_op, step) = h.start(OperationKind::Ensure);
    expect_save(step);
}

#[test]
fn an_unexpected_non_4xx_status_on_a_refresh_does_not_destroy_the_refresh_token() {
    let mut h = Harness::without_secret();
    h.import(token_set(
        "at-i",
        Some("rt-i"),
        T0 - 2.0 * HOUR_MS,
        T0 - HOUR_MS,
    ));

    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_send(step);
    // A proxy answers 302 (or an injected fetch a status the JS layer maps to 0).
    let step = h.answer(&mut op, bare_status(302, None));
    let error = expect_error(step);
    assert_eq!(error.code(), ErrorCode::MalformedResponse);
    assert!(h.machine.info(h.now).has_refresh_token);
}

// ---------------------------------------------------------------------------
// Early renewal: a failure inside the margin does not take a valid token away
// ---------------------------------------------------------------------------

#[test]
fn a_failed_early_renewal_hands_out_the_valid_token_reports_the_error_and_backs_off() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    // Inside the five-minute margin, 100 s before expiry.
    h.advance(3500.0 * 1000.0);
    assert_eq!(h.fresh_token(), None);

    let (mut op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));
    let step = h.answer(&mut op, bare_status(503, None));
    assert_eq!(
        expect_token(step),
        "at-1",
        "no retry loop: the valid token comes back at once"
    );
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::Error(error)] if error.code() == ErrorCode::ServerError),
        "{events:?}"
    );

    // During the backoff the held token is served with no request at all.
    let backoff = backoff_ms(0, JITTER) as f64;
    assert_eq!(h.fresh_token().as_deref(), Some("at-1"));
    let (_op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_token(step), "at-1");
    assert_eq!(h.sends, 2);

    // After it, the renewal is tried again, and a success replaces the token.
    h.advance(backoff);
    assert_eq!(h.fresh_token(), None);
    let (mut op, step) = h.start(OperationKind::Ensure);
    assert_eq!(expect_send(step).body.secret(), refresh_body("rt-1"));
    expect_save(h.answer(&mut op, tokens("at-2", Some("rt-2"), 3600.0)));
    assert_eq!(expect_token(h.saved(&mut op, Ok(()))), "at-2");
}

#[test]
fn a_failed_renewal_of_an_expired_token_still_fails_after_its_retries() {
    let mut h = Harness::new(Options {
        max_retries: Some(1.0),
        ..options_with_secret()
    });
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    h.advance(3601.0 * 1000.0);
    let (mut op, step) = h.start(OperationKind::Ensure);
    expect_send(step);
    let ms = expect_sleep(h.answer(&mut op, bare_status(503, None)));
    h.advance(ms as f64);
    expect_send(h.woke(&mut op));
    let error = expect_error(h.answer(&mut op, bare_status(503, None)));
    assert_eq!(error.code(), ErrorCode::ServerError);
}

#[test]
fn a_forced_refresh_reports_its_failure_even_while_a_token_is_valid() {
    let mut h = Harness::new(Options {
        max_retries: Some(0.0),
        ..options_with_secret()
    });
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    let (mut op, step) = h.start(OperationKind::Force);
    expect_send(step);
    let error = expect_error(h.answer(&mut op, bare_status(500, None)));
    assert_eq!(error.code(), ErrorCode::ServerError);
}

#[test]
fn clear_forgets_the_last_grant() {
    let mut h = Harness::with_secret();
    h.grant_from_empty_storage("at-1", Some("rt-1"), 3600.0);
    assert_eq!(
        h.machine.info(h.now).last_grant,
        Some(GrantType::ClientCredentials)
    );
    let (mut op, step) = h.start(OperationKind::Clear);
    expect_clear(step);
    expect_done_empty(h.cleared(&mut op, Ok(())));
    let info = h.machine.info(h.now);
    assert_eq!((info.state, info.last_grant), (TokenState::Empty, None));
}
