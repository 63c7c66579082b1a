#!/usr/bin/env bash
# Builds the package, packs it as npm would publish it, and installs that
# tarball into this workspace, so tests and the demo import
# "echovideo-auth" exactly as a user's project would.
set -euo pipefail
cd "$(dirname "$0")/.."

node scripts/build.mjs
rm -rf tests/out/package && mkdir -p tests/out
tarball=$(npm pack ./pkg --pack-destination tests/out --silent | tail -n 1)
npm install --no-save --no-audit --no-fund "./tests/out/$tarball"
