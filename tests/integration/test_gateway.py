"""The gateway end to end: a real pysaml2 IdP signs people in, the gateway passes their identity
to a real upstream that echoes what it receives (examples/demo-upstream/echo_upstream.py)."""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import jwt
import pytest
import requests
from jwt.algorithms import ECAlgorithm

from conftest import claimgate_bin
from gateway_stack import DemoStack, free_port, parse_form, rss_kib

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    dead = free_port()  # nothing listens here
    s = DemoStack(tmp_path_factory.mktemp("gw"), claimgate_bin(), store="sqlite",
                  routes=None, extra_config=(
                      "upstream: {response_timeout: 2s, websocket_check: 1s}\n"
                      "limits: {header_bytes: 8KiB, body_bytes: 256KiB, header_timeout: 2s}\n"))
    # Routes beyond the default: a dead upstream and a public one.
    cfg = s.config.read_text().replace(
        "routes:\n",
        "routes:\n"
        f"  - {{name: dead, prefix: /dead/, upstream: \"http://127.0.0.1:{dead}\"}}\n"
        f"  - {{name: open, prefix: /open/, upstream: \"{s.upstream_url}\", public: true}}\n"
        f"  - {{name: ops-only, prefix: /ops/, upstream: \"{s.upstream_url}\", allow_groups: [devops-engineers]}}\n")
    s.config.write_text(cfg)
    s.stop_gateway()
    s.start_gateway()
    yield s
    s.stop()


def signed_in(stack, user="alice"):
    sess = requests.Session()
    r = stack.signin(sess, user, "/")
    assert r.status_code == 200, r.text[:500]
    return sess


def echo(stack, sess, path="/echo", headers=None):
    h = dict(JSON)
    h.update(headers or {})
    r = sess.get(stack.url + path, headers=h, timeout=10)
    assert r.status_code == 200, r.text[:300]
    return r.json()


def test_signin_passes_identity_headers_to_upstream(stack):
    sess = signed_in(stack)
    seen = echo(stack, sess)["headers"]
    assert seen["X-Claimgate-User"] == "alice"
    assert seen["X-Claimgate-Email"] == "alice@example.org"
    assert set(seen["X-Claimgate-Groups"].split(",")) == {"data-scientists", "ml-vision-ds"}
    assert seen["X-Forwarded-User"] == "alice"
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "http"
    # The session cookie is the gateway's: never passed upstream.
    assert "cg_session" not in seen.get("Cookie", "")


def test_identity_jwt_verifies_with_jwks(stack):
    sess = signed_in(stack, "bob")
    token = echo(stack, sess)["headers"]["X-Claimgate-Assertion"]
    jwks = requests.get(stack.url + "/.well-known/jwks.json", timeout=10).json()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"]
    key = ECAlgorithm.from_jwk(json.dumps(next(k for k in jwks["keys"] if k["kid"] == header["kid"])))
    claims = jwt.decode(token, key, algorithms=["ES256"], audience="demo-app", issuer=stack.url)
    assert claims["sub"] == "bob"
    assert "devops-engineers" in claims["groups"]
    assert 0 < claims["exp"] - claims["iat"] <= 300
    # A token changed by one character no longer verifies.
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=["ES256"], audience="demo-app")


def test_client_sent_identity_headers_are_stripped(stack):
    sess = signed_in(stack)
    seen = echo(stack, sess, headers={
        "X-Claimgate-User": "mallory", "x-claimgate-roles": "admin", "X-Claimgate-Assertion": "forged",
        "X-Forwarded-User": "mallory", "X-Forwarded-Email": "m@evil", "X-Forwarded-Groups": "admins",
        "X-Forwarded-Preferred-Username": "mallory", "Authorization": "Bearer stolen"})["headers"]
    assert seen["X-Claimgate-User"] == "alice"
    assert "X-Claimgate-Roles" not in seen  # alice has no roles yet; the forged one is gone
    assert seen["X-Forwarded-User"] == "alice"
    assert seen["X-Forwarded-Groups"] != "admins"
    assert "mallory" not in json.dumps(seen)
    assert "Authorization" not in seen
    # Also on a public route, with nobody signed in.
    anon = requests.get(stack.url + "/open/x", headers={**JSON, "X-Claimgate-User": "mallory",
                                                        "X-Forwarded-User": "mallory"}, timeout=10).json()
    assert "mallory" not in json.dumps(anon["headers"])


