"""Strict HTTP/1.1 parsing at the outsider boundary (security findings 5, 6, 9 and the idle part
of 15): raw requests over raw sockets, to claimgate and to a real nginx (Debian's nginx-light),
each proxying to a recording upstream that keeps the exact bytes it receives.

The differential rule: claimgate never accepts what nginx refuses as malformed, and what it
forwards is one request, framed by the gateway itself (never the client's Content-Length or
Transfer-Encoding), with no identity or underscore header of the client's.
"""
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time
import wsgiref.simple_server

import pytest

from conftest import claimgate_bin
from gateway_stack import DemoStack, free_port
from nginx_helper import start_nginx


# --- a raw-socket upstream that records what it receives -----------------------------------

def read_one_request(data):
    """Splits one HTTP/1.1 request off `data` the way a strict upstream would: (head, fields,
    body, rest), or None when it is incomplete."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = data[:end].decode("latin-1")
    lines = head.split("\r\n")
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.append((name, value.strip()))
    rest = data[end + 4:]
    names = {n.lower(): v for n, v in fields}
    if "transfer-encoding" in names:
        body = b""
        while True:
            eol = rest.find(b"\r\n")
            if eol < 0:
                return None
            try:
                size = int(rest[:eol].split(b";")[0], 16)
            except ValueError:
                return None
            if size == 0:
                if not rest[eol + 2:].startswith(b"\r\n"):
                    return None
                rest = rest[eol + 4:]
                break
            if len(rest) < eol + 2 + size + 2:
                return None
            body += rest[eol + 2:eol + 2 + size]
            rest = rest[eol + 2 + size + 2:]
        return lines[0], fields, body, rest
    length = names.get("content-length", "0")
    if not length.isdigit():
        return None  # not a length a strict upstream reads: never complete
    n = int(length)
    if len(rest) < n:
        return None
    return lines[0], fields, rest[:n], rest[n:]


class RecordingUpstream:
    """Answers the first request on each connection with 200 and `Connection: close`, then keeps
    listening briefly so that bytes sent after it (a smuggled request) are recorded too."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.records = []
        self.active = 0
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.active += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        data = b""
        try:
            conn.settimeout(2)
            while read_one_request(data) is None:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if read_one_request(data) is not None:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                conn.settimeout(0.2)
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.records.append(data)
                self.active -= 1

    def take(self, timeout=3.0):
        """The connections recorded since the last call, once none is open."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.active == 0:
                    break
            time.sleep(0.02)
        with self.lock:
            out, self.records = self.records, []
        return out

    def stop(self):
        self.stopped = True
        self.sock.close()


# --- a WSGI upstream (python's wsgiref), as CGI-style servers read headers -----------------

def start_wsgi():
    def app(environ, start_response):
        seen = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
        body = json.dumps(seen).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    class Quiet(wsgiref.simple_server.WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- raw clients ---------------------------------------------------------------------------

def exchange(port, raw, timeout=3.0):
    """Sends `raw` on a fresh connection; returns (status of the first response or 0, all the
    bytes answered)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        s.sendall(raw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            parsed = read_response(got)
            if parsed is not None:
                break
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
    return (int(m.group(1)) if m else 0), got


def read_response(data):
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = data[:end].decode("latin-1").lower()
    m = re.search(r"\r\ncontent-length: *(\d+)", head)
    if m and len(data) >= end + 4 + int(m.group(1)):
        return True
    if "transfer-encoding: chunked" in head and data.endswith(b"0\r\n\r\n"):
        return True
    return None


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    d = tmp_path_factory.mktemp("strict")
    rec = RecordingUpstream()
    io = ScriptedUpstream()
    wsgi = start_wsgi()
    up = f"http://127.0.0.1:{rec.port}"
    routes = [
        {"name": "io", "prefix": "/io/", "upstream": f"http://127.0.0.1:{io.port}", "public": True},
        {"name": "wsgi", "prefix": "/wsgi/", "upstream": f"http://127.0.0.1:{wsgi.server_port}", "public": True},
        {"name": "static", "prefix": "/static/", "upstream": up, "public": True},
        {"name": "audit", "prefix": "/api/audit/", "upstream": up},
        {"name": "app", "prefix": "/", "upstream": up, "public": True, "websocket": True},
    ]
    stack = DemoStack(d, claimgate_bin(), store="memory", routes=routes, upstream=False,
                      extra_config="limits: {header_timeout: 1s, idle_timeout: 30s}\n")
    nginx_port = free_port()
    site = (f"server {{\n  listen 127.0.0.1:{nginx_port};\n"
            f"  location / {{ proxy_pass http://127.0.0.1:{rec.port}; proxy_http_version 1.1; }}\n}}\n")
    nginx = start_nginx(d / "nginx", site, nginx_port)
    rec.take()
    yield {"stack": stack, "rec": rec, "cg": stack.port, "nginx": nginx_port, "wsgi": wsgi, "io": io}
    nginx.terminate()
    nginx.wait(10)
    stack.stop()
    wsgi.shutdown()
    rec.stop()
    io.stop()


def H(*lines, body=b""):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


HOST = "Host: 127.0.0.1"

# (name, raw request, what claimgate must do: "refuse", "forward" or None for either)
CORPUS = [
    ("plain-get", H("GET /a HTTP/1.1", HOST), "forward"),
    ("post-cl", H("POST /a HTTP/1.1", HOST, "Content-Length: 5", body=b"hello"), "forward"),
    ("post-cl-leading-zeros", H("POST /a HTTP/1.1", HOST, "Content-Length: 005", body=b"hello"), "forward"),
    ("post-chunked", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: chunked",
                       body=b"5;ext=1\r\nhello\r\n0\r\n\r\n"), "forward"),
    # finding 5: Content-Length with an invalid Transfer-Encoding, and the smuggled request
    ("cl-te-chunked-gzip", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: chunked, gzip", "Content-Length: 49",
                             body=b"0\r\n\r\nGET /admin HTTP/1.1\r\nX-Claimgate-User: root\r\n\r\n"), "refuse"),
    ("cl-te-xchunked", H("POST /a HTTP/1.1", HOST, "Content-Length: 3", "Transfer-Encoding: xchunked",
                         body=b"abc"), "refuse"),
    ("cl-te-identity", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: gzip, chunked, identity",
                         "Content-Length: 3", body=b"abc"), "refuse"),
    ("cl-te-chunked", H("POST /a HTTP/1.1", HOST, "Content-Length: 4", "Transfer-Encoding: chunked",
                        body=b"0\r\n\r\n"), "refuse"),
    ("te-chunked-gzip", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n"),
     "refuse"),
    ("te-xchunked", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: xchunked", body=b"0\r\n\r\n"), "refuse"),
    ("te-twice", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: chunked", "Transfer-Encoding: chunked",
                   body=b"0\r\n\r\n"), "refuse"),
    ("te-chunked-chunked", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: chunked, chunked",
                             body=b"0\r\n\r\n"), "refuse"),
    ("te-space-colon", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding : chunked", body=b"0\r\n\r\n"), "refuse"),
    ("te-obs-fold", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding:", " chunked", body=b"0\r\n\r\n"), "refuse"),
    ("te-http10", H("POST /a HTTP/1.0", HOST, "Transfer-Encoding: chunked", body=b"0\r\n\r\n"), "refuse"),
    ("te-on-get", H("GET /a HTTP/1.1", HOST, "Transfer-Encoding: chunked", body=b"0\r\n\r\n"), "refuse"),
    ("cl-duplicate-equal", H("POST /a HTTP/1.1", HOST, "Content-Length: 3", "Content-Length: 3",
                             body=b"abc"), "refuse"),
    ("cl-list", H("POST /a HTTP/1.1", HOST, "Content-Length: 3,3", body=b"abc"), "refuse"),
    ("cl-plus", H("POST /a HTTP/1.1", HOST, "Content-Length: +3", body=b"abc"), "refuse"),
    ("cl-hex", H("POST /a HTTP/1.1", HOST, "Content-Length: 0x3", body=b"abc"), "refuse"),
    ("host-duplicate", H("GET /a HTTP/1.1", HOST, HOST), "refuse"),
    ("host-missing", H("GET /a HTTP/1.1"), "refuse"),
    ("host-bad", H("GET /a HTTP/1.1", "Host: a b"), "refuse"),
    ("absolute-host-mismatch", H("GET http://evil.example/a HTTP/1.1", HOST), "refuse"),
    ("absolute-form", H("GET http://127.0.0.1/a HTTP/1.1", HOST), "forward"),
    ("bare-lf", b"GET /a HTTP/1.1\nHost: 127.0.0.1\n\n", "refuse"),
    ("bare-cr", H("GET /a HTTP/1.1", HOST, "X-A: a\rb"), "refuse"),
    ("nul-in-value", H("GET /a HTTP/1.1", HOST, "X-A: a\x00b"), "refuse"),
    ("ctl-in-value", H("GET /a HTTP/1.1", HOST, "X-A: a\x01b"), "refuse"),
    ("del-in-value", H("GET /a HTTP/1.1", HOST, "X-A: a\x7fb"), "refuse"),
    ("space-in-name", H("GET /a HTTP/1.1", HOST, "X A: 1"), "refuse"),
    ("obs-fold", H("GET /a HTTP/1.1", HOST, "X-A: 1", "  folded"), "refuse"),
    ("request-line-two-spaces", H("GET  /a HTTP/1.1", HOST), "refuse"),
    ("http2-version", H("GET /a HTTP/2.0", HOST), "refuse"),
    ("lowercase-method", H("get /a HTTP/1.1", HOST), "refuse"),
    ("digit-method", H("G3T /a HTTP/1.1", HOST), "refuse"),
    ("lowercase-version", H("GET /a http/1.1", HOST), "refuse"),
    ("ws-before-first-field", H("GET /a HTTP/1.1", " " + HOST), "refuse"),
    ("fragment-in-target", H("GET /a#b HTTP/1.1", HOST), "refuse"),
    ("nul-in-target", H("GET /a\x00b HTTP/1.1", HOST), "refuse"),
    ("chunked-lowercase-ok", H("POST /a HTTP/1.1", HOST, "transfer-encoding: Chunked",
                               body=b"3\r\nabc\r\n0\r\n\r\n"), "forward"),
    ("cl-ows", H("POST /a HTTP/1.1", HOST, "Content-Length:   3  ", body=b"abc"), "forward"),
    ("bad-chunk-size", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: chunked", body=b"zz\r\nhello\r\n0\r\n\r\n"),
     "refuse"),
    ("chunk-size-prefix", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: chunked",
                            body=b"0x5\r\nhello\r\n0\r\n\r\n"), "refuse"),
    ("chunk-trailer", H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: chunked",
                        body=b"5\r\nhello\r\n0\r\nX-Claimgate-User: root\r\n\r\n"), "refuse"),
    ("pipelined-after-cl", H("POST /a HTTP/1.1", HOST, "Content-Length: 5",
                             body=b"helloGET /b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), None),
    # finding 6: identity headers in underscore and other spellings
    ("identity-underscore", H("GET /a HTTP/1.1", HOST, "X_Claimgate_User: root", "X_Forwarded_Groups: admins",
                              "x-claimgate-user: root", "X-Forwarded-User: root", "Forwarded: for=1.2.3.4",
                              "X-Real-IP: 1.2.3.4"), "forward"),
    ("framing-underscore", H("POST /a HTTP/1.1", HOST, "Content-Length: 5", "Transfer_Encoding: chunked",
                             body=b"hello"), "forward"),
    # finding 9: path parameters and encodings
    ("path-semicolon", H("GET /static/..;/api/audit/x HTTP/1.1", HOST), "refuse"),
    ("path-semicolon-encoded", H("GET /static/..%3b/api/audit/x HTTP/1.1", HOST), "refuse"),
    ("path-encoded-slash", H("GET /static/..%2fapi/audit/x HTTP/1.1", HOST), "refuse"),
    ("path-backslash", H("GET /static/..\\api/audit/x HTTP/1.1", HOST), "refuse"),
    ("path-double-encoding", H("GET /static/%252e%252e/api/audit/x HTTP/1.1", HOST), "refuse"),
    ("path-overlong", H("GET /static/%c0%ae%c0%ae/api/audit/x HTTP/1.1", HOST), "refuse"),
    ("path-nul", H("GET /static/%00/x HTTP/1.1", HOST), "refuse"),
]

IDENTITY = re.compile(r"^(x-claimgate-|x-forwarded-user|x-forwarded-groups|x-forwarded-email|forwarded$|x-real-ip$)",
                      re.I)


def assert_reframed(name, record, raw):
    """One request, framed by the gateway, nothing of the client's identity."""
    parsed = read_one_request(record)
    assert parsed is not None, f"{name}: the upstream got an incomplete request: {record!r}"
    line, fields, body, rest = parsed
    assert rest == b"", f"{name}: the upstream got more than one request: {record!r}"
    lower = [(n.lower(), v) for n, v in fields]
    te = [v for n, v in lower if n == "transfer-encoding"]
    cl = [v for n, v in lower if n == "content-length"]
    assert not (te and cl), f"{name}: both framing headers went upstream: {record!r}"
    assert len(te) <= 1 and len(cl) <= 1, f"{name}: repeated framing headers: {record!r}"
    if te:
        assert te == ["chunked"], f"{name}: {te}"
        assert b";" not in record.split(b"\r\n\r\n", 1)[1].split(b"\r\n", 1)[0], \
            f"{name}: the client's chunk extension was copied: {record!r}"
    if cl:
        assert cl == [str(len(body))], f"{name}: Content-Length {cl} for a body of {len(body)}"
    for n, v in fields:
        assert "_" not in n, f"{name}: an underscore header went upstream: {n}"
        if IDENTITY.match(n):
            raise AssertionError(f"{name}: the client's {n}: {v} went upstream")
    xff = [v for n, v in lower if n == "x-forwarded-for"]
    assert xff in ([], ["127.0.0.1"]), f"{name}: X-Forwarded-For {xff}"
    assert b"root" not in record and b"1.2.3.4" not in record, f"{name}: {record!r}"


def test_claimgate_refuses_or_reframes_each_request(strict):
    rec = strict["rec"]
    problems = []
    for name, raw, expect in CORPUS:
        status, answer = exchange(strict["cg"], raw)
        records = [r for r in rec.take() if r]
        forwarded = bool(records)
        if expect == "refuse":
            if forwarded or status not in (400, 501, 505):
                problems.append(f"{name}: expected a refusal, got {status} (forwarded: {forwarded}) "
                                f"{answer[:200]!r} {records!r}")
            else:
                body = answer.split(b"\r\n\r\n", 1)[-1]
                assert re.search(rb"[A-Za-z]{3,} ", body), f"{name}: no sentence in {answer!r}"
        elif expect == "forward" and not forwarded:
            problems.append(f"{name}: expected it forwarded, got {status} {answer[:300]!r}")
        for r in records:
            # A request whose first part was forwarded counts once per record.
            try:
                assert_reframed(name, r, raw)
            except AssertionError as e:
                problems.append(str(e))
    assert not problems, "\n".join(problems)


def test_claimgate_never_accepts_what_nginx_refuses(strict):
    rec = strict["rec"]
    problems = []
    for name, raw, _ in CORPUS:
        n_status, n_answer = exchange(strict["nginx"], raw)
        n_forwarded = bool([r for r in rec.take() if r])
        c_status, c_answer = exchange(strict["cg"], raw)
        c_records = [r for r in rec.take() if r]
        if not n_forwarded and n_status >= 400:
            if c_records:
                problems.append(f"{name}: nginx refused it ({n_status}) but claimgate forwarded "
                                f"{c_records!r}")
            elif c_status < 400 and c_status != 0:
                problems.append(f"{name}: nginx refused it ({n_status}) but claimgate answered {c_status}")
        for r in c_records:
            try:
                assert_reframed(name, r, raw)
            except AssertionError as e:
                problems.append(str(e))
    assert not problems, "\n".join(problems)


def test_refusals_name_the_problem_without_echoing_bytes(strict):
    status, answer = exchange(strict["cg"], H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: <script>x",
                                              body=b"0\r\n\r\n"))
    assert status in (400, 501)
    assert b"<script>" not in answer
    assert b"transfer coding" in answer.lower() or b"transfer-encoding" in answer.lower(), answer
    status, answer = exchange(strict["cg"], H("POST /a HTTP/1.1", HOST, "Content-Length: 3",
                                              "Transfer-Encoding: chunked", body=b"abc"))
    assert status == 400
    assert b"both Content-Length and Transfer-Encoding" in answer, answer
    status, answer = exchange(strict["cg"], H("POST /a HTTP/1.1", HOST, "Transfer-Encoding: xchunked",
                                              body=b"0\r\n\r\n"))
    assert status == 501, answer
    strict["rec"].take()


