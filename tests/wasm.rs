//! wasm-bindgen tests of the JS-facing layer, run by `wasm-bindgen-test-runner`
//! in Node and in headless Chromium: what JS actually receives from the
//! exported `Engine` (the step codes, the request handed to `fetch`, the
//! record handed to `storage.save`, the error parts a rejection is made
//! from, the events) and what its renewal timer really does with a JS
//! function on the platform's `setTimeout`.
#![cfg(target_arch = "wasm32")]

use echovideo_auth::Engine;
use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

// Step codes (src/engine.rs).
const LOAD: u8 = 1;
const SEND: u8 = 3;
const SAVE: u8 = 4;
const SLEEP: u8 = 6;
const DONE: u8 = 7;
const FAILED: u8 = 8;

// Operation kinds for `start`.
const ENSURE: u8 = 0;

const NOW: f64 = 1_700_000_000_000.0;
const SECRET: &str = "s3cret&= +";
const BASE_URL: &str = "https://echo.example.edu";
const TOKEN_URL: &str = "https://echo.example.edu/oauth2/access_token";

/// The constructor's arguments, as the driver passes them.
struct Options {
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
}

/// `baseUrl` split as the platform's `URL` does: protocol, username,
/// password, hostname, port, pathname, search, hash.
fn url_parts(parts: [&str; 8]) -> Option<Vec<String>> {
    Some(parts.iter().map(|part| (*part).to_owned()).collect())
}

fn options() -> Options {
    Options {
        client_id: Some("client-1".into()),
        client_secret: Some(SECRET.into()),
        region: None,
        url: url_parts(["https:", "", "", "echo.example.edu", "", "/", "", ""]),
        token_path: None,
        grant: None,
        username: None,
        password: None,
        refresh_margin_seconds: None,
        timeout_ms: None,
        max_retries: None,
        coordinated: false,
        lock_timeout_ms: None,
    }
}

fn construct(options: Options) -> Result<Engine, JsValue> {
    Engine::new(
        options.client_id,
        options.client_secret,
        options.region,
        options.url,
        options.token_path,
        options.grant,
        options.username,
        options.password,
        options.refresh_margin_seconds,
        options.timeout_ms,
        options.max_retries,
        options.coordinated,
        options.lock_timeout_ms,
    )
}

fn engine() -> Engine {
    construct(options()).expect("valid options")
}

fn string(value: &JsValue) -> String {
    value
        .as_string()
        .unwrap_or_else(|| panic!("not a string: {value:?}"))
}

fn strings(values: &[JsValue]) -> Vec<String> {
    values.iter().map(string).collect()
}

/// The error parts `[code, message, status, description, retryAfterMs,
/// retryable]`, checked to be a real six-element JS array.
fn error_parts(value: &JsValue) -> Vec<JsValue> {
    assert!(Array::is_array(value), "not an array: {value:?}");
    let parts: Vec<JsValue> = value.unchecked_ref::<Array>().iter().collect();
    assert_eq!(parts.len(), 6, "{value:?}");
    assert!(parts[0].is_string(), "code: {:?}", parts[0]);
    assert!(parts[1].is_string(), "message: {:?}", parts[1]);
    assert!(
        parts[5].as_bool().is_some(),
        "retryable is not a boolean: {:?}",
        parts[5]
    );
    parts
}

/// The error parts of a FAILED step.
fn failure(engine: &Engine) -> Vec<JsValue> {
    let data = engine.step_data();
    assert_eq!(data.len(), 1, "{data:?}");
    error_parts(&data[0])
}

/// What the constructor throws for `options`.
fn thrown(options: Options) -> Vec<JsValue> {
    match construct(options) {
        Ok(_) => panic!("the constructor should throw"),
        Err(error) => error_parts(&error),
    }
}

/// Nothing read from storage.
fn load_nothing(engine: &mut Engine, now: f64) -> u8 {
    engine.on_loaded(
        None,
        false,
        String::new(),
        None,
        String::new(),
        0.0,
        0.0,
        String::new(),
        String::new(),
        now,
    )
}

