//! Property tests of the parsers that take hostile input: the token
//! response reader (`grant::parse_token_response`), the error mapping of
//! unsuccessful answers (`grant::error_from_answer`), `Retry-After`
//! (`retry::parse_retry_after`) and option validation (`Config::new`).
//!
//! Every generator mixes arbitrary values (any string, any `f64` including
//! NaN, infinities, subnormals and huge numbers, long strings) with values
//! near the documented boundaries, so both "never panics" and "accepts exactly
//! what the rules say" are exercised. Each property states its oracle
//! independently of the code under test.
//!
//! Case counts: each property prints `property <name>: <n> cases` (see them
//! with `cargo test --test prop_parse -- --nocapture`). `PROP_SCALE=<k>`
//! multiplies every count for a longer run.

// proptest is a host-only dev-dependency: these suites do not build for wasm.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::Cell;

use echovideo_auth::core::config::{Config, FullGrant, GrantType, Options, UrlParts};
use echovideo_auth::core::error::ErrorCode;
use echovideo_auth::core::grant::{
    error_from_answer, parse_token_response, HttpAnswer, JsonValue, ResponseBody, ResponseFields,
    MAX_EXPIRES_IN_SECONDS,
};
use echovideo_auth::core::retry::parse_retry_after;
use echovideo_auth::core::secret::{ClientSecret, Password};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

// ---------------------------------------------------------------------------
// Running a property with a known number of cases
// ---------------------------------------------------------------------------

/// `base` times `PROP_SCALE` (default 1).
fn scaled(base: u32) -> u32 {
    let scale = std::env::var("PROP_SCALE")
        .ok()
        .and_then(|value| value.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    base.saturating_mul(scale)
}

/// Runs `test` on `cases` generated values, prints how many ran, and fails
/// with the (shrunk) counterexample if one fails. Returns the count.
fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u32
where
    S::Value: std::fmt::Debug,
{
    let cases = scaled(cases);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..RunnerConfig::default()
    });
    let ran = Cell::new(0_u32);
    let result = runner.run(&strategy, |value| {
        ran.set(ran.get() + 1);
        test(value)
    });
    if let Err(error) = result {
        panic!("property {name} failed: {error}");
    }
    println!("property {name}: {} cases", ran.get());
    assert!(ran.get() >= cases, "{name}: only {} cases ran", ran.get());
    ran.get()
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

/// Marks the token values generated here: no error message may contain one.
const TOKEN_MARK: &str = "TOK-";

/// Any `f64`, with the special and boundary values made likely.
fn number() -> BoxedStrategy<f64> {
    prop_oneof![
        4 => any::<f64>(),
        2 => -1.0e6..4.0e7_f64,
        1 => (0_u32..=400_000).prop_map(f64::from),
        1 => prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
            1e308,
            MAX_EXPIRES_IN_SECONDS,
            MAX_EXPIRES_IN_SECONDS + 1e-6,
            MAX_EXPIRES_IN_SECONDS + 1.0,
            9_007_199_254_740_993.0,
            1.0,
            0.5,
            3600.0,
        ]),
    ]
    .boxed()
}

/// Any string, with marked tokens, "bearer" spellings and long strings likely.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>(),
        2 => "TOK-[A-Za-z0-9._~+/=-]{1,64}",
        2 => "[bB][eE][aA][rR][eE][rR]",
        1 => prop::sample::select(vec![
            String::new(),
            " bearer".to_owned(),
            "bearer\u{0}".to_owned(),
            "Bearer ".to_owned(),
            "mac".to_owned(),
            "beaRer".to_owned(),
            "ᴮearer".to_owned(),
            "\u{212A}".to_owned(),
        ]),
        1 => (prop_oneof![0_usize..5_000, Just(1_000_000)], "[a-zA-Z0-9]")
            .prop_map(|(len, unit)| unit.repeat(len)),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<JsonValue> {
    prop_oneof![
        1 => Just(JsonValue::Absent),
        1 => Just(JsonValue::Null),
        1 => any::<bool>().prop_map(JsonValue::Bool),
        2 => number().prop_map(JsonValue::Number),
        3 => text().prop_map(JsonValue::String),
        1 => Just(JsonValue::Other),
    ]
    .boxed()
}

