#!/usr/bin/env bash
# The quick start: install what the demo needs (scripts/install-deps.sh --demo), build only
# claimgate and claimgate-exec (the `release` preset: no tests, benchmarks or fuzzers), and start
# the gateway in front of a demo upstream and its jobs API, with a real local SAML IdP (pysaml2)
# holding demo users alice (data scientists), bob (DevOps) and carol (viewers). Prints the URL
# and the demo passwords; Ctrl-C stops everything.
# With CI=true (or --check) it signs alice in (browser, then terminal), submits the PyTorch
# example as a job, follows it to its end, is refused a deployment, and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
scripts/install-deps.sh --demo
t1=$SECONDS
cmake --preset release >/dev/null
cmake --build --preset release
t2=$SECONDS
echo "quickstart: packages $((t1 - t0)) s, build $((t2 - t1)) s"
BIN=build/release/src/cli/claimgate
DEMO=${CLAIMGATE_DEMO_DIR:-/tmp/claimgate-demo}
ARGS=(--bin "$BIN" --dir "$DEMO" --port "${CLAIMGATE_PORT:-8080}")
if [ "${CI:-}" = "true" ] || [ "${1:-}" = "--check" ]; then ARGS+=(--check); fi
exec /usr/bin/python3 examples/quickstart/demo_stack.py "${ARGS[@]}"