/// An answer whose body is a JSON object with these fields
/// (`token_type, access_token, refresh_token, expires_in, error,
/// error_description`; `undefined` where absent).
#[allow(clippy::too_many_arguments)]
fn answer_object(
    engine: &mut Engine,
    status: u16,
    retry_after: Option<&str>,
    fields: [JsValue; 6],
    now: f64,
    jitter: f64,
) -> u8 {
    let [token_type, access_token, refresh_token, expires_in, error, description] = fields;
    engine.on_answer(
        0,
        String::new(),
        status,
        retry_after.map(str::to_owned),
        0,
        token_type,
        access_token,
        refresh_token,
        expires_in,
        error,
        description,
        now,
        jitter,
    )
}

/// A 200 answer with a bearer token set that lives an hour.
fn answer_tokens(engine: &mut Engine, access: &str, refresh: &str, now: f64) -> u8 {
    answer_object(
        engine,
        200,
        None,
        [
            "Bearer".into(),
            access.into(),
            refresh.into(),
            3600.into(),
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
        ],
        now,
        0.5,
    )
}

/// An answer whose body is not a JSON object (`body`: 1 JSON but not an
/// object, 2 not JSON).
fn answer_unparsed(engine: &mut Engine, status: u16, body: u8, now: f64) -> u8 {
    let none = || JsValue::UNDEFINED;
    engine.on_answer(
        0,
        String::new(),
        status,
        None,
        body,
        none(),
        none(),
        none(),
        none(),
        none(),
        none(),
        now,
        0.0,
    )
}

/// Runs a client_credentials Ensure to its SEND step.
fn to_send(engine: &mut Engine, now: f64) {
    assert_eq!(engine.start(ENSURE, now), LOAD);
    assert_eq!(load_nothing(engine, now), SEND);
}

/// Runs a whole client_credentials Ensure that gets `at-1`/`rt-1` at `now`.
fn obtain(engine: &mut Engine, now: f64) {
    to_send(engine, now);
    assert_eq!(answer_tokens(engine, "at-1", "rt-1", now), SAVE);
    assert_eq!(engine.on_saved(None, now), DONE);
}

fn global(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).unwrap()
}

/// A JS function that counts its calls in `globalThis[name]`.
fn counter(name: &str) -> Function {
    Reflect::set(&js_sys::global(), &JsValue::from_str(name), &0.into()).unwrap();
    Function::new_no_args(&format!("globalThis[{name:?}] += 1;"))
}

fn calls(name: &str) -> f64 {
    global(name).as_f64().expect("a counter")
}