/// A field that is mostly what a good answer has, else anything.
fn mostly(good: impl Strategy<Value = JsonValue>) -> impl Strategy<Value = JsonValue> {
    prop_oneof![3 => good, 1 => json_value()]
}

fn fields() -> BoxedStrategy<ResponseFields> {
    (
        mostly("[bB][eE][aA][rR][eE][rR]".prop_map(JsonValue::String)),
        mostly("TOK-a[A-Za-z0-9.]{0,40}".prop_map(JsonValue::String)),
        mostly(prop_oneof![
            Just(JsonValue::Absent),
            Just(JsonValue::Null),
            "TOK-r[A-Za-z0-9]{0,40}".prop_map(JsonValue::String),
        ]),
        mostly((1_u32..=31_536_000).prop_map(|s| JsonValue::Number(f64::from(s)))),
        json_value(),
        json_value(),
    )
        .prop_map(
            |(token_type, access_token, refresh_token, expires_in, error, error_description)| {
                ResponseFields {
                    token_type,
                    access_token,
                    refresh_token,
                    expires_in,
                    error,
                    error_description,
                }
            },
        )
        .boxed()
}

fn body() -> BoxedStrategy<ResponseBody> {
    prop_oneof![
        6 => fields().prop_map(ResponseBody::Object),
        1 => Just(ResponseBody::NotAnObject),
        1 => Just(ResponseBody::NotJson),
    ]
    .boxed()
}

/// `Retry-After` values: delta-seconds, HTTP dates (well and badly formed,
/// with huge and negative fields), and anything at all.
fn retry_after() -> BoxedStrategy<String> {
    let weekday = prop::sample::select(vec!["Sun,", "Mon,", "Thu,", "Xyz,", "Sun", ""]);
    let month = prop::sample::select(vec![
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "jan",
        "Foo", "",
    ]);
    let zone = prop::sample::select(vec!["GMT", "UTC", "gmt", "", "GMT GMT"]);
    let date = (
        weekday,
        prop_oneof![0_i64..=40, -5_i64..=5, any::<i64>()],
        month,
        prop_oneof![1900_i64..=2100, -10_000_i64..=10_000, any::<i64>()],
        0_i64..=30,
        0_i64..=70,
        0_i64..=70,
        zone,
    )
        .prop_map(|(wd, day, month, year, h, m, s, zone)| {
            format!("{wd} {day:02} {month} {year} {h:02}:{m:02}:{s:02} {zone}")
        });
    prop_oneof![
        2 => any::<u64>().prop_map(|s| s.to_string()),
        1 => "[0-9]{1,30}",
        1 => " *[0-9]{1,5} *",
        1 => "-?[0-9]{0,4}(\\.[0-9]{0,3})?",
        3 => date,
        2 => any::<String>(),
    ]
    .boxed()
}

/// Years the parser reads (digits only): plausible ones and absurd ones.
fn plausible_date() -> impl Strategy<Value = (String, f64)> {
    // Days 1..=28 exist in every month, so the oracle needs no calendar.
    (
        1_u32..=28,
        0_usize..12,
        1970_i64..=2400,
        0_u32..24,
        0_u32..60,
        0_u32..60,
    )
        .prop_map(|(day, month, year, h, m, s)| {
            let names = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let text = format!(
                "Sun, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
                names[month]
            );
            let days = civil_days(year, month as i64 + 1, i64::from(day));
            let ms = (days * 86_400 + i64::from(h * 3600 + m * 60 + s)) as f64 * 1000.0;
            (text, ms)
        })
}

