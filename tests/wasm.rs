//! wasm-bindgen tests of the JS-facing layer, run in Node by
//! `wasm-bindgen-test-runner`: what JS actually receives from the exported
//! `TokenManager` (the request handed to `fetch`, the record handed to
//! `storage.save`, the shape of a rejection) and how it copes with what JS
//! code may throw at it.
#![cfg(target_arch = "wasm32")]

use echovideo_auth::TokenManager;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

const GOOD_BODY: &str =
    r#"{"token_type":"bearer","access_token":"at-1","refresh_token":"rt-1","expires_in":3600}"#;

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap()
}

fn js_fn(args: &str, body: &str) -> Function {
    Function::new_with_args(args, body)
}

/// A `fetch` that records its calls in `calls` and answers `status` with `body`.
fn fake_fetch(calls: &Array, status: u16, body: &str) -> Function {
    let make = js_fn(
        "calls, status, body",
        "return (url, init) => { calls.push({ url, init }); \
         return Promise.resolve({ status, headers: { get: () => null }, text: () => Promise.resolve(body) }); };",
    );
    make.call3(
        &JsValue::UNDEFINED,
        calls,
        &JsValue::from(status),
        &JsValue::from_str(body),
    )
    .unwrap()
    .unchecked_into()
}

fn options(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    Reflect::set(&object, &"clientId".into(), &"client-1".into()).unwrap();
    Reflect::set(
        &object,
        &"baseUrl".into(),
        &"https://echo.example.edu/".into(),
    )
    .unwrap();
    for (key, value) in pairs {
        Reflect::set(&object, &JsValue::from_str(key), value).unwrap();
    }
    object.into()
}

async fn settle(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

fn assert_token_error(error: &JsValue, code: &str) {
    assert!(
        error.is_instance_of::<js_sys::Error>(),
        "not an Error: {error:?}"
    );
    assert_eq!(
        get(error, "name").as_string().as_deref(),
        Some("TokenError")
    );
    assert_eq!(
        get(error, "code").as_string().as_deref(),
        Some(code),
        "{error:?}"
    );
}

#[wasm_bindgen_test]
fn constructor_rejects_bad_options_naming_them() {
    let cases: [(JsValue, &str); 5] = [
        (JsValue::from_str("not an object"), "`options`"),
        (options(&[("clientID", "x".into())]), "`clientID`"),
        (options(&[("timeoutMs", "10".into())]), "`timeoutMs`"),
        (options(&[("baseUrl", "not a url".into())]), "`baseUrl`"),
        (options(&[("storage", Object::new().into())]), "`storage`"),
    ];
    for (options, option) in cases {
        let error = TokenManager::new(options)
            .err()
            .expect("constructor should throw");
        assert_token_error(&error, "invalid_config");
        let message = get(&error, "message").as_string().unwrap();
        assert!(message.contains(option), "{message} should name {option}");
    }
}

#[wasm_bindgen_test]
async fn fetch_receives_a_form_post_with_the_secret_only_in_the_body() {
    let calls = Array::new();
    let manager = TokenManager::new(options(&[
        ("clientSecret", "s3cret&=".into()),
        ("fetch", fake_fetch(&calls, 200, GOOD_BODY).into()),
    ]))
    .unwrap();
    let token = settle(manager.get_access_token()).await.unwrap();
    assert_eq!(token.as_string().as_deref(), Some("at-1"));
    assert_eq!(calls.length(), 1);
    let call = calls.get(0);
    assert_eq!(
        get(&call, "url").as_string().as_deref(),
        Some("https://echo.example.edu/oauth2/access_token")
    );
    let init = get(&call, "init");
    assert_eq!(get(&init, "method").as_string().as_deref(), Some("POST"));
    let headers = get(&init, "headers");
    assert_eq!(
        get(&headers, "Content-Type").as_string().as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        get(&headers, "Accept").as_string().as_deref(),
        Some("application/json")
    );
    assert_eq!(
        get(&init, "body").as_string().as_deref(),
        Some("grant_type=client_credentials&client_id=client-1&client_secret=s3cret%26%3D")
    );
    assert!(
        get(&init, "signal").is_object(),
        "the request must be abortable"
    );

    // Cached: a second call makes no request.
    settle(manager.get_access_token()).await.unwrap();
    assert_eq!(calls.length(), 1);
}

#[wasm_bindgen_test]
async fn storage_save_receives_the_documented_record_without_secrets() {
    let saved = Array::new();
    let storage = js_fn(
        "saved",
        "return { load: () => null, save: (record) => { saved.push(record); }, clear: () => {} };",
    )
    .call1(&JsValue::UNDEFINED, &saved)
    .unwrap();
    let calls = Array::new();
    let manager = TokenManager::new(options(&[
        ("clientSecret", "s3cret".into()),
        ("storage", storage),
        ("fetch", fake_fetch(&calls, 200, GOOD_BODY).into()),
    ]))
    .unwrap();
    settle(manager.get_access_token()).await.unwrap();
    assert_eq!(saved.length(), 1);
    let record = saved.get(0);
    let record_object: &Object = record.unchecked_ref();
    let keys: Vec<String> = Object::keys(record_object)
        .iter()
        .map(|key| key.as_string().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "v",
            "accessToken",
            "refreshToken",
            "tokenType",
            "expiresAt",
            "obtainedAt",
            "clientId",
            "baseUrl"
        ]
    );
    assert_eq!(get(&record, "v").as_f64(), Some(1.0));
    assert_eq!(
        get(&record, "refreshToken").as_string().as_deref(),
        Some("rt-1")
    );
    assert_eq!(
        get(&record, "baseUrl").as_string().as_deref(),
        Some("https://echo.example.edu")
    );
    let expires_at = get(&record, "expiresAt").as_f64().unwrap();
    let obtained_at = get(&record, "obtainedAt").as_f64().unwrap();
    assert_eq!(expires_at - obtained_at, 3_600_000.0);
    let json = js_sys::JSON::stringify(&record)
        .unwrap()
        .as_string()
        .unwrap();
    assert!(!json.contains("s3cret"), "{json}");
}

