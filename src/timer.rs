//! The renewal timer, owned by the engine, on the global `setTimeout` and
//! `clearTimeout`.
//!
//! Modelled on gloo's `callback::Timeout` (RAII, `#[must_use]`, global
//! bindings, so a page, a Web Worker, Node and workerd all work), with two
//! differences this package needs: scheduling is fallible (workerd refuses
//! timers outside a request, where gloo would throw), and the handle is kept
//! as the JS value `setTimeout` returned (a number in browsers, an object in
//! Node) instead of being forced into an `i32`, so that a Node timer can be
//! `unref`ed and never keeps a finished script alive. The callback is the
//! driver's JS function: no Rust closure crosses the boundary.

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout, catch)]
    fn set_timeout(handler: &Function, millis: f64) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_name = clearTimeout, catch)]
    fn clear_timeout(handle: &JsValue) -> Result<(), JsValue>;
}

/// A pending call of a JS function. Dropping it cancels the call.
#[must_use = "a RenewalTimer is cancelled when dropped"]
pub struct RenewalTimer {
    handle: JsValue,
}

impl RenewalTimer {
    /// Calls `callback` once after `millis` ms, or `None` if the runtime
    /// refuses to schedule a timer. The timer never keeps Node alive.
    pub fn new(millis: f64, callback: &Function) -> Option<Self> {
        let handle = set_timeout(callback, millis.max(0.0)).ok()?;
        let unref = Reflect::get(&handle, &JsValue::from_str("unref")).ok();
        if let Some(unref) = unref.and_then(|unref| unref.dyn_into::<Function>().ok()) {
            let _ = unref.call0(&handle);
        }
        Some(Self { handle })
    }
}

impl Drop for RenewalTimer {
    fn drop(&mut self) {
        let _ = clear_timeout(&self.handle);
    }
}
