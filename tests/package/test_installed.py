"""The Debian package as installed (`apt-get install ./claimgate_*.deb`; scripts/test.sh builds and
installs it first, then runs this file alone): the files in their places, the system user and
its directories, the units verify, the Depends line names runtime libraries only, and the
installed binary checks the packaged config and signs a person in through a real pysaml2 IdP
with it (adapted to a temporary directory: its own ports, state and audit log)."""
import json
import os
import pathlib
import pwd
import grp
import shutil
import socket
import stat
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from gateway_stack import DemoStack  # noqa: E402

BIN = "/usr/bin/claimgate"
CONFIG = pathlib.Path("/etc/claimgate/claimgate.yaml")
UNITS = pathlib.Path("/usr/lib/systemd/system")


def dpkg_field(field):
    return subprocess.run(["dpkg-query", "-W", "-f", "${" + field + "}", "claimgate"], check=True,
                          capture_output=True, text=True).stdout


# The installed binary says the package's version.
def test_version_is_the_packages():
    assert dpkg_field("db:Status-Abbrev").startswith("ii"), dpkg_field("db:Status-Abbrev")
    out = subprocess.run([BIN, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    assert out == "claimgate " + dpkg_field("Version"), out


# Runtime libraries only: dpkg-shlibdeps found what the binaries link, no -dev package.
def test_depends_on_runtime_libraries_only():
    depends = [d.strip().split()[0] for d in dpkg_field("Depends").replace("|", ",").split(",")]
    assert not [d for d in depends if d.endswith("-dev")], depends
    for lib in ("libc6", "libstdc++6", "libssl3", "libxml2", "libxmlsec1-openssl", "libsqlite3-0",
                "adduser", "openssl"):
        assert lib in depends, (lib, depends)


# Every file where docs/install.md says it is.
def test_files_in_their_places():
    for f in ("/usr/bin/claimgate", "/usr/bin/claimgate-exec"):
        assert os.access(f, os.X_OK), f
    assert CONFIG.is_file()
    assert "/etc/claimgate/claimgate.yaml" in dpkg_field("Conffiles")
    for u in ("claimgate.service", "claimgate-keys.service", "claimgate-keys.timer"):
        assert (UNITS / u).is_file(), u
    doc = pathlib.Path("/usr/share/doc/claimgate")
    for f in ("copyright", "LICENSE", "README.md", "install.md", "configuration.md",
              "examples/packaged/claimgate.yaml", "examples/systemd/low-port.conf",
              "examples/systemd/jobs-local.conf", "examples/policy/ml-platform.yaml"):
        assert (doc / f).is_file(), f
    assert "Apache License" in (doc / "LICENSE").read_text()
    # The Python helper, importable by Debian's python3 from anywhere.
    r = subprocess.run(["/usr/bin/python3", "-c", "import claimgate, claimgate.auth, claimgate.job; "
                        "print(claimgate.__file__)"], cwd="/", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("/usr/lib/python3/dist-packages/claimgate/"), r.stdout


# The install script made the system user, its private directories and the SP key pair, which
# the gateway may read and nobody else.
def test_user_directories_and_key_pair():
    u = pwd.getpwnam("claimgate")
    assert u.pw_uid < 1000 and u.pw_shell.endswith("nologin"), u
    for d in ("/var/lib/claimgate", "/var/log/claimgate"):
        st = os.stat(d)
        assert st.st_uid == u.pw_uid and stat.S_IMODE(st.st_mode) == 0o700, (d, oct(st.st_mode))
    key = os.stat("/etc/claimgate/sp.key")
    assert key.st_uid == 0 and key.st_gid == grp.getgrnam("claimgate").gr_gid
    assert stat.S_IMODE(key.st_mode) == 0o640, oct(key.st_mode)
    etc = os.stat("/etc/claimgate")
    assert stat.S_IMODE(etc.st_mode) == 0o750 and etc.st_gid == u.pw_gid


# systemd-analyze verifies the installed units (no systemd needs to run), and they name the
# installed binary and config, run as claimgate, and keep the hardening docs/install.md lists.
def test_units_verify_and_are_hardened():
    units = [str(UNITS / u) for u in ("claimgate.service", "claimgate-keys.service", "claimgate-keys.timer")]
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    text = (UNITS / "claimgate.service").read_text()
    lines = set(text.splitlines())
    for want in ("Type=notify", "User=claimgate", "ExecStart=/usr/bin/claimgate serve --config "
                 "/etc/claimgate/claimgate.yaml", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict",
                 "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "NoNewPrivileges=yes",
                 "CapabilityBoundingSet=", "StateDirectory=claimgate", "LogsDirectory=claimgate",
                 "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
                 "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes"):
        assert want in lines, want
    assert not [line for line in lines if line.startswith("AmbientCapabilities=") and line != "AmbientCapabilities="]
    sec = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNITS / "claimgate.service")],
                         capture_output=True, text=True)
    level = [line for line in sec.stdout.splitlines() if "Overall exposure level" in line]
    assert level and float(level[0].split(":")[1].split()[0]) < 2.0, sec.stdout[-400:]


def adapt(text, stack, tmp):
    """The packaged config with this test's ports, upstream and directories; each line replaced
    must be there, so that a change of the packaged file is seen here."""
    swaps = [("listen: 127.0.0.1:8080", f"listen: 127.0.0.1:{stack.port}"),
             ("public_url: https://ml.example.org", f"public_url: {stack.url}\ninsecure_http: true"),
             ("upstream: http://127.0.0.1:5000", f"upstream: {stack.upstream_url}"),
             ("/var/lib/claimgate", str(tmp / "state")), ("/var/log/claimgate", str(tmp / "log"))]
    for old, new in swaps:
        assert old in text, old
        text = text.replace(old, new)
    return text


# The installed binary with the packaged config: `check` passes once the files it names exist,
# `serve` says READY=1 to a notify socket, and alice signs in through the IdP and reaches the
# upstream as herself.
def test_installed_gateway_serves_the_packaged_config(tmp_path):
    import requests
    stack = DemoStack(tmp_path / "etc", BIN)
    try:
        stack.stop_gateway()
        etc = stack.dir
        for d in ("state", "log"):
            (etc / d).mkdir(mode=0o700)
        shutil.copy(stack.idps[0].metadata, etc / "idp-metadata.xml")
        stack.config.write_text(adapt(CONFIG.read_text(), stack, etc))
        check = subprocess.run([BIN, "check", "--config", str(stack.config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert f"{stack.config}: OK (1 IdP(s), 1 route(s), store sqlite" in check.stdout, check.stdout
        assert f"keys: {etc}/state/keyring" in check.stdout, check.stdout
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(tmp_path / "notify.sock"))
        sock.settimeout(60)
        stack.gateway = stack._spawn("gateway", [BIN, "serve", "--config", str(stack.config)],
                                     env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock")))
        assert sock.recv(4096) == b"READY=1"
        s = requests.Session()
        r = stack.signin(s, "alice", "/hello")
        assert r.status_code == 200, r.text[:300]
        r = s.get(stack.url + "/hello", headers={"Accept": "application/json"}, timeout=30)
        assert r.status_code == 200, r.text[:300]
        seen = r.json()
        assert seen["headers"].get("X-Claimgate-User") == "alice", json.dumps(seen)[:500]
        assert seen["jwt"]["verified"], seen["jwt"]
        stack.stop_gateway()
        audit = (etc / "log" / "audit.jsonl").read_text()
        assert '"login.success"' in audit
        assert (etc / "state" / "keyring").is_dir() and (etc / "state" / "state.db").is_file()
    finally:
        stack.stop()
