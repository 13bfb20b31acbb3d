"""claimgate under a service manager (docs/install.md): `serve` tells systemd over $NOTIFY_SOCKET
(the sd_notify protocol, without libsystemd) READY=1 once it listens, RELOADING=1 and READY=1
around a SIGHUP reload, STOPPING=1 when it stops; a test socket here stands in for systemd's.
And `claimgate keys schedule --changed-file`, which claimgate-keys.service uses to restart the
gateway only after a keyring step."""
import datetime
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

from conftest import claimgate_bin
from gateway_stack import DemoStack, wait_http


def notify_socket(name):
    """A datagram socket bound as systemd binds its notification socket: a path, or '@name' in
    the abstract namespace (as $NOTIFY_SOCKET writes it)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name[1:] if name.startswith("@") else name)
    s.settimeout(60)  # a deadline for a gateway that never says anything, not a synchronisation
    return s


def serve_with_notify(stack, name):
    """Stops the stack's gateway and starts it again with NOTIFY_SOCKET=name."""
    stack.stop_gateway()
    stack.gateway = stack._spawn("gateway", [stack.bin, "serve", "--config", str(stack.config)],
                                 env=dict(os.environ, NOTIFY_SOCKET=name))
    return stack.gateway


def listens(port):
    with socket.socket() as c:
        return c.connect_ex(("127.0.0.1", port)) == 0


# systemd starts what depends on the gateway when it says READY=1: by then it listens and answers;
# a reload is framed by RELOADING=1 (with its monotonic time) and READY=1; SIGTERM says STOPPING=1.
def test_ready_once_listening_reloading_around_sighup_and_stopping(tmp_path):
    stack = DemoStack(tmp_path / "stack", claimgate_bin())
    try:
        path = str(tmp_path / "notify.sock")
        sock = notify_socket(path)
        gw = serve_with_notify(stack, path)
        assert sock.recv(4096) == b"READY=1"
        assert listens(stack.port), "READY=1 came before the listener listened"
        with urllib.request.urlopen(stack.listen_url + "/healthz", timeout=10) as r:
            assert r.status == 200
        before = time.monotonic()
        gw.send_signal(signal.SIGHUP)
        reloading = sock.recv(4096).decode()
        after = time.monotonic()
        m = re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=(\d+)", reloading)
        assert m, reloading
        # CLOCK_MONOTONIC in microseconds (Python's time.monotonic is the same clock): the
        # moment the reload began, between the signal and the message.
        assert before <= int(m.group(1)) / 1e6 <= after, (before, m.group(1), after)
        assert sock.recv(4096) == b"READY=1"
        assert gw.poll() is None
        gw.send_signal(signal.SIGTERM)
        assert sock.recv(4096) == b"STOPPING=1"
        assert gw.wait(30) == 0
        sock.close()
    finally:
        stack.stop()


# systemd may name its socket in the abstract namespace ('@...'): the same READY=1 arrives there.
def test_ready_to_an_abstract_socket(tmp_path):
    stack = DemoStack(tmp_path / "stack", claimgate_bin())
    try:
        name = f"@claimgate-test-{os.getpid()}-{stack.port}"
        sock = notify_socket(name)
        serve_with_notify(stack, name)
        assert sock.recv(4096) == b"READY=1"
        assert listens(stack.port)
        sock.close()
    finally:
        stack.stop()


# Without NOTIFY_SOCKET (started by hand) serve says nothing and runs as before; with one that
# nobody listens on, it warns and serves anyway.
def test_a_dead_notify_socket_is_a_warning_not_a_failure(tmp_path):
    stack = DemoStack(tmp_path / "stack", claimgate_bin())
    try:
        gw = serve_with_notify(stack, str(tmp_path / "nobody.sock"))
        wait_http(stack.listen_url + "/healthz", gw)
        assert gw.poll() is None
        stack.stop_gateway()
        assert "NOTIFY_SOCKET" in stack.gateway_log()
    finally:
        stack.stop()


# claimgate-keys.service restarts the gateway only when `keys schedule` did a step: the file
# --changed-file names appears then, and not on a run with nothing due.
def test_keys_schedule_changed_file_only_after_a_step(tmp_path):
    stack = DemoStack(tmp_path / "stack", claimgate_bin())
    try:
        changed = tmp_path / "changed"
        base = [stack.bin, "keys", "schedule", "--config", str(stack.config), "--changed-file", str(changed)]
        now = datetime.datetime.now(datetime.timezone.utc)
        quiet = subprocess.run(base + ["--now", now.strftime("%Y-%m-%dT%H:%M:%SZ")], capture_output=True, text=True)
        assert quiet.returncode == 0, quiet.stderr
        assert "nothing due" in quiet.stdout, quiet.stdout
        assert not changed.exists()
        later = (now + datetime.timedelta(days=85)).strftime("%Y-%m-%dT%H:%M:%SZ")
        staged = subprocess.run(base + ["--now", later], capture_output=True, text=True)
        assert staged.returncode == 0, staged.stderr
        assert "staged key" in staged.stdout, staged.stdout
        assert changed.exists()
    finally:
        stack.stop()
