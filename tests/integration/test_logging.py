"""The operator log (docs/logging.md) through a real gateway, in both formats: hostile values from
a real pysaml2 IdP (NameID, attribute), a header and a path cannot forge a line or a field; the
W3C trace context is continued, replaced or started, reaches the echo upstream, and names every
log line and audit record of its request; no secret reaches the log."""
import base64
import json
import re
import socket
import time
import urllib.parse

import pytest
import requests

from conftest import claimgate_bin, run
from gateway_stack import DemoStack
from test_tokens import device_login

JSON = {"Accept": "application/json"}
# A newline and a fake record of each format, the Unicode line separator, a bidi override.
FAKE = ('\n{"time":"2026-12-04T00:00:00.000000Z","level":"error","event":"forged-json"}\n'
        '2026-12-04T00:00:00.000000Z ERROR gateway forged-text user=admin\u2028\u202e')
VALID_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VALID = f"00-{VALID_TRACE}-00f067aa0ba902b7-01"
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (DEBUG|INFO |WARN |ERROR) [a-z-]+ ")


ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}


def unescape(line, i):
    """The character of the logger's escape at line[i] (just after a backslash), and the index
    after it: \\n \\r \\t \\\\ \\" \\xNN \\uNNNN."""
    c = line[i]
    if c == "x":
        return chr(int(line[i + 1:i + 3], 16)), i + 3
    if c == "u":
        return chr(int(line[i + 1:i + 5], 16)), i + 5
    return ESCAPES.get(c, c), i + 1


def logfmt(line):
    """The fields of a text record as a logfmt reader finds them (key=value, values in double
    quotes, the logger's escapes decoded); words that are not key=value are skipped."""
    out, i = {}, 0
    while i < len(line):
        while i < len(line) and line[i] == " ":
            i += 1
        start = i
        while i < len(line) and line[i] not in ' ="':
            i += 1
        key = line[start:i]
        if i < len(line) and line[i] == "=":
            i += 1
            value = ""
            if i < len(line) and line[i] == '"':
                i += 1
                while i < len(line) and line[i] != '"':
                    if line[i] == "\\":
                        ch, i = unescape(line, i + 1)
                        value += ch
                    else:
                        value += line[i]
                        i += 1
                i += 1
            else:
                while i < len(line) and line[i] != " ":
                    if line[i] == "\\":
                        ch, i = unescape(line, i + 1)
                        value += ch
                    else:
                        value += line[i]
                        i += 1
            if key in out:
                out.setdefault("__twice__", []).append(key)
            else:
                out[key] = value
        elif i < len(line) and line[i] == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
        else:
            i += 1
    return out


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"a key twice: {keys}"
    return dict(pairs)


