"""Signing in from the terminal and notebooks, API tokens and agent tokens, end to end with the
pysaml2 IdP: `claimgate login` (loopback redirect, a script playing the browser; and the device
flow), `claimgate token` and refresh rotation with reuse detection, Bearer tokens under the same
policy as cookies, agent tokens limited to their scope and their person's rights, revocation by
an administrator, refusals with reasons, and the Python helper."""
import json
import os
import pathlib
import re
import queue
import stat
import subprocess
import threading
import time
import urllib.parse

import jwt
import pytest
import requests

from conftest import ROOT, claimgate_bin
from gateway_stack import DemoStack, parse_form
from prometheus_text import scrape, value

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("tokens")
    s = DemoStack(d, claimgate_bin(), store="sqlite", policy=POLICY,
                  extra_config="tokens: {access_ttl: 10s, device_poll_interval: 1s}\n")
    yield s
    s.stop()


def cli(stack, home, *args, timeout=60):
    env = dict(os.environ, CLAIMGATE_CONFIG_DIR=str(home))
    return subprocess.run([claimgate_bin(), *args], capture_output=True, text=True, timeout=timeout, env=env)


class Cli:
    """A running claimgate command whose stderr is read line by line as it comes."""

    def __init__(self, home, *args):
        env = dict(os.environ, CLAIMGATE_CONFIG_DIR=str(home))
        self.proc = subprocess.Popen([claimgate_bin(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.lines = queue.Queue()
        self.err = ""
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def read_until(self, pattern, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.err += line
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"no line matching {pattern!r}; stderr so far:\n{self.err}")

    def finish(self, timeout=30):
        self.proc.wait(timeout)
        while True:
            line = self.lines.get(timeout=5)
            if line is None:
                return self.proc.returncode, self.err
            self.err += line

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()


def play_browser(stack, session, url, user, follow_last=True):
    """Opens `url` like a browser: the gateway sends it to the IdP, `user` signs in, the form
    goes back to the ACS and the redirects are followed (to the CLI's loopback listener when
    `follow_last`; else the Location of the redirect to it is returned)."""
    r = session.get(url, headers=HTML, timeout=30)
    if "/login" in (parse_form(r.text)[0] or ""):
        action, fields = parse_form(r.text)
        fields.update(username=user, password=stack.users[user]["password"])
        login = session.post(urllib.parse.urljoin(r.url, action), data=fields, timeout=30)
        acs, form = parse_form(login.text)
        r = session.post(acs, data=form, headers=HTML, timeout=30, allow_redirects=False)
        assert r.status_code == 303, (r.status_code, r.text[:300])
        r = session.get(urllib.parse.urljoin(stack.url, r.headers["Location"]), headers=HTML,
                        allow_redirects=False, timeout=30)
    else:
        r = session.get(url, headers=HTML, allow_redirects=False, timeout=30)
    # A consent page: it names the person, the client and where the code goes; nothing is sent
    # to the loopback port before the person allows it.
    assert r.status_code == 200 and "Sign in a terminal?" in r.text, (r.status_code, r.text[:300])
    assert f"act as <strong>{user}</strong>" in r.text
    assert "form-action 'self' http://127.0.0.1:" in r.headers["Content-Security-Policy"]
    action, fields = parse_form(r.text)
    assert action == "/.claimgate/cli/authorize" and set(fields) == {"request"}
    r = session.post(urllib.parse.urljoin(stack.url, action), data=dict(fields, action="approve"),
                     headers=dict(HTML, Origin=stack.url), allow_redirects=False, timeout=30)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    location = r.headers["Location"]
    assert location.startswith("http://127.0.0.1:"), location
    if not follow_last:
        return location
    return session.get(location, timeout=30)


def device_login(stack, user, browser=None):
    """The device flow over plain HTTP (what `claimgate login --device` does): returns the
    token endpoint's answer."""
    start = requests.post(stack.url + "/.claimgate/cli/device", data={"client": "pytest"}, timeout=15).json()
    browser = browser or requests.Session()
    page = browser.get(start["verification_uri_complete"], headers=HTML, timeout=30)
    if "XXXX-XXXX" not in page.text:
        stack.signin(browser, user, "/")
        page = browser.get(start["verification_uri_complete"], headers=HTML, timeout=30)
    action, fields = parse_form(page.text)
    fields["action"] = "approve"
    done = browser.post(stack.url + action, data=fields, headers=HTML, timeout=15)
    assert done.status_code == 200 and "signing in as " + user in done.text, done.text[:400]
    for _ in range(20):
        r = requests.post(stack.url + "/.claimgate/cli/token",
                          data={"grant_type": DEVICE, "device_code": start["device_code"]}, timeout=15)
        if r.status_code == 200:
            return r.json()
        assert r.json()["error"] in ("authorization_pending", "slow_down"), r.text
        time.sleep(1.1)
    raise AssertionError("device login never completed")


def cli_home(stack, home, tokens):
    """A CLI config directory holding the login `tokens` (the token endpoint's answer), as
    `claimgate login` leaves it."""
    home.mkdir(mode=0o700)
    keep = ("access_token", "expires_at", "refresh_token", "refresh_expires_at", "subject", "token_id")
    (home / "credentials.json").write_text(json.dumps(
        {"version": 1, "default": stack.url, "gateways": {stack.url: {k: tokens[k] for k in keep}}}))
    return home


def bearer(token):
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def audit_records(stack, type_prefix):
    out = subprocess.run([claimgate_bin(), "audit", "search", "--config", str(stack.config), "--type",
                          type_prefix, "--json", "--limit", "1000"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


# ---- claimgate login: the loopback flow

def test_loopback_login_end_to_end(stack, tmp_path):
    home = tmp_path / "alice-home"
    proc = Cli(home, "login", "--gateway", stack.url, "--no-browser", "--timeout", "60")
    try:
        url = proc.read_until(r"^\s+(http\S+/\.claimgate/cli/authorize\S+)").group(1)
        port = int(re.search(r"redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A(\d+)", url).group(1))
        # Something else on the machine knocking first, without the state, is turned away.
        stray = requests.get(f"http://127.0.0.1:{port}/callback?code=stolen&state=guess", timeout=10)
        assert stray.status_code == 400
        final = play_browser(stack, requests.Session(), url, "alice")
        assert final.status_code == 200 and "Signed in" in final.text
        rc, err = proc.finish()
        assert rc == 0, err
        assert "Signed in to " + stack.url + " as alice" in err
    finally:
        proc.kill()
    creds = home / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    saved = json.loads(creds.read_text())
    assert saved["default"] == stack.url and saved["gateways"][stack.url]["subject"] == "alice"

    # The access token works on every route, under the same policy as the cookie.
    tok = cli(stack, home, "token")
    assert tok.returncode == 0, tok.stderr
    token = tok.stdout.strip()
    r = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(token), timeout=15)
    assert r.status_code == 200, r.text
    seen = r.json()["headers"]
    assert seen["X-Claimgate-User"] == "alice"
    assert "Authorization" not in seen  # the token is the gateway's, never passed upstream
    assert requests.post(stack.url + "/api/projects/vision/models/m1/deploy", headers=bearer(token),
                         timeout=15).status_code == 403
    who = cli(stack, home, "whoami")
    assert who.returncode == 0, who.stderr
    me = json.loads(who.stdout)
    assert me["subject"] == "alice" and any(t["kind"] == "cli" and t["current"] for t in me["tokens"])
    issued = [e for e in audit_records(stack, "token.issued") if e.get("subject") == "alice"]
    assert issued and issued[-1]["kind"] == "cli" and issued[-1]["created_by"].startswith("session:")


def test_a_code_is_useless_without_the_verifier(stack, tmp_path):
    home = tmp_path / "victim"
    proc = Cli(home, "login", "--gateway", stack.url, "--no-browser", "--timeout", "60")
    try:
        url = proc.read_until(r"^\s+(http\S+/\.claimgate/cli/authorize\S+)").group(1)
        location = play_browser(stack, requests.Session(), url, "carol", follow_last=False)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        redirect = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["redirect_uri"][0]
        # A process that saw the redirect has the code, not the verifier.
        stolen = requests.post(stack.url + "/.claimgate/cli/token", timeout=15, data={
            "grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": redirect,
            "code_verifier": "x" * 43})
        assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
        assert "code_verifier" in stolen.json()["error_description"]
        # The code is single-use: the real CLI is refused too, and says so.
        requests.get(location, timeout=15)
        rc, err = proc.finish()
        assert rc == 1 and "unknown, used" in err
    finally:
        proc.kill()
    bad = requests.get(stack.url + "/.claimgate/cli/authorize?redirect_uri=https%3A%2F%2Fevil.example%2Fcb"
                       "&state=s&code_challenge=" + "a" * 43 + "&code_challenge_method=S256", headers=HTML,
                       allow_redirects=False, timeout=15)
    assert bad.status_code == 400 and "127.0.0.1" in bad.text


# ---- claimgate login --device

def test_device_flow_with_the_cli(stack, tmp_path):
    home = tmp_path / "bob-home"
    proc = Cli(home, "login", "--gateway", stack.url, "--device", "--timeout", "60")
    try:
        complete = proc.read_until(r"or open (\S+\?code=\S+)").group(1)
        browser = requests.Session()
        page = browser.get(complete, headers=HTML, timeout=30)  # not signed in: to the IdP first
        assert "/login" in parse_form(page.text)[0]
        stack.signin(browser, "bob", "/")
        # A wrong code is refused with a sentence, and the right one still works after it.
        page = browser.get(stack.url + "/.claimgate/device", headers=HTML, timeout=15)
        action, fields = parse_form(page.text)
        wrong = browser.post(stack.url + action, data=dict(fields, user_code="BBBB-BBBB", action="approve"),
                             headers=HTML, timeout=15)
        assert wrong.status_code == 400 and "unknown, expired or already used" in wrong.text
        page = browser.get(complete, headers=HTML, timeout=15)
        action, fields = parse_form(page.text)
        assert fields["user_code"] == complete.split("code=")[1]
        # The form is bound to the session that received it.
        forged = requests.post(stack.url + action, data=dict(fields, action="approve"),
                               cookies=stack_cookie_of_other(stack), headers=HTML, timeout=15)
        assert forged.status_code == 400
        done = browser.post(stack.url + action, data=dict(fields, action="approve"), headers=HTML, timeout=15)
        assert done.status_code == 200 and "signing in as bob" in done.text
        rc, err = proc.finish()
        assert rc == 0, err
        assert "as bob" in err
    finally:
        proc.kill()
    tok = cli(stack, home, "token")
    assert tok.returncode == 0, tok.stderr
    r = requests.post(stack.url + "/api/projects/vision/models/m1/deploy", headers=bearer(tok.stdout.strip()),
                      timeout=15)
    assert r.status_code == 200 and r.json()["headers"]["X-Claimgate-User"] == "bob"


def stack_cookie_of_other(stack):
    other = requests.Session()
    stack.signin(other, "carol", "/")
    return other.cookies


def test_device_flow_refused_and_polled_too_fast(stack):
    start = requests.post(stack.url + "/.claimgate/cli/device", data={"client": "pytest"}, timeout=15).json()
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", start["user_code"])
    poll = {"grant_type": DEVICE, "device_code": start["device_code"]}
    first = requests.post(stack.url + "/.claimgate/cli/token", data=poll, timeout=15)
    assert first.json()["error"] == "authorization_pending"
    fast = requests.post(stack.url + "/.claimgate/cli/token", data=poll, timeout=15)
    assert fast.json()["error"] == "slow_down"
    browser = requests.Session()
    stack.signin(browser, "carol", "/")
    page = browser.get(start["verification_uri_complete"], headers=HTML, timeout=15)
    action, fields = parse_form(page.text)
    refused = browser.post(stack.url + action, data=dict(fields, action="deny"), headers=HTML, timeout=15)
    assert "refused" in refused.text
    time.sleep(1.1)
    r = requests.post(stack.url + "/.claimgate/cli/token", data=poll, timeout=15)
    assert r.status_code == 400 and r.json()["error"] == "access_denied"
    time.sleep(1.1)
    r = requests.post(stack.url + "/.claimgate/cli/token", data=poll, timeout=15)
    assert r.json()["error"] == "expired_token"


# ---- Refresh rotation and reuse detection

def refresh(stack, token):
    return requests.post(stack.url + "/.claimgate/cli/token", timeout=15,
                         data={"grant_type": "refresh_token", "refresh_token": token})


def test_refresh_rotates_and_reuse_revokes_the_family(stack):
    t0 = device_login(stack, "carol")
    r1 = refresh(stack, t0["refresh_token"])
    assert r1.status_code == 200, r1.text
    t1 = r1.json()
    assert t1["refresh_token"] != t0["refresh_token"] and t1["token_id"] == t0["token_id"]
    t2 = refresh(stack, t1["refresh_token"]).json()
    ok = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(t2["access_token"]), timeout=15)
    assert ok.status_code == 200
    # A forged refresh token of the same family is refused and revokes nothing.
    forged = t2["refresh_token"].rsplit(".", 1)[0] + ".AAAA"
    assert refresh(stack, forged).json()["error"] == "invalid_grant"
    assert requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(t2["access_token"]),
                        timeout=15).status_code == 200
    # t0's refresh token again: someone copied it. The whole login ends.
    reuse = refresh(stack, t0["refresh_token"])
    assert reuse.status_code == 400 and "already used" in reuse.json()["error_description"]
    after = refresh(stack, t2["refresh_token"])
    assert after.status_code == 400 and "revoked" in after.json()["error_description"]
    denied = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(t2["access_token"]), timeout=15)
    assert denied.status_code == 401
    assert denied.json()["error"] == "gateway.token_revoked"
    assert "refresh token reused" in denied.json()["message"] and "claimgate login" in denied.json()["message"]
    assert 'error="invalid_token"' in denied.headers["WWW-Authenticate"]
    revoked = [e for e in audit_records(stack, "token.revoked") if e.get("token_id") == t0["token_id"]]
    assert revoked and revoked[0]["reason"] == "refresh token reused"


def test_claimgate_token_refreshes_when_needed(stack, tmp_path):
    home = tmp_path / "carol"
    t = device_login(stack, "carol")
    cli_home(stack, home, t)
    # access_ttl is 10s here: under a minute left, so every call refreshes and stores the new pair.
    a = cli(stack, home, "token")
    b = cli(stack, home, "token")
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert a.stdout != b.stdout
    saved = json.loads((home / "credentials.json").read_text())["gateways"][stack.url]
    assert saved["access_token"] == b.stdout.strip() and saved["refresh_token"] != t["refresh_token"]
    assert requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(b.stdout.strip()),
                        timeout=15).status_code == 200
    out = cli(stack, home, "logout")
    assert out.returncode == 0, out.stderr
    assert refresh(stack, saved["refresh_token"]).status_code == 400
    again = cli(stack, home, "token", "--gateway", stack.url)
    assert again.returncode == 1 and "claimgate login" in again.stderr