/// An independent civil-date oracle: counts days year by year and month by
/// month (slow and obviously right, unlike the closed form under test).
fn civil_days(year: i64, month: i64, day: i64) -> i64 {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0;
    for y in 1970..year {
        days += if leap(y) { 366 } else { 365 };
    }
    let lengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for (m, length) in lengths.iter().enumerate().take((month - 1) as usize) {
        days += length + i64::from(m == 1 && leap(year));
    }
    days + day - 1
}

fn answer(status: impl Strategy<Value = u16>) -> impl Strategy<Value = HttpAnswer> {
    (status, prop::option::of(retry_after()), body()).prop_map(|(status, retry_after, body)| {
        HttpAnswer {
            status,
            retry_after,
            body,
        }
    })
}

fn any_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => 100_u16..=599,
        1 => prop::sample::select(vec![200_u16, 201, 204, 400, 401, 403, 429, 500, 502, 503]),
        1 => any::<u16>(),
    ]
}

fn now() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0..4.0e12_f64,
        1 => number(),
    ]
}

// ---------------------------------------------------------------------------
// The response parser
// ---------------------------------------------------------------------------

/// What the README promises a success needs: a JSON object with a non-empty
/// string `access_token`, a `token_type` that is "bearer" in any ASCII case,
/// a number `expires_in` in (0, one year], and a `refresh_token` that is
/// absent, null or a non-empty string.
fn should_accept(body: &ResponseBody) -> bool {
    let ResponseBody::Object(fields) = body else {
        return false;
    };
    let access = matches!(&fields.access_token, JsonValue::String(t) if !t.is_empty());
    let kind =
        matches!(&fields.token_type, JsonValue::String(t) if t.eq_ignore_ascii_case("bearer"));
    let expiry = matches!(fields.expires_in, JsonValue::Number(s) if s > 0.0 && s <= 31_536_000.0);
    let refresh = match &fields.refresh_token {
        JsonValue::Absent | JsonValue::Null => true,
        JsonValue::String(t) => !t.is_empty(),
        _ => false,
    };
    access && kind && expiry && refresh
}

fn marked_values(fields: &ResponseFields) -> Vec<String> {
    [
        &fields.access_token,
        &fields.refresh_token,
        &fields.token_type,
        &fields.expires_in,
    ]
    .into_iter()
    .filter_map(|value| match value {
        JsonValue::String(text) if text.contains(TOKEN_MARK) => Some(text.clone()),
        _ => None,
    })
    .collect()
}

#[test]
fn token_response_parser_accepts_exactly_the_documented_answers() {
    let accepted = Cell::new(0_u32);
    let rejected = Cell::new(0_u32);
    check(
        "parse_token_response",
        10_000,
        (answer(any_status()), now()),
        |(answer, now)| {
            let result = parse_token_response(&answer, now);
            prop_assert_eq!(result.is_ok(), should_accept(&answer.body), "{:?}", result);
            match result {
                Ok(set) => {
                    accepted.set(accepted.get() + 1);
                    let ResponseBody::Object(fields) = &answer.body else {
                        unreachable!()
                    };
                    let JsonValue::String(access) = &fields.access_token else {
                        unreachable!()
                    };
                    let JsonValue::Number(expires_in) = fields.expires_in else {
                        unreachable!()
                    };
                    prop_assert_eq!(set.access_token.secret(), access.as_str());
                    let refresh = match &fields.refresh_token {
                        JsonValue::String(token) => Some(token.as_str()),
                        _ => None,
                    };
                    prop_assert_eq!(set.refresh_token.as_ref().map(|t| t.secret()), refresh);
                    prop_assert!(set.token_type.eq_ignore_ascii_case("bearer"));
                    prop_assert_eq!(set.obtained_at_ms.to_bits(), now.to_bits());
                    let expected = now + expires_in * 1000.0;
                    prop_assert!(
                        set.expires_at_ms.to_bits() == expected.to_bits(),
                        "expires_at {} != {}",
                        set.expires_at_ms,
                        expected
                    );
                    // Secrets stay redacted in Debug output.
                    let shown = format!("{set:?}");
                    prop_assert!(
                        !shown.contains(TOKEN_MARK),
                        "Debug shows a token: {}",
                        shown
                    );
                }
                Err(error) => {
                    rejected.set(rejected.get() + 1);
                    prop_assert_eq!(error.code(), ErrorCode::MalformedResponse);
                    prop_assert_eq!(error.status(), Some(answer.status));
                    prop_assert!(!error.retryable());
                    prop_assert_eq!(error.description(), None);
                    if let ResponseBody::Object(fields) = &answer.body {
                        for value in marked_values(fields) {
                            prop_assert!(
                                !error.message().contains(&value),
                                "the message shows a token: {}",
                                error.message()
                            );
                        }
                    }
                }
            }
            Ok(())
        },
    );
    println!(
        "parse_token_response: {} accepted, {} rejected",
        accepted.get(),
        rejected.get()
    );
    // Both sides of the rule were exercised, or the property says little.
    assert!(accepted.get() > 500 && rejected.get() > 500);
}