def test_unauthenticated_requests(stack):
    r = requests.get(stack.url + "/private?x=1", headers=JSON, timeout=10, allow_redirects=False)
    assert r.status_code == 401
    assert r.json()["signin_url"] == stack.url + "/saml/login?rd=%2Fprivate%3Fx%3D1"
    r = requests.get(stack.url + "/private", headers=HTML, timeout=10, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith("/saml/login?rd=")
    r = requests.get(stack.url + "/saml/login", timeout=10, allow_redirects=False)
    assert r.status_code == 302
    q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)
    assert set(q) >= {"SAMLRequest", "RelayState", "SigAlg", "Signature"}
    assert re.fullmatch(r"[0-9a-f]{32}", q["RelayState"][0])  # an opaque id, never a URL
    pending = r.headers["Set-Cookie"]
    assert "cg_session_pending=" in pending and "HttpOnly" in pending


def test_tampered_and_foreign_cookies_are_refused(stack):
    sess = signed_in(stack)
    good = sess.cookies.get("cg_session")
    kid, blob = good.split(".", 1)
    flipped = blob[:10] + ("A" if blob[10] != "A" else "B") + blob[11:]
    for value in (f"{kid}.{flipped}", "20200101T000000Z-0000." + blob, "garbage", "x" * 600):
        r = requests.get(stack.url + "/echo", headers=JSON, cookies={"cg_session": value}, timeout=10)
        assert r.status_code == 401, value
        assert "cg_session=;" in r.headers.get("Set-Cookie", "")  # the bad cookie is cleared
    assert "session cookie does not open" in stack.gateway_log()


def test_group_rule_allows_and_denies(stack):
    bob, alice = signed_in(stack, "bob"), signed_in(stack, "alice")
    assert bob.get(stack.url + "/ops/x", headers=JSON, timeout=10).status_code == 200
    r = alice.get(stack.url + "/ops/x", headers=HTML, timeout=10)
    assert r.status_code == 403
    assert "6507 gateway.forbidden" in r.text and "devops-engineers" in r.text


def test_logout_ends_session_here_and_at_idp(stack):
    sess = signed_in(stack, "carol")
    cookie = sess.cookies.get("cg_session")
    r = stack.signout(sess)
    assert r.status_code == 200 and "signed out here and at your identity provider" in r.text
    assert "/saml/slo?SAMLResponse=" in r.url and any("/slo?SAMLRequest=" in h.headers.get("Location", "") for h in r.history)
    r = requests.get(stack.url + "/echo", headers=JSON, cookies={"cg_session": cookie}, timeout=10)
    assert r.status_code == 401  # the same cookie replayed: its session is gone


def test_saml_response_cannot_be_used_twice_or_in_another_browser(stack):
    victim = requests.Session()
    acs, form = stack.saml_post(victim, "alice", "/")
    # Another browser (no pending-request cookie) posting alice's response: refused.
    r = requests.post(acs, data=form, headers=HTML, timeout=10)
    assert r.status_code == 400 and "6503 gateway.pending_cookie" in r.text
    # The pending request was consumed by that attempt: the real browser cannot reuse it either.
    r = victim.post(acs, data=form, headers=HTML, timeout=10)
    assert r.status_code == 400 and "6502 gateway.relay_state" in r.text


def test_tampered_response_page_shows_code_and_request_id(stack):
    sess = requests.Session()
    acs, form = stack.saml_post(sess, "alice", "/")
    xml = base64.b64decode(form["SAMLResponse"]).decode()
    form["SAMLResponse"] = base64.b64encode(xml.replace(">alice<", ">admin<").encode()).decode()
    r = sess.post(acs, data=form, headers=HTML, timeout=10)
    assert r.status_code == 403
    assert "Sign-in failed" in r.text and "signature" in r.text.lower()
    rid = r.headers["X-Request-Id"]
    assert rid in r.text
    assert f"request_id={rid}" in stack.gateway_log()


