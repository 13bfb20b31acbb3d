#!/usr/bin/env bash
# Installs everything claimgate needs to build and test, from Debian 12's packages only.
# Safe to run again; does nothing when all packages are present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  # C++ dependencies
  libxml2-dev libxmlsec1-dev libxmlsec1-openssl libssl-dev zlib1g-dev libboost1.81-dev
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev libhiredis-dev
  # fuzzing (libFuzzer comes with clang's runtime)
  clang libclang-rt-14-dev
  # integration tests: a real IdP (pysaml2), xmlsec1 and xmllint, openssl for test keys
  python3 python3-pytest python3-pysaml2 python3-requests xmlsec1 libxml2-utils openssl
  # the gateway's tests: a real nginx, a real browser, JWT and WebSocket clients, a load tool
  nginx-light chromium chromium-driver python3-selenium python3-jwt python3-cryptography
  python3-websocket curl wrk python3-torch slurmctld slurmd slurm-client munge
  # the Redis store (issue 8): a real redis-server in the tests, redis-cli for the docs' checks
  redis-server redis-tools
  # the local executor's sandbox for jobs (docs/jobs.md, "Isolation")
  bubblewrap
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