# ---- Bad tokens: a reason a person can act on

def gateway_signing_key(stack):
    keys = sorted((stack.dir / "keyring").glob("sign-*.pem"))
    kid = keys[-1].name[len("sign-"):-len(".pem")]
    return kid, keys[-1].read_text()


def test_expired_tampered_and_foreign_tokens(stack, tmp_path):
    t = device_login(stack, "alice")
    kid, pem = gateway_signing_key(stack)
    claims = jwt.decode(t["access_token"], options={"verify_signature": False})
    now = int(time.time())
    expired = jwt.encode(dict(claims, iat=now - 3600, exp=now - 600), pem, algorithm="ES256",
                         headers={"kid": kid})
    r = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(expired), timeout=15)
    assert r.status_code == 401 and r.json()["error"] == "gateway.token_expired"
    assert "expired at" in r.json()["message"] and "claimgate token" in r.json()["message"]

    head, body, sig = t["access_token"].split(".")
    evil = jwt.utils.base64url_encode(json.dumps(dict(claims, sub="erin")).encode()).decode()
    r = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(f"{head}.{evil}.{sig}"), timeout=15)
    assert r.status_code == 401 and "signature does not verify" in r.json()["message"]

    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    str(tmp_path / "other.pem")], check=True)
    foreign = jwt.encode(claims, (tmp_path / "other.pem").read_text(), algorithm="ES256",
                         headers={"kid": "someone-else"})
    r = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(foreign), timeout=15)
    assert r.status_code == 401 and "not among the trusted keys" in r.json()["message"]

    # An upstream's identity assertion (signed by this gateway) is not an access token.
    seen = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(t["access_token"]),
                        timeout=15).json()["headers"]
    r = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(seen["X-Claimgate-Assertion"]),
                     timeout=15)
    assert r.status_code == 401 and "not issued for calling the gateway" in r.json()["message"]
    # A refresh token sent as a Bearer token: said so.
    r = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(t["refresh_token"]), timeout=15)
    assert r.status_code == 401 and "refresh token" in r.json()["message"]
    # forward-auth (nginx auth_request) gives the same reasons.
    r = requests.get(stack.url + "/auth", headers=dict(bearer(expired), **{"X-Original-URI": "/api/projects/vision/jobs",
                                                                     "X-Original-Method": "GET",
                                                                     "X-Forwarded-Host": "ml.example.org"}),
                     timeout=15)
    assert r.status_code == 401 and r.json()["error"] == "gateway.token_expired"
    denials = [e for e in audit_records(stack, "authz.deny") if e.get("reason") == "token-expired"]
    assert denials and "expired at" in denials[-1]["token_error"]