/// Resolves after `ms` ms of the platform's `setTimeout`.
async fn sleep(ms: u32) {
    let promise: Promise = Function::new_with_args(
        "ms",
        "return new Promise((resolve) => setTimeout(resolve, ms));",
    )
    .call1(&JsValue::UNDEFINED, &ms.into())
    .unwrap()
    .unchecked_into();
    JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
fn constructor_throws_error_parts_naming_the_bad_option() {
    let cases: Vec<(Options, &str)> = vec![
        (
            Options {
                client_id: None,
                ..options()
            },
            "invalid option `clientId`: is required",
        ),
        (
            Options {
                client_id: Some("  ".into()),
                ..options()
            },
            "invalid option `clientId`: must not be empty",
        ),
        (
            Options {
                client_secret: Some(String::new()),
                ..options()
            },
            "invalid option `clientSecret`",
        ),
        (
            Options {
                url: url_parts(["http:", "", "", "echo.example.edu", "", "/", "", ""]),
                ..options()
            },
            "invalid option `baseUrl`: must use https",
        ),
        (
            Options {
                url: url_parts(["ftp:", "", "", "echo.example.edu", "", "/", "", ""]),
                ..options()
            },
            "invalid option `baseUrl`: must be an https URL",
        ),
        (
            Options {
                url: url_parts(["https:", "me", "pw", "echo.example.edu", "", "/", "", ""]),
                ..options()
            },
            "invalid option `baseUrl`: must not contain credentials",
        ),
        (
            Options {
                url: url_parts(["https:", "", "", "echo.example.edu", "", "/", "?a=1", ""]),
                ..options()
            },
            "invalid option `baseUrl`: must not have a query or fragment",
        ),
        (
            Options {
                url: url_parts(["https:", "", "", "echo.example.edu", "", "/", "", "#x"]),
                ..options()
            },
            "invalid option `baseUrl`: must not have a query or fragment",
        ),
        (
            Options {
                refresh_margin_seconds: Some(-1.0),
                ..options()
            },
            "invalid option `refreshMarginSeconds`: must be a number from 0 to 86400",
        ),
        (
            Options {
                refresh_margin_seconds: Some(86_401.0),
                ..options()
            },
            "invalid option `refreshMarginSeconds`: must be a number from 0 to 86400",
        ),
        (
            Options {
                refresh_margin_seconds: Some(f64::NAN),
                ..options()
            },
            "invalid option `refreshMarginSeconds`: must be a number from 0 to 86400",
        ),
        (
            Options {
                max_retries: Some(1.5),
                ..options()
            },
            "invalid option `maxRetries`: must be a whole number",
        ),
        (
            Options {
                url: None,
                region: Some("eu".into()),
                ..options()
            },
            "invalid option `region`",
        ),
        (
            Options {
                grant: Some("password".into()),
                ..options()
            },
            "invalid option `username`",
        ),
    ];
    for (options, expected) in cases {
        let parts = thrown(options);
        assert_eq!(string(&parts[0]), "invalid_config", "{expected}");
        let message = string(&parts[1]);
        assert!(
            message.starts_with(expected),
            "{message:?} should start with {expected:?}"
        );
        assert!(parts[2].is_undefined(), "status: {:?}", parts[2]);
        assert!(parts[3].is_undefined(), "description: {:?}", parts[3]);
        assert!(parts[4].is_undefined(), "retryAfterMs: {:?}", parts[4]);
        assert_eq!(parts[5].as_bool(), Some(false), "{expected}");
        assert!(!message.contains(SECRET), "{message}");
    }
}

#[wasm_bindgen_test]
fn valid_options_construct_with_their_settings() {
    let engine = engine();
    assert_eq!(
        engine.lock_name(),
        "echovideo-auth https://echo.example.edu client-1"
    );
    assert_eq!(engine.timeout_ms(), 10_000.0);
    assert_eq!(engine.lock_timeout_ms(), 30_000.0);
    assert!(!engine.disposed());
    let info = engine.info(NOW);
    assert_eq!(string(&info[0]), "unloaded");
    assert!(info[1].is_null() && info[3].is_null(), "{info:?}");
    assert_eq!(info[2].as_bool(), Some(false));
    assert_eq!(engine.fresh(NOW), None);
    assert!(engine.fast_path().is_empty());
    assert_eq!(engine.due(), None);

    // Plain http on a loopback host, a port, a path, a region, the limits.
    let engine = construct(Options {
        url: url_parts(["http:", "", "", "127.0.0.1", "8787", "/echo/", "", ""]),
        timeout_ms: Some(2500.0),
        lock_timeout_ms: Some(1.0),
        refresh_margin_seconds: Some(86_400.0),
        max_retries: Some(0.0),
        ..options()
    })
    .unwrap();
    assert_eq!(
        engine.lock_name(),
        "echovideo-auth http://127.0.0.1:8787/echo client-1"
    );
    assert_eq!(engine.timeout_ms(), 2500.0);
    assert_eq!(engine.lock_timeout_ms(), 1.0);
    let engine = construct(Options {
        url: None,
        region: Some("UK".into()),
        client_secret: None,
        ..options()
    })
    .unwrap();
    assert_eq!(
        engine.lock_name(),
        "echovideo-auth https://echo360.org.uk client-1"
    );
}

#[wasm_bindgen_test]
fn client_credentials_ensure_sends_saves_and_hands_out_the_token() {
    let mut engine = engine();
    assert_eq!(engine.start(ENSURE, NOW), LOAD);
    assert!(engine.step_data().is_empty(), "a load step has no data");
    assert_eq!(load_nothing(&mut engine, NOW), SEND);

    // What `fetch` is given.
    let request = strings(&engine.step_data());
    assert_eq!(
        request,
        [
            TOKEN_URL,
            "grant_type=client_credentials&client_id=client-1&client_secret=s3cret%26%3D+%2B",
            "POST",
            "Content-Type",
            "application/x-www-form-urlencoded",
            "Accept",
            "application/json",
        ]
    );
    assert!(!request[0].contains("s3cret"), "the URL carries no secret");
    let with_secret = request
        .iter()
        .filter(|part| part.contains("s3cret"))
        .count();
    assert_eq!(
        with_secret, 1,
        "the secret is only in the body: {request:?}"
    );

    // The answer: a token set received 10 ms later.
    let received = NOW + 10.0;
    assert_eq!(answer_tokens(&mut engine, "at-1", "rt-1", received), SAVE);
    // Not handed out before it is saved.
    assert_eq!(engine.fresh(received), None);
    assert!(engine.fast_path().is_empty());

    // What `storage.save` is given.
    let record = engine.step_data();
    assert_eq!(record.len(), 7, "{record:?}");
    assert_eq!(string(&record[0]), "at-1");
    assert_eq!(string(&record[1]), "rt-1");
    assert_eq!(string(&record[2]), "Bearer");
    let expires_at = received + 3_600_000.0;
    assert_eq!(record[3].as_f64(), Some(expires_at));
    assert_eq!(record[4].as_f64(), Some(received));
    assert_eq!(string(&record[5]), "client-1");
    assert_eq!(string(&record[6]), BASE_URL);
    for field in &record {
        assert!(
            field
                .as_string()
                .is_none_or(|text| !text.contains("s3cret")),
            "the record holds no client secret: {record:?}"
        );
    }

    let saved = NOW + 20.0;
    assert_eq!(engine.on_saved(None, saved), DONE);
    assert_eq!(strings(&engine.step_data()), ["at-1"]);

    // One event, then none.
    let event = engine.next_event();
    assert_eq!(event.len(), 3, "{event:?}");
    assert_eq!(string(&event[0]), "client_credentials");
    assert_eq!(event[1].as_f64(), Some(expires_at));
    assert_eq!(string(&event[2]), "network");
    assert!(engine.next_event().is_empty());

    // Held and fresh: the fast path hands it out until the refresh margin.
    assert_eq!(engine.fresh(saved).as_deref(), Some("at-1"));
    let refresh_at = expires_at - 300_000.0;
    let fast = engine.fast_path();
    assert_eq!(fast.len(), 3, "{fast:?}");
    assert_eq!(string(&fast[0]), "at-1");
    assert_eq!(fast[1].as_f64(), Some(received - 60_000.0));
    assert_eq!(fast[2].as_f64(), Some(refresh_at));
    assert_eq!(engine.fresh(refresh_at - 1.0).as_deref(), Some("at-1"));
    assert_eq!(engine.fresh(refresh_at), None);
    assert!(engine.holds("at-1"));
    assert!(!engine.holds("at-2"));
    assert_eq!(engine.grants(), 1.0);
    let due = engine.due().expect("a renewal is scheduled");
    assert!(
        due <= refresh_at && due > refresh_at - 30_000.0,
        "{due} vs {refresh_at}"
    );
    let info = engine.info(saved);
    assert_eq!(string(&info[0]), "valid");
    assert_eq!(info[1].as_f64(), Some(expires_at));
    assert_eq!(info[2].as_bool(), Some(true));
    assert_eq!(string(&info[3]), "client_credentials");
    assert_eq!(string(&engine.info(refresh_at)[0]), "expiring");
    assert_eq!(string(&engine.info(expires_at)[0]), "expired");

    // A second Ensure needs no I/O.
    assert_eq!(engine.start(ENSURE, saved + 1.0), DONE);
    assert_eq!(strings(&engine.step_data()), ["at-1"]);
    assert!(engine.next_event().is_empty());
    assert_eq!(engine.grants(), 1.0);
}

#[wasm_bindgen_test]
fn a_stale_token_is_renewed_with_its_refresh_token() {
    let mut engine = engine();
    obtain(&mut engine, NOW);
    let _ = engine.next_event();
    let later = NOW + 3_400_000.0; // inside the refresh margin
    assert_eq!(engine.start(ENSURE, later), SEND);
    let request = strings(&engine.step_data());
    assert_eq!(request[0], TOKEN_URL);
    assert_eq!(
        request[1],
        "grant_type=refresh_token&client_id=client-1&refresh_token=rt-1"
    );
    assert_eq!(answer_tokens(&mut engine, "at-2", "rt-2", later), SAVE);
    assert_eq!(string(&engine.step_data()[1]), "rt-2");
    assert_eq!(engine.on_saved(None, later), DONE);
    assert_eq!(strings(&engine.step_data()), ["at-2"]);
    let event = engine.next_event();
    assert_eq!(string(&event[0]), "refresh_token");
    assert_eq!(engine.grants(), 2.0);
    assert!(engine.holds("at-2") && !engine.holds("at-1"));
}

#[wasm_bindgen_test]
fn a_refused_grant_fails_with_code_status_and_description() {
    let mut engine = engine();
    to_send(&mut engine, NOW);
    let step = answer_object(
        &mut engine,
        401,
        None,
        [
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
            "invalid_client".into(),
            "unknown client".into(),
        ],
        NOW,
        0.0,
    );
    assert_eq!(step, FAILED);
    let parts = failure(&engine);
    assert_eq!(string(&parts[0]), "invalid_client");
    assert_eq!(
        string(&parts[1]),
        "the token endpoint refused the request (HTTP 401)"
    );
    assert_eq!(parts[2].as_f64(), Some(401.0));
    assert_eq!(string(&parts[3]), "unknown client");
    assert!(parts[4].is_undefined());
    assert_eq!(parts[5].as_bool(), Some(false));
    assert!(engine.next_event().is_empty());
    assert_eq!(engine.grants(), 0.0);
    assert_eq!(engine.fresh(NOW), None);
    assert_eq!(engine.due(), None, "nothing to renew");
    assert_eq!(string(&engine.info(NOW)[0]), "empty");
}

#[wasm_bindgen_test]
fn a_server_echoing_the_secret_has_it_redacted() {
    let mut engine = engine();
    to_send(&mut engine, NOW);
    let step = answer_object(
        &mut engine,
        400,
        None,
        [
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
            "unknown_error_code".into(),
            format!("bad secret {SECRET}!").into(),
        ],
        NOW,
        0.0,
    );
    assert_eq!(step, FAILED);
    let parts = failure(&engine);
    // An unknown OAuth error on a 400 is invalid_request.
    assert_eq!(string(&parts[0]), "invalid_request");
    assert_eq!(parts[2].as_f64(), Some(400.0));
    assert_eq!(string(&parts[3]), "bad secret [redacted]!");
}

#[wasm_bindgen_test]
fn a_malformed_answer_fails_without_retrying() {
    // malformed_response is not retryable: the operation fails at once,
    // whatever maxRetries says, with no sleep and no second request.
    for (max_retries, body, reason) in [
        (Some(0.0), 2, "the body is not JSON"),
        (None, 2, "the body is not JSON"),
        (Some(3.0), 1, "the body is not a JSON object"),
    ] {
        let mut engine = construct(Options {
            max_retries,
            ..options()
        })
        .unwrap();
        to_send(&mut engine, NOW);
        assert_eq!(answer_unparsed(&mut engine, 200, body, NOW), FAILED);
        let parts = failure(&engine);
        assert_eq!(string(&parts[0]), "malformed_response");
        assert_eq!(
            string(&parts[1]),
            format!("the token endpoint answered 200 but {reason}")
        );
        assert_eq!(parts[2].as_f64(), Some(200.0));
        assert!(parts[3].is_undefined() && parts[4].is_undefined());
        assert_eq!(parts[5].as_bool(), Some(false));
        assert_eq!(engine.grants(), 0.0);
    }

    // A JSON object that is not a token set is malformed too.
    let mut engine = engine();
    to_send(&mut engine, NOW);
    let step = answer_object(
        &mut engine,
        200,
        None,
        [
            "mac".into(),
            "at-1".into(),
            JsValue::NULL,
            3600.into(),
            JsValue::UNDEFINED,
            JsValue::UNDEFINED,
        ],
        NOW,
        0.0,
    );
    assert_eq!(step, FAILED);
    let parts = failure(&engine);
    assert_eq!(string(&parts[0]), "malformed_response");
    assert_eq!(
        string(&parts[1]),
        "the token endpoint answered 200 but token_type is not bearer"
    );
}

#[wasm_bindgen_test]
fn a_server_error_is_retried_after_the_backoff_then_fails() {
    let mut engine = construct(Options {
        max_retries: Some(1.0),
        ..options()
    })
    .unwrap();
    to_send(&mut engine, NOW);
    let first = strings(&engine.step_data());

    // 503 with Retry-After: 2 s, longer than the backoff, is waited out.
    let none = || JsValue::UNDEFINED;
    let step = answer_object(
        &mut engine,
        503,
        Some("2"),
        [none(), none(), none(), none(), none(), none()],
        NOW,
        0.0,
    );
    assert_eq!(step, SLEEP);
    let data = engine.step_data();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].as_f64(), Some(2000.0));

    // Woken early: sleep the rest.
    assert_eq!(engine.on_woke(NOW + 500.0), SLEEP);
    assert_eq!(engine.step_data()[0].as_f64(), Some(1500.0));
    assert_eq!(engine.on_woke(NOW + 2000.0), SEND);
    assert_eq!(
        strings(&engine.step_data()),
        first,
        "the same request again"
    );

    // Out of retries: the error parts, retryable.
    assert_eq!(answer_unparsed(&mut engine, 503, 2, NOW + 2100.0), FAILED);
    let parts = failure(&engine);
    assert_eq!(string(&parts[0]), "server_error");
    assert_eq!(string(&parts[1]), "the token endpoint failed (HTTP 503)");
    assert_eq!(parts[2].as_f64(), Some(503.0));
    assert!(parts[3].is_undefined() && parts[4].is_undefined());
    assert_eq!(parts[5].as_bool(), Some(true));

    // With no retries, a 429's Retry-After crosses as a number.
    let mut engine = construct(Options {
        max_retries: Some(0.0),
        ..options()
    })
    .unwrap();
    to_send(&mut engine, NOW);
    let step = answer_object(
        &mut engine,
        429,
        Some("7"),
        [none(), none(), none(), none(), none(), none()],
        NOW,
        0.0,
    );
    assert_eq!(step, FAILED);
    let parts = failure(&engine);
    assert_eq!(string(&parts[0]), "rate_limited");
    assert_eq!(parts[2].as_f64(), Some(429.0));
    assert_eq!(parts[4].as_f64(), Some(7000.0));
    assert_eq!(parts[5].as_bool(), Some(true));
}