@pytest.fixture(scope="module", params=["json", "text"])
def stack(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("logging-" + request.param)
    s = DemoStack(d, claimgate_bin(), store="memory",
                  extra_config=f"log: {{format: {request.param}}}\n"
                               "audit: {path: audit/audit.jsonl, flush_interval: 5ms}\n")
    s.format = request.param
    yield s
    s.stop()


def raw_lines(stack):
    return (stack.dir / "gateway.log").read_bytes().split(b"\n")[:-1]


def records(stack):
    """Every line of the gateway's log as a record (dict): each must be exactly one JSON object
    (json), or one record that starts with the time, level and component (text)."""
    out = []
    for raw in raw_lines(stack):
        line = raw.decode("utf-8")  # valid UTF-8 whatever the values held
        assert "\u2028" not in line and "\u2029" not in line and "\x1b" not in line, line
        assert not any(ord(c) < 0x20 for c in line), line
        if stack.format == "json":
            rec = json.loads(line, object_pairs_hook=no_duplicate_keys)
            assert isinstance(rec, dict), line
            assert {"time", "level", "component", "event"} <= set(rec), line
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", rec["time"]), line
        else:
            m = TEXT_LINE.match(line)
            assert m, line
            rec = logfmt(line)
            first = line[m.end():].split(" ", 1)[0]
            rec["event"] = first if re.fullmatch(r"[a-z0-9_.]+", first) else "message"
            # An event's record has each key once: a value never adds one.
            assert rec["event"] == "message" or "__twice__" not in rec, line
        out.append(rec)
    return out


def wait_for(stack, pred, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        got = [r for r in records(stack) if pred(r)]
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def audit_records(stack, pred, timeout=10):
    path = stack.dir / "audit" / "audit.jsonl"
    deadline = time.monotonic() + timeout
    while True:
        got = [json.loads(l) for l in path.read_text().split("\n") if l.strip()]
        got = [r for r in got if pred(r)]
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def hostile_signin(stack):
    """Signs in with a NameID and a groups attribute that the pysaml2 IdP signs, each holding a
    newline, fake records of both formats and Unicode line/bidi controls."""
    from saml2 import saml, xmldsig
    from saml2.saml import NAMEID_FORMAT_UNSPECIFIED, NameID
    server = stack.idps[0].saml_server(stack)
    name_id = "mallory" + FAKE
    sess = requests.Session()
    r = sess.get(stack.url + "/saml/login?rd=/echo", allow_redirects=False, timeout=15)
    assert r.status_code == 302, r.text
    q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)
    req = server.parse_authn_request(q["SAMLRequest"][0])
    resp = server.create_authn_response(
        {"uid": ["mallory"], "groups": ["ml-vision-ds" + FAKE]}, in_response_to=req.message.id,
        destination=stack.url + "/saml/acs", sp_entity_id=stack.url + "/saml/metadata",
        name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=name_id),
        authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED}, sign_response=False, sign_assertion=True,
        sign_alg=xmldsig.SIG_RSA_SHA256, digest_alg=xmldsig.DIGEST_SHA256)
    form = {"SAMLResponse": base64.b64encode(str(resp).encode()).decode(), "RelayState": q["RelayState"][0]}
    r = sess.post(stack.url + "/saml/acs", data=form, headers=JSON, allow_redirects=False, timeout=15)
    assert r.status_code == 303, r.text[:500]
    return sess, name_id, form["SAMLResponse"]


def upstream_headers(r):
    """The header fields the echo upstream received, names in lower case."""
    return {k.lower(): v for k, v in r.json()["headers"].items()}


