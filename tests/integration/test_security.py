"""Security regressions, end to end (issue 19): the gateway with the example policy, a real
pysaml2 IdP and a recording upstream. Each test is one class of hole found when the gateway was
attacked; it names the finding it covers.

  2  no request value reaches a response header unvalidated (cli/authorize, WWW-Authenticate)
  3  forward-auth matches host routes (X-Forwarded-Host is read before it is stripped)
  4  forward-auth reads only the configured front proxy's headers; a missing one is a 400
  7  a project-scoped admin revokes nobody; global permissions need a global role
  8  a route whose service needs a person cannot be public (check refuses the config)
 10  route prefixes match whole segments
 11  JSON-only endpoints parse the media type; cross-site state changes are refused
 12  `claimgate login` needs the person's consent on a page that names what is granted
"""
import base64
import http.client
import http.server
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
import urllib.parse

import pytest
import requests

from conftest import ROOT, claimgate_bin
from gateway_stack import DemoStack, parse_form

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"
# frank (group ml-nlp-ds) is also admin of project sandbox, and of nothing else.
SANDBOX_ADMIN = "  - {claim: groups, equals: ml-nlp-ds, role: admin, project: sandbox}\n"
# The /app route (strip_prefix) and a path that only looks like it.
APP_RULES = ('  - {path: "/app", signed_in: true}\n  - {path: "/app/{rest*}", signed_in: true}\n'
             '  - {path: "/appadmin/{rest*}", signed_in: true}\n')


class Recorder(http.server.BaseHTTPRequestHandler):
    """An upstream that answers every request with what it received (JSON)."""
    seen = []

    def log_message(self, *a):
        pass

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        info = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                "body": body.decode(errors="replace")}
        Recorder.seen.append(info)
        out = json.dumps(info).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = answer


@pytest.fixture(scope="module")
def upstream():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, upstream):
    d = tmp_path_factory.mktemp("security")
    policy = d / "policy-source.yaml"
    policy.write_text(POLICY.read_text().replace("bindings:\n", "bindings:\n" + SANDBOX_ADMIN, 1)
                      .replace("rules:\n", "rules:\n" + APP_RULES, 1))
    routes = [
        # Only DevOps may use admin.example, whatever the path.
        {"name": "admin-host", "host": "admin.example", "prefix": "/", "upstream": upstream,
         "allow_groups": ["devops-engineers"]},
        {"name": "app", "prefix": "/app", "upstream": upstream, "strip_prefix": True},
        {"name": "main", "prefix": "/", "upstream": upstream},
    ]
    s = DemoStack(d, claimgate_bin(), store="memory", policy=policy, routes=routes)
    s.people = {}
    for user in ("alice", "bob", "carol", "erin", "frank"):
        sess = requests.Session()
        s.signin(sess, user, "/")
        s.people[user] = sess
    yield s
    s.stop()


def check_config(directory, text):
    cfg = directory / "check-public.yaml"
    cfg.write_text(text)
    return subprocess.run([claimgate_bin(), "check", "--config", str(cfg)], capture_output=True,
                          text=True, timeout=60)


# ---- 2: response splitting

def test_cli_authorize_never_pastes_the_redirect_uri(stack):
    s = stack.people["alice"]
    challenge = "a" * 43
    for redirect in ["http://127.0.0.1:49152/cb\r\nSet-Cookie: cg_session=attacker",
                     "http://127.0.0.1:49152/cb%0d%0aSet-Cookie:%20cg_session=attacker",
                     "http://127.0.0.1:49152/cb?x=1", "http://localhost:49152/cb",
                     "http://127.0.0.1.evil.example:80/cb", "http://127.0.0.1:80@evil.example/cb",
                     "http://127.0.0.1/cb"]:
        q = urllib.parse.urlencode({"redirect_uri": redirect, "state": "s", "code_challenge": challenge,
                                    "code_challenge_method": "S256", "client": "laptop"})
        r = s.get(stack.url + "/.claimgate/cli/authorize?" + q, headers=HTML, allow_redirects=False, timeout=15)
        assert r.status_code == 400, (redirect, r.status_code)
        assert "Location" not in r.headers and "attacker" not in r.headers.get("Set-Cookie", "")
        assert "127.0.0.1:&lt;port&gt;" in r.text or "127.0.0.1:<port>" in r.text
    # A state with a CR/LF is refused too (it goes into the Location).
    q = urllib.parse.urlencode({"redirect_uri": "http://127.0.0.1:49152/cb", "state": "s\r\nX-Evil: 1",
                                "code_challenge": challenge, "code_challenge_method": "S256"})
    r = s.get(stack.url + "/.claimgate/cli/authorize?" + q, headers=HTML, allow_redirects=False, timeout=15)
    assert r.status_code == 400 and "X-Evil" not in r.headers


