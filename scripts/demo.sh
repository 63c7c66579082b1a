#!/usr/bin/env bash
# Builds the package, starts the local EchoVideo stand-in and serves the demo
# page on it. Prints the URL; stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/pack.sh
exec node www/serve.mjs "$@"
