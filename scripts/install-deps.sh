#!/usr/bin/env bash
# Installs what claimgate needs, from Debian 12's packages only. Safe to run again; does nothing
# when all packages are present.
#
#   scripts/install-deps.sh          everything: build, every test (scripts/test.sh)
#   scripts/install-deps.sh --demo   only what the quick start needs (scripts/quickstart.sh):
#                                    build claimgate and claimgate-exec, run the demo IdP,
#                                    upstream and job
#   scripts/install-deps.sh --list [--demo]   print the package names, install nothing
set -euo pipefail

# Building claimgate and claimgate-exec (a library added to CMakeLists.txt goes here).
BUILD=(
  g++ cmake ninja-build pkg-config
  libxml2-dev libxmlsec1-dev libxmlsec1-openssl libssl-dev zlib1g-dev libboost1.81-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libsqlite3-dev libhiredis-dev
)
# The quick start's demo: the pysaml2 IdP (it calls xmlsec1), the upstream's JWT check, demo
# keys (openssl), and the jobs' sandbox (docs/jobs.md, "Isolation").
DEMO=(
  python3 python3-pysaml2 python3-requests python3-jwt python3-cryptography xmlsec1 openssl
  bubblewrap
)
# Everything else the tests use.
TEST=(
  build-essential git ca-certificates sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing (libFuzzer comes with clang's runtime)
  clang libclang-rt-14-dev
  # integration tests: xmllint, pytest (the files spread over two workers by pytest-xdist)
  python3-pytest python3-pytest-xdist libxml2-utils
  # the Python package installed with pip into a venv, offline (docs/python.md): pip, venv,
  # the build backend (setuptools) and the wheel it builds with
  python3-pip python3-venv python3-setuptools python3-wheel
  # the gateway's tests: a real nginx, a real browser, WebSocket clients, a load tool, PyTorch
  # and Slurm for the jobs tests
  nginx-light chromium chromium-driver python3-selenium python3-websocket curl wrk python3-torch
  # the proxy I/O tests count the gateway's syscalls (tests/integration/test_proxy_io.py)
  strace
  slurmctld slurmd slurm-client munge
  # real notebooks behind the gateway (tests/integration/test_jupyter.py): Jupyter Notebook and
  # its kernel, JupyterHub with configurable-http-proxy, PyYAML for the test's policy
  jupyter-notebook python3-ipykernel jupyterhub node-configurable-http-proxy python3-yaml
  # the Redis store (issue 8): a real redis-server in the tests, redis-cli for the docs' checks
  redis-server redis-tools
  # the Debian package (docs/install.md): cpack's dpkg-shlibdeps and file, systemd-analyze
  # verify on the units (systemd need not run), what the package's install script calls
  dpkg-dev file systemd adduser
)

demo=0 list=0
for a in "$@"; do
  case "$a" in
    --demo) demo=1 ;;
    --list) list=1 ;;
    *) echo "usage: $0 [--demo] [--list]" >&2; exit 2 ;;
  esac
done
PACKAGES=("${BUILD[@]}" "${DEMO[@]}")
[ "$demo" -eq 1 ] || PACKAGES+=("${TEST[@]}")
if [ "$list" -eq 1 ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

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
# Debian's jupyterhub package enables a system-wide hub (jupyterhub.service, as root, PAM sign-in);
# the tests start their own on loopback, so keep the system one off where systemd runs.
if [[ " ${missing[*]} " == *" jupyterhub "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now jupyterhub.service >/dev/null 2>&1 || true
fi
