"""Abuse of the gateway's unauthenticated and state-changing endpoints, against a real gateway and
the demo pysaml2 IdP (security findings 13 and 15):
 - log injection: values with CR/LF sent through real endpoints (the unauthenticated jobs report,
   a NameID with a newline that then submits a job) never forge a line of the gateway's log;
 - /saml/login is rate limited per client (429 + Retry-After) while other clients sign in;
 - wrong device codes are limited (429 after limits.device_code_failures);
 - logout: GET /saml/logout asks, and leaves the session valid; a cross-site POST is refused;
   the gateway's own form signs out; refusals are counted in /metrics.
Clients are told apart by their source address (127.0.0.x: Linux routes all of 127/8 to lo),
since X-Forwarded-For is not trusted."""
import base64
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import requests
from requests.adapters import HTTPAdapter

from conftest import ROOT, claimgate_bin
from gateway_stack import DemoStack, parse_form

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"
FORGED = "2026-12-04T00:00:00.000Z INFO  gateway"
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (DEBUG|INFO |WARN |ERROR) \S+ ")


class SourceAddressAdapter(HTTPAdapter):
    def __init__(self, address):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(address):
    """A requests.Session whose connections come from `address` (127.0.0.x)."""
    s = requests.Session()
    s.mount("http://", SourceAddressAdapter(address))
    return s


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("abuse")
    s = DemoStack(d, claimgate_bin(), store="sqlite", policy=POLICY, upstream=False,
                  routes=[{"name": "jobs", "prefix": "/api/", "upstream": "builtin:jobs"}],
                  extra_config="jobs: {state_dir: jobs-state, poll_interval: 200ms, insecure_same_user: true}\n")
    yield s
    s.stop()


def signed_in(stack, user, address):
    sess = client(address)
    r = stack.signin(sess, user, "/api/projects/vision/jobs")
    assert any(c.name == "cg_session" for c in sess.cookies), (r.status_code, r.text[:300])
    return sess


def whoami(stack, sess):
    return sess.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15)


def metric(stack, name, **labels):
    text = requests.get(stack.diag_url + "/metrics", timeout=15).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{re.escape(name)}{{{re.escape(want)}}} (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def log_lines(stack):
    return stack.gateway_log().splitlines()


def assert_no_forged_line(stack):
    """Every line mentioning the payloads is one of the gateway's own lines, with the line break
    escaped; no line starts with the forged time stamp."""
    lines = log_lines(stack)
    assert not [l for l in lines if l.startswith("2026-12-04T00:00:00.000Z")], \
        [l for l in lines if "forged" in l]
    for l in lines:
        if "forged" in l:
            assert LINE.match(l) and ("\\n" in l or "\\r" in l), l


# ---- 13. Log injection through real endpoints

def test_jobs_report_reason_cannot_forge_log_lines(stack):
    before = len(log_lines(stack))
    body = {"token": "e30.e30.sig", "event": "refused", "code": "9011",
            "node": "node-1\r\n" + FORGED + " forged-node status=200",
            "reason": "bad token\n" + FORGED + " forged-reason user=admin\r\n" + FORGED + " forged-2"}
    r = requests.post(stack.url + "/.claimgate/jobs/report", json=body, timeout=15)
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("forged-reason" in l for l in log_lines(stack)[before:]):
        time.sleep(0.1)
    new = log_lines(stack)[before:]
    hits = [l for l in new if "forged-reason" in l]
    assert len(hits) == 1, new  # the whole reason, on the report's one line
    assert "job.node_refused" in hits[0] and "\\r\\n" in hits[0]
    assert_no_forged_line(stack)


def test_a_name_id_with_a_newline_cannot_forge_log_lines(stack):
    """An IdP asserts a NameID holding a newline; the person signs in and submits a job (the
    jobs service logs 'submitted by <subject>'): one line each, the newline escaped."""
    from saml2 import saml, xmldsig
    from saml2.saml import NAMEID_FORMAT_UNSPECIFIED, NameID
    server = stack.idps[0].saml_server(stack)
    name_id = "mallory\n" + FORGED + " forged-subject level=info"
    sess = client("127.0.0.9")
    r = sess.get(stack.url + "/saml/login?rd=/api/projects/vision/jobs", allow_redirects=False, timeout=15)
    assert r.status_code == 302, r.text
    q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)
    req = server.parse_authn_request(q["SAMLRequest"][0])
    resp = server.create_authn_response(
        {"uid": ["mallory"], "groups": ["ml-vision-ds"]}, in_response_to=req.message.id,
        destination=stack.url + "/saml/acs", sp_entity_id=stack.url + "/saml/metadata",
        name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=name_id),
        authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED}, sign_response=False, sign_assertion=True,
        sign_alg=xmldsig.SIG_RSA_SHA256, digest_alg=xmldsig.DIGEST_SHA256)
    form = {"SAMLResponse": base64.b64encode(str(resp).encode()).decode(), "RelayState": q["RelayState"][0]}
    r = sess.post(stack.url + "/saml/acs", data=form, headers=JSON, allow_redirects=False, timeout=15)
    assert r.status_code == 303, r.text[:500]
    assert whoami(stack, sess).json()["subject"] == name_id
    job = sess.post(stack.url + "/api/projects/vision/jobs", json={"command": ["/bin/true"]},
                    headers=JSON, timeout=30)
    assert job.status_code in (200, 201, 202), job.text
    job_id = job.json()["id"]
    deadline = time.monotonic() + 10
    def submitted_lines():
        return [l for l in log_lines(stack) if " job.submitted " in l and f" job={job_id} " in l]
    while time.monotonic() < deadline and not submitted_lines():
        time.sleep(0.1)
    submitted = submitted_lines()
    assert len(submitted) == 1 and "mallory\\n" in submitted[0], submitted
    signin = [l for l in log_lines(stack) if "signin.ok" in l and "mallory" in l]
    assert signin and all("forged-subject" in l for l in signin), signin
    assert_no_forged_line(stack)


