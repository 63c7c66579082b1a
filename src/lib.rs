//! # echovideo-auth
//!
//! Gets and keeps valid access tokens for the EchoVideo (Echo360) public REST
//! API. Compiled to WebAssembly and shipped as the `echovideo-auth` npm
//! package, whose `TokenManager` class JavaScript code uses in browsers, Node
//! and Cloudflare Workers.
//!
//! The crate has two halves:
//! - [`core`]: the rules, as a sans-IO state machine in plain Rust. It builds
//!   and is tested on the host with `cargo test`.
//! - `js` and `manager` (wasm32 only): thin adapters that perform the core's
//!   steps with `fetch`, timers and the caller's storage callbacks, and the
//!   exported `TokenManager` class.

#![warn(missing_docs)]

pub mod core;

#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod manager;
#[cfg(target_arch = "wasm32")]
pub use manager::TokenManager;