def test_mid_body_chunk_error_closes_the_upstream_connection(strict):
    # The head and a good first chunk arrive, then (later) a bad chunk: the upstream already
    # has the head, so its connection must be closed, never reused, and the client told 400.
    rec = strict["rec"]
    s = socket.create_connection(("127.0.0.1", strict["cg"]), timeout=5)
    s.sendall(H("POST /slow HTTP/1.1", HOST, "Transfer-Encoding: chunked", body=b"5\r\nhello\r\n"))
    time.sleep(0.5)
    s.sendall(b"zz\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    s.close()
    records = [r for r in rec.take() if r]
    assert got.startswith(b"HTTP/1.1 400"), got
    assert b"chunked request body is malformed" in got, got
    assert all(b"/smuggled" not in r for r in records), records
    for r in records:
        assert read_one_request(r) is None, f"the upstream saw a complete request: {r!r}"


def test_wsgi_upstream_never_sees_client_identity(strict):
    raw = H("GET /wsgi/env HTTP/1.1", HOST, "X_Claimgate_User: root", "X-Claimgate_Groups: admins",
            "x_forwarded_groups: admins", "X_Forwarded_User: root", "X-Real_IP: 1.2.3.4",
            "X_Forwarded_For: 1.2.3.4", "X-Claimgate-User: root")
    status, answer = exchange(strict["cg"], raw)
    assert status == 200, answer
    seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    for key in ("HTTP_X_CLAIMGATE_USER", "HTTP_X_CLAIMGATE_GROUPS", "HTTP_X_FORWARDED_GROUPS",
                "HTTP_X_FORWARDED_USER", "HTTP_X_REAL_IP"):
        assert key not in seen, f"{key} reached the WSGI upstream: {seen}"
    assert seen.get("HTTP_X_FORWARDED_FOR") == "127.0.0.1", seen


def test_websocket_upgrade_strips_client_identity(strict):
    rec = strict["rec"]
    raw = H("GET /ws HTTP/1.1", HOST, "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
            "X_Claimgate_User: root", "X-Claimgate-User: root", "X-Forwarded-Groups: admins")
    exchange(strict["cg"], raw)
    records = [r for r in rec.take() if r]
    assert records, "the upgrade did not reach the upstream"
    for r in records:
        head = r.split(b"\r\n\r\n", 1)[0].lower()
        assert b"claimgate" not in head and b"admins" not in head and b"_" not in head, r


def test_path_parameters_are_not_decided_as_public(strict):
    # /static/ is public, /api/audit/ is not: '..;' would reach the latter through the former on
    # Tomcat, Spring and Jetty.
    status, answer = exchange(strict["cg"], H("GET /static/..;/api/audit/x HTTP/1.1", HOST))
    assert status == 400, answer
    assert b"';'" in answer or b"path parameter" in answer, answer
    assert not [r for r in strict["rec"].take() if r]


def test_first_request_is_bounded_by_the_header_timeout(strict):
    # header_timeout is 1 s, idle_timeout 30 s: a connection that sends nothing closes after the
    # former (the sweep is accurate to a quarter second).
    s = socket.create_connection(("127.0.0.1", strict["cg"]), timeout=10)
    started = time.monotonic()
    try:
        data = s.recv(1024)
    except ConnectionResetError:
        data = b""
    except socket.timeout:
        data = b"(still open)"
    took = time.monotonic() - started
    s.close()
    assert took < 5, f"an idle new connection was held {took:.1f} s"
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
    # Between requests on a kept-alive connection, the idle timeout applies.
    s = socket.create_connection(("127.0.0.1", strict["cg"]), timeout=10)
    s.sendall(H("GET /healthz HTTP/1.1", HOST))
    first = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200"), first
    time.sleep(2.5)
    s.sendall(H("GET /healthz HTTP/1.1", HOST))
    second = s.recv(65536)
    s.close()
    assert second.startswith(b"HTTP/1.1 200"), second


# --- the proxy's I/O (issue 21): pooled connections, big bodies, writes -------------------

IO_SMALL = b"small-" + b"s" * 1180 + b"-END-OF-BODY"  # with its head, about the 1,263 bytes
IO_BIG = bytes(range(256)) * 4096  # 1 MiB


class ScriptedUpstream:
    """Keeps connections alive and answers by path, recording (connection number, method, path):
    /io/small a small body; /io/big 1 MiB with Content-Length; /io/big-chunked the same chunked in
    uneven pieces; /io/vanish closes the connection without an answer when it has answered
    before on it (a pooled connection closed under a request), answers 'fresh' otherwise;
    /io/linger answers, then closes the connection when `close_idle` is set."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.seen = []
        self.connections = 0
        self.close_idle, self.closed_idle = threading.Event(), threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
            threading.Thread(target=self._serve, args=(conn, n), daemon=True).start()

    @staticmethod
    def _answer(body, extra=""):
        return (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n{extra}"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def _serve(self, conn, n):
        data, answered = b"", 0
        try:
            while True:
                parsed = read_one_request(data)
                while parsed is None:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                    parsed = read_one_request(data)
                line, _, _, data = parsed
                method, path = line.split(" ")[:2]
                with self.lock:
                    self.seen.append((n, method, path))
                if path == "/io/vanish" and answered:
                    return
                if path == "/io/overlong":
                    # A short Content-Length: the rest looks like an answer to the next request.
                    conn.sendall(self._answer(b"short") + self._answer(b"SMUGGLED"))
                    answered += 1
                    continue
                if path == "/io/big":
                    conn.sendall(self._answer(IO_BIG))
                elif path == "/io/big-chunked":
                    out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    pos, step = 0, 1
                    while pos < len(IO_BIG):
                        piece = IO_BIG[pos:pos + step]
                        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
                        pos += len(piece)
                        step = step * 7 % 100003 + 1
                    conn.sendall(out + b"0\r\n\r\n")
                elif path == "/io/vanish":
                    conn.sendall(self._answer(b"fresh"))
                elif path == "/io/linger":
                    conn.sendall(self._answer(b"linger"))
                    self.close_idle.wait(10)
                    conn.close()
                    self.closed_idle.set()
                    return
                else:
                    conn.sendall(self._answer(IO_SMALL))
                answered += 1
        except OSError:
            pass
        finally:
            conn.close()

    def take(self):
        with self.lock:
            out, self.seen = self.seen, []
        return out

    def stop(self):
        self.sock.close()


def keepalive_exchange(port, *raws, timeout=5.0):
    """Sends each raw request on one client connection (the same worker thread, so the same
    upstream pool), reading each answer whole; returns [(status, head, body)]."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out, got = [], b""
    try:
        for raw in raws:
            s.sendall(raw)
            head_only = raw.startswith(b"HEAD ")
            while (b"\r\n\r\n" not in got) if head_only else (read_response(got) is None):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
            head, _, rest = got.partition(b"\r\n\r\n")
            m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
            n = 0 if head_only else int(m.group(1)) if m else len(rest)
            out.append((int(head[9:12] or 0), head.decode("latin-1"), rest[:n]))
            got = rest[n:]
    finally:
        s.close()
    return out


def dechunk(body):
    out = b""
    while True:
        eol = body.index(b"\r\n")
        size = int(body[:eol], 16)
        if size == 0:
            return out
        out += body[eol + 2:eol + 2 + size]
        body = body[eol + 2 + size + 2:]


def test_pooled_connection_closed_under_a_get_is_retried_once(strict):
    io = strict["io"]
    io.take()
    first, second = keepalive_exchange(strict["cg"], H("GET /io/small HTTP/1.1", HOST),
                                       H("GET /io/vanish HTTP/1.1", HOST))
    assert first[0] == 200 and first[2] == IO_SMALL, first
    assert second[0] == 200 and second[2] == b"fresh", second
    vanish = [s for s in io.take() if s[2] == "/io/vanish"]
    # Sent on the pooled connection (which the upstream closed), then once on a new one.
    assert len(vanish) == 2 and vanish[0][0] != vanish[1][0], vanish


def test_pooled_connection_closed_under_a_post_is_not_retried(strict):
    io = strict["io"]
    io.take()
    first, second = keepalive_exchange(
        strict["cg"], H("GET /io/small HTTP/1.1", HOST),
        H("POST /io/vanish HTTP/1.1", HOST, "Accept: application/json", "Content-Length: 0"))
    assert first[0] == 200, first
    assert second[0] == 502, second
    assert "http.upstream_protocol" in second[2].decode(), second
    # The operator's log says why it was not sent again (the client's page does not).
    assert "retried only when it is idempotent" not in second[2].decode()
    deadline = time.monotonic() + 5
    while "retried only when it is idempotent" not in strict["stack"].gateway_log():
        assert time.monotonic() < deadline, strict["stack"].gateway_log()[-2000:]
        time.sleep(0.05)
    assert [s[1:] for s in io.take() if s[2] == "/io/vanish"] == [("POST", "/io/vanish")]


def close_wait_sockets(port):
    """This host's TCP sockets to 127.0.0.1:`port` in CLOSE_WAIT (the peer closed, we did not)."""
    rows = pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]
    return [r for r in rows if r.split()[2].endswith(":%04X" % port) and r.split()[3] == "08"]