#[wasm_bindgen_test]
fn network_failures_cross_as_network_and_timeout_errors() {
    let none = || JsValue::UNDEFINED;
    for (failure_kind, detail, code, message) in [
        (
            1,
            "ECONNREFUSED",
            "network",
            "the token request could not be sent: ECONNREFUSED",
        ),
        (
            2,
            "socket hang up",
            "network",
            "the connection to the token endpoint was lost: socket hang up",
        ),
        (
            3,
            "",
            "timeout",
            "the token endpoint did not answer within 10000 ms",
        ),
    ] {
        let mut engine = construct(Options {
            max_retries: Some(0.0),
            ..options()
        })
        .unwrap();
        to_send(&mut engine, NOW);
        let step = engine.on_answer(
            failure_kind,
            detail.into(),
            0,
            None,
            2,
            none(),
            none(),
            none(),
            none(),
            none(),
            none(),
            NOW,
            0.0,
        );
        assert_eq!(step, FAILED, "{message}");
        let parts = failure(&engine);
        assert_eq!(string(&parts[0]), code);
        assert_eq!(string(&parts[1]), message);
        assert!(parts[2].is_undefined(), "no status without an answer");
        assert_eq!(parts[5].as_bool(), Some(true));
    }
}

#[wasm_bindgen_test]
fn a_storage_load_failure_fails_with_a_storage_error() {
    let mut engine = engine();
    assert_eq!(engine.start(ENSURE, NOW), LOAD);
    let step = engine.on_loaded(
        Some(format!("it threw: disk on fire near {SECRET}")),
        false,
        String::new(),
        None,
        String::new(),
        0.0,
        0.0,
        String::new(),
        String::new(),
        NOW,
    );
    assert_eq!(step, FAILED);
    let parts = failure(&engine);
    assert_eq!(string(&parts[0]), "storage");
    assert_eq!(
        string(&parts[1]),
        "storage.load failed: it threw: disk on fire near [redacted]"
    );
    assert!(parts[2].is_undefined() && parts[3].is_undefined() && parts[4].is_undefined());
    assert_eq!(parts[5].as_bool(), Some(true));
    // No grant while storage is unreadable; the next operation reads it again.
    assert_eq!(engine.grants(), 0.0);
    assert_eq!(string(&engine.info(NOW)[0]), "unloaded");
    assert_eq!(engine.start(ENSURE, NOW), LOAD);
}

