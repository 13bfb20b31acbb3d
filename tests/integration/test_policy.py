"""Claim-driven access end to end: a real pysaml2 IdP signs alice (ml-vision-ds), bob
(devops-engineers), carol (viewers) and dave (no group) in; the gateway decides every request
with examples/policy/ml-platform.yaml and passes the decision to the echo upstream. Also: path
tricks, whoami, the 403 page, hot reload, and `claimgate policy` / `claimgate check`."""
import http.client
import json
import pathlib
import re
import signal
import threading
import time

import jwt
import pytest
import requests

from conftest import ROOT, claimgate_bin, run
from gateway_stack import DemoStack

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"
CASES = ROOT / "examples" / "policy" / "ml-platform.cases.yaml"
# Appended to the copy of the example policy: a route to the upstream's slow endpoint.
LAB_RULE = '  - {methods: [GET], path: "/lab/{rest*}", signed_in: true}\n'


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("policy")
    s = DemoStack(d, claimgate_bin(), store="memory", policy=POLICY, routes=[])
    s.stop_gateway()
    cfg = s.config.read_text().replace(
        "routes:\n  []\n",
        "routes:\n"
        f"  - {{name: lab, prefix: /lab/, upstream: \"{s.upstream_url}\", strip_prefix: true}}\n"
        f"  - {{name: app, prefix: /, upstream: \"{s.upstream_url}\"}}\n")
    s.config.write_text(cfg)
    s.policy.write_text(POLICY.read_text() + LAB_RULE)
    s.start_gateway()
    s.people = {}
    for user in ("alice", "bob", "carol", "dave"):
        sess = requests.Session()
        r = s.signin(sess, user, "/")
        assert r.status_code == 200, (user, r.status_code, r.text[:300])
        s.people[user] = sess
    yield s
    s.stop()


def call(stack, user, method, path):
    return stack.people[user].request(method, stack.url + path, headers=JSON, timeout=15)


API = [
    ("POST", "/api/projects/vision/jobs"),
    ("GET", "/api/projects/vision/jobs/j-1/logs"),
    ("POST", "/api/projects/vision/jobs/j-1/cancel"),
    ("POST", "/api/projects/vision/models"),
    ("POST", "/api/projects/vision/models/m1/deploy"),
    ("POST", "/api/projects/vision/endpoints/e1/invoke"),
    ("POST", "/api/projects/vision/compute"),
    ("PUT", "/api/projects/vision/data/train.csv"),
    ("GET", "/api/audit/events"),
]
# Who may do what (the issue's four people), and the reason each denial gives.
EXPECTED = {
    "alice": [200, 200, 200, 200, "permission-missing", "permission-missing", "permission-missing", 200,
              "permission-missing"],
    "bob": ["permission-missing", 200, 200, "permission-missing", 200, 200, 200, "permission-missing",
            "permission-missing"],
    "carol": ["permission-missing", 200, "permission-missing", "permission-missing", "permission-missing",
              "permission-missing", "permission-missing", "permission-missing", "permission-missing"],
    "dave": ["no-role-in-project"] * 8 + ["no-role-in-project"],
}


def test_each_person_may_do_what_their_groups_grant(stack):
    for user, expected in EXPECTED.items():
        for (method, path), want in zip(API, expected):
            r = call(stack, user, method, path)
            if want == 200:
                assert r.status_code == 200, (user, method, path, r.status_code, r.text[:300])
                seen = r.json()
                assert seen["path"] == path
                assert seen["headers"]["X-Claimgate-User"] == user
            else:
                assert r.status_code == 403, (user, method, path, r.status_code)
                body = r.json()
                assert body["reason"] == want, (user, method, path, body)
                assert body["error"] == "gateway.forbidden" and body["code"] == 6507
                assert body["request_id"] == r.headers["X-Request-Id"]


