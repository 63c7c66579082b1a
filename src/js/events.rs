//! Delivers core events to the `onRefresh` and `onError` callbacks.
//!
//! Events carry no token: `onRefresh` gets `{ grant, expiresAt, source }`,
//! `onError` the same `TokenError` a caller would. A callback that throws, or
//! returns a promise that rejects, is ignored: a listener's bug must not break token handling.

use super::error::to_js;
use super::object::set;
use crate::core::token::Event;
use js_sys::{Function, Object, Promise};
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// The two optional listeners.
pub struct Listeners {
    /// `onRefresh`.
    pub on_refresh: Option<Function>,
    /// `onError`.
    pub on_error: Option<Function>,
}

impl Listeners {
    /// Calls the listener for `event`, if there is one.
    pub fn deliver(&self, event: Event) {
        match event {
            Event::Refreshed {
                grant,
                expires_at_ms,
                source,
            } => {
                if let Some(listener) = &self.on_refresh {
                    let payload = Object::new();
                    let grant =
                        grant.map_or(JsValue::NULL, |grant| JsValue::from_str(grant.as_str()));
                    set(&payload, "grant", &grant);
                    set(&payload, "expiresAt", &JsValue::from_f64(expires_at_ms));
                    set(&payload, "source", &JsValue::from_str(source.as_str()));
                    settle(listener.call1(&JsValue::UNDEFINED, &payload));
                }
            }
            Event::Error(error) => {
                if let Some(listener) = &self.on_error {
                    settle(listener.call1(&JsValue::UNDEFINED, &to_js(&error)));
                }
            }
        }
    }
}

impl Listeners {
    /// Hands `onError` a `TokenError` no caller awaits (the rejection of a
    /// background renewal).
    pub fn report(&self, error: &JsValue) {
        if let Some(listener) = &self.on_error {
            settle(listener.call1(&JsValue::UNDEFINED, error));
        }
    }
}

/// Swallows what a listener threw, and a rejection of the promise an async
/// listener returned, so neither becomes an unhandled rejection.
fn settle(returned: Result<JsValue, JsValue>) {
    if let Ok(returned) = returned {
        if let Ok(promise) = returned.dyn_into::<Promise>() {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
    }
}
