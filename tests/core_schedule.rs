//! The automatic renewal schedule of the core, on a virtual clock: when the
//! timer is due, how it spreads, how it backs off after failures, when it
//! stops, and what happens when a timer wakes long after its time.

use echovideo_auth::core::config::{Config, Options, UrlParts};
use echovideo_auth::core::error::ErrorCode;
use echovideo_auth::core::grant::{HttpAnswer, JsonValue, ResponseBody, ResponseFields};
use echovideo_auth::core::machine::{
    Machine, Operation, OperationKind, Outcome, Step, MAX_SCHEDULE_SPREAD_MS,
};
use echovideo_auth::core::retry::backoff_ms;
use echovideo_auth::core::secret::{AccessToken, ClientSecret, RefreshToken};
use echovideo_auth::core::token::{Event, TokenSet};

const T0: f64 = 1_700_000_000_000.0;
const JITTER: f64 = 0.5;

fn options(secret: bool, lifetime_margin_s: f64) -> Options {
    Options {
        client_id: Some("client-1".into()),
        client_secret: secret.then(|| ClientSecret::new("secret")),
        base_url: Some(UrlParts {
            protocol: "https:".into(),
            hostname: "echo.example.edu".into(),
            pathname: "/".into(),
            ..UrlParts::default()
        }),
        refresh_margin_seconds: Some(lifetime_margin_s),
        max_retries: Some(0.0),
        ..Options::default()
    }
}

fn tokens(access: &str, refresh: &str, expires_in: f64) -> Outcome {
    Outcome::Answer(HttpAnswer {
        status: 200,
        retry_after: None,
        body: ResponseBody::Object(ResponseFields {
            token_type: JsonValue::String("bearer".into()),
            access_token: JsonValue::String(access.into()),
            refresh_token: JsonValue::String(refresh.into()),
            expires_in: JsonValue::Number(expires_in),
            ..ResponseFields::default()
        }),
    })
}

fn status(code: u16, error: Option<&str>) -> Outcome {
    Outcome::Answer(HttpAnswer {
        status: code,
        retry_after: None,
        body: ResponseBody::Object(ResponseFields {
            error: error.map_or(JsonValue::Absent, |e| JsonValue::String(e.into())),
            ..ResponseFields::default()
        }),
    })
}

/// Runs one operation to its end, answering every request with the next of
/// `answers` and every storage call with success. Returns the result and how
/// many requests it sent.
fn run(
    machine: &mut Machine,
    kind: OperationKind,
    now: f64,
    answers: &mut Vec<Outcome>,
) -> (Step, usize) {
    let mut op = Operation::new(kind);
    let mut sent = 0;
    let mut step = machine.start(&mut op, now);
    loop {
        step = match step {
            Step::Load => machine.on_loaded(&mut op, Ok(None), now),
            Step::Send(_) => {
                sent += 1;
                machine.on_answer(&mut op, answers.remove(0), now, JITTER)
            }
            Step::Save(_) => machine.on_saved(&mut op, Ok(()), now),
            Step::Clear => machine.on_cleared(&mut op, Ok(())),
            Step::Sleep(_) => panic!("maxRetries is 0: no sleep expected"),
            Step::Lock => panic!("not coordinated: no lock expected"),
            done @ Step::Done(_) => return (done, sent),
        }
    }
}

/// A machine holding "at-1"/"rt-1" received at T0: granted with a secret,
/// imported without one. The events of getting there are drained.
fn granted(secret: bool, margin_s: f64, lifetime_s: f64) -> Machine {
    let mut machine = Machine::new(Config::new(options(secret, margin_s)).unwrap());
    let kind = if secret {
        OperationKind::Ensure
    } else {
        OperationKind::Import(TokenSet {
            access_token: AccessToken::new("at-1"),
            refresh_token: Some(RefreshToken::new("rt-1")),
            token_type: "bearer".into(),
            expires_at_ms: T0 + lifetime_s * 1000.0,
            obtained_at_ms: T0,
        })
    };
    let mut answers = vec![tokens("at-1", "rt-1", lifetime_s)];
    let (step, _) = run(&mut machine, kind, T0, &mut answers);
    assert!(matches!(step, Step::Done(Ok(Some(_)))));
    while machine.poll_event().is_some() {}
    machine
}

#[test]
fn nothing_is_scheduled_without_tokens() {
    let machine = Machine::new(Config::new(options(true, 300.0)).unwrap());
    assert_eq!(machine.poll_timeout(), None);
}

#[test]
fn the_renewal_is_due_within_the_spread_before_the_refresh_time() {
    let machine = granted(true, 300.0, 3600.0);
    let due = machine.poll_timeout().unwrap();
    let refresh_at = T0 + 3_300_000.0;
    assert!(
        due <= refresh_at,
        "due {due} after the refresh time {refresh_at}"
    );
    assert!(
        due >= refresh_at - MAX_SCHEDULE_SPREAD_MS,
        "due {due} spreads more than 30 s"
    );
}

#[test]
fn the_spread_is_at_most_a_tenth_of_the_time_to_refresh_and_differs_between_tokens() {
    let mut dues = Vec::new();
    for access in ["at-a", "at-b", "at-c", "at-d", "at-e", "at-f"] {
        let mut machine = Machine::new(Config::new(options(true, 1.0)).unwrap());
        run(
            &mut machine,
            OperationKind::Ensure,
            T0,
            &mut vec![tokens(access, "rt", 4.0)],
        );
        let due = machine.poll_timeout().unwrap();
        // Refresh time is T0 + 3 s; the spread is at most 300 ms.
        assert!(
            (T0 + 2_700.0..=T0 + 3_000.0).contains(&due),
            "{access}: {due}"
        );
        dues.push(due as u64);
    }
    dues.sort_unstable();
    dues.dedup();
    assert!(
        dues.len() > 1,
        "different tokens must not all be due at the same instant"
    );
}