# ---- Agent tokens

def test_agent_token_acts_within_its_scope_and_its_person(stack, tmp_path):
    home = tmp_path / "alice-agent"
    t = device_login(stack, "alice")
    cli_home(stack, home, t)
    made = cli(stack, home, "token", "create", "--agent", "review-bot", "--scope", "jobs:read,logs:read",
               "--project", "vision", "--ttl", "1h", "--json")
    assert made.returncode == 0, made.stderr
    agent = json.loads(made.stdout)
    assert agent["scope"] == ["jobs:read", "logs:read"] and agent["project"] == "vision"
    a = bearer(agent["token"])

    ok = requests.get(stack.url + "/api/projects/vision/jobs", headers=a, timeout=15)
    assert ok.status_code == 200, ok.text
    assert ok.json()["headers"]["X-Claimgate-Actor"] == "agent:review-bot"
    assert ok.json()["headers"]["X-Claimgate-User"] == "alice"
    assertion = jwt.decode(ok.json()["headers"]["X-Claimgate-Assertion"], options={"verify_signature": False})
    assert assertion["act"]["sub"] == "agent:review-bot" and assertion["sub"] == "alice"
    assert requests.get(stack.url + "/api/projects/vision/jobs/j-1/logs", headers=a, timeout=15).status_code == 200
    # alice may submit jobs; her agent may not.
    r = requests.post(stack.url + "/api/projects/vision/jobs", headers=a, timeout=15)
    assert r.status_code == 403 and r.json()["reason"] == "agent-scope"
    assert "jobs:submit" in r.json()["message"]
    # Another project: refused, by the policy (alice has no role there).
    r = requests.get(stack.url + "/api/projects/nlp/jobs", headers=a, timeout=15)
    assert r.status_code == 403 and r.json()["reason"] == "no-role-in-project"
    # bob (devops) may not make agent tokens at all: tokens:create is not his.
    bt = device_login(stack, "bob")
    r = requests.post(stack.url + "/.claimgate/tokens", timeout=15,
                      headers=dict(bearer(bt["access_token"]), **{"Content-Type": "application/json"}),
                      data=json.dumps({"agent": "ops-bot", "scope": "jobs:read", "project": "vision"}))
    assert r.status_code == 403 and "tokens:create" in r.json()["message"]
    # erin (admin) holds everything everywhere; her agent, bound to vision, reads only there.
    et = device_login(stack, "erin")
    r = requests.post(stack.url + "/.claimgate/tokens", timeout=15,
                      headers=dict(bearer(et["access_token"]), **{"Content-Type": "application/json"}),
                      data=json.dumps({"agent": "admin-bot", "scope": "jobs:read", "project": "vision"}))
    assert r.status_code == 201, r.text
    e = bearer(r.json()["token"])
    assert requests.get(stack.url + "/api/projects/vision/jobs", headers=e, timeout=15).status_code == 200
    r = requests.get(stack.url + "/api/projects/nlp/jobs", headers=e, timeout=15)
    assert r.status_code == 403 and r.json()["reason"] == "agent-scope" and "project 'nlp'" in r.json()["message"]
    # An agent cannot mint tokens, nor a person delegate what they do not hold.
    r = requests.post(stack.url + "/.claimgate/tokens", headers=dict(a, **{"Content-Type": "application/json"}),
                      data=json.dumps({"agent": "x", "scope": ["jobs:read"]}), timeout=15)
    assert r.status_code == 403
    over = cli(stack, home, "token", "create", "--agent", "deployer", "--scope", "models:deploy",
               "--project", "vision")
    assert over.returncode == 1 and "models:deploy" in over.stderr
    # The audit log names both: the agent acted, on behalf of alice.
    allows = [e for e in audit_records(stack, "authz.allow") if e.get("actor") == "agent:review-bot"]
    assert allows and allows[-1]["on_behalf_of"] == "alice" and allows[-1]["token_id"] == agent["id"]
    denies = [e for e in audit_records(stack, "authz.deny")
              if e.get("reason") == "agent-scope" and e.get("actor") == "agent:review-bot"]
    assert denies and denies[-1]["on_behalf_of"] == "alice" and denies[-1]["permission"] == "jobs:submit"

    listed = cli(stack, home, "token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert any(x["id"] == agent["id"] and x["agent"] == "review-bot" for x in json.loads(listed.stdout)["tokens"])

    # alice loses her role (the binding goes from the policy): the agent loses it at once.
    original = stack.policy.read_text()
    try:
        stack.policy.write_text(original.replace('  - {claim: groups, matches: "^ml-(\\\\w+)-ds$", role: data-scientist, project: "$1"}\n', ""))
        assert stack.policy.read_text() != original
        stack.gateway.send_signal(1)  # SIGHUP
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = requests.get(stack.url + "/api/projects/vision/jobs", headers=a, timeout=15)
            if r.status_code == 403:
                break
            time.sleep(0.2)
        assert r.status_code == 403 and r.json()["reason"] == "no-role-in-project", r.text
    finally:
        stack.policy.write_text(original)
        stack.gateway.send_signal(1)
    deadline = time.monotonic() + 10
    while requests.get(stack.url + "/api/projects/vision/jobs", headers=a, timeout=15).status_code != 200:
        assert time.monotonic() < deadline, "the policy did not come back"
        time.sleep(0.2)

    gone = cli(stack, home, "token", "revoke", agent["id"])
    assert gone.returncode == 0, gone.stderr
    r = requests.get(stack.url + "/api/projects/vision/jobs", headers=a, timeout=15)
    assert r.status_code == 401 and "revoked" in r.json()["message"]


# ---- Revocation by an administrator

def test_admin_revoke_ends_everything_of_a_person(stack, tmp_path):
    # dave: a web session, a terminal login, and (through the login) nothing else to hold.
    web = requests.Session()
    stack.signin(web, "alice", "/")
    t = device_login(stack, "alice")
    agent = requests.post(stack.url + "/.claimgate/tokens", timeout=15,
                          headers=dict(bearer(t["access_token"]), **{"Content-Type": "application/json"}),
                          data=json.dumps({"agent": "nightly", "scope": "jobs:read", "project": "vision"})).json()
    assert requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(agent["token"]),
                        timeout=15).status_code == 200

    home = tmp_path / "bob"
    bt = device_login(stack, "bob")
    cli_home(stack, home, bt)
    nope = cli(stack, home, "admin", "revoke", "--subject", "alice")
    assert nope.returncode == 1 and "sessions:revoke" in nope.stderr

    home = tmp_path / "erin"
    et = device_login(stack, "erin")
    cli_home(stack, home, et)
    done = cli(stack, home, "admin", "revoke", "--subject", "alice", "--reason", "left the team")
    assert done.returncode == 0, done.stderr
    assert "session(s) ended" in done.stdout
    # Effective on the next request, everywhere.
    assert web.get(stack.url + "/api/projects/vision/jobs", headers=JSON, timeout=15).status_code == 401
    for tok in (t["access_token"], agent["token"]):
        r = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(tok), timeout=15)
        assert r.status_code == 401 and "left the team" in r.json()["message"], r.text
    assert refresh(stack, t["refresh_token"]).status_code == 400
    revs = [e for e in audit_records(stack, "session.revoked") if e.get("subject") == "alice"]
    assert revs and revs[-1]["by"] == "erin" and revs[-1]["tokens"] >= 2


