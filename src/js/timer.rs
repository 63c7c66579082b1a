//! Owned timers on the global `setTimeout`/`clearTimeout`.
//!
//! Modelled on gloo's `callback::Timeout` (RAII, `#[must_use]`, global
//! bindings) with two differences this package needs: scheduling is
//! fallible (workerd refuses timers outside a request, where gloo would
//! throw), and the handle is kept as the JS value `setTimeout` returned (a
//! number in browsers, an object in Node) instead of being forced into an
//! `i32`, so that a Node timer can be `unref`ed and never keeps a finished
//! script alive.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout, catch)]
    fn set_timeout(handler: &Function, millis: f64) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_name = clearTimeout, catch)]
    fn clear_timeout(handle: &JsValue) -> Result<(), JsValue>;
}

/// A scheduled callback. Dropping it cancels the callback.
#[must_use = "a Timeout is cancelled when dropped"]
pub struct Timeout {
    handle: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Timeout {
    /// Calls `callback` once after `millis` ms, or fails if the runtime
    /// refuses to schedule a timer.
    pub fn new(millis: f64, callback: impl FnOnce() + 'static) -> Result<Self, JsValue> {
        let callback = Closure::once(callback);
        let handle = set_timeout(callback.as_ref().unchecked_ref(), millis.max(0.0))?;
        Ok(Self {
            handle,
            _callback: callback,
        })
    }
}

impl Timeout {
    /// Lets a Node process exit while this timer is pending (Node's
    /// `timeout.unref()`; browsers and workerd return a number, which has no
    /// such method, and have nothing to keep alive).
    pub fn unref(&self) {
        if let Ok(unref) = super::object::get(&self.handle, "unref").dyn_into::<Function>() {
            let _ = unref.call0(&self.handle);
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        let _ = clear_timeout(&self.handle);
    }
}

/// A promise that rejects with `reason` after `millis` ms, and the timer
/// behind it (drop it to cancel). Raced against a slow JS promise to bound it.
pub fn deadline(millis: f64, reason: JsValue) -> Result<(Promise, Timeout), JsValue> {
    let mut scheduled = Err(JsValue::UNDEFINED);
    let promise = Promise::new(&mut |_resolve, reject| {
        let reason = reason.clone();
        scheduled = Timeout::new(millis, move || {
            let _ = reject.call1(&JsValue::UNDEFINED, &reason);
        });
    });
    scheduled.map(|timer| (promise, timer))
}

/// Waits `millis` ms. Fails at once if no timer can be scheduled.
pub async fn sleep(millis: f64) -> Result<(), JsValue> {
    let mut scheduled = Err(JsValue::UNDEFINED);
    let promise = Promise::new(&mut |resolve, _reject| {
        scheduled = Timeout::new(millis, move || {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        });
    });
    let _timer = scheduled?;
    JsFuture::from(promise).await.map(drop)
}

/// Awaits `promise`, but gives up after `millis` ms: `Ok(Err(value))` when
/// the promise rejected, `Err(())` on timeout. Without timers it waits
/// unbounded rather than failing.
pub async fn bounded(promise: Promise, millis: f64) -> Result<Result<JsValue, JsValue>, ()> {
    let marker = js_sys::Object::new();
    let (raced, _timer) = match deadline(millis, marker.clone().into()) {
        Ok((deadline, timer)) => (
            Promise::race(&js_sys::Array::of2(&promise, &deadline)),
            Some(timer),
        ),
        Err(_) => (promise, None),
    };
    match JsFuture::from(raced).await {
        Ok(value) => Ok(Ok(value)),
        Err(thrown) if thrown == JsValue::from(marker) => Err(()),
        Err(thrown) => Ok(Err(thrown)),
    }
}
