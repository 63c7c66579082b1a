//! `tm.fetch`: an API call with the bearer token, as a `Request` the caller
//! could have built, sent with the same `fetch` the token requests use.
//!
//! The request is built once with the platform's `Request` constructor (so
//! `input` and `init` mean exactly what they mean to `fetch`) and cloned
//! before it is sent: the clone is what a retry after a 401 sends, and a
//! request whose body cannot be cloned is simply not retried.

use super::object::get;
use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// `new Request(input, init)`, or what the constructor threw (a `TypeError`
/// for a bad URL, as `fetch` would reject with).
pub fn new_request(input: &JsValue, init: &JsValue) -> Result<JsValue, JsValue> {
    let constructor = get(&js_sys::global(), "Request")
        .dyn_into::<Function>()
        .map_err(|_| js_sys::TypeError::new("this runtime has no Request constructor"))?;
    Reflect::construct(&constructor, &Array::of2(input, init))
}

/// A copy of `request` to send again, or `None` if its body cannot be
/// replayed (already read).
pub fn replay_copy(request: &JsValue) -> Option<JsValue> {
    let clone = get(request, "clone").dyn_into::<Function>().ok()?;
    clone.call0(request).ok()
}

/// Sets `Authorization: Bearer <token>` on `request` and sends it with
/// `fetch`; resolves or rejects exactly as `fetch` does.
pub async fn send_with_token(
    fetch: &Function,
    request: &JsValue,
    token: &JsValue,
) -> Result<JsValue, JsValue> {
    let headers = get(request, "headers");
    let set = get(&headers, "set").dyn_into::<Function>()?;
    let bearer = JsValue::from_str(&format!("Bearer {}", token.as_string().unwrap_or_default()));
    set.call2(&headers, &JsValue::from_str("Authorization"), &bearer)?;
    let sent = fetch.call1(&JsValue::UNDEFINED, request)?;
    JsFuture::from(Promise::resolve(&sent)).await
}

/// The status of a response (0 if it has none).
pub fn status(response: &JsValue) -> u16 {
    get(response, "status")
        .as_f64()
        .filter(|status| (0.0..=999.0).contains(status))
        .map_or(0, |status| status as u16)
}

/// Releases the body of a response that will not be read, so its
/// connection is freed now rather than at garbage collection.
pub fn discard_body(response: &JsValue) {
    let body = get(response, "body");
    if let Ok(cancel) = get(&body, "cancel").dyn_into::<Function>() {
        if let Ok(Ok(cancelled)) = cancel.call0(&body).map(|value| value.dyn_into::<Promise>()) {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = JsFuture::from(cancelled).await;
            });
        }
    }
}
