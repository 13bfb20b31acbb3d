"""The diagnostics listener (diagnostics.listen): /metrics and /readyz answer there, on loopback,
and nowhere on the public port; it answers GET and HEAD of those two paths and nothing else; its
/metrics text is valid Prometheus exposition format (prometheus_text.py parses it strictly);
/readyz follows the store; `claimgate check` warns about a non-loopback address and refuses one
the public port or a route also reaches."""
import re
import socket
import subprocess
import time

import pytest
import requests

from conftest import claimgate_bin
from gateway_stack import DemoStack, free_port, rss_kib
from prometheus_text import parse_exposition, value
from redis_helper import RedisServer

JSON = {"Accept": "application/json"}

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = DemoStack(tmp_path_factory.mktemp("diag"), claimgate_bin(), store="sqlite")
    yield s
    s.stop()


def raw(port, request):
    """One request's bytes and everything the server writes back until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(request)
        out = b""
        while chunk := c.recv(65536):
            out += chunk
    return out


def test_the_public_port_answers_neither_metrics_nor_readyz(stack):
    for path in ("/metrics", "/readyz"):
        for method in ("GET", "HEAD", "POST"):
            r = requests.request(method, stack.url + path, headers=JSON, timeout=10, allow_redirects=False)
            assert r.status_code == 404, (method, path, r.status_code)
            assert "claimgate_" not in r.text and "ok" != r.text.strip()
        # Whatever the spelling: the normalised path is what the gateway reads.
        r = requests.get(stack.url + path.replace("m", "%6D").replace("r", "%72", 1), headers=JSON, timeout=10)
        assert r.status_code == 404 and "claimgate_" not in r.text
    r = requests.get(stack.url + "/metrics", headers=JSON, timeout=10)
    assert "diagnostics.listen" in r.json()["message"]
    # Liveness stays on the public port (front proxies and load balancers probe it).
    assert requests.get(stack.url + "/healthz", timeout=10).text == "ok\n"
    assert f"diagnostics on http://127.0.0.1:{stack.diag_port} (/metrics, /readyz)" in stack.gateway_log()


def test_the_diagnostics_listener_serves_metrics_and_readyz_only(stack):
    m = requests.get(stack.diag_url + "/metrics", timeout=10)
    assert m.status_code == 200
    assert m.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert m.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in m.headers
    families = parse_exposition(m.text)
    assert families["claimgate_http_requests_total"]["type"] == "counter"
    # The build and the process, plausible for this gateway.
    (_, build, one), = families["claimgate_build_info"]["samples"]
    version = subprocess.run([claimgate_bin(), "--version"], capture_output=True, text=True).stdout
    assert one == 1 and build["version"] in version and build["commit"] and build["compiler"], (build, version)
    assert families["process_cpu_seconds_total"]["type"] == "counter"
    rss = value(families, "process_resident_memory_bytes")
    assert 0.5 <= rss / (rss_kib(stack.gateway.pid) * 1024) <= 2, rss
    assert value(families, "process_open_fds") >= 5  # listeners, the store, the audit log, ...
    assert value(families, "process_max_fds") >= value(families, "process_open_fds")
    assert abs(value(families, "process_start_time_seconds") - time.time()) < 3600
    ready = requests.get(stack.diag_url + "/readyz?verbose=1", timeout=10)
    assert (ready.status_code, ready.text) == (200, "ok\n")
    # HEAD: the header a GET gets, no body (the next answer on the connection stays framed).
    out = raw(stack.diag_port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and re.search(rb"(?i)content-length: [1-9][0-9]*", head), head
    assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"\r\n\r\nok\n"), rest[:200]
    # Nothing else: other paths and methods, the public endpoints, other spellings.
    for method, path in (("POST", "/metrics"), ("PUT", "/readyz"), ("DELETE", "/metrics"), ("GET", "/"),
                         ("GET", "/healthz"), ("GET", "/metrics/"), ("GET", "//metrics"),
                         ("GET", "/saml/login"), ("GET", "/.claimgate/whoami"), ("GET", "/.well-known/jwks.json"),
                         ("OPTIONS", "/metrics")):
        r = requests.request(method, stack.diag_url + path, timeout=10, allow_redirects=False,
                             cookies={"cg_session": "x"})
        assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
        assert "claimgate_" not in r.text and "Set-Cookie" not in r.headers and "Location" not in r.headers
    # The target as sent, never normalised (requests would decode "%6d" itself).
    out = raw(stack.diag_port, b"GET /%6detrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 404") and b"claimgate_" not in out, out[:200]
    # The diagnostics requests are no routes' and reach no upstream.
    again = parse_exposition(requests.get(stack.diag_url + "/metrics", timeout=10).text)
    for _, labels, _ in again["claimgate_http_requests_total"]["samples"]:
        assert labels["route"] != "demo-app" or labels["status"] != "404", labels


def test_readyz_follows_the_session_store(tmp_path):
    redis = RedisServer(tmp_path / "redis", persist=False)
    redis.kill()  # Redis is down when the gateway starts (which it does: it connects lazily)
    s = DemoStack(tmp_path / "gw", claimgate_bin(),
                  store="{kind: redis, address: 127.0.0.1:%d, connect_timeout: 200ms, command_timeout: 300ms}"
                  % redis.port)
    try:
        down = requests.get(s.diag_url + "/readyz", timeout=10)
        assert down.status_code == 503 and down.text.startswith("not ready: session store:"), down.text
        assert requests.get(s.url + "/healthz", timeout=10).status_code == 200  # alive, not ready
        m = parse_exposition(requests.get(s.diag_url + "/metrics", timeout=10).text)
        assert value(m, "claimgate_redis_state", what="reachable") == 0
        redis.start()
        deadline = time.monotonic() + 20
        while requests.get(s.diag_url + "/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "not ready 20 s after Redis came back"
            time.sleep(0.1)
        m = parse_exposition(requests.get(s.diag_url + "/metrics", timeout=10).text)
        assert value(m, "claimgate_redis_state", what="reachable") == 1
    finally:
        s.stop()
        redis.stop()


def test_off_taken_and_misplaced_listeners(tmp_path):
    s = DemoStack(tmp_path, claimgate_bin(), store="memory", extra_config="diagnostics: {listen: off}\n")
    try:
        assert "diagnostics: off" in s.gateway_log()
        assert requests.get(s.url + "/metrics", timeout=10).status_code == 404
        s.stop_gateway()
        # An address the config names and that is taken: serve refuses to start, saying so.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            s.config.write_text(s.config.read_text().replace("diagnostics: {listen: off}",
                                                             f"diagnostics: {{listen: 127.0.0.1:{port}}}"))
            r = subprocess.run([claimgate_bin(), "serve", "--config", str(s.config)], capture_output=True,
                               text=True, timeout=60)
            out = r.stdout + r.stderr
            assert r.returncode == 1 and "diagnostics.listen" in out and f"cannot listen on 127.0.0.1:{port}" in out
        # check: a non-loopback address is a warning; one the public port or a route reaches, a problem.
        free = free_port()
        text = s.config.read_text().replace(f"diagnostics: {{listen: 127.0.0.1:{port}}}",
                                            f"diagnostics: {{listen: 0.0.0.0:{free}}}")
        s.config.write_text(text)
        r = subprocess.run([claimgate_bin(), "check", "--config", str(s.config)], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and f"warning: diagnostics.listen 0.0.0.0:{free} is not a loopback address" \
            in r.stdout, r.stdout + r.stderr
        s.config.write_text(text.replace("routes:\n", f'routes:\n  - {{"prefix": "/m/", "upstream": '
                                                      f'"http://localhost:{free}"}}\n'))
        r = subprocess.run([claimgate_bin(), "check", "--config", str(s.config)], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode != 0 and "routes[0].upstream" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        s.stop()