def raw_request(port, text):
    with socket.create_connection(("127.0.0.1", port), timeout=15) as c:
        c.sendall(text.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    return head.split("\r\n")


def test_token_header_fields_are_never_reflected_into_www_authenticate(stack):
    header = {"alg": "ES256", "kid": "k\r\nSet-Cookie: cg_session=attacker", "typ": "JWT"}

    def enc(o):
        return base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()

    for alg in ("ES256", "none\r\nX-Evil: 1"):
        h = dict(header, alg=alg)
        t = enc(h) + "." + enc({"sub": "x"}) + ".AAAA"
        lines = raw_request(stack.port, f"GET /api/projects/vision/jobs HTTP/1.1\r\nHost: x\r\n"
                                        f"Accept: application/json\r\nAuthorization: Bearer {t}\r\n"
                                        "Connection: close\r\n\r\n")
        assert lines[0].startswith("HTTP/1.1 401"), lines
        names = [line.split(":", 1)[0].lower() for line in lines[1:]]
        assert "set-cookie" not in names and "x-evil" not in names, lines
        www = [line for line in lines if line.lower().startswith("www-authenticate:")]
        assert len(www) == 1 and "\r" not in www[0]


# ---- 3 and 4: forward-auth decides what the proxy decides

def as_host(session, url, host):
    """GET `url` with another Host header (requests would then not send the jar's cookies)."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    return requests.get(url, headers={**JSON, "Host": host, "Cookie": cookie}, timeout=15)


def auth(session, stack, headers):
    return session.get(stack.url + "/auth", headers={**JSON, **headers}, timeout=15)


def test_forward_auth_and_the_proxy_decide_host_routes_alike(stack):
    alice, bob = stack.people["alice"], stack.people["bob"]
    # GET / needs only a sign-in under the policy; the admin.example route needs DevOps.
    nginx = {"X-Original-Method": "GET", "X-Original-URI": "/", "X-Forwarded-Host": "admin.example"}
    assert auth(alice, stack, nginx).status_code == 403
    assert auth(bob, stack, nginx).status_code == 200
    assert auth(alice, stack, dict(nginx, **{"X-Forwarded-Host": "Admin.Example.:443"})).status_code == 403
    # The proxy says the same for the same host.
    assert as_host(alice, stack.url + "/", "admin.example").status_code == 403
    assert as_host(bob, stack.url + "/", "admin.example").status_code == 200
    assert alice.get(stack.url + "/", headers=JSON, timeout=15).status_code == 200


def test_forward_auth_never_defaults_what_it_decides(stack):
    carol = stack.people["carol"]  # a viewer
    full = {"X-Original-Method": "GET", "X-Original-URI": "/", "X-Forwarded-Host": "ml.example.org"}
    assert auth(carol, stack, full).status_code == 200
    for missing in full:
        r = auth(carol, stack, {k: v for k, v in full.items() if k != missing})
        assert r.status_code == 400 and r.json()["error"] == "gateway.forward_auth_request", r.text
        assert missing in r.json()["message"]
    # A target that only normalises to /auth is not read as one (and decides nothing).
    # (http.client sends the target as written; requests would decode %61.)
    cookie = "; ".join(f"{c.name}={c.value}" for c in carol.cookies)
    for odd in ("/%61uth", "//auth", "/x/../auth"):
        conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=15)
        conn.request("GET", odd, headers={**JSON, **full, "Cookie": cookie})
        got = conn.getresponse()
        body = got.read().decode()
        conn.close()
        assert got.status == 400 and "gateway.forward_auth_request" in body, (odd, got.status, body)
    # An original path that is not in normalised form is refused, never decided as its
    # normalised form (the front proxy passes the raw URI upstream).
    for raw in ("/api/audit/%2e%2e/x", "/api/audit/../static/x", "/static//x"):
        r = auth(carol, stack, {**full, "X-Original-URI": raw})
        assert r.status_code == 403 and r.json()["error"] == "gateway.forward_auth_request", (raw, r.text)
    # Methods are spelt as the proxy path admits them.
    for m in ("delete", "G3T", "GET /x"):
        r = auth(carol, stack, {**full, "X-Original-Method": m})
        assert r.status_code == 400, (m, r.text)
    # The client's own copy of another proxy's headers changes nothing (nginx mode reads
    # X-Original-*): the audit API stays refused to a viewer.
    r = auth(carol, stack, {**full, "X-Original-URI": "/api/audit/x", "X-Forwarded-Uri": "/static/x",
                            "X-Envoy-Original-Path": "/static/x"})
    assert r.status_code == 403, r.text


@pytest.fixture(scope="module")
def traefik_stack(tmp_path_factory, upstream):
    d = tmp_path_factory.mktemp("traefik")
    s = DemoStack(d, claimgate_bin(), store="memory", policy=POLICY, routes=[{"name": "main", "prefix": "/"}],
                  extra_config="forward_auth: {from: traefik}\n")
    s.carol = requests.Session()
    s.signin(s.carol, "carol", "/.claimgate/whoami")
    yield s
    s.stop()


def test_traefik_mode_reads_only_traefiks_headers(traefik_stack):
    s, carol = traefik_stack, traefik_stack.carol
    base = {"X-Forwarded-Host": "ml.example.org", "X-Forwarded-Method": "GET"}
    # The viewer's X-Original-URI (which Traefik passes through) is not read.
    r = auth(carol, s, {**base, "X-Original-URI": "/static/x", "X-Forwarded-Uri": "/api/audit/x"})
    assert r.status_code == 403, r.text
    assert auth(carol, s, {**base, "X-Forwarded-Uri": "/static/x"}).status_code == 200
    # A POST is decided as a POST, whatever X-Original-Method says.
    r = auth(carol, s, {**base, "X-Forwarded-Method": "POST", "X-Original-Method": "GET",
                        "X-Forwarded-Uri": "/api/projects/vision/jobs"})
    assert r.status_code == 403 and r.json()["permission"] == "jobs:submit", r.text
    r = auth(carol, s, {"X-Forwarded-Host": "ml.example.org", "X-Forwarded-Method": "GET"})
    assert r.status_code == 400 and "X-Forwarded-Uri" in r.json()["message"]


# ---- 7: scope of administrators

def test_a_project_admin_cannot_revoke_people(stack):
    frank, erin = stack.people["frank"], stack.people["erin"]
    body = json.dumps({"subject": "carol", "reason": "test"})
    h = {**JSON, "Content-Type": "application/json", "Origin": stack.url}
    r = frank.post(stack.url + "/.claimgate/admin/revoke", data=body, headers=h, timeout=15)
    assert r.status_code == 403 and "sessions:revoke" in r.json()["message"], r.text
    # carol is still signed in.
    assert stack.people["carol"].get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 200
    # Global permissions through the policy rules, too: audit:read, sessions:revoke.
    assert frank.get(stack.url + "/api/audit/records", headers=JSON, timeout=15).status_code == 403
    assert frank.delete(stack.url + "/api/sessions/s1", headers=h, timeout=15).status_code == 403
    # frank's other admin rights in sandbox stand.
    assert frank.post(stack.url + "/api/projects/sandbox/models/m/deploy", headers=h,
                      timeout=15).status_code == 200
    assert erin.get(stack.url + "/api/audit/records", headers=JSON, timeout=15).status_code == 200
    r = erin.post(stack.url + "/.claimgate/admin/revoke", data=json.dumps({"subject": "nobody-here"}),
                  headers=h, timeout=15)
    assert r.status_code == 200, r.text


def test_check_warns_about_global_permissions_in_a_project(stack):
    out = subprocess.run([claimgate_bin(), "check", "--config", str(stack.config)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "sessions:revoke" in out.stdout + out.stderr and "global permissions" in out.stdout + out.stderr


# ---- 8: identity routes cannot be public

def test_check_refuses_public_jobs_routes(stack):
    base = stack.config.read_text()
    head = base.split("routes:\n")[0]
    for extra in ["routes:\n  - {prefix: /api/, upstream: 'builtin:jobs', public: true}\n",
                  "routes:\n  - {prefix: /api/, upstream: 'builtin:jobs'}\n"
                  "rules:\n  - {path: \"/api/projects/{project}/jobs\", public: true}\n"]:
        out = check_config(stack.dir, head + extra)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "gateway.identity_required" in out.stdout + out.stderr


# ---- 10: prefixes are whole segments

def test_route_prefixes_match_whole_segments(stack):
    alice = stack.people["alice"]
    Recorder.seen.clear()
    r = alice.get(stack.url + "/app/x", headers=JSON, timeout=15)
    assert r.status_code == 200 and r.json()["path"] == "/x"
    r = alice.get(stack.url + "/app", headers=JSON, timeout=15)
    assert r.status_code == 200 and r.json()["path"] == "/"
    # /appadmin/x is not under /app: it reaches the "/" route as it is, never as /admin/x.
    r = alice.get(stack.url + "/appadmin/x", headers=JSON, timeout=15)
    assert all(s["path"] != "/admin/x" for s in Recorder.seen), Recorder.seen
    if r.status_code == 200:
        assert r.json()["path"] == "/appadmin/x"


# ---- 11: JSON only, same site only

def test_json_endpoints_parse_the_media_type(stack):
    alice = stack.people["alice"]
    body = json.dumps({"agent": "bot", "scope": ["jobs:read"], "project": "vision"})
    for ct in ["text/plain; a=application/json", "text/plain;application/json",
               "application/x-www-form-urlencoded; x=application/json"]:
        r = alice.post(stack.url + "/.claimgate/tokens", data=body, headers={**JSON, "Content-Type": ct},
                       timeout=15)
        assert r.status_code == 415, (ct, r.status_code, r.text)
    r = alice.post(stack.url + "/.claimgate/tokens", data=body,
                   headers={**JSON, "Content-Type": "application/json; charset=utf-8"}, timeout=15)
    assert r.status_code == 201, r.text


def test_cross_site_state_changes_are_refused(stack):
    alice = stack.people["alice"]
    body = json.dumps({"agent": "bot2", "scope": ["jobs:read"], "project": "vision"})
    ct = {**JSON, "Content-Type": "application/json"}
    for h in [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
              {"Origin": stack.url + ".evil.example"}]:
        r = alice.post(stack.url + "/.claimgate/tokens", data=body, headers={**ct, **h}, timeout=15)
        assert r.status_code == 403 and r.json()["error"] == "gateway.cross_site", (h, r.text)
    r = alice.post(stack.url + "/.claimgate/tokens", data=body,
                   headers={**ct, "Origin": stack.url, "Sec-Fetch-Site": "same-origin"}, timeout=15)
    assert r.status_code == 201, r.text
    # DELETE of a token, from another site: refused as well.
    tid = r.json()["id"]
    r = alice.delete(stack.url + "/.claimgate/tokens/" + tid, headers={**JSON, "Sec-Fetch-Site": "cross-site"},
                     timeout=15)
    assert r.status_code == 403


# ---- 12: consent for the CLI

def test_cli_authorize_asks_before_it_hands_out_a_code(stack):
    alice = stack.people["alice"]
    q = urllib.parse.urlencode({"redirect_uri": "http://127.0.0.1:49152/callback", "state": "st8",
                                "code_challenge": "b" * 43, "code_challenge_method": "S256",
                                "client": "alice-laptop"})
    url = stack.url + "/.claimgate/cli/authorize?" + q
    page = alice.get(url, headers=HTML, allow_redirects=False, timeout=15)
    assert page.status_code == 200 and "Location" not in page.headers
    assert "alice-laptop" in page.text and "http://127.0.0.1:49152/callback" in page.text
    assert "act as <strong>alice</strong>" in page.text and "30 days" in page.text
    action, fields = parse_form(page.text)
    # Denied: the listener is told so, and gets no code.
    r = alice.post(stack.url + action, data=dict(fields, action="deny"), headers={**HTML, "Origin": stack.url},
                   allow_redirects=False, timeout=15)
    assert r.status_code == 303
    assert r.headers["Location"] == "http://127.0.0.1:49152/callback?error=access_denied&state=st8"
    # Another person's browser cannot use alice's form.
    r = stack.people["bob"].post(stack.url + action, data=dict(fields, action="approve"),
                                 headers={**HTML, "Origin": stack.url}, allow_redirects=False, timeout=15)
    assert r.status_code == 400 and "Location" not in r.headers
    # A cross-site post of the form is refused.
    r = alice.post(stack.url + action, data=dict(fields, action="approve"),
                   headers={**HTML, "Origin": "https://evil.example"}, allow_redirects=False, timeout=15)
    assert r.status_code == 403
    r = alice.post(stack.url + action, data=dict(fields, action="approve"), headers={**HTML, "Origin": stack.url},
                   allow_redirects=False, timeout=15)
    assert r.status_code == 303 and r.headers["Location"].startswith("http://127.0.0.1:49152/callback?code=")
    assert r.headers["Location"].endswith("&state=st8")


def test_consent_page_screenshot(stack, tmp_path):
    """The consent page as a person sees it (headless Chromium), saved for review."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (scripts/install-deps.sh installs it)")
    alice = stack.people["alice"]
    q = urllib.parse.urlencode({"redirect_uri": "http://127.0.0.1:49152/callback", "state": "st8",
                                "code_challenge": "b" * 43, "code_challenge_method": "S256",
                                "client": "alice-laptop"})
    html = alice.get(stack.url + "/.claimgate/cli/authorize?" + q, headers=HTML, timeout=15).text
    page = tmp_path / "consent.html"
    page.write_text(html)
    shot = pathlib.Path(os.environ.get("CLAIMGATE_SCREENSHOTS", tmp_path)) / "cli-consent.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
                        "--window-size=900,600", page.as_uri()], capture_output=True, timeout=90)
    assert shot.exists() and shot.stat().st_size > 5000