#[wasm_bindgen_test]
fn a_stored_set_is_adopted_without_a_request() {
    let mut engine = engine();
    assert_eq!(engine.start(ENSURE, NOW), LOAD);
    let expires_at = NOW + 1_800_000.0;
    let step = engine.on_loaded(
        None,
        true,
        "at-stored".into(),
        Some("rt-stored".into()),
        "bearer".into(),
        expires_at,
        NOW - 1000.0,
        "client-1".into(),
        BASE_URL.into(),
        NOW,
    );
    assert_eq!(step, DONE);
    assert_eq!(strings(&engine.step_data()), ["at-stored"]);
    let event = engine.next_event();
    assert_eq!(event.len(), 3);
    assert!(event[0].is_null(), "no grant: {:?}", event[0]);
    assert_eq!(event[1].as_f64(), Some(expires_at));
    assert_eq!(string(&event[2]), "storage");
    assert!(engine.next_event().is_empty());
    let info = engine.info(NOW);
    assert_eq!(string(&info[0]), "valid");
    assert!(info[3].is_null(), "lastGrant: {:?}", info[3]);

    // A set of another client is ignored: a grant is made.
    let mut engine = self::engine();
    assert_eq!(engine.start(ENSURE, NOW), LOAD);
    let step = engine.on_loaded(
        None,
        true,
        "at-other".into(),
        Some("rt-other".into()),
        "bearer".into(),
        expires_at,
        NOW,
        "client-2".into(),
        BASE_URL.into(),
        NOW,
    );
    assert_eq!(step, SEND);
    assert!(engine.next_event().is_empty());
}