def test_idle_pooled_connection_closed_by_the_upstream_leaves_the_pool(strict):
    # The upstream closes a kept-alive connection while it is idle in the pool: the gateway
    # notices without a request (no CLOSE_WAIT socket stays), so even a POST gets a live one.
    io = strict["io"]
    io.take()
    io.close_idle.clear()
    io.closed_idle.clear()
    # /healthz after it on the same client connection: answered only once the proxied exchange
    # has ended, its upstream connection back in the pool.
    (status, _, body), (health, _, _) = keepalive_exchange(
        strict["cg"], H("GET /io/linger HTTP/1.1", HOST), H("GET /healthz HTTP/1.1", HOST))
    assert status == 200 and body == b"linger" and health == 200
    io.close_idle.set()
    assert io.closed_idle.wait(5)
    deadline = time.monotonic() + 5
    while close_wait_sockets(io.port):
        assert time.monotonic() < deadline, "the gateway kept a connection the upstream closed"
        time.sleep(0.02)
    (status, _, body), = keepalive_exchange(
        strict["cg"], H("POST /io/small HTTP/1.1", HOST, "Content-Length: 2", body=b"hi"))
    assert status == 200 and body == IO_SMALL, (status, body[:200])


def test_bytes_past_an_answers_end_never_become_the_next_answer(strict):
    # The upstream sends more than its Content-Length; the connection it left those bytes on is
    # not used again (each request on its own client connection, so another person's would be
    # the next on that upstream connection).
    io = strict["io"]
    io.take()
    first, second = keepalive_exchange(strict["cg"], H("GET /io/overlong HTTP/1.1", HOST),
                                       H("GET /io/small HTTP/1.1", HOST))
    assert first[0] == 200 and first[2] == b"short", first
    assert second[0] == 200 and second[2] == IO_SMALL, second
    seen = io.take()
    small = [n for n, _, path in seen if path == "/io/small"]
    overlong = [n for n, _, path in seen if path == "/io/overlong"]
    assert small and overlong and small[0] != overlong[0], seen  # a fresh upstream connection
    for _ in range(3):
        (again,) = keepalive_exchange(strict["cg"], H("GET /io/small HTTP/1.1", HOST))
        assert again[0] == 200 and again[2] == IO_SMALL and b"SMUGGLED" not in again[2], again