#[test]
fn error_answers_map_to_the_documented_codes() {
    check(
        "error_from_answer",
        10_000,
        (answer(any_status()), now()),
        |(answer, now)| {
            let error = error_from_answer(&answer, now);
            let (oauth_error, description) = match &answer.body {
                ResponseBody::Object(fields) => (
                    match &fields.error {
                        JsonValue::String(text) => Some(text.as_str()),
                        _ => None,
                    },
                    match &fields.error_description {
                        JsonValue::String(text) => Some(text.as_str()),
                        _ => None,
                    },
                ),
                _ => (None, None),
            };
            let expected = match answer.status {
                429 => ErrorCode::RateLimited,
                500..=599 => ErrorCode::ServerError,
                400..=499 => match oauth_error {
                    Some("invalid_client") => ErrorCode::InvalidClient,
                    Some("invalid_grant") => ErrorCode::InvalidGrant,
                    Some("unauthorized_client") => ErrorCode::UnauthorizedClient,
                    Some("unsupported_grant_type") => ErrorCode::UnsupportedGrantType,
                    Some("invalid_request" | "invalid_scope") => ErrorCode::InvalidRequest,
                    Some("temporarily_unavailable" | "server_error") => ErrorCode::ServerError,
                    _ if answer.status == 401 => ErrorCode::InvalidClient,
                    _ if answer.status == 403 => ErrorCode::UnauthorizedClient,
                    _ => ErrorCode::InvalidRequest,
                },
                _ => ErrorCode::MalformedResponse,
            };
            prop_assert_eq!(error.code(), expected);
            prop_assert_eq!(error.status(), Some(answer.status));
            prop_assert_eq!(error.description(), description);
            prop_assert_eq!(
                error.retry_after_ms(),
                answer
                    .retry_after
                    .as_deref()
                    .and_then(|value| parse_retry_after(value, now))
            );
            prop_assert_eq!(
                error.retryable(),
                matches!(expected, ErrorCode::RateLimited | ErrorCode::ServerError)
            );
            // The message is written by the crate: status only, no body text.
            prop_assert!(!error.message().contains(TOKEN_MARK));
            let suffix = format!("(HTTP {})", answer.status);
            prop_assert!(error.message().ends_with(&suffix), "{}", error.message());
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------

#[test]
fn retry_after_never_panics_and_reads_seconds_exactly() {
    check(
        "parse_retry_after",
        10_000,
        (retry_after(), now()),
        |(value, now)| {
            let parsed = parse_retry_after(&value, now);
            let trimmed = value.trim();
            if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
                let expected = trimmed.parse::<u64>().ok().map(|s| s.saturating_mul(1000));
                prop_assert_eq!(parsed, expected);
            }
            Ok(())
        },
    );
}

#[test]
fn retry_after_dates_are_the_delay_until_that_instant() {
    check(
        "parse_retry_after (dates)",
        5_000,
        (plausible_date(), -1.0e11..1.0e11_f64),
        |((text, at), offset)| {
            let now = at - offset;
            let expected = if offset > 0.0 { offset as u64 } else { 0 };
            let parsed = parse_retry_after(&text, now);
            // Float rounding of `at - now` may differ by a millisecond.
            prop_assert!(
                parsed.is_some_and(|ms| ms.abs_diff(expected) <= 1),
                "{} at {} -> {:?}, expected {}",
                text,
                now,
                parsed,
                expected
            );
            Ok(())
        },
    );
}

/// A `Retry-After` date with an absurd year is ignored, not a crash: the day
/// arithmetic would overflow `i64` for years beyond about 2.9e11 (a panic in
/// a debug build, a meaningless delay in the release wasm).
#[test]
fn retry_after_with_a_huge_year_is_ignored() {
    for year in [
        "99999",
        "999999999999",
        "9223372036854775807",
        "-9223372036854775808",
        "0",
    ] {
        let value = format!("Sun, 06 Nov {year} 08:49:37 GMT");
        let parsed = std::panic::catch_unwind(|| parse_retry_after(&value, 0.0));
        assert!(parsed.is_ok(), "parse_retry_after panicked on {value:?}");
        assert_eq!(parsed.unwrap(), None, "{value}");
    }
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

const SECRET: &str = "S3CRET-prop";
const PASSWORD: &str = "P4SS-prop";
const URL_PASSWORD: &str = "URLP4SS-prop";

/// Loopback as the WHATWG URL parser spells it: `localhost`, a `.localhost`
/// name, `[::1]`, or 127.x.y.z with canonical decimal octets.
fn oracle_loopback(host: &str) -> bool {
    let octet = |part: &str| {
        !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && part.parse::<u16>().is_ok_and(|n| n <= 255)
    };
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "[::1]"
        || host
            .strip_prefix("127.")
            .is_some_and(|rest| rest.split('.').count() == 3 && rest.split('.').all(octet))
}

/// Host names as the URL parser produces them (lower-case labels, IPv4,
/// bracketed IPv6), loopback ones likely.
fn hostname() -> BoxedStrategy<String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "localhost", "app.localhost", "localhost.", "127.0.0.1", "127.255.255.255",
            "127.0.0.1.evil.com", "[::1]", "[::2]", "[::ffff:7f00:1]", "10.0.0.1",
            "128.0.0.1", "echo360.org", "localhost.evil.com", "evil-localhost", "127.1.1",
            "0.0.0.0", "",
        ])
        .prop_map(str::to_owned),
        2 => (0_u16..=300, 0_u16..=300, 0_u16..=300)
            .prop_map(|(a, b, c)| format!("127.{a}.{b}.{c}")),
        2 => "[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){0,3}",
        1 => any::<String>(),
    ]
    .boxed()
}