#[wasm_bindgen_test]
fn a_failed_save_still_hands_out_the_token_and_reports_the_failure() {
    let mut engine = engine();
    to_send(&mut engine, NOW);
    assert_eq!(answer_tokens(&mut engine, "at-1", "rt-1", NOW), SAVE);
    assert_eq!(engine.on_saved(Some("quota exceeded".into()), NOW), DONE);
    assert_eq!(strings(&engine.step_data()), ["at-1"]);
    // The failure first, then the new set.
    let first = engine.next_event();
    assert_eq!(first.len(), 1, "{first:?}");
    let parts = error_parts(&first[0]);
    assert_eq!(string(&parts[0]), "storage");
    assert_eq!(string(&parts[1]), "storage.save failed: quota exceeded");
    let second = engine.next_event();
    assert_eq!(second.len(), 3, "{second:?}");
    assert_eq!(string(&second[2]), "network");
    assert!(engine.next_event().is_empty());
    // Unsaved: no fast path, and the next operation saves it first.
    assert_eq!(engine.fresh(NOW), None);
    assert!(engine.fast_path().is_empty());
    assert_eq!(engine.start(ENSURE, NOW), SAVE);
    assert_eq!(string(&engine.step_data()[1]), "rt-1");
    assert_eq!(engine.on_saved(None, NOW), DONE);
    assert_eq!(strings(&engine.step_data()), ["at-1"]);
    assert_eq!(engine.fresh(NOW).as_deref(), Some("at-1"));
}