def test_idp_initiated_signin_is_off_by_default(stack):
    idp = stack.idps[0]
    u = stack.users["alice"]
    page = requests.post(idp.url + "/idp-initiated", data={
        "sp": stack.url + "/saml/metadata", "acs": stack.url + "/saml/acs",
        "username": "alice", "password": u["password"]}, timeout=10)
    acs, form = parse_form(page.text)
    r = requests.post(acs, data=form, headers=HTML, timeout=10)
    assert r.status_code == 400 and "6502 gateway.relay_state" in r.text


def test_return_path_must_be_same_origin(stack):
    sess = requests.Session()
    for rd in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = sess.get(stack.url + "/saml/login?rd=" + urllib.parse.quote(rd), headers=HTML, timeout=10)
        action, fields = parse_form(r.text)
        fields.update(username="alice", password=stack.users["alice"]["password"])
        acs, form = parse_form(sess.post(urllib.parse.urljoin(r.url, action), data=fields, timeout=10).text)
        done = sess.post(acs, data=form, allow_redirects=False, timeout=10)
        assert done.status_code == 303 and done.headers["Location"] == "/", rd


def test_whoami_shows_every_claim(stack):
    sess = signed_in(stack)
    who = sess.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=10).json()
    assert who["subject"] == "alice" and who["idp"] == "demo"
    names = {c["name"].rsplit(":", 1)[-1] for c in who["claims"]}
    assert {"uid", "mail", "displayName", "groups"} <= names
    assert {"email", "groups"} <= {c["alias"] for c in who["claims"]}
    assert who["session"]["idle_timeout_seconds"] == 3600
    page = sess.get(stack.url + "/.claimgate/whoami", headers=HTML, timeout=10)
    assert page.status_code == 200 and "ml-vision-ds" in page.text and "Alice Chen" in page.text


def test_websocket_round_trip_and_close_on_logout(stack):
    import websocket
    sess = signed_in(stack)
    cookie = "cg_session=" + sess.cookies.get("cg_session")
    ws = websocket.create_connection(stack.url.replace("http", "ws") + "/ws", header=[f"Cookie: {cookie}"],
                                     subprotocols=["jupyter"], timeout=10)
    ws.send("hello")
    assert ws.recv() == "hello"
    ws.send_binary(b"\x00\x01\x02" * 1000)
    assert ws.recv() == b"\x00\x01\x02" * 1000
    ws.send("whoami")
    assert ws.recv() == "alice"  # the upstream saw the identity at the upgrade
    assert ws.subprotocol == "jupyter"
    # Sign out in another request: the tunnel is closed with 1008 (policy violation).
    stack.signout(sess, allow_redirects=False)
    opcode, frame = ws.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == 1008
    ws.close()
    # Without a session the upgrade is not even tried.
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(stack.url.replace("http", "ws") + "/ws", timeout=10)
    assert e.value.status_code == 401


def test_server_sent_events_are_not_buffered(stack):
    sess = signed_in(stack)
    with sess.get(stack.url + "/events", headers={"Accept": "text/event-stream"}, stream=True, timeout=10) as r:
        lines = r.iter_lines()
        assert next(lines) == b"data: one"
        # The upstream sends "two" only after this request: "one" arrived while it waited.
        sess.get(stack.url + "/events/release", headers=JSON, timeout=10)
        rest = [l for l in lines if l]
        assert rest == [b"data: two"]


