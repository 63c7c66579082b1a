//! Sends a core [`TokenRequest`] with `fetch` and reads the answer into a core
//! [`Outcome`].
//!
//! `fetch` is the caller's (the `fetch` option) or `globalThis.fetch` looked
//! up at call time, called with `this` undefined so a page, a worker, Node and
//! workerd all accept it. The whole exchange, answer and body, is bounded by
//! the timeout with a race (an injected `fetch` may ignore the abort signal)
//! and aborted when it fires. The body is parsed with the platform's
//! `JSON.parse`: no JSON parser ships in the wasm.

use super::error::{describe_thrown, thrown_code};
use super::object::{get, is_plain_object, set};
use super::timer::bounded;
use crate::core::grant::{HttpAnswer, JsonValue, ResponseBody, ResponseFields, TokenRequest};
use crate::core::machine::{Failure, Outcome};
use js_sys::{Function, Object, Promise};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::AbortController;

/// System error codes that mean the request never left this machine, so the
/// server cannot have seen (or consumed) anything.
const NOT_SENT_CODES: [&str; 6] = [
    "ECONNREFUSED",
    "ENOTFOUND",
    "EAI_AGAIN",
    "ENETUNREACH",
    "EHOSTUNREACH",
    "ERR_INVALID_URL",
];

/// Sends `request` with `fetch` (or the global one) within `timeout_ms`.
pub async fn send(fetch: Option<&Function>, request: &TokenRequest, timeout_ms: u64) -> Outcome {
    let fetch = match resolve_fetch(fetch) {
        Ok(fetch) => fetch,
        Err(detail) => return Outcome::Failed(Failure::NotSent(detail)),
    };
    let fetch = &fetch;
    let controller = AbortController::new().ok();
    let init = request_init(request, controller.as_ref());
    let abort = || {
        if let Some(controller) = &controller {
            controller.abort();
        }
    };

    let started = match fetch.call2(&JsValue::UNDEFINED, &JsValue::from_str(&request.url), &init) {
        Ok(value) => Promise::resolve(&value),
        Err(thrown) => return Outcome::Failed(Failure::NotSent(describe_thrown(&thrown))),
    };
    let deadline = super::clock::now_ms() + timeout_ms as f64;
    let response = match bounded(started, timeout_ms as f64).await {
        Err(()) => {
            abort();
            return Outcome::Failed(Failure::TimedOut);
        }
        Ok(Err(thrown)) => return Outcome::Failed(classify(&thrown)),
        Ok(Ok(response)) => response,
    };

    let status = get(&response, "status").as_f64().unwrap_or(0.0);
    let status = if (100.0..=999.0).contains(&status) {
        status as u16
    } else {
        0
    };
    let retry_after = header(&response, "retry-after");
    let text = match get(&response, "text").dyn_into::<Function>() {
        Ok(text) => text.call0(&response).map(|value| Promise::resolve(&value)),
        Err(_) => Err(JsValue::from_str("the response has no text() method")),
    };
    let remaining = (deadline - super::clock::now_ms()).max(1.0);
    let body = match text {
        Err(thrown) => return Outcome::Failed(Failure::Lost(describe_thrown(&thrown))),
        Ok(promise) => match bounded(promise, remaining).await {
            Err(()) => {
                abort();
                return Outcome::Failed(Failure::TimedOut);
            }
            Ok(Err(thrown)) => return Outcome::Failed(Failure::Lost(describe_thrown(&thrown))),
            Ok(Ok(text)) => parse_body(&text),
        },
    };
    Outcome::Answer(HttpAnswer {
        status,
        retry_after,
        body,
    })
}

/// The `fetch` to use: the caller's, or the global one looked up now (so a
/// polyfill installed after the manager was created still counts).
pub fn resolve_fetch(fetch: Option<&Function>) -> Result<Function, String> {
    match fetch {
        Some(fetch) => Ok(fetch.clone()),
        None => get(&js_sys::global(), "fetch")
            .dyn_into::<Function>()
            .map_err(|_| "no global fetch in this runtime".to_owned()),
    }
}

fn request_init(request: &TokenRequest, controller: Option<&AbortController>) -> Object {
    let headers = Object::new();
    for (name, value) in TokenRequest::HEADERS {
        set(&headers, name, &JsValue::from_str(value));
    }
    let init = Object::new();
    set(&init, "method", &JsValue::from_str(TokenRequest::METHOD));
    set(&init, "headers", &headers);
    set(&init, "body", &JsValue::from_str(request.body.secret()));
    // Never follow a redirect: it would re-send the secret or refresh token
    // in the body to wherever the Location points, https or not.
    set(&init, "redirect", &JsValue::from_str("manual"));
    if let Some(controller) = controller {
        set(&init, "signal", &controller.signal());
    }
    init
}

/// Whether a rejected `fetch` surely never reached the server: Node names
/// the system error; a browser says nothing, except that it is offline.
fn classify(thrown: &JsValue) -> Failure {
    let detail = describe_thrown(thrown);
    let offline = get(&get(&js_sys::global(), "navigator"), "onLine") == JsValue::FALSE;
    match thrown_code(thrown) {
        _ if offline => Failure::NotSent(format!("{detail} (offline)")),
        Some(code) if NOT_SENT_CODES.contains(&code.as_str()) => Failure::NotSent(detail),
        _ => Failure::Lost(detail),
    }
}

fn header(response: &JsValue, name: &str) -> Option<String> {
    let headers = get(response, "headers");
    let lookup = get(&headers, "get").dyn_into::<Function>().ok()?;
    lookup
        .call1(&headers, &JsValue::from_str(name))
        .ok()?
        .as_string()
}

fn parse_body(text: &JsValue) -> ResponseBody {
    let Some(text) = text.as_string() else {
        return ResponseBody::NotJson;
    };
    let Ok(parsed) = js_sys::JSON::parse(&text) else {
        return ResponseBody::NotJson;
    };
    if !is_plain_object(&parsed) {
        return ResponseBody::NotAnObject;
    }
    let field = |name: &str| json_value(&get(&parsed, name));
    ResponseBody::Object(ResponseFields {
        token_type: field("token_type"),
        access_token: field("access_token"),
        refresh_token: field("refresh_token"),
        expires_in: field("expires_in"),
        error: field("error"),
        error_description: field("error_description"),
    })
}

fn json_value(value: &JsValue) -> JsonValue {
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