def test_big_bodies_arrive_byte_exact(strict):
    got = keepalive_exchange(strict["cg"], H("GET /io/big HTTP/1.1", HOST),
                             H("GET /io/big-chunked HTTP/1.1", HOST), H("HEAD /io/big HTTP/1.1", HOST),
                             H("GET /io/small HTTP/1.1", HOST))
    (s1, h1, b1), (s2, h2, b2), (s3, h3, b3), (s4, _, b4) = got
    assert s1 == 200 and f"content-length: {len(IO_BIG)}" in h1.lower() and b1 == IO_BIG, (s1, h1, len(b1))
    assert "transfer-encoding" not in h1.lower()
    assert s2 == 200 and "transfer-encoding: chunked" in h2.lower(), h2
    assert s3 == 200 and f"content-length: {len(IO_BIG)}" in h3.lower() and b3 == b"", (h3, b3[:100])
    # the connection still frames correctly after them
    assert s4 == 200 and b4 == IO_SMALL


def test_big_chunked_body_is_rechunked_byte_exact(strict):
    s = socket.create_connection(("127.0.0.1", strict["cg"]), timeout=10)
    s.sendall(H("GET /io/big-chunked HTTP/1.1", HOST, "Connection: close"))
    got = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower(), head
    assert dechunk(body) == IO_BIG