def test_the_upstream_receives_the_decision_and_the_roles(stack):
    r = call(stack, "alice", "POST", "/api/projects/vision/jobs/j-1/cancel")
    h = r.json()["headers"]
    assert h["X-Claimgate-Project"] == "vision"
    assert h["X-Claimgate-Permission"] == "jobs:cancel"
    assert h["X-Claimgate-Condition"] == "owner"  # the jobs service checks that alice owns j-1
    assert h["X-Claimgate-Roles"] == "data-scientist@vision"
    claims = jwt.decode(h["X-Claimgate-Assertion"], options={"verify_signature": False})
    assert claims["roles"] == ["data-scientist@vision"]
    assert r.json()["jwt"]["verified"]
    h = call(stack, "bob", "POST", "/api/projects/vision/jobs/j-1/cancel").json()["headers"]
    assert h["X-Claimgate-Permission"] == "jobs:cancel-any"
    assert "X-Claimgate-Condition" not in h
    # A client cannot supply the decision headers itself.
    r = stack.people["carol"].get(stack.url + "/api/projects/vision/jobs/j-1/logs",
                                  headers={**JSON, "X-Claimgate-Condition": "none", "X-Claimgate-Project": "x"},
                                  timeout=15)
    h = r.json()["headers"]
    assert h["X-Claimgate-Project"] == "vision" and "X-Claimgate-Condition" not in h