fn url_parts() -> BoxedStrategy<UrlParts> {
    let rarely = |odd: BoxedStrategy<String>| prop_oneof![10 => Just(String::new()), 1 => odd];
    (
        prop_oneof![
            6 => Just("https:".to_owned()),
            4 => Just("http:".to_owned()),
            1 => prop::sample::select(vec!["ftp:", "HTTPS:", "file:", "javascript:", "ws:", ""])
                .prop_map(str::to_owned),
            1 => any::<String>(),
        ],
        rarely(prop_oneof![Just("user".to_owned()), any::<String>()].boxed()),
        rarely(Just(URL_PASSWORD.to_owned()).boxed()),
        hostname(),
        prop_oneof![3 => Just(String::new()), 1 => (0_u32..=65535).prop_map(|p| p.to_string())],
        prop_oneof![3 => Just("/".to_owned()), 1 => "(/[a-z0-9]{0,8}){0,3}/?"],
        rarely("\\?[a-z=_]{0,20}".boxed()),
        rarely("#[a-z]{0,10}".boxed()),
    )
        .prop_map(
            |(protocol, username, password, hostname, port, pathname, search, hash)| UrlParts {
                protocol,
                username,
                password,
                hostname,
                port,
                pathname,
                search,
                hash,
            },
        )
        .boxed()
}

