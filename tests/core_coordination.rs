//! Coordination between contexts (tabs) sharing one storage, in the core:
//! with `coordinated`, every renewal first takes the shared lock and re-reads
//! storage, adopting a set another context already rotated instead of
//! sending a refresh token that context spent. A `Sync` operation adopts a
//! set (or a logout) another context wrote.

use echovideo_auth::core::config::{Config, Options, UrlParts};
use echovideo_auth::core::error::{Error, ErrorCode};
use echovideo_auth::core::grant::{HttpAnswer, JsonValue, ResponseBody, ResponseFields};
use echovideo_auth::core::machine::{
    Machine, Operation, OperationKind, Outcome, Step, TokenState, STORAGE_SETTLE_MS,
};
use echovideo_auth::core::secret::{AccessToken, ClientSecret, RefreshToken};
use echovideo_auth::core::token::{Event, Source, StoredTokenSet, TokenSet};

const T0: f64 = 1_700_000_000_000.0;
const HOUR: f64 = 3_600_000.0;
const BASE_URL: &str = "https://echo.example.edu";

fn machine(coordinated: bool) -> Machine {
    Machine::new(
        Config::new(Options {
            client_id: Some("client-1".into()),
            client_secret: Some(ClientSecret::new("secret")),
            base_url: Some(UrlParts {
                protocol: "https:".into(),
                hostname: "echo.example.edu".into(),
                pathname: "/".into(),
                ..UrlParts::default()
            }),
            coordinated,
            ..Options::default()
        })
        .unwrap(),
    )
}

fn stored(access: &str, refresh: &str, obtained_at: f64) -> StoredTokenSet {
    StoredTokenSet {
        tokens: TokenSet {
            access_token: AccessToken::new(access),
            refresh_token: Some(RefreshToken::new(refresh)),
            token_type: "bearer".into(),
            expires_at_ms: obtained_at + HOUR,
            obtained_at_ms: obtained_at,
        },
        client_id: "client-1".into(),
        base_url: BASE_URL.into(),
    }
}

fn tokens(access: &str, refresh: &str) -> Outcome {
    Outcome::Answer(HttpAnswer {
        status: 200,
        retry_after: None,
        body: ResponseBody::Object(ResponseFields {
            token_type: JsonValue::String("bearer".into()),
            access_token: JsonValue::String(access.into()),
            refresh_token: JsonValue::String(refresh.into()),
            expires_in: JsonValue::Number(3600.0),
            ..ResponseFields::default()
        }),
    })
}

fn token_of(step: Step) -> String {
    match step {
        Step::Done(Ok(Some(token))) => token.secret().to_owned(),
        other => panic!("expected a token, got {other:?}"),
    }
}

fn body_of(step: Step) -> String {
    match step {
        Step::Send(request) => request.body.secret().to_owned(),
        other => panic!("expected a request, got {other:?}"),
    }
}

/// Hands a re-read inside the lock `first`; when that shows nothing newer the
/// machine waits for storage to settle and reads again, getting `second`.
fn reread(
    machine: &mut Machine,
    op: &mut Operation,
    first: Option<StoredTokenSet>,
    second: Option<StoredTokenSet>,
    now: f64,
) -> Step {
    let step = machine.on_loaded(op, Ok(first), now);
    if step != Step::Sleep(STORAGE_SETTLE_MS) {
        return step;
    }
    let settled = now + STORAGE_SETTLE_MS as f64;
    assert_eq!(
        machine.on_woke(op, settled),
        Step::Load,
        "read again once settled"
    );
    machine.on_loaded(op, Ok(second), settled)
}

/// A machine that loaded `stored("at-1", "rt-1", T0)` from storage.
fn loaded(coordinated: bool) -> Machine {
    let mut machine = machine(coordinated);
    let mut op = Operation::new(OperationKind::Ensure);
    assert_eq!(machine.start(&mut op, T0), Step::Load);
    let step = machine.on_loaded(&mut op, Ok(Some(stored("at-1", "rt-1", T0))), T0);
    assert_eq!(token_of(step), "at-1");
    while machine.poll_event().is_some() {}
    machine
}