#[wasm_bindgen_test]
async fn a_refused_grant_rejects_with_code_status_and_description() {
    let calls = Array::new();
    let body = r#"{"error":"invalid_client","error_description":"unknown client"}"#;
    let manager = TokenManager::new(options(&[
        ("clientSecret", "wrong".into()),
        ("fetch", fake_fetch(&calls, 401, body).into()),
    ]))
    .unwrap();
    let error = settle(manager.get_access_token()).await.unwrap_err();
    assert_token_error(&error, "invalid_client");
    assert_eq!(get(&error, "status").as_f64(), Some(401.0));
    assert_eq!(get(&error, "retryable").as_bool(), Some(false));
    assert_eq!(
        get(&error, "description").as_string().as_deref(),
        Some("unknown client")
    );
    let message = get(&error, "message").as_string().unwrap();
    assert!(!message.contains("wrong"), "{message}");
    assert_eq!(calls.length(), 1, "a refused grant is not retried");
}

#[wasm_bindgen_test]
async fn whatever_a_fetch_throws_becomes_a_network_error() {
    for thrown in [
        "throw 'plain string'",
        "throw undefined",
        "throw new Proxy({}, {})",
        "return null",
    ] {
        let fetch = js_fn("", thrown);
        let manager = TokenManager::new(options(&[
            ("clientSecret", "s".into()),
            ("maxRetries", 0.into()),
            ("fetch", fetch.into()),
        ]))
        .unwrap();
        let error = settle(manager.get_access_token()).await.unwrap_err();
        let code = get(&error, "code").as_string().unwrap();
        assert!(
            code == "network" || code == "malformed_response",
            "{thrown}: {code}"
        );
        // Still usable: the next call fails the same way instead of crashing the instance.
        assert!(settle(manager.get_access_token()).await.is_err());
    }
}

#[wasm_bindgen_test]
async fn storage_garbage_and_throws_become_storage_errors() {
    for load in [
        "return 'garbage'",
        "return { v: 2 }",
        "throw new Error('disk on fire')",
        "return Promise.reject(7)",
    ] {
        let storage = js_fn("load", "return { load, save() {}, clear() {} };")
            .call1(&JsValue::UNDEFINED, &js_fn("", load))
            .unwrap();
        let calls = Array::new();
        let manager = TokenManager::new(options(&[
            ("clientSecret", "s".into()),
            ("storage", storage),
            ("fetch", fake_fetch(&calls, 200, GOOD_BODY).into()),
        ]))
        .unwrap();
        let error = settle(manager.get_access_token()).await.unwrap_err();
        assert_token_error(&error, "storage");
        assert_eq!(
            calls.length(),
            0,
            "{load}: no grant while storage is unreadable"
        );
    }
}

#[wasm_bindgen_test]
async fn disposed_managers_reject_and_stringify_without_secrets() {
    let calls = Array::new();
    let manager = TokenManager::new(options(&[
        ("clientSecret", "s3cret".into()),
        ("fetch", fake_fetch(&calls, 200, GOOD_BODY).into()),
    ]))
    .unwrap();
    settle(manager.get_access_token()).await.unwrap();
    let json = js_sys::JSON::stringify(&manager.to_json())
        .unwrap()
        .as_string()
        .unwrap();
    assert!(
        !json.contains("s3cret") && !json.contains("at-1") && !json.contains("rt-1"),
        "{json}"
    );
    manager.dispose();
    let error = settle(manager.get_access_token()).await.unwrap_err();
    assert_token_error(&error, "disposed");
    assert_eq!(
        get(&manager.info(), "state").as_string().as_deref(),
        Some("disposed")
    );
}