def test_request_values_are_escaped_in_the_access_log(stack):
    """A path a client chose, with an encoded line break and a field of its own: one value of
    the access log line, which keeps the gateway's own status field."""
    before = len(log_lines(stack))
    r = requests.get(stack.url + "/api/x%0a" + "injected%20status=200", headers=JSON, timeout=15)
    rid = r.headers.get("X-Request-Id")
    time.sleep(0.3)
    new = [l for l in log_lines(stack)[before:] if rid and rid in l]
    access = [l for l in new if " path=" in l]
    assert len(access) == 1 and LINE.match(access[0]), new
    assert f' path="/api/x%0Ainjected%20status=200" ' in access[0], access
    assert f" status={r.status_code} " in access[0], access
    assert_no_forged_line(stack)


# ---- 15b. /saml/login is rate limited per client

def test_signin_burst_from_one_client_is_refused_while_others_sign_in(stack):
    flood = client("127.0.0.5")
    before = metric(stack, "claimgate_rate_limited_total", endpoint="/saml/login", limit="signins_per_minute")
    codes = []
    for _ in range(40):
        r = flood.get(stack.url + "/saml/login", headers=JSON, allow_redirects=False, timeout=15)
        codes.append(r.status_code)
        if r.status_code == 429:
            break
    assert codes[:30] == [302] * 30, codes  # the default burst: 30 (limits.signin_burst)
    assert codes[-1] == 429, codes
    assert 1 <= int(r.headers["Retry-After"]) <= 60, r.headers
    body = r.json()
    assert body["error"] == "gateway.rate_limited" and body["code"] == 6530, body
    assert body["limit"] == "limits.signins_per_minute" and body["retry_after"] >= 1
    # The refusal page for a browser says so too.
    page = flood.get(stack.url + "/saml/login", headers=HTML, allow_redirects=False, timeout=15)
    assert page.status_code == 429 and "Too many requests" in page.text and "6530" in page.text
    assert page.headers["Retry-After"]
    # Another client (another source address: X-Forwarded-For is not trusted) signs in.
    spoof = flood.get(stack.url + "/saml/login", headers=dict(JSON, **{"X-Forwarded-For": "10.1.1.1"}),
                      allow_redirects=False, timeout=15)
    assert spoof.status_code == 429
    other = signed_in(stack, "alice", "127.0.0.2")
    assert whoami(stack, other).json()["subject"] == "alice"
    assert metric(stack, "claimgate_rate_limited_total", endpoint="/saml/login",
                  limit="signins_per_minute") >= before + 3


# ---- 15c. Wrong device codes are limited

def device_form(stack, sess):
    page = sess.get(stack.url + "/.claimgate/device", headers=HTML, timeout=15)
    assert page.status_code == 200, page.text[:300]
    return parse_form(page.text)


def test_wrong_device_codes_are_refused_after_the_limit(stack):
    guesser = signed_in(stack, "carol", "127.0.0.3")
    action, fields = device_form(stack, guesser)
    codes = []
    for i in range(12):
        r = guesser.post(stack.url + action, data=dict(fields, user_code=f"BBBB-BBB{'BCDFGHJKLMNP'[i]}",
                                                        action="approve"), headers=HTML, timeout=15)
        codes.append(r.status_code)
        if r.status_code == 429:
            break
    assert codes == [400] * 10 + [429], codes  # limits.device_code_failures: 10 per 10 minutes
    assert int(r.headers["Retry-After"]) >= 1
    assert "too many wrong codes" in r.text and "6530" in r.text
    # A new session from the same address is limited too (per client) ...
    again = signed_in(stack, "carol", "127.0.0.3")
    action2, fields2 = device_form(stack, again)
    r = again.post(stack.url + action2, data=dict(fields2, user_code="CCCC-CCCC"), headers=HTML, timeout=15)
    assert r.status_code == 429
    # ... while another person elsewhere gets the ordinary answer.
    other = signed_in(stack, "bob", "127.0.0.4")
    action3, fields3 = device_form(stack, other)
    r = other.post(stack.url + action3, data=dict(fields3, user_code="CCCC-CCCC"), headers=HTML, timeout=15)
    assert r.status_code == 400 and "unknown, expired or already used" in r.text
    assert metric(stack, "claimgate_rate_limited_total", endpoint="/.claimgate/device",
                  limit="device_code_failures") >= 2