# ---- The Python helper

def test_python_helper_refreshes_by_itself(stack, tmp_path):
    home = tmp_path / "nb"
    t = device_login(stack, "alice")
    home.mkdir(mode=0o700)
    entry = {k: t[k] for k in ("access_token", "refresh_token", "refresh_expires_at", "subject", "token_id")}
    entry["expires_at"] = int(time.time()) - 5  # as if the notebook slept past its access token
    (home / "credentials.json").write_text(json.dumps({"version": 1, "default": stack.url,
                                                       "gateways": {stack.url: entry}}))
    script = (
        "import json, sys, requests\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from claimgate.auth import BearerAuth, urlopen\n"
        "a = requests.get(sys.argv[2] + '/api/projects/vision/jobs', auth=BearerAuth(), timeout=15)\n"
        "b = json.loads(urlopen(sys.argv[2] + '/api/projects/vision/jobs/j-1/logs').read())\n"
        "print(json.dumps([a.status_code, a.json()['headers']['X-Claimgate-User'], b['path']]))\n")
    env = dict(os.environ, CLAIMGATE_CONFIG_DIR=str(home))
    out = subprocess.run(["/usr/bin/python3", "-c", script, str(ROOT / "python"), stack.url], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status, user, path = json.loads(out.stdout)
    assert (status, user) == (200, "alice") and path.endswith("/logs")
    saved = json.loads((home / "credentials.json").read_text())["gateways"][stack.url]
    assert saved["refresh_token"] != t["refresh_token"] and saved["expires_at"] > time.time()
    assert stat.S_IMODE((home / "credentials.json").stat().st_mode) == 0o600


def test_token_metrics_count_minted_refreshed_and_refused(stack):
    def count(m, name, **labels):
        return value(m, name, **labels) or 0

    before = scrape(stack)
    t = device_login(stack, "alice")
    made = requests.post(stack.url + "/.claimgate/tokens", headers=bearer(t["access_token"]), timeout=15,
                         json={"agent": "metrics-bot", "scope": ["jobs:read"], "project": "vision", "ttl": "1h"})
    assert made.status_code == 201, made.text
    assert refresh(stack, t["refresh_token"]).status_code == 200
    forged = t["refresh_token"].rsplit(".", 1)[0] + ".AAAA"
    assert refresh(stack, forged).status_code == 400
    for token in ("not-a-token", t["refresh_token"]):
        r = requests.get(stack.url + "/api/projects/vision/jobs", headers=bearer(token), timeout=15)
        assert r.status_code == 401, r.text
    after = scrape(stack)
    grew = lambda name, n=1, **labels: count(after, name, **labels) - count(before, name, **labels) == n
    assert grew("claimgate_tokens_minted_total", kind="cli")
    assert grew("claimgate_tokens_minted_total", kind="agent")
    assert grew("claimgate_tokens_refreshed_total", kind="cli")
    assert grew("claimgate_tokens_refused_total", kind="refresh", code="gateway.grant_invalid")
    assert grew("claimgate_tokens_refused_total", kind="unknown", code="gateway.token_invalid")
    assert grew("claimgate_tokens_refused_total", kind="refresh", code="gateway.token_invalid")
