#!/usr/bin/env bash
# The quick start: install, build, and start the gateway in front of a demo upstream, with a
# real local SAML IdP (pysaml2) holding demo users alice (data scientists), bob (DevOps) and
# carol (viewers). Prints the URL and the demo passwords; Ctrl-C stops everything.
# With CI=true (or --check) it signs alice in once, prints what the upstream saw, and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
BIN=build/release/src/cli/claimgate
DEMO=${CLAIMGATE_DEMO_DIR:-/tmp/claimgate-demo}
ARGS=(--bin "$BIN" --dir "$DEMO" --port "${CLAIMGATE_PORT:-8080}")
if [ "${CI:-}" = "true" ] || [ "${1:-}" = "--check" ]; then ARGS+=(--check); fi
exec /usr/bin/python3 examples/quickstart/demo_stack.py "${ARGS[@]}"
