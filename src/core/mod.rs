//! The sans-IO core: every rule of the token lifecycle, in plain Rust.
//!
//! Nothing in this module tree touches JS, the network, storage or a clock:
//! time comes in as `now_ms`, randomness as `jitter`, and I/O goes out as
//! [`machine::Step`]s for a driver to perform. That is what lets `cargo test`
//! on the host pin down exact request bytes, every parse path and every
//! retry and rotation decision, with a virtual clock and no sleeping.

pub mod api;
pub mod config;
pub mod error;
pub mod grant;
pub mod machine;
pub mod retry;
pub mod secret;
mod text;
pub mod token;
