//! Wake-ups: the moments a page comes back (tab shown again, network back)
//! when a timer may have been paused by sleep or throttled in the background.
//!
//! Listeners are registered only where the runtime has them (`document` for
//! `visibilitychange`, the global scope for `online`), and removed when the
//! [`WakeListeners`] value is dropped: nothing is left behind after
//! `dispose()`.

use super::object::get;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Registered wake-up listeners; dropping the value removes them.
pub struct WakeListeners {
    registered: Vec<(JsValue, &'static str)>,
    callback: Closure<dyn FnMut(JsValue)>,
}

impl WakeListeners {
    /// Calls `on_wake` when the page becomes visible or the network comes
    /// back. Returns `None` where the runtime has neither event.
    pub fn install(on_wake: impl Fn() + 'static) -> Option<Self> {
        let global = js_sys::global();
        let document = get(&global, "document");
        let visible_check = document.clone();
        let callback = Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
            let hidden = get(&visible_check, "visibilityState")
                .as_string()
                .as_deref()
                == Some("hidden");
            if !hidden {
                on_wake();
            }
        });
        let mut listeners = Self {
            registered: Vec::new(),
            callback,
        };
        listeners.add(document, "visibilitychange");
        listeners.add(global.into(), "online");
        (!listeners.registered.is_empty()).then_some(listeners)
    }

    fn add(&mut self, target: JsValue, event: &'static str) {
        let Ok(add) = get(&target, "addEventListener").dyn_into::<Function>() else {
            return;
        };
        let listener = self.callback.as_ref();
        if add
            .call2(&target, &JsValue::from_str(event), listener)
            .is_ok()
        {
            self.registered.push((target, event));
        }
    }
}

impl Drop for WakeListeners {
    fn drop(&mut self) {
        for (target, event) in &self.registered {
            if let Ok(remove) = get(target, "removeEventListener").dyn_into::<Function>() {
                let _ = remove.call2(target, &JsValue::from_str(event), self.callback.as_ref());
            }
        }
    }
}