#[wasm_bindgen_test]
fn dispose_stops_every_operation() {
    let mut engine = engine();
    obtain(&mut engine, NOW);
    assert_eq!(engine.fresh(NOW).as_deref(), Some("at-1"));
    engine.dispose();
    assert!(engine.disposed());
    assert_eq!(engine.fresh(NOW), None);
    assert!(engine.fast_path().is_empty());
    assert_eq!(engine.due(), None);
    assert_eq!(string(&engine.info(NOW)[0]), "disposed");
    assert_eq!(engine.start(ENSURE, NOW), FAILED);
    let parts = failure(&engine);
    assert_eq!(string(&parts[0]), "disposed");
    assert_eq!(string(&parts[1]), "the TokenManager was disposed");
    assert_eq!(parts[5].as_bool(), Some(false));

    // Disposed between the load and the request: no request is made.
    let mut engine = self::engine();
    assert_eq!(engine.start(ENSURE, NOW), LOAD);
    engine.dispose();
    assert_eq!(load_nothing(&mut engine, NOW), FAILED);
    assert_eq!(string(&failure(&engine)[0]), "disposed");
}

#[wasm_bindgen_test]
async fn an_armed_timer_calls_the_function_once_after_the_delay() {
    let mut engine = engine();
    assert!(engine.arm(30.0, &counter("__evaArmFires")));
    assert_eq!(calls("__evaArmFires"), 0.0, "not synchronously");
    sleep(150).await;
    assert_eq!(calls("__evaArmFires"), 1.0);
    sleep(50).await;
    assert_eq!(calls("__evaArmFires"), 1.0, "only once");
    // Disarming a timer that already fired is harmless.
    engine.disarm();
    assert!(!engine.disposed());
}