/// A numeric option: mostly absent or in `min..=max`, else anything.
fn option_number(min: f64, max: f64, whole: bool) -> impl Strategy<Value = Option<f64>> {
    let in_range = (min..=max).prop_map(move |n| if whole { n.round() } else { n });
    prop_oneof![
        4 => Just(None),
        5 => in_range.prop_map(Some),
        1 => number().prop_map(Some),
        1 => prop::sample::select(vec![min, max, min - 1.0, max + 1.0, max + 0.5, min - 1e-9])
            .prop_map(Some),
    ]
}

/// An optional string option: mostly absent or one of `good`, else odd values.
fn string_option(good: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        5 => prop::sample::select(good.to_vec()).prop_map(|s| Some(s.to_owned())),
        1 => prop_oneof![Just(String::new()), Just(" ".to_owned()), any::<String>()].prop_map(Some),
    ]
}

fn options() -> BoxedStrategy<Options> {
    (
        (
            prop_oneof![
                8 => prop::sample::select(vec!["demo-client", "client 1/\u{e9}"])
                    .prop_map(|s| Some(s.to_owned())),
                1 => Just(None),
                1 => prop_oneof![Just(String::new()), Just("  ".to_owned()), any::<String>()]
                    .prop_map(Some),
            ],
            prop_oneof![
                6 => Just(Some(ClientSecret::new(SECRET))),
                2 => Just(None),
                1 => Just(Some(ClientSecret::new(""))),
            ],
            string_option(&["us", "UK", "au", "ca", "eu"]),
            prop_oneof![1 => Just(None), 2 => url_parts().prop_map(Some)],
            string_option(&["/oauth2/access_token", "/token", "/"]),
        ),
        (
            prop_oneof![
                3 => Just((None, None, None)),
                2 => Just((Some("client_credentials"), None, None)),
                3 => (
                    string_option(&["ann"]),
                    prop::option::of(Just(Password::new(PASSWORD)))
                ).prop_map(|(user, pass)| (Some("password"), user, pass)),
                1 => (
                    prop::sample::select(vec!["refresh_token", "implicit", "", "PASSWORD"]),
                    string_option(&["ann"]),
                    prop::option::of(Just(Password::new(PASSWORD))),
                ).prop_map(|(grant, user, pass)| (Some(grant), user, pass)),
            ],
            option_number(0.0, 86_400.0, false),
            option_number(1.0, 600_000.0, false),
            option_number(0.0, 10.0, true),
        ),
    )
        .prop_map(
            |(
                (client_id, client_secret, region, base_url, token_path),
                ((grant, username, password), margin, timeout, retries),
            )| Options {
                client_id,
                client_secret,
                region,
                base_url,
                token_path,
                grant: grant.map(str::to_owned),
                username,
                password,
                refresh_margin_seconds: margin,
                timeout_ms: timeout,
                max_retries: retries,
                ..Options::default()
            },
        )
        .boxed()
}

