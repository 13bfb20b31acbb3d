#!/usr/bin/env bash
# Every test: install, build (warnings are errors), unit tests (CTest + GoogleTest), the same
# under ASan+UBSan, integration tests against a real pysaml2 IdP (pytest), the Debian package
# (built, installed, its binary tested), the include-rules check, and each libFuzzer target for
# a short run. Ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=$(nproc)
declare -A RESULT
fail=0
# The integration files are spread over workers (pytest-xdist; one file's tests stay on one
# worker, with its module fixtures): most of their time is spent waiting on the processes they
# start (IdP, gateway, browser, jobs), so two workers on two cores take about half the time.
# PYTEST_WORKERS=0 runs them in this process, one after another.
# Files marked `serial` (latency measured against a target) run afterwards, alone.
PYTEST_WORKERS=${PYTEST_WORKERS:-2}
INTEGRATION_TESTS=${INTEGRATION_TESTS:-tests/integration}  # (a few files while working on them)
PYTEST_PARALLEL=()
[ "$PYTEST_WORKERS" -gt 0 ] && PYTEST_PARALLEL=(-n "$PYTEST_WORKERS" --dist loadfile)
# integration LOG: every integration test against $CLAIMGATE_BIN (the rest over the workers,
# then the serial ones), both runs' output in LOG, ending with one "N passed, N failed" line.
integration() {
  local log=$1 rc1 rc2 p f
  /usr/bin/python3 -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
    "${PYTEST_PARALLEL[@]}" -m "not serial" $INTEGRATION_TESTS 2>&1 | tee "$log"
  rc1=${PIPESTATUS[0]}
  /usr/bin/python3 -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
    -m serial $INTEGRATION_TESTS 2>&1 | tee "$log.serial"
  rc2=${PIPESTATUS[0]}
  p=0 f=0
  for part in "$log" "$log.serial"; do  # (each run's own closing line, before they are joined)
    local line
    line=$(grep -E "^[^a-z]*[0-9]+ (passed|failed)" "$part" | tail -1 || true)
    p=$((p + $(echo "$line" | grep -oE "[0-9]+ passed" | grep -oE "[0-9]+" || echo 0)))
    f=$((f + $(echo "$line" | grep -oE "[0-9]+ failed" | grep -oE "[0-9]+" || echo 0)))
  done
  cat "$log.serial" >> "$log"
  echo "integration: $p passed, $f failed" | tee -a "$log"
  [ "$rc2" -eq 5 ] && rc2=0  # (no test marked serial: nothing to run)
  [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]
}
step() { echo; echo "==== $* ===="; }

scripts/install-deps.sh

step "rules: include directions, injected clock, documented error codes, doc links inside the repository"
if /usr/bin/python3 tools/check_includes.py && /usr/bin/python3 tools/check_error_codes.py \
    && /usr/bin/python3 tools/check_doc_links.py; then
  RESULT[rules]=ok
else
  RESULT[rules]=FAILED; fail=1
fi

step "build and unit tests (dev)"
cmake --preset dev >/dev/null
cmake --build --preset dev -j "$JOBS"
if ctest --preset dev -j "$JOBS" 2>&1 | tee /tmp/claimgate-ctest-dev.log; then RESULT[unit]=ok; else RESULT[unit]=FAILED; fail=1; fi
unit_line=$(grep -E "tests passed" /tmp/claimgate-ctest-dev.log | tail -1 || true)

step "integration tests (pysaml2 IdP, xmlsec1, xmllint)"
set +e
CLAIMGATE_BIN="$ROOT/build/dev/src/cli/claimgate" integration /tmp/claimgate-pytest.log
rc=$?
set -e
if [ "$rc" -eq 0 ]; then RESULT[integration]=ok; else RESULT[integration]=FAILED; fail=1; fi
py_line=$(grep -E "^integration: " /tmp/claimgate-pytest.log | tail -1 || true)