#[wasm_bindgen_test]
async fn a_disarmed_timer_never_fires() {
    let mut engine = engine();
    assert!(engine.arm(30.0, &counter("__evaDisarmed")));
    engine.disarm();
    sleep(150).await;
    assert_eq!(calls("__evaDisarmed"), 0.0);
}

#[wasm_bindgen_test]
async fn arming_again_replaces_the_pending_timer() {
    let mut engine = engine();
    assert!(engine.arm(30.0, &counter("__evaReplaced")));
    assert!(engine.arm(60.0, &counter("__evaReplacement")));
    sleep(200).await;
    assert_eq!(calls("__evaReplaced"), 0.0);
    assert_eq!(calls("__evaReplacement"), 1.0);
}

#[wasm_bindgen_test]
async fn dispose_and_drop_cancel_the_timer() {
    let mut disposed = engine();
    assert!(disposed.arm(30.0, &counter("__evaDisposed")));
    disposed.dispose();
    let mut dropped = engine();
    assert!(dropped.arm(30.0, &counter("__evaDropped")));
    drop(dropped);
    // A control that stays armed shows the wait was long enough.
    let mut control = engine();
    assert!(control.arm(30.0, &counter("__evaControl")));
    sleep(150).await;
    assert_eq!(calls("__evaControl"), 1.0);
    assert_eq!(calls("__evaDisposed"), 0.0);
    assert_eq!(calls("__evaDropped"), 0.0);
    drop(disposed);
}

#[wasm_bindgen_test]
fn only_a_first_401_of_a_replayable_request_renews() {
    let engine = engine();
    assert!(engine.renew_after(401, true));
    assert!(!engine.renew_after(401, false));
    for status in [200, 400, 403, 429, 500] {
        assert!(!engine.renew_after(status, true), "{status}");
    }
}
