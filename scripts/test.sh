#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs what it needs, then
# checks formatting and lints, tests the core on the host, builds and packs
# the npm package, and tests it in wasm (Node and headless Chromium) and
# through its public API against the local EchoVideo stand-in: in Node,
# headless Chromium, workerd (through miniflare) and the output of Vite,
# webpack and esbuild, plus a type check of its .d.ts.
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

echo "== wasm-bindgen tests in headless Chromium"
WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}" \
  cargo test --target wasm32-unknown-unknown --test wasm

echo "== the package through its public API, against the stand-in (node --test):"
echo "   Node and Chromium tests, fault injection, the shared suite in Node, Chromium and"
echo "   workerd (miniflare), the example Worker in workerd, the types (tsc), and the"
echo "   output of Vite, webpack and esbuild. A test that hangs fails after 3 minutes."
node --test --test-timeout=180000 \
  tests/standin/ tests/node/ tests/browser/ tests/faults/ \
  tests/suite/ tests/workerd/ tests/types/ tests/bundlers/
