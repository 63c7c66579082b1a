#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs what it needs, then
# checks formatting and lints, tests the core on the host, builds and packs
# the npm package, and tests it in wasm (Node) and through its public API
# against the local EchoVideo stand-in, in Node and in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings

echo "== core on the host (cargo test)"
cargo test

echo "== build and pack the npm package"
bash scripts/pack.sh

echo "== wasm-bindgen tests in Node"
cargo test --target wasm32-unknown-unknown --test wasm

echo "== the package through its public API, against the stand-in, in Node and headless Chromium (node --test)"
node --test tests/standin/ tests/node/ tests/browser/