def test_one_gib_upload_and_download_stream_in_flat_memory(stack):
    sess = signed_in(stack)
    pid = stack.gateway.pid
    size = 1 << 30
    block = bytes(range(256)) * 4096  # 1 MiB
    samples = [rss_kib(pid)]
    expected = hashlib.sha256()

    def body():
        for i in range(size // len(block)):
            expected.update(block)
            if i % 128 == 0:
                samples.append(rss_kib(pid))
            yield block

    r = sess.post(stack.url + "/upload", data=body(), headers=JSON, timeout=600)
    assert r.status_code == 200, r.text[:300]
    got = r.json()
    assert got["body_bytes"] == size and got["sha256"] == expected.hexdigest()
    up_peak = max(samples) - samples[0]

    samples = [rss_kib(pid)]
    n = 0
    with sess.get(stack.url + "/download?bytes=%d" % size, headers=JSON, stream=True, timeout=600) as d:
        assert d.headers["Content-Length"] == str(size)
        for i, chunk in enumerate(d.iter_content(1 << 20)):
            n += len(chunk)
            if i % 128 == 0:
                samples.append(rss_kib(pid))
    assert n == size
    down_peak = max(samples) - samples[0]
    print(f"\ngateway RSS growth while streaming 1 GiB: upload {up_peak} KiB, download {down_peak} KiB "
          f"(RSS now {rss_kib(pid)} KiB)")
    assert up_peak < 64 * 1024 and down_peak < 64 * 1024


def test_chunked_download_and_expect_continue(stack):
    sess = signed_in(stack)
    r = sess.get(stack.url + "/download?bytes=300000&chunked=1", timeout=30)
    assert len(r.content) == 300000 and r.headers.get("Transfer-Encoding") == "chunked"
    cookie = "cg_session=" + sess.cookies.get("cg_session")
    out = subprocess.run(["curl", "-s", "-S", "-H", "Expect: 100-continue", "-H", "Accept: application/json",
                          "-H", f"Cookie: {cookie}", "--data-binary", "@-", stack.url + "/upload"],
                         input=b"x" * 2_000_000, capture_output=True, timeout=60)
    assert json.loads(out.stdout)["body_bytes"] == 2_000_000


def test_dead_and_slow_upstreams(stack):
    sess = signed_in(stack)
    r = sess.get(stack.url + "/dead/x", headers=HTML, timeout=10)
    assert r.status_code == 502 and "http.upstream_connect" in r.text
    r = sess.get(stack.url + "/slow?seconds=4", headers=JSON, timeout=20)
    assert r.status_code == 504 and r.json()["error"] == "http.upstream_timeout"
    assert sess.get(stack.url + "/echo", headers=JSON, timeout=10).status_code == 200
    assert requests.get(stack.url + "/healthz", timeout=10).text == "ok\n"


def raw(stack, data, wait=10):
    with socket.create_connection(("127.0.0.1", stack.port), timeout=wait) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out


def test_bad_http_gets_clear_answers_and_the_gateway_stays_up(stack):
    assert raw(stack, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431")
    assert raw(stack, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(stack, b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(stack, b"GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(stack, b"GET /a%5cb HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")
    # A slow client that never finishes its header: 408 after header_timeout (2s here).
    t = time.monotonic()
    assert raw(stack, b"GET / HTTP/1.1\r\nHost: x\r\n", wait=15).startswith(b"HTTP/1.1 408")
    assert time.monotonic() - t < 10
    # An ACS body over limits.body_bytes: 413.
    big = raw(stack, b"POST /saml/acs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 1000000\r\n\r\n" + b"a" * 1000)
    assert big.startswith(b"HTTP/1.1 413")
    assert requests.get(stack.url + "/healthz", timeout=10).status_code == 200
    assert stack.gateway.poll() is None


def test_metrics_and_readiness(stack):
    signed_in(stack)
    m = requests.get(stack.diag_url + "/metrics", timeout=10).text
    assert 'claimgate_signins_total{idp="demo",result="success",code=""}' in m
    assert 'claimgate_http_requests_total{route="demo-app",status="200"}' in m
    assert "claimgate_upstream_latency_seconds_bucket" in m
    assert re.search(r'claimgate_certificate_expiry_days\{use="sp-signing".*\} 36[0-9]\.', m)
    assert re.search(r"claimgate_sessions_active \d+", m)
    assert requests.get(stack.diag_url + "/readyz", timeout=10).status_code == 200


def test_sessions_survive_a_restart_with_sqlite(stack):
    sess = signed_in(stack)
    assert stack.stop_gateway() == 0
    stack.start_gateway()
    assert echo(stack, sess)["headers"]["X-Claimgate-User"] == "alice"


def test_sigterm_lets_in_flight_requests_finish(stack):
    sess = signed_in(stack)
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=sess.get(stack.url + "/slow?seconds=1.5", headers=JSON, timeout=20)))
    t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the slow request is inside the gateway
        m = requests.get(stack.diag_url + "/metrics", timeout=5).text
        if "claimgate_requests_in_flight 1" in m:  # (scrapes are on the diagnostics listener)
            break
    stack.gateway.send_signal(signal.SIGTERM)
    t.join(20)
    assert result["r"].status_code == 200
    assert stack.gateway.wait(20) == 0
    stack.start_gateway()


@pytest.fixture(scope="module")
def two_idps(tmp_path_factory):
    s = DemoStack(tmp_path_factory.mktemp("two"), claimgate_bin(), idps=("corp", "partner"), store="memory")
    yield s
    s.stop()


def test_two_idps_chooser_and_signin(two_idps):
    page = requests.get(two_idps.url + "/saml/login?rd=/x", headers=HTML, timeout=10)
    assert page.status_code == 200 and "idp=corp" in page.text and "idp=partner" in page.text
    sess = requests.Session()
    r = two_idps.signin(sess, "bob", "/x", idp="partner")
    assert r.status_code == 200
    who = sess.get(two_idps.url + "/.claimgate/whoami", headers=JSON, timeout=10).json()
    assert who["idp"] == "partner" and who["idp_entity_id"] == two_idps.idps[1].url + "/metadata"
    r = requests.get(two_idps.url + "/saml/login?idp=nope", headers=HTML, timeout=10)
    assert r.status_code == 400 and "6501 gateway.unknown_idp" in r.text


def test_idp_initiated_logout_ends_the_session(stack):
    """The IdP signs a LogoutRequest (HTTP-Redirect) for alice's session index; the gateway ends
    that session and answers with a LogoutResponse to the IdP."""
    from saml2 import BINDING_HTTP_REDIRECT, xmldsig
    from saml2.saml import NAMEID_FORMAT_UNSPECIFIED, NameID

    sess = signed_in(stack, "alice")
    who = sess.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=10).json()
    assert who["subject"] == "alice"
    server = stack.idps[0].saml_server(stack)
    index = demo_idp_session_index(stack, "alice")
    req_id, req = server.create_logout_request(
        stack.url + "/saml/slo", server.config.entityid,
        name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text="alice"), session_indexes=[index])
    info = server.apply_binding(BINDING_HTTP_REDIRECT, str(req), stack.url + "/saml/slo", "relay-1",
                                sign=True, sigalg=xmldsig.SIG_RSA_SHA256)
    location = dict(info["headers"])["Location"]
    r = requests.get(location, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text[:300]
    back = urllib.parse.urlparse(r.headers["Location"])
    assert back.path == "/slo" and "SAMLResponse=" in back.query and "RelayState=relay-1" in back.query
    assert sess.get(stack.url + "/echo", headers=JSON, timeout=10).status_code == 401
    # The same request without its signature is refused.
    unsigned = server.apply_binding(BINDING_HTTP_REDIRECT, str(req), stack.url + "/saml/slo", "x", sign=False)
    r = requests.get(dict(unsigned["headers"])["Location"], headers=HTML, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "4034 binding.signature" in r.text


def demo_idp_session_index(stack, user):
    """The session index the gateway stored for `user` (from the SQLite store)."""
    import sqlite3
    db = sqlite3.connect(stack.dir / "state.db")
    try:
        rows = db.execute("SELECT session_index FROM sessions WHERE subject = ? ORDER BY last_seen_ms DESC",
                          (user,)).fetchall()
    finally:
        db.close()
    assert rows
    return rows[0][0]


def test_sp_metadata_is_served(stack):
    r = requests.get(stack.url + "/saml/metadata", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/samlmetadata+xml"
    assert f'Location="{stack.url}/saml/acs"' in r.text