step "Debian package: release build of claimgate and claimgate-exec, cpack, install, installed tests"
# docs/install.md: the package from the release preset (the two binaries only), installed with
# apt-get as an operator would, then tests/package against /usr/bin/claimgate: --version, the
# Depends line, the files, the user, systemd-analyze verify, check on the packaged config and a
# signed-in request through it.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
set +e
(
  set -e
  t0=$SECONDS
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$JOBS"
  echo "release build (the quick start's): $((SECONDS - t0)) s"
  rm -rf build/release/package
  cpack --config build/release/CPackConfig.cmake >/dev/null
  deb=$(ls build/release/package/claimgate_*.deb)
  dpkg-deb --field "$deb" Package Version Depends
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --reinstall "./$deb"
  /usr/bin/claimgate --version
  /usr/bin/python3 -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning tests/package
) 2>&1 | tee /tmp/claimgate-package.log
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -eq 0 ]; then RESULT[package]=ok; else RESULT[package]=FAILED; fail=1; fi
py_pkg_line=$(grep -E "[0-9]+ (passed|failed)" /tmp/claimgate-package.log | tail -1 || true)

step "unit tests under ASan + UBSan"
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan -j "$JOBS"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if ctest --preset asan-ubsan -j "$JOBS" 2>&1 | tee /tmp/claimgate-ctest-asan.log; then RESULT[asan]=ok; else RESULT[asan]=FAILED; fail=1; fi
asan_line=$(grep -E "tests passed" /tmp/claimgate-ctest-asan.log | tail -1 || true)

step "integration tests against the ASan + UBSan binary"
set +e
# A small quarantine: freed memory is then reused soon, so the streaming test's resident-memory
# check measures the gateway and not ASan's 256 MiB default quarantine.
ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=8 CLAIMGATE_BIN="$ROOT/build/asan-ubsan/src/cli/claimgate" \
  integration /tmp/claimgate-pytest-asan.log
rc=$?
set -e
if [ "$rc" -eq 0 ]; then RESULT[asan-integration]=ok; else RESULT[asan-integration]=FAILED; fail=1; fi
py_asan_line=$(grep -E "^integration: " /tmp/claimgate-pytest-asan.log | tail -1 || true)

step "fuzz targets, ${FUZZ_SECONDS}s each (clang, libFuzzer)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$JOBS"
CORPUS=$(mktemp -d)
mkdir -p "$CORPUS/response" "$CORPUS/redirect" "$CORPUS/metadata" "$CORPUS/c14n" "$CORPUS/gateway_input" \
  "$CORPUS/policy" "$CORPUS/audit" "$CORPUS/jobs" "$CORPUS/request_head" "$CORPUS/forward_auth"
# A one-record log (record 1, linked to the chain start) seeds the audit reader.
printf '{"seq":1,"time":"2026-11-23T10:00:00.000000Z","type":"authz.allow","subject":"a","instance":"x","prev":"%s"}\n' \
  "$(printf '0%.0s' $(seq 64))" > "$CORPUS/audit/one-record"
{ printf 'POST\n/api/projects/a/../b//jobs/%%2e/x\n'; grep -v matches examples/policy/ml-platform.yaml; } \
  > "$CORPUS/policy/example"
