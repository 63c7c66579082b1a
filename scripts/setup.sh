#!/usr/bin/env bash
# Installs everything the build, the demo and the tests need on a fresh
# machine (Debian, rustup, Node 20), and nothing that is already there:
#   - the wasm32-unknown-unknown Rust target
#   - the wasm-bindgen CLI at exactly the version Cargo.lock resolved
#   - the npm dev dependencies: wasm-opt (binaryen), playwright-core, workerd
#     (inside miniflare), TypeScript, Vite, webpack and esbuild
#   - Debian's Chromium and ChromeDriver, for the browser tests
# Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

[ -f Cargo.lock ] || cargo generate-lockfile
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]; then
  # Not --locked: the CLI's own lock file pins crates that no longer build here.
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

# npm ci when a tool is missing or package-lock.json changed since the last install.
npm_tools=(
  node_modules/.bin/wasm-opt node_modules/.bin/tsc node_modules/.bin/esbuild
  node_modules/.bin/vite node_modules/webpack/package.json node_modules/workerd/bin/workerd
  node_modules/miniflare/package.json node_modules/playwright-core/package.json
)
npm_ready=true
for tool in "${npm_tools[@]}"; do [ -e "$tool" ] || npm_ready=false; done
if ! $npm_ready || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
fi