#[test]
fn a_scheduled_run_before_its_time_sends_nothing_and_at_its_time_renews() {
    let mut machine = granted(true, 300.0, 3600.0);
    let due = machine.poll_timeout().unwrap();
    let (_, sent) = run(
        &mut machine,
        OperationKind::Scheduled,
        due - 1000.0,
        &mut vec![],
    );
    assert_eq!(sent, 0, "an early timer does not renew");
    let (step, sent) = run(
        &mut machine,
        OperationKind::Scheduled,
        due,
        &mut vec![tokens("at-2", "rt-2", 3600.0)],
    );
    assert_eq!(sent, 1);
    assert!(matches!(step, Step::Done(Ok(Some(token))) if token.secret() == "at-2"));
    // The next renewal is scheduled for the new set.
    assert!(machine.poll_timeout().unwrap() > due + 3_000_000.0);
}

#[test]
fn a_timer_that_wakes_long_after_expiry_renews_at_once() {
    let mut machine = granted(false, 300.0, 3600.0);
    let asleep_until = T0 + 10.0 * 3_600_000.0;
    assert!(
        machine.poll_timeout().unwrap() < asleep_until,
        "overdue: run now"
    );
    let (step, sent) = run(
        &mut machine,
        OperationKind::Scheduled,
        asleep_until,
        &mut vec![tokens("at-2", "rt-2", 3600.0)],
    );
    assert_eq!(sent, 1);
    assert!(matches!(step, Step::Done(Ok(Some(token))) if token.secret() == "at-2"));
}

#[test]
fn failed_scheduled_renewals_back_off_exponentially_and_keep_the_valid_token() {
    let mut machine = granted(true, 300.0, 3600.0);
    let mut now = machine.poll_timeout().unwrap();
    let mut delays = Vec::new();
    for _ in 0..4 {
        let (step, sent) = run(
            &mut machine,
            OperationKind::Scheduled,
            now,
            &mut vec![status(503, None)],
        );
        assert_eq!(sent, 1);
        assert!(
            matches!(step, Step::Done(Ok(Some(token))) if token.secret() == "at-1"),
            "the valid token stays"
        );
        assert!(
            matches!(machine.poll_event(), Some(Event::Error(error)) if error.code() == ErrorCode::ServerError)
        );
        let next = machine.poll_timeout().unwrap();
        delays.push((next - now) as u64);
        now = next;
    }
    let expected: Vec<u64> = (0..4).map(|retry| backoff_ms(retry, JITTER)).collect();
    assert_eq!(
        delays, expected,
        "no tight loop: each wait is the next backoff step"
    );
}

#[test]
fn a_failed_renewal_after_expiry_reports_and_backs_off() {
    let mut machine = granted(true, 300.0, 3600.0);
    let late = T0 + 4_000_000.0;
    let (step, _) = run(
        &mut machine,
        OperationKind::Scheduled,
        late,
        &mut vec![status(503, None)],
    );
    assert!(matches!(step, Step::Done(Err(ref error)) if error.code() == ErrorCode::ServerError));
    assert_eq!(
        machine.poll_timeout(),
        Some(late + backoff_ms(0, JITTER) as f64)
    );
}

#[test]
fn a_terminal_failure_stops_the_schedule_until_a_new_set_arrives() {
    // invalid_grant on the refresh falls back on a full grant, which the
    // server refuses: invalid_client cannot be mended by retrying.
    let mut machine = granted(true, 300.0, 3600.0);
    let due = machine.poll_timeout().unwrap();
    let (step, sent) = run(
        &mut machine,
        OperationKind::Scheduled,
        due,
        &mut vec![
            status(400, Some("invalid_grant")),
            status(401, Some("invalid_client")),
        ],
    );
    assert_eq!(sent, 2);
    assert!(
        matches!(step, Step::Done(Ok(_))),
        "the still valid token is kept"
    );
    assert!(
        matches!(machine.poll_event(), Some(Event::Error(error)) if error.code() == ErrorCode::InvalidClient)
    );
    assert_eq!(machine.poll_event(), None, "reported once");
    assert_eq!(machine.poll_timeout(), None, "no more timers");

    // A forced refresh that succeeds brings the schedule back.
    let (_, sent) = run(
        &mut machine,
        OperationKind::Force,
        due + 1000.0,
        &mut vec![tokens("at-9", "rt-9", 3600.0)],
    );
    assert_eq!(sent, 1);
    assert!(machine.poll_timeout().is_some());
}

#[test]
fn reauth_required_leaves_nothing_to_schedule() {
    let mut machine = granted(false, 300.0, 3600.0);
    let due = machine.poll_timeout().unwrap();
    let (step, _) = run(
        &mut machine,
        OperationKind::Scheduled,
        due,
        &mut vec![status(400, Some("invalid_grant"))],
    );
    assert!(
        matches!(step, Step::Done(Err(ref error)) if error.code() == ErrorCode::ReauthRequired)
    );
    assert_eq!(machine.poll_timeout(), None);
}

#[test]
fn clear_and_dispose_cancel_the_schedule() {
    let mut machine = granted(true, 300.0, 3600.0);
    run(&mut machine, OperationKind::Clear, T0, &mut vec![]);
    assert_eq!(machine.poll_timeout(), None);
    let mut machine = granted(true, 300.0, 3600.0);
    machine.dispose();
    assert_eq!(machine.poll_timeout(), None);
}