# ---- 15a. Logout needs the gateway's own form

def logout_form(stack, sess):
    page = sess.get(stack.url + "/saml/logout", headers=HTML, timeout=15)
    assert page.status_code == 200 and "Sign out?" in page.text, page.text[:300]
    action, fields = parse_form(page.text)
    assert action == "/saml/logout" and fields["csrf"], fields
    return fields


def test_get_logout_asks_and_keeps_the_session(stack):
    sess = signed_in(stack, "alice", "127.0.0.6")
    fields = logout_form(stack, sess)
    assert whoami(stack, sess).status_code == 200  # a link or an image signs nobody out
    # The form may lead on to the IdP's single logout (browsers hold a form's redirects to the
    # page's form-action).
    csp = sess.get(stack.url + "/saml/logout", headers=HTML, timeout=15).headers["Content-Security-Policy"]
    assert f"form-action 'self' {stack.idps[0].url};" in csp, csp
    # What an image tag on another site sends:
    r = sess.get(stack.url + "/saml/logout", headers={"Sec-Fetch-Site": "cross-site", "Accept": "image/*"},
                 timeout=15)
    assert r.status_code == 200 and whoami(stack, sess).status_code == 200
    assert "cg_session=;" not in r.headers.get("Set-Cookie", "")
    # The confirmation page is a form, with the session's token.
    assert len(fields["csrf"]) > 20


def test_cross_site_logout_posts_are_refused(stack):
    sess = signed_in(stack, "alice", "127.0.0.6")
    fields = logout_form(stack, sess)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": stack.url, "Sec-Fetch-Site": "cross-site"}):
        r = sess.post(stack.url + "/saml/logout", data=fields, headers=dict(HTML, **headers),
                      allow_redirects=False, timeout=15)
        assert r.status_code == 403 and "6521" in r.text, (headers, r.status_code, r.text[:300])
        assert whoami(stack, sess).status_code == 200, headers
    # A POST without the form's token (a form on another site, an older browser) is refused too.
    r = sess.post(stack.url + "/saml/logout", data={"rd": "/"}, headers=HTML, allow_redirects=False, timeout=15)
    assert r.status_code == 403
    # And so is another session's token.
    other = signed_in(stack, "bob", "127.0.0.7")
    theirs = logout_form(stack, other)
    r = sess.post(stack.url + "/saml/logout", data=theirs, headers=HTML, allow_redirects=False, timeout=15)
    assert r.status_code == 403
    assert whoami(stack, sess).status_code == 200 and whoami(stack, other).status_code == 200


def test_same_origin_logout_post_signs_out(stack):
    sess = signed_in(stack, "alice", "127.0.0.6")
    cookie = sess.cookies.get("cg_session")
    fields = logout_form(stack, sess)
    # What Chromium sends from the gateway's page (Referrer-Policy: no-referrer makes the Origin
    # of a form POST "null"; Sec-Fetch-Site says same-origin).
    r = sess.post(stack.url + "/saml/logout", data=fields,
                  headers=dict(HTML, Origin="null", **{"Sec-Fetch-Site": "same-origin"}), timeout=15)
    assert r.status_code == 200 and "signed out" in r.text.lower(), r.text[:300]
    assert whoami(stack, sess).status_code == 401
    r = requests.get(stack.url + "/.claimgate/whoami", headers=JSON, cookies={"cg_session": cookie}, timeout=15)
    assert r.status_code == 401  # the session is gone, not just the cookie
    # Without a session the page says so (nothing to confirm).
    page = sess.get(stack.url + "/saml/logout", headers=HTML, timeout=15)
    assert page.status_code == 200 and "no session" in page.text


def test_logout_confirmation_page_screenshot(stack, tmp_path):
    """The page as Chromium renders it (headless), with the session cookie of a signed-in person."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("no chromium")
    sess = signed_in(stack, "alice", "127.0.0.8")
    # Chromium has no cookie flag: a page on the gateway's origin cannot set an HttpOnly cookie
    # either, so render the page the gateway answers, as it answers it, from a file.
    page = sess.get(stack.url + "/saml/logout", headers=HTML, timeout=15)
    assert page.status_code == 200
    html = tmp_path / "logout.html"
    html.write_text(page.text)
    out = pathlib.Path(os.environ.get("CG_ARTIFACTS", ROOT / "build" / "test-artifacts"))
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "logout-confirm.png"
    profile = tempfile.mkdtemp()
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1000,700",
                    html.as_uri()], capture_output=True, timeout=60)
    shutil.rmtree(profile, ignore_errors=True)
    assert shot.exists() and shot.stat().st_size > 10_000
    print(f"\nlogout confirmation screenshot: {shot}")