#[test]
fn accepted_options_satisfy_the_documented_invariants() {
    let accepted = Cell::new(0_u32);
    let rejected = Cell::new(0_u32);
    check("Config::new", 10_000, options(), |options| {
        let given = options.clone();
        match Config::new(options) {
            Ok(config) => {
                accepted.set(accepted.get() + 1);
                prop_assert!(given
                    .client_id
                    .as_ref()
                    .is_some_and(|id| !id.trim().is_empty()));
                prop_assert_eq!(Some(&config.client_id), given.client_id.as_ref());
                match &given.base_url {
                    Some(url) => {
                        prop_assert!(
                            url.protocol == "https:"
                                || (url.protocol == "http:" && oracle_loopback(&url.hostname)),
                            "accepted {:?}",
                            url
                        );
                        prop_assert!(url.username.is_empty() && url.password.is_empty());
                        prop_assert!(url.search.is_empty() && url.hash.is_empty());
                        let port = if url.port.is_empty() {
                            String::new()
                        } else {
                            format!(":{}", url.port)
                        };
                        let expected = format!(
                            "{}//{}{port}{}",
                            url.protocol,
                            url.hostname,
                            url.pathname.trim_end_matches('/')
                        );
                        prop_assert_eq!(&config.base_url, &expected);
                    }
                    None => prop_assert!(config.base_url.starts_with("https://echo360.")),
                }
                prop_assert!(config.token_url.starts_with(&config.base_url));
                let path = &config.token_url[config.base_url.len()..];
                prop_assert!(path.starts_with('/') && !path.contains(['?', '#']));
                prop_assert!(config.refresh_margin_ms <= 86_400_000);
                prop_assert!((1..=600_000).contains(&config.timeout_ms));
                prop_assert!(config.max_retries <= 10);
                prop_assert_eq!(
                    config.client_secret.is_some(),
                    given.client_secret.is_some()
                );
                match &config.full_grant {
                    None => prop_assert!(given.client_secret.is_none()),
                    Some(FullGrant::ClientCredentials) => {
                        prop_assert!(given.client_secret.is_some());
                        prop_assert!(given.username.is_none() && given.password.is_none());
                    }
                    Some(grant @ FullGrant::Password { username, password }) => {
                        prop_assert_eq!(grant.grant_type(), GrantType::Password);
                        prop_assert!(given.client_secret.is_some() && !username.is_empty());
                        prop_assert_eq!(password.secret(), PASSWORD);
                    }
                }
                let shown = format!("{config:?}");
                for secret in [SECRET, PASSWORD] {
                    prop_assert!(!shown.contains(secret), "Debug shows a secret: {}", shown);
                }
            }
            Err(error) => {
                rejected.set(rejected.get() + 1);
                prop_assert_eq!(error.code(), ErrorCode::InvalidConfig);
                prop_assert!(error.message().starts_with("invalid option `"));
                for secret in [SECRET, PASSWORD, URL_PASSWORD] {
                    prop_assert!(!error.message().contains(secret), "{}", error.message());
                }
            }
        }
        Ok(())
    });
    println!(
        "Config::new: {} accepted, {} rejected",
        accepted.get(),
        rejected.get()
    );
    assert!(accepted.get() > 500 && rejected.get() > 500);
}

/// `http:` is allowed only for a loopback host. The host check parses the
/// octets of `127.a.b.c` with `u8::from_str`, which also accepts a leading
/// `+`: `http://127.0.0.+1/` passes, although the WHATWG URL parser keeps
/// `127.0.0.+1` as a domain name (its last label is not a number), so it is
/// not an IPv4 loopback address.
#[test]
fn http_on_a_plus_signed_pseudo_loopback_host_is_rejected() {
    for host in ["127.0.0.+1", "127.+1.+1.+1", "127.+0.0.1"] {
        let result = Config::new(Options {
            client_id: Some("demo-client".into()),
            base_url: Some(UrlParts {
                protocol: "http:".into(),
                hostname: host.into(),
                pathname: "/".into(),
                ..UrlParts::default()
            }),
            ..Options::default()
        });
        assert!(
            result
                .as_ref()
                .is_err_and(|e| e.code() == ErrorCode::InvalidConfig),
            "{host} accepted: {result:?}"
        );
    }
}