def test_answer_is_read_once_and_written_with_its_head_in_one_write(strict, tmp_path):
    # strace on the gateway: the upstream's ~1.2 KiB answer arrives in one read, goes to the
    # client as one write holding the head and the body, and no recv(MSG_PEEK) is made.
    io = strict["io"]
    pid = strict["stack"].gateway.pid
    keepalive_exchange(strict["cg"], H("GET /io/small HTTP/1.1", HOST))  # a pooled connection
    log = tmp_path / "strace.txt"
    threads = len(os.listdir(f"/proc/{pid}/task"))
    tracer = subprocess.Popen(["strace", "-f", "-v", "-s", "4096", "-o", str(log),
                               "-e", "trace=recvfrom,recvmsg,sendto,sendmsg,write,writev", "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # "Process N attached with T threads", or one line a thread.
        attached = 0
        while attached < threads:
            line = tracer.stderr.readline()
            assert line, "strace did not attach"
            m = re.search(r"attached with (\d+) threads", line)
            attached += int(m.group(1)) if m else "attached" in line
        (status, _, body), = keepalive_exchange(strict["cg"], H("GET /io/small HTTP/1.1", HOST))
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
    assert status == 200 and body == IO_SMALL
    trace = log.read_text()
    assert "MSG_PEEK" not in trace, trace[-3000:]
    reads = [ln for ln in trace.splitlines() if re.search(r"\brecv(from|msg)\(", ln) and "HTTP/1.1 200 OK" in ln]
    writes = [ln for ln in trace.splitlines() if re.search(r"\b(send(to|msg)|writev?)\(", ln) and "HTTP/1.1 200" in ln]
    assert len(reads) == 1 and "END-OF-BODY" in reads[0], reads
    assert len(writes) == 1 and "END-OF-BODY" in writes[0], writes
    io.take()
