//! The only code that touches JS: thin adapters that perform the core's
//! steps with the platform's `fetch`, timers, clock and the caller's
//! callbacks.
//!
//! Everything is bound from the global scope (`globalThis.fetch`,
//! `setTimeout`, `clearTimeout`, `Date.now`), never from `window`, so one
//! module runs in a page, a Web Worker, Node and workerd. Every call into JS
//! that can throw is caught and becomes a core [`Error`](crate::core::error::Error);
//! nothing here can panic.

pub mod api;
pub mod clock;
pub mod error;
pub mod events;
pub mod http;
pub mod lock;
pub mod object;
pub mod options;
pub mod storage;
pub mod timer;
pub mod wake;