#[test]
fn a_fresh_token_needs_no_lock() {
    let mut machine = loaded(true);
    let mut op = Operation::new(OperationKind::Ensure);
    assert_eq!(token_of(machine.start(&mut op, T0 + 1000.0)), "at-1");
}

#[test]
fn a_renewal_takes_the_lock_and_adopts_a_set_another_context_rotated() {
    let mut machine = loaded(true);
    let later = T0 + HOUR - 1000.0;
    let mut op = Operation::new(OperationKind::Ensure);
    assert_eq!(machine.start(&mut op, later), Step::Lock);
    assert_eq!(
        machine.on_locked(&mut op, Ok(())),
        Step::Load,
        "re-read inside the lock"
    );
    let sibling = stored("at-2", "rt-2", later - 500.0);
    let step = machine.on_loaded(&mut op, Ok(Some(sibling)), later);
    assert_eq!(token_of(step), "at-2", "adopted with no request");
    assert!(matches!(
        machine.poll_event(),
        Some(Event::Refreshed {
            source: Source::Storage,
            grant: None,
            ..
        })
    ));
    // The next renewal uses the sibling's refresh token, never the spent rt-1.
    let much_later = later + HOUR;
    let mut op = Operation::new(OperationKind::Ensure);
    assert_eq!(machine.start(&mut op, much_later), Step::Lock);
    machine.on_locked(&mut op, Ok(()));
    let same = || Some(stored("at-2", "rt-2", later - 500.0));
    let step = reread(&mut machine, &mut op, same(), same(), much_later);
    assert_eq!(
        body_of(step),
        "grant_type=refresh_token&client_id=client-1&refresh_token=rt-2"
    );
}

#[test]
fn a_re_read_that_finds_nothing_newer_renews_under_the_lock() {
    let mut machine = loaded(true);
    let later = T0 + HOUR - 1000.0;
    let mut op = Operation::new(OperationKind::Ensure);
    assert_eq!(machine.start(&mut op, later), Step::Lock);
    machine.on_locked(&mut op, Ok(()));
    let same = || Some(stored("at-1", "rt-1", T0));
    let step = reread(&mut machine, &mut op, same(), same(), later);
    assert_eq!(
        body_of(step),
        "grant_type=refresh_token&client_id=client-1&refresh_token=rt-1"
    );
    let step = machine.on_answer(&mut op, tokens("at-2", "rt-2"), later, 0.5);
    assert!(
        matches!(step, Step::Save(_)),
        "saved before the lock is let go"
    );
    assert_eq!(token_of(machine.on_saved(&mut op, Ok(()), later)), "at-2");
}

#[test]
fn a_sibling_write_that_reaches_storage_after_the_lock_is_still_adopted() {
    let mut machine = loaded(true);
    let later = T0 + HOUR - 1000.0;
    let mut op = Operation::new(OperationKind::Ensure);
    assert_eq!(machine.start(&mut op, later), Step::Lock);
    machine.on_locked(&mut op, Ok(()));
    // The first read still shows the old set; the sibling's write arrives
    // while storage settles.
    let step = reread(
        &mut machine,
        &mut op,
        Some(stored("at-1", "rt-1", T0)),
        Some(stored("at-2", "rt-2", later - 10.0)),
        later,
    );
    assert_eq!(token_of(step), "at-2", "adopted: rt-1 was not sent");
}

#[test]
fn a_stored_set_carrying_a_spent_refresh_token_is_never_adopted() {
    let mut machine = loaded(true);
    let later = T0 + HOUR - 1000.0;
    // This context rotates rt-1 into rt-2 ...
    let mut op = Operation::new(OperationKind::Force);
    assert_eq!(machine.start(&mut op, later), Step::Lock);
    machine.on_locked(&mut op, Ok(()));
    body_of(reread(&mut machine, &mut op, None, None, later));
    machine.on_answer(&mut op, tokens("at-2", "rt-2"), later, 0.5);
    machine.on_saved(&mut op, Ok(()), later);
    // ... then storage hands back an old copy holding rt-1, claiming to be newer.
    let mut op = Operation::new(OperationKind::Force);
    assert_eq!(machine.start(&mut op, later + 10.0), Step::Lock);
    machine.on_locked(&mut op, Ok(()));
    let stale = || Some(stored("at-1", "rt-1", later + 5.0));
    let step = reread(&mut machine, &mut op, stale(), stale(), later + 10.0);
    assert_eq!(
        body_of(step),
        "grant_type=refresh_token&client_id=client-1&refresh_token=rt-2"
    );
}

