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
//! - `engine` and `timer` (wasm32 only): the core exported to JS as one
//!   class, `Engine`, driven by the package's hand-written JS
//!   (`pkg-template/manager.js`), which performs its steps with `fetch`,
//!   timers, locks and the caller's storage callbacks and exports the
//!   `TokenManager` class users see. Only plain values cross; the renewal
//!   timer is owned here.

#![warn(missing_docs)]

pub mod core;

#[cfg(target_arch = "wasm32")]
mod engine;
#[cfg(target_arch = "wasm32")]
mod timer;
#[cfg(target_arch = "wasm32")]
pub use engine::Engine;

/// The wasm build's allocator (see Cargo.toml for why talc).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
