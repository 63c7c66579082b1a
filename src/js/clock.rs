//! The wall clock and randomness the core takes as arguments.

/// Milliseconds since the epoch (`Date.now()`).
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A random number in `[0, 1)` for backoff jitter (`Math.random()`).
pub fn jitter() -> f64 {
    js_sys::Math::random()
}