printf 'a=1; cg_session=20261123T010203Z-ab12.AAAA; b=2' > "$CORPUS/gateway_input/cookie"
printf '/saml/login?rd=%%2Fapp' > "$CORPUS/gateway_input/rd"
printf 'eyJhbGciOiJFUzI1NiIsImtpZCI6IngifQ.eyJleHAiOjF9.AAAA' > "$CORPUS/gateway_input/jwt"
cp tests/data/fuzz/c14n/* "$CORPUS/c14n/"
build/dev/src/cli/claimgate saml demo --out "$CORPUS/demo" >/dev/null
base64 -d "$CORPUS/demo/response.b64" > "$CORPUS/response/seed.xml"
cp "$CORPUS/response/seed.xml" "$CORPUS/c14n/response.xml"
cp "$CORPUS/demo/idp-metadata.xml" "$CORPUS/metadata/seed.xml"
build/dev/src/cli/claimgate saml request --config "$CORPUS/demo/config.yaml" 2>/dev/null > "$CORPUS/redirect/seed.txt"
RESULT[fuzz]=ok
# Job specs (first byte even) and job tokens (odd) seed the jobs parsers.
printf '\x00{"command":["torchrun","train.py"],"env":{"A":"1"},"nodes":2,"max_runtime":"2h"}' > "$CORPUS/jobs/spec"
printf '\x01eyJhbGciOiJFUzI1NiIsImtpZCI6IngifQ.eyJjZ191c2UiOiJqb2IiLCJleHAiOjF9.AAAA' > "$CORPUS/jobs/token"
# Request heads (framing, Host, absolute-form, underscores) and chunked bodies seed the head checks.
printf 'POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello' > "$CORPUS/request_head/cl"
printf 'POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a="b"\r\nhello\r\n0\r\n\r\n' \
  > "$CORPUS/request_head/chunked"
printf 'GET http://h:80/a?b HTTP/1.1\r\nHost: h:80\r\nX_Claimgate_User: a\r\n\r\n' > "$CORPUS/request_head/absolute"
printf 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 3\r\n\r\n' \
  > "$CORPUS/request_head/smuggle"
# Forward-auth requests (a target line, then header lines) and loopback redirects.
printf '/auth\nX-Original-Method: POST\nX-Original-URI: /api/x?y=1\nX-Forwarded-Host: h.example\nX-Forwarded-Uri: /s\nX-Forwarded-Method: GET\nHost: h\n' \
  > "$CORPUS/forward_auth/nginx"
printf '/auth/api/x\nHost: admin.example:443\n' > "$CORPUS/forward_auth/envoy"
printf 'http://127.0.0.1:49152/callback' > "$CORPUS/forward_auth/loopback"
# One target a core at a time (each libFuzzer run is one process).
fuzz_one() {
  build/fuzz/tests/fuzz/fuzz_$1 -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 \
    -print_final_stats=0 "$CORPUS/$1" 2>/tmp/claimgate-fuzz-$1.log
}
targets=(response redirect metadata c14n gateway_input policy audit jobs request_head forward_auth)
for ((i = 0; i < ${#targets[@]}; i += JOBS)); do
  pids=()
  for t in "${targets[@]:i:JOBS}"; do fuzz_one "$t" & pids+=("$!:$t"); done
  for pt in "${pids[@]}"; do
    t=${pt#*:}
    if ! wait "${pt%%:*}"; then
      tail -40 /tmp/claimgate-fuzz-$t.log
      RESULT[fuzz]=FAILED; fail=1
    else
      echo "fuzz_$t: $(grep -E "^Done" /tmp/claimgate-fuzz-$t.log || echo done)"
    fi
  done
done
rm -rf "$CORPUS"

echo
echo "==== summary ===="
for k in rules unit integration package asan asan-integration fuzz; do printf '  %-18s %s\n' "$k" "${RESULT[$k]:-not run}"; done
echo "  ctest:  ${unit_line:-?}"
echo "  asan:   ${asan_line:-?}"
echo "  pytest: ${py_line:-?}"
echo "  pytest (asan): ${py_asan_line:-?}"
echo "  package: ${py_pkg_line:-?}"
# One closing line: N passed, N failed, counting every unit, ASan and integration test.
count() {  # the first number in the part of $1 that matches $2, or 0
  local n
  n=$(echo "$1" | grep -oE "$2" | grep -oE "[0-9]+" | head -1 || true)
  echo "${n:-0}"
}
total_unit=$(count "$unit_line" "out of [0-9]+"); failed_unit=$(count "$unit_line" "[0-9]+ tests failed")
total_asan=$(count "$asan_line" "out of [0-9]+"); failed_asan=$(count "$asan_line" "[0-9]+ tests failed")
passed_py=$(( $(count "$py_line" "[0-9]+ passed") + $(count "$py_asan_line" "[0-9]+ passed") \
  + $(count "$py_pkg_line" "[0-9]+ passed") ))
failed_py=$(( $(count "$py_line" "[0-9]+ failed") + $(count "$py_asan_line" "[0-9]+ failed") \
  + $(count "$py_pkg_line" "[0-9]+ failed") ))
passed=$(( total_unit - failed_unit + total_asan - failed_asan + passed_py ))
failed=$(( failed_unit + failed_asan + failed_py ))
# A failed step with no failed test (rules, fuzzing, a build) still counts once.
if [ "$fail" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
exit $fail
