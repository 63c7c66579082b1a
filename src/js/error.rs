//! The one place where errors cross into JS, in both directions.
//!
//! Outward: a core [`Error`] becomes a JS `Error` named `TokenError` with a
//! stable `code`, `status`, `retryable`, `description` and (when the server
//! asked for one) `retryAfterMs`. Inward: whatever a JS callback throws (an
//! `Error`, a string, `undefined`, a Proxy) becomes a short description
//! without panicking.

use super::object::{get, set};
use crate::core::error::Error;
use js_sys::Object;
use wasm_bindgen::{JsCast, JsValue};

/// The `name` of every error this package rejects with.
pub const ERROR_NAME: &str = "TokenError";

/// Converts a core error into the JS `TokenError` callers see.
pub fn to_js(error: &Error) -> JsValue {
    let js = js_sys::Error::new(error.message());
    js.set_name(ERROR_NAME);
    let object: &Object = js.unchecked_ref();
    set(object, "code", &JsValue::from_str(error.code().as_str()));
    let status = error.status().map_or(JsValue::UNDEFINED, JsValue::from);
    set(object, "status", &status);
    set(object, "retryable", &JsValue::from_bool(error.retryable()));
    let description = error
        .description()
        .map_or(JsValue::UNDEFINED, JsValue::from_str);
    set(object, "description", &description);
    if let Some(delay) = error.retry_after_ms() {
        set(object, "retryAfterMs", &JsValue::from_f64(delay as f64));
    }
    js.into()
}

/// A short description of a thrown JS value, for error messages: the message
/// of an `Error` (with its `cause.code`, where Node gives one), a string as it
/// is, or the value's type.
pub fn describe_thrown(thrown: &JsValue) -> String {
    if let Some(text) = thrown.as_string() {
        return text;
    }
    if thrown.is_instance_of::<js_sys::Error>() {
        let error: &js_sys::Error = thrown.unchecked_ref();
        let message = String::from(error.message());
        return match thrown_code(thrown) {
            Some(code) => format!("{message} ({code})"),
            None => message,
        };
    }
    match thrown.js_typeof().as_string() {
        Some(kind) => format!("a non-Error value of type {kind} was thrown"),
        None => "an unknown value was thrown".to_owned(),
    }
}

/// The system error code behind a failed `fetch` (Node puts it in
/// `error.cause.code`, sometimes on `error.code`), e.g. `ECONNREFUSED`.
pub fn thrown_code(thrown: &JsValue) -> Option<String> {
    get(&get(thrown, "cause"), "code")
        .as_string()
        .or_else(|| get(thrown, "code").as_string())
}
