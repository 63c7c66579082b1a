//! The lock shared by every context of an origin (tabs, workers), on the
//! Web Locks API (`navigator.locks`).
//!
//! A renewal holds it from before it re-reads storage until the new set is
//! saved, so two tabs never send the same single-use refresh token. The
//! browser releases a lock whose holder closes or crashes; a holder that is
//! merely frozen keeps it, so waiting is bounded (`lockTimeoutMs`) and ends
//! in `lock_timeout` rather than in sending a token without the lock.

use super::object::{get, set};
use crate::core::error::{Error, ErrorCode};
use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Whether this runtime has Web Locks.
pub fn available() -> bool {
    get(&lock_manager(), "request").is_function()
}

/// `navigator.locks`, or `undefined`.
fn lock_manager() -> JsValue {
    get(&get(&js_sys::global(), "navigator"), "locks")
}

/// A held lock; dropping it lets the lock go.
pub struct HeldLock {
    release: Function,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::UNDEFINED);
    }
}

/// Takes the lock `name`, waiting at most `timeout_ms`.
pub async fn acquire(name: &str, timeout_ms: u64) -> Result<HeldLock, Error> {
    let unavailable = |detail: &str| {
        Error::new(
            ErrorCode::LockTimeout,
            format!("the lock \"{name}\" could not be taken: {detail}"),
        )
    };
    let locks = lock_manager();
    let request = get(&locks, "request")
        .dyn_into::<Function>()
        .map_err(|_| unavailable("this runtime has no Web Locks"))?;

    // `held` settles when the lock should be let go; `granted` when it is ours.
    let (held, release) = promise_with_resolve();
    let (granted, grant) = promise_with_resolve();
    let (Some(release), Some(grant)) = (release, grant) else {
        return Err(unavailable("a promise could not be made"));
    };
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let _ = grant.call0(&JsValue::UNDEFINED);
        held.into()
    });
    let options = Object::new();
    let abort_signal = get(&js_sys::global(), "AbortSignal");
    if let Ok(timeout) = get(&abort_signal, "timeout").dyn_into::<Function>() {
        if let Ok(signal) = timeout.call1(&abort_signal, &JsValue::from_f64(timeout_ms as f64)) {
            set(&options, "signal", &signal);
        }
    }
    let requested = request
        .call3(&locks, &JsValue::from_str(name), &options, &callback)
        .map(|value| Promise::resolve(&value))
        .map_err(|_| unavailable("navigator.locks.request threw"))?;
    // The request settles before the grant only when it is refused (the
    // signal timed out): once granted it settles when the lock is let go,
    // which is after this race.
    match JsFuture::from(Promise::race(&js_sys::Array::of2(&granted, &requested))).await {
        Ok(_) => Ok(HeldLock { release }),
        Err(_) => Err(Error::new(
            ErrorCode::LockTimeout,
            format!("the lock \"{name}\" was not granted within {timeout_ms} ms: another context holds it"),
        )),
    }
}

/// A promise and the function that resolves it.
fn promise_with_resolve() -> (Promise, Option<Function>) {
    let mut resolve = None;
    let promise = Promise::new(&mut |resolved, _rejected| resolve = Some(resolved));
    (promise, resolve)
}