def raw_request(stack, request_bytes):
    """Sends bytes as they are (requests would refuse or encode them) and returns the answer."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as c:
        c.sendall(request_bytes)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_hostile_values_cannot_forge_a_line_or_a_field(stack):
    before = len(raw_lines(stack))
    # 1. A NameID and an attribute from the IdP.
    sess, name_id, _ = hostile_signin(stack)
    signins = wait_for(stack, lambda r: r["event"] == "signin.ok" and "mallory" in r.get("subject", ""))
    assert len(signins) == 1, signins
    assert signins[0]["subject"] == name_id  # the whole value, decoded back, in its own field
    assert sess.get(stack.url + "/echo", headers=JSON, timeout=10).status_code == 200
    # 2. A path a client chose: an encoded newline, a fake JSON member, a fake field.
    r = requests.get(stack.url + '/x%0a%7b%22event%22:%22forged%22%7d%20status=200%e2%80%a8', headers=JSON,
                     timeout=10)
    rid = r.headers["X-Request-Id"]
    access = wait_for(stack, lambda x: x["event"] == "request" and x.get("request_id") == rid)
    assert len(access) == 1, access
    assert access[0]["status"] in (r.status_code, str(r.status_code))
    assert "forged" in access[0]["path"] and "status=200" in access[0]["path"]
    # 3. A header: forward-auth's original method with a tab, invalid UTF-8, U+2028 and a fake
    # record (refused, and the refusal names the value), and one with an ESC (refused by the
    # HTTP parser, which names the byte).
    hostile = b"GET\t\xff\xfe\xe2\x80\xa8}{event:forged}"
    raw = raw_request(stack, b"GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Original-Method: " + hostile +
                             b"\r\nX-Forwarded-Host: 127.0.0.1\r\nX-Original-URI: /echo"
                             b"\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400"), raw[:200]
    rid = re.search(rb"X-Request-Id: (\w+)", raw).group(1).decode()
    refused = wait_for(stack, lambda x: x.get("request_id") == rid and x["event"] == "forward_auth.refused")
    assert len(refused) == 1, refused
    assert "}{event:forged}" in refused[0]["message"] and "\u2028" in refused[0]["message"], refused
    raw = raw_request(stack, b"GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Original-Method: GET\r\n"
                             b"X-Original-URI: /a/\x1b[2J" + hostile + b"\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400"), raw[:200]
    assert wait_for(stack, lambda x: x["event"] == "http.rejected" and "0x1b" in x.get("reason", ""))
    # 4. Raw bytes in the request line (ESC, invalid UTF-8, U+2028): whatever the strict parser
    # makes of them, the lines stay records.
    raw = raw_request(stack, b"GET /y\x1b[2J\xff\xfe\xe2\x80\xa8%0a{\"event\":\"forged\"} HTTP/1.1\r\n"
                             b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 4"), raw[:200]
    # Every new line is one record, and none of them is a forged one.
    new = records(stack)[before:]
    assert new
    assert not [x for x in new if x["event"] in ("forged", "forged-json", "forged-text")], new
    assert not [x for x in new if x.get("user") == "admin" and x["event"] != "request"], new


def test_a_valid_traceparent_is_continued_upstream_in_the_log_and_the_audit(stack):
    sess = requests.Session()
    assert stack.signin(sess, "alice", "/").status_code == 200
    r = sess.get(stack.url + "/echo", headers=dict(JSON, traceparent=VALID, tracestate="congo=t61rcWkgMzE"),
                 timeout=10)
    assert r.status_code == 200, r.text[:300]
    up = upstream_headers(r)
    sent = up["traceparent"]
    m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", sent)
    assert m and m.group(1) == VALID_TRACE, sent
    assert m.group(2) != "00f067aa0ba902b7" and m.group(2) != "0" * 16  # the gateway's own span
    assert up["tracestate"] == "congo=t61rcWkgMzE"
    rid = r.headers["X-Request-Id"]
    lines = wait_for(stack, lambda x: x.get("request_id") == rid)
    assert lines and all(x.get("trace_id") == VALID_TRACE for x in lines), lines
    allow = audit_records(stack, lambda a: a.get("request_id") == rid)
    assert allow and all(a.get("trace_id") == VALID_TRACE for a in allow), allow


@pytest.mark.parametrize("bad", [
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # a version not understood
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x\u2028",  # extra text
])
def test_an_invalid_traceparent_is_replaced(stack, bad):
    sess = requests.Session()
    assert stack.signin(sess, "alice", "/").status_code == 200
    r = sess.get(stack.url + "/echo", headers={"Accept": "application/json", "traceparent": bad.encode(),
                                                "tracestate": "congo=t61rcWkgMzE"}, timeout=10)
    assert r.status_code == 200, r.text[:300]
    up = upstream_headers(r)
    m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-00", up["traceparent"])
    assert m, up["traceparent"]
    new_trace = m.group(1)
    assert new_trace.lower() != VALID_TRACE and new_trace != "0" * 32
    assert "tracestate" not in up  # it belonged to the traceparent that was refused
    rid = r.headers["X-Request-Id"]
    lines = wait_for(stack, lambda x: x.get("request_id") == rid)
    assert lines and all(x.get("trace_id") == new_trace for x in lines), lines
    assert audit_records(stack, lambda a: a.get("request_id") == rid and a.get("trace_id") == new_trace)


def test_two_traceparents_are_replaced(stack):
    sess = requests.Session()
    assert stack.signin(sess, "alice", "/").status_code == 200
    cookie = sess.cookies.get("cg_session")
    raw = raw_request(stack, (f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\nAccept: application/json\r\n"
                              f"Cookie: cg_session={cookie}\r\ntraceparent: {VALID}\r\n"
                              f"traceparent: {VALID}\r\nConnection: close\r\n\r\n").encode())
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    rid = re.search(rb"X-Request-Id: (\w+)", raw).group(1).decode()
    lines = wait_for(stack, lambda x: x.get("request_id") == rid)
    assert lines and all(len(x.get("trace_id", "")) == 32 and x["trace_id"] != VALID_TRACE for x in lines), lines


def test_no_traceparent_starts_one_and_forward_auth_returns_it(stack):
    sess = requests.Session()
    assert stack.signin(sess, "alice", "/").status_code == 200
    r = sess.get(stack.url + "/echo", headers=JSON, timeout=10)
    up = upstream_headers(r)
    m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-00", up["traceparent"])
    assert m, up
    rid = r.headers["X-Request-Id"]
    lines = wait_for(stack, lambda x: x.get("request_id") == rid and x["event"] == "request")
    assert lines and lines[0]["trace_id"] == m.group(1), lines
    # Forward-auth (nginx auth_request): the answer names the trace for the front proxy.
    a = sess.get(stack.url + "/auth", headers={"X-Original-Method": "GET", "X-Original-URI": "/echo",
                                               "X-Forwarded-Host": "127.0.0.1", "traceparent": VALID}, timeout=10)
    assert a.status_code == 200, a.text
    assert a.headers["X-Claimgate-Trace-Id"] == VALID_TRACE
    tp = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", a.headers["traceparent"])
    assert tp and tp.group(1) == VALID_TRACE and tp.group(2) != "00f067aa0ba902b7"
    denied = requests.get(stack.url + "/auth", headers={"X-Original-Method": "GET", "X-Original-URI": "/echo",
                                                        "X-Forwarded-Host": "127.0.0.1"}, timeout=10)
    assert denied.status_code == 401
    assert re.fullmatch(r"[0-9a-f]{32}", denied.headers["X-Claimgate-Trace-Id"])
    rid = a.headers["X-Request-Id"]
    assert audit_records(stack, lambda x: x.get("request_id") == rid and x.get("trace_id") == VALID_TRACE)


def test_no_secret_reaches_the_log(stack):
    sess = requests.Session()
    r = stack.signin(sess, "bob", "/")
    assert r.status_code == 200
    cookie = sess.cookies.get("cg_session")
    _, _, saml_response = hostile_signin(stack)
    tokens = device_login(stack, "carol")
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    assert requests.get(stack.url + "/echo", headers=dict(JSON, Authorization="Bearer " + access),
                        timeout=10).status_code == 200
    assert requests.get(stack.url + "/echo", headers=dict(JSON, Authorization="Bearer " + access[:-4] + "AAAA"),
                        timeout=10).status_code == 401
    rotated = requests.post(stack.url + "/.claimgate/cli/token",
                            data={"grant_type": "refresh_token", "refresh_token": refresh}, timeout=10)
    assert rotated.status_code == 200, rotated.text
    wait_for(stack, lambda x: x["event"] == "token.refused")
    text = (stack.dir / "gateway.log").read_text(errors="replace")
    for secret in (cookie, access, refresh, rotated.json()["refresh_token"], saml_response[:40]):
        assert secret and secret not in text
    assert stack.users["bob"]["password"] not in text
    assert "eyJ" not in text  # no JWT of any kind
    assert "SAMLResponse" not in text and "<saml" not in text.lower()


def test_audit_verify_and_report_read_records_with_and_without_trace_ids(stack):
    # Records of no request (gateway.started) have none, the request's have one: the chain is
    # one, and `audit report` reads it.
    recs = [json.loads(l) for l in (stack.dir / "audit" / "audit.jsonl").read_text().split("\n") if l]
    assert any("trace_id" in r for r in recs) and any("trace_id" not in r for r in recs)
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["trace_id"]) for r in recs if "trace_id" in r)
    v = run(["audit", "verify", "--config", str(stack.config)])
    assert v.returncode == 0 and re.search(r"^OK: \d+ records", v.stdout, re.M), v.stdout + v.stderr
    rep = run(["audit", "report", "--config", str(stack.config), "--since", "1d", "--format", "json"])
    assert rep.returncode == 0, rep.stderr
    assert json.loads(rep.stdout)["chain"]["intact"] is True