def raw_request(stack, user, method, target):
    """Sends `target` byte for byte (no client-side normalisation)."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in stack.people[user].cookies)
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=15)
    conn.putrequest(method, target, skip_accept_encoding=True)
    conn.putheader("Cookie", cookie)
    conn.putheader("Accept", "application/json")
    conn.putheader("Content-Length", "0")
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, (json.loads(body) if body.startswith(b"{") else body)


def test_path_tricks_reach_only_what_the_plain_path_reaches(stack):
    cases = [
        # (target, status, the path the upstream receives or the denial's reason)
        ("/api/projects/nlp/../vision/jobs", 200, "/api/projects/vision/jobs"),
        ("/api/projects/vision/../nlp/jobs", 403, "no-role-in-project"),
        ("/api/projects/vision/%2e%2e/nlp/jobs", 403, "no-role-in-project"),
        ("/api/projects/vision/.%2E/nlp/jobs", 403, "no-role-in-project"),
        ("//api//projects/vision///jobs", 200, "/api/projects/vision/jobs"),
        ("/api/projects/%76ision/jobs", 200, "/api/projects/vision/jobs"),
        ("/api/projects/vision/./jobs/", 200, "/api/projects/vision/jobs/"),
        ("/API/projects/vision/jobs", 403, "no-matching-rule"),
        ("/api/projects/Vision/jobs", 403, "no-role-in-project"),
        ("/api/projects/vision%2Fjobs", 400, "policy.path_encoding"),
        ("/api/projects/vision%5Cjobs", 400, "policy.path_encoding"),
        ("/api/projects/vision/jobs%00", 400, "policy.path_encoding"),
        ("/../api/projects/vision/jobs", 400, "policy.path_above_root"),
    ]
    for target, status, what in cases:
        got, body = raw_request(stack, "alice", "POST", target)
        assert got == status, (target, got, body)
        if status == 200:
            assert body["path"] == what, (target, body["path"])
        elif status == 403:
            assert body["reason"] == what, (target, body)
        else:
            assert body["error"] == what, (target, body)


def test_forward_auth_decides_with_the_same_policy(stack):
    s = stack.people["alice"]
    ok = s.get(stack.url + "/auth", headers={**JSON, "X-Original-URI": "/api/projects/vision/jobs",
                                              "X-Original-Method": "POST",
                                              "X-Forwarded-Host": "ml.example.org"}, timeout=15)
    assert ok.status_code == 200 and ok.json()["permission"] == "jobs:submit"
    assert ok.headers["X-Claimgate-Project"] == "vision"
    no = s.get(stack.url + "/auth", headers={**JSON, "X-Original-URI": "/api/projects/vision/models/m/deploy",
                                              "X-Original-Method": "POST",
                                              "X-Forwarded-Host": "ml.example.org"}, timeout=15)
    assert no.status_code == 403 and no.json()["error"] == "permission-missing"
    trick = s.get(stack.url + "/auth", headers={**JSON, "X-Original-URI": "/api/projects/vision/../x/jobs",
                                                 "X-Original-Method": "POST",
                                              "X-Forwarded-Host": "ml.example.org"}, timeout=15)
    # A path not in normalised form is refused: nginx passes it on as written, so deciding its
    # normalised form would decide another request than the upstream gets.
    assert trick.status_code == 403 and trick.json()["error"] == "gateway.forward_auth_request"
    assert "normalised form" in trick.json()["message"]


def test_whoami_shows_roles_per_project_and_the_claim_behind_each(stack):
    who = stack.people["alice"].get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).json()
    assert who["roles"] == ["data-scientist@vision"]
    [g] = who["role_grants"]
    assert (g["project"], g["role"], g["claim"], g["value"]) == ("vision", "data-scientist", "groups", "ml-vision-ds")
    page = stack.people["bob"].get(stack.url + "/.claimgate/whoami", headers=HTML, timeout=15).text
    assert "devops-engineer" in page and "every project" in page and "groups=devops-engineers" in page
    page = stack.people["dave"].get(stack.url + "/.claimgate/whoami", headers=HTML, timeout=15).text
    assert "No role" in page


def test_the_403_page_gives_the_reason_and_request_id_not_the_policy(stack):
    r = stack.people["carol"].post(stack.url + "/api/projects/vision/jobs", headers=HTML, timeout=15)
    assert r.status_code == 403
    assert "permission-missing" in r.text
    assert r.headers["X-Request-Id"] in r.text
    assert "jobs:submit" in r.text  # what was needed ...
    assert "ml-(" not in r.text and "bindings[" not in r.text  # ... but not the policy's insides
    assert r.headers["X-Request-Id"] in stack.gateway_log()


def wait_for(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def metric(stack, name):
    text = requests.get(stack.diag_url + "/metrics", timeout=10).text
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_reload_on_change_and_sighup_keeps_the_old_policy_when_broken(stack):
    carol_submits = lambda: call(stack, "carol", "POST", "/api/projects/vision/jobs").status_code == 200  # noqa: E731
    assert not carol_submits()
    original = stack.policy.read_text()
    # A request in flight across the reloads finishes normally.
    slow = {}
    t = threading.Thread(target=lambda: slow.update(
        r=stack.people["alice"].get(stack.url + "/lab/slow?seconds=3", headers=JSON, timeout=30)))
    t.start()
    try:
        # 1. A good change, picked up from the file: carol (same session, no new sign-in) may submit.
        stack.policy.write_text(original.replace(
            "bindings:\n",
            "bindings:\n  - {claim: groups, equals: viewers, role: data-scientist, project: vision}\n"))
        assert wait_for(carol_submits), stack.gateway_log()[-2000:]
        # 2. A broken file: refused, logged with its problems; the policy in force stays.
        stack.policy.write_text(stack.policy.read_text().replace("role: data-scientist, project: vision",
                                                                 "role: wizard, project: vision"))
        assert wait_for(lambda: "policy.reload_refused" in stack.gateway_log()), stack.gateway_log()[-2000:]
        assert "wizard" in stack.gateway_log()
        assert carol_submits()
        assert metric(stack, 'claimgate_policy_reloads_total{result="refused"}') >= 1
        # Invalid YAML too.
        stack.policy.write_text("rules: [\n")
        stack.gateway.send_signal(signal.SIGHUP)
        assert wait_for(lambda: stack.gateway_log().count("policy.reload_refused") >= 2)
        assert carol_submits()
        assert stack.gateway.poll() is None
        # 3. SIGHUP with the original back: carol may only read again.
        stack.policy.write_text(original)
        stack.gateway.send_signal(signal.SIGHUP)
        assert wait_for(lambda: not carol_submits())
        assert metric(stack, 'claimgate_policy_reloads_total{result="applied"}') >= 2
    finally:
        stack.policy.write_text(original)
        t.join(30)
    assert slow["r"].status_code == 200


def test_policy_explain_and_test_commands():
    p = run(["policy", "explain", "--config", str(POLICY), "--claim", "groups=ml-vision-ds",
             "--claim", "email=a@example.org", "POST", "/api/projects/vision/jobs"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("ALLOW POST /api/projects/vision/jobs")
    assert "data-scientist in vision  <- groups=ml-vision-ds" in p.stdout
    assert "rules[" in p.stdout and "jobs:submit" in p.stdout
    p = run(["policy", "explain", "--config", str(POLICY), "--claim", "groups=ml-vision-ds",
             "POST", "/api/projects/vision/models/m1/deploy"])
    assert p.returncode == 1
    assert "reason:     permission-missing" in p.stdout and "models:deploy" in p.stdout
    p = run(["policy", "explain", "--json", "--config", str(POLICY), "--claim", "groups=viewers",
             "GET", "/api/projects/x/../vision/jobs"])
    assert p.returncode == 0
    j = json.loads(p.stdout)
    assert (j["effect"], j["path"], j["role"], j["project"]) == ("allow", "/api/projects/vision/jobs", "viewer", "vision")
    p = run(["policy", "test", "--config", str(POLICY), str(CASES)])
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"(\d+) case\(s\), \1 passed, 0 failed", p.stdout)


def test_policy_test_reports_a_failing_case_with_its_explanation(tmp_path):
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n"
                     "  - {name: bob submits, claims: {groups: [devops-engineers]},"
                     " request: POST /api/projects/vision/jobs, expect: allow}\n"
                     "  - {name: carol reads, claims: {groups: viewers},"
                     " request: GET /api/projects/vision/jobs, expect: allow, role: viewer}\n")
    p = run(["policy", "test", "--config", str(POLICY), str(cases)])
    assert p.returncode == 1
    assert "FAIL  bob submits: expected allow, got deny" in p.stdout
    assert "reason:     permission-missing" in p.stdout
    assert "ok    carol reads" in p.stdout
    assert "2 case(s), 1 passed, 1 failed" in p.stdout


def test_check_reports_policy_problems_and_warnings(tmp_path):
    stack = DemoStack(tmp_path, claimgate_bin(), store="memory", upstream=False,
                      routes=[{"name": "app", "prefix": "/api/", "upstream": "http://127.0.0.1:9"}])
    try:
        base = stack.config.read_text()
        stack.config.write_text(base + (
            "bindings:\n"
            "  - {claim: groups, equals: g, role: wizard, project: a}\n"
            "  - {claim: groups, matches: 'ml-(\\\\w+)', role: viewer, project: $2}\n"
            "rules:\n"
            "  - {methods: [GET], path: /api/x, permission: jobs:fly}\n"
            "  - {methods: [GET], path: '/api/{a}', permission: jobs:read, project: x}\n"
            "  - {methods: [GET], path: '/api/{b}', permission: jobs:read, project: x}\n"))
        p = run(["check", "--config", str(stack.config)])
        assert p.returncode == 1
        for needle in ("bindings[0].role", "wizard", "bindings[1].project", "rules[0].permission", "jobs:fly",
                       "rules[2]", "can never match"):
            assert needle in p.stderr, (needle, p.stderr)
        stack.config.write_text(base + (
            "bindings:\n"
            "  - {claim: groups, matches: 'ml-(\\\\w+)-ds', role: data-scientist, project: $1}\n"
            "rules:\n"
            "  - {methods: [POST], path: '/api/projects/{project}/jobs', permission: jobs:submit}\n"
            "  - {methods: [GET], path: '/mlflow/{rest*}', permission: models:read}\n"))
        p = run(["check", "--config", str(stack.config)])
        assert p.returncode == 0, p.stderr
        assert "not anchored" in p.stdout
        assert "rules[1] (/mlflow/{rest*}) can never match: no route" in p.stdout
        assert "policy: 2 rule(s), 1 binding(s)" in p.stdout
    finally:
        stack.stop()