#[test]
fn a_lock_that_cannot_be_had_ends_the_operation_with_its_error_and_sends_nothing() {
    let mut machine = loaded(true);
    let mut op = Operation::new(OperationKind::Force);
    assert_eq!(machine.start(&mut op, T0), Step::Lock);
    let error = Error::new(ErrorCode::Timeout, "lock not granted");
    assert_eq!(
        machine.on_locked(&mut op, Err(error.clone())),
        Step::Done(Err(error))
    );
}

#[test]
fn without_coordination_no_lock_is_asked_for() {
    let mut machine = loaded(false);
    let mut op = Operation::new(OperationKind::Force);
    assert!(matches!(machine.start(&mut op, T0), Step::Send(_)));
}

#[test]
fn sync_adopts_a_newer_set_and_ignores_an_older_one() {
    let mut machine = loaded(true);
    let mut op = Operation::new(OperationKind::Sync);
    assert_eq!(machine.start(&mut op, T0 + 10.0), Step::Load);
    let step = machine.on_loaded(
        &mut op,
        Ok(Some(stored("at-2", "rt-2", T0 + 5.0))),
        T0 + 10.0,
    );
    assert_eq!(step, Step::Done(Ok(None)));
    assert_eq!(
        machine
            .fresh_token(T0 + 10.0)
            .map(|t| t.secret().to_owned())
            .as_deref(),
        Some("at-2")
    );

    let mut op = Operation::new(OperationKind::Sync);
    machine.start(&mut op, T0 + 20.0);
    machine.on_loaded(&mut op, Ok(Some(stored("at-1", "rt-1", T0))), T0 + 20.0);
    assert_eq!(
        machine
            .fresh_token(T0 + 20.0)
            .map(|t| t.secret().to_owned())
            .as_deref(),
        Some("at-2")
    );
}

#[test]
fn sync_with_empty_storage_is_a_logout_elsewhere() {
    let mut machine = loaded(true);
    let mut op = Operation::new(OperationKind::Sync);
    machine.start(&mut op, T0 + 10.0);
    assert_eq!(
        machine.on_loaded(&mut op, Ok(None), T0 + 10.0),
        Step::Done(Ok(None))
    );
    assert_eq!(machine.info(T0 + 10.0).state, TokenState::Empty);
    assert_eq!(machine.poll_timeout(), None, "nothing left to renew");
}

#[test]
fn sync_before_the_first_load_does_nothing() {
    let mut machine = machine(true);
    let mut op = Operation::new(OperationKind::Sync);
    assert_eq!(machine.start(&mut op, T0), Step::Done(Ok(None)));
    assert_eq!(machine.info(T0).state, TokenState::Unloaded);
}

#[test]
fn a_logout_whose_storage_clear_failed_never_brings_the_forgotten_token_back() {
    // Found by tests/prop_machine.rs: a refresh token in doubt, forgotten by
    // clear() while storage kept it, came back as trusted on the next re-read.
    let mut machine = loaded(true);
    let mut op = Operation::new(OperationKind::Clear);
    assert_eq!(machine.start(&mut op, T0), Step::Clear);
    let failed = Error::storage("clear", "it threw: quota");
    assert_eq!(
        machine.on_cleared(&mut op, Err(failed.clone())),
        Step::Done(Err(failed))
    );

    // Storage still holds the forgotten set; the next renewal must not use it.
    let mut op = Operation::new(OperationKind::Ensure);
    assert_eq!(machine.start(&mut op, T0 + 1000.0), Step::Lock);
    machine.on_locked(&mut op, Ok(()));
    let old = || Some(stored("at-1", "rt-1", T0));
    let step = reread(&mut machine, &mut op, old(), old(), T0 + 1000.0);
    assert!(
        matches!(&step, Step::Send(request) if !request.body.secret().contains("rt-1")),
        "a full grant, not the forgotten refresh token: {step:?}"
    );
}
