"""The audit log end to end: a scripted scenario of sign-ins (pysaml2 IdP), decisions under the
example policy, a failed and a forged sign-in and a sign-out goes through the real gateway; then
`claimgate audit verify | report | search` read it back. Also: tampering found by the CLI, the
syslog copy (RFC 5424 over UDP), a kill -9 in the middle of load, rotation under load, and a
full disk (a small tmpfs) that makes the gateway refuse sign-ins until space returns."""
import base64
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import ROOT, chromium_driver, claimgate_bin, run
from gateway_stack import DemoStack

JSON = {"Accept": "application/json"}
POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"
ARTIFACTS = pathlib.Path(os.environ.get("CG_ARTIFACTS", ROOT / "build" / "test-artifacts"))


def records(path):
    out = []
    for f in sorted(pathlib.Path(path).parent.glob("audit*.jsonl")):
        for line in f.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


class Syslog:
    """A UDP listener standing in for a syslog server."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                self.messages.append(self.sock.recv(70000).decode())
            except socket.timeout:
                pass

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    syslog = Syslog()
    d = tmp_path_factory.mktemp("audit")
    extra = ("audit:\n  path: audit/audit.jsonl\n  instance: gw-audit-test\n  also: syslog\n"
             f"  syslog: {{address: \"udp://127.0.0.1:{syslog.port}\", facility: auth}}\n")
    s = DemoStack(d, claimgate_bin(), store="memory", policy=POLICY, extra_config=extra)
    s.calls = []
    s.cookies = []
    sessions = {}
    for user in ("alice", "bob", "carol"):
        sessions[user] = requests.Session()
        r = s.signin(sessions[user], user, "/")
        assert r.status_code == 200, (user, r.text[:300])
        s.cookies.append(sessions[user].cookies.get("cg_session"))
    plan = [("alice", "POST", "/api/projects/vision/jobs"),
            ("alice", "POST", "/api/projects/vision/models/m1/deploy"),
            ("alice", "GET", "/api/projects/nlp/jobs"),
            ("bob", "POST", "/api/projects/vision/models/m1/deploy"),
            ("bob", "POST", "/api/projects/vision/compute"),
            ("carol", "GET", "/api/projects/vision/jobs"),
            ("carol", "POST", "/api/projects/vision/jobs")]
    for user, method, path in plan:
        r = sessions[user].request(method, s.url + path, headers=JSON, timeout=15)
        s.calls.append((user, method, path, r.status_code))
    # A response with no pending sign-in, and a forged one (its subject edited after signing).
    r = requests.post(s.url + "/saml/acs", data={"SAMLResponse": "PHNhbWw+", "RelayState": "nope"},
                      headers=JSON, timeout=15)
    assert r.status_code == 400
    forger = requests.Session()
    acs, form = s.saml_post(forger, "carol", "/")
    xml = base64.b64decode(form["SAMLResponse"]).decode()
    assert ">carol<" in xml
    form["SAMLResponse"] = base64.b64encode(xml.replace(">carol<", ">admin<").encode()).decode()
    s.forged_response = form["SAMLResponse"]
    r = forger.post(acs, data=form, headers=JSON, timeout=15)
    assert r.status_code == 403
    # alice signs out.
    r = s.signout(sessions["alice"], allow_redirects=False)
    assert r.status_code in (200, 302)
    assert s.stop_gateway() == 0
    time.sleep(0.3)
    s.syslog = syslog
    s.log = d / "audit" / "audit.jsonl"
    yield s
    syslog.close()
    s.stop()


def test_every_event_of_the_scenario_is_recorded(scenario):
    recs = records(scenario.log)
    types = [r["type"] for r in recs]
    assert types[0] == "audit.checkpoint" and types[-1] == "audit.checkpoint"
    assert recs[-1]["reason"] == "shutdown"
    for t in ("gateway.started", "keys.in_use", "login.success", "session.created", "authz.allow",
              "authz.deny", "login.failure", "session.logged_out", "gateway.stopped"):
        assert t in types, t
    seqs = [r["seq"] for r in recs]
    assert seqs == list(range(1, len(recs) + 1))
    alice = next(r for r in recs if r["type"] == "login.success" and r["subject"] == "alice")
    assert "ml-vision-ds" in alice["claims"]["groups"]
    assert alice["idp"] == "demo" and alice["assertion_id"] and alice["authn_instant"]
    assert alice["client"] == "127.0.0.1" and "python-requests" in alice["user_agent"]
    assert any({"role": "data-scientist", "project": "vision", "claim": "groups", "value": "ml-vision-ds"}.items()
               <= g.items() for g in alice["role_grants"])
    # Every decision of the plan, allow and deny, with the normalised path and the rule.
    decisions = [r for r in recs if r["type"] in ("authz.allow", "authz.deny") and r["path"].startswith("/api/")]
    got = [(r["subject"], r["method"], r["path"], r["type"]) for r in decisions]
    want = [(u, m, p, "authz.allow" if st < 400 else "authz.deny") for u, m, p, st in scenario.calls]
    assert got == want
    deny = next(r for r in decisions if r["type"] == "authz.deny")
    assert deny["rule"].startswith("rules[") and deny["reason"] and deny["roles"] is not None
    failures = [r for r in recs if r["type"] == "login.failure"]
    codes = {r["code"] for r in failures}
    assert "gateway.relay_state" in codes
    forged = next(r for r in failures if r["code"].startswith("signature."))
    assert forged["issuer"] and forged["assertion_id"] and forged["check"]
    assert all(r["instance"] == "gw-audit-test" for r in recs)


def test_no_secret_reaches_the_log(scenario):
    text = "".join(f.read_text() for f in scenario.log.parent.glob("audit*.jsonl"))
    for cookie in scenario.cookies:
        assert cookie and cookie not in text
    assert scenario.forged_response[:60] not in text
    assert "eyJ" not in text  # no JWT
    assert "SAMLResponse" not in text


def test_verify_passes_on_the_intact_log(scenario):
    r = run(["audit", "verify", "--config", str(scenario.config)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^OK: \d+ records \(1 to \d+\) in 1 file\(s\), \d+ checkpoint\(s\) verified; \d+ records/s$",
                     r.stdout, re.M), r.stdout
    j = json.loads(run(["audit", "verify", "--config", str(scenario.config), "--json"]).stdout)
    assert j["intact"] and j["records"] == len(records(scenario.log))


def test_verify_finds_tampering_and_says_where(scenario, tmp_path):
    keys = scenario.dir / "keyring"
    pin = scenario.log.parent / "audit-checkpoint.pem.pub"
    lines = scenario.log.read_text().splitlines(keepends=True)
    deny_line = next(i for i, l in enumerate(lines) if '"type":"authz.deny"' in l and "deploy" in l)
    cases = {
        "edited": lines[:deny_line] + [lines[deny_line].replace("authz.deny", "authz.allow")] + lines[deny_line + 1:],
        "removed": lines[:deny_line] + lines[deny_line + 1:],
        "reordered": lines[:deny_line - 1] + [lines[deny_line], lines[deny_line - 1]] + lines[deny_line + 1:],
        "inserted": lines[:deny_line] + [lines[deny_line - 1]] + lines[deny_line:],
        "truncated": lines[:-1] + [lines[-1][:30]],
    }
    want = {"edited": "audit.chain", "removed": "audit.sequence", "reordered": "audit.sequence",
            "inserted": "audit.sequence", "truncated": "audit.truncated"}
    for name, content in cases.items():
        f = tmp_path / f"{name}.jsonl"
        f.write_text("".join(content))
        r = run(["audit", "verify", "--keys", str(keys), "--checkpoint-key", str(pin), str(f)])
        assert r.returncode == 1, (name, r.stdout)
        assert want[name] in r.stdout, (name, r.stdout)
        assert re.search(rf"FAIL {re.escape(str(f))}:\d+: 80\d\d ", r.stdout), r.stdout
    # Records cut from the end at a line boundary: the index remembers the last record it saw.
    run(["audit", "index", "--config", str(scenario.config)], check=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-3]))
    r = run(["audit", "verify", "--keys", str(keys), "--checkpoint-key", str(pin),
             "--index", str(scenario.log.parent / "index.db"), str(cut)])
    assert r.returncode == 1 and "records were removed from its end" in r.stdout, r.stdout


def _resign_with_keyring_key(line, key_id, key_pem):
    """A checkpoint line re-signed as an older log's: with the keyring's ES256 signing key (the
    cookie/JWT key) over "claimgate-audit-checkpoint/1\n" + the line without its signature."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    head = line[:line.index(',"key_class"')] if ',"key_class"' in line else line[:line.index(',"key_id"')]
    tail = line[line.index(',"instance":'):]
    unsigned = head + ',"key_id":' + json.dumps(key_id) + ',"alg":"ES256"' + tail
    key = serialization.load_pem_private_key(key_pem, password=None)
    r, s_ = utils.decode_dss_signature(key.sign(b"claimgate-audit-checkpoint/1\n" + unsigned.encode(),
                                                ec.ECDSA(hashes.SHA256())))
    sig = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s_.to_bytes(32, "big")).rstrip(b"=").decode()
    at = unsigned.index(',"instance":')
    return unsigned[:at] + f',"signature":"{sig}"' + unsigned[at:]


def test_verify_refuses_a_chain_resigned_with_the_keyring_key(scenario, tmp_path):
    # The gateway signs its checkpoints with its own checkpoint key (0600, beside the log, its
    # public key in the records), not with the keyring the request path uses.
    key_file = scenario.log.parent / "audit-checkpoint.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    recs = records(scenario.log)
    cps = [r for r in recs if r["type"] == "audit.checkpoint"]
    assert cps and all(r["key_class"] == "checkpoint" and r["public_key"] and r["key_id"].startswith("cp-")
                       for r in cps)
    fp = cps[0]["key_sha256"]
    keyring = scenario.dir / "keyring"
    assert not any(fp in p.read_text(errors="ignore") for p in keyring.rglob("*") if p.is_file())
    r = run(["audit", "verify", "--config", str(scenario.config)])
    assert r.returncode == 0 and f"signed by checkpoint key {cps[0]['key_id']} (sha256:{fp})" in r.stdout, r.stdout
    r = run(["audit", "verify", "--checkpoint-key", f"sha256:{fp}", str(scenario.log)])
    assert r.returncode == 0, r.stdout + r.stderr

    # An attacker holding the keyring turns a denial into an allow, relinks the chain and
    # re-signs every later checkpoint with the keyring's signing key.
    sign_pem = sorted(keyring.glob("sign-*.pem"))[-1]
    kid = sign_pem.name[len("sign-"):-len(".pem")]
    lines = scenario.log.read_text().splitlines()
    deny = next(i for i, l in enumerate(lines) if '"type":"authz.deny"' in l and "deploy" in l)
    lines[deny] = lines[deny].replace("authz.deny", "authz.allow")
    resigned = 0
    for i in range(deny + 1, len(lines)):
        prev = hashlib.sha256(lines[i - 1].encode()).hexdigest()
        lines[i] = lines[i][:-66] + prev + '"}'
        if '"type":"audit.checkpoint"' in lines[i]:
            lines[i] = _resign_with_keyring_key(lines[i], kid, sign_pem.read_bytes())
            resigned += 1
    assert resigned >= 1
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n")
    # The chain links (only signatures can tell)...
    r = run(["audit", "verify", "--no-signatures", str(forged)])
    assert r.returncode == 0, r.stdout
    # ... but verify refuses it, with the keyring given or not, the checkpoint key pinned by
    # the config or by its fingerprint.
    for args in (["--config", str(scenario.config)],
                 ["--keys", str(keyring), "--checkpoint-key", f"sha256:{fp}"],
                 ["--checkpoint-key", str(key_file) + ".pub"]):
        r = run(["audit", "verify", *args, str(forged)])
        assert r.returncode == 1, (args, r.stdout)
        assert re.search(rf"FAIL {re.escape(str(forged))}:\d+: 8007 audit.checkpoint: checkpoint at record \d+: "
                         rf"it is signed with keyring key {kid}", r.stdout), (args, r.stdout)
    # Re-signed with a checkpoint key of the attacker's own: refused unless that key is pinned.
    r = run(["audit", "verify", "--checkpoint-key", f"sha256:{'0' * 64}", str(scenario.log)])
    assert r.returncode == 1 and "not the pinned checkpoint key" in r.stdout, r.stdout
    # With the keyring only, no checkpoint key pinned: refused too, saying how to pin one.
    r = run(["audit", "verify", "--keys", str(keyring), str(scenario.log)])
    assert r.returncode == 1 and "no checkpoint key is pinned" in r.stdout, r.stdout



def _relink(lines, start=0, resign=None):
    """Recomputes every prev from line `start` on (re-signing checkpoints with `resign`)."""
    for i in range(start, len(lines)):
        prev = "0" * 64 if i == 0 else hashlib.sha256(lines[i - 1].encode()).hexdigest()
        lines[i] = lines[i][:-66] + prev + '"}'
        if resign and '"type":"audit.checkpoint"' in lines[i]:
            lines[i] = resign(lines[i])
    return lines


def test_verify_refuses_records_no_pinned_checkpoint_signs(scenario, tmp_path):
    keyring = scenario.dir / "keyring"
    pin = str(scenario.log.parent / "audit-checkpoint.pem.pub")
    lines = scenario.log.read_text().splitlines()
    assert '"reason":"shutdown"' in lines[-1]
    r = run(["audit", "verify", "--checkpoint-key", pin, "--closed", str(scenario.log)])
    assert r.returncode == 0 and "unsigned tail: 0 record(s)" in r.stdout, r.stdout

    def verify(content, *args):
        f = tmp_path / "forged.jsonl"
        f.write_text("\n".join(content) + "\n")
        return f, run(["audit", "verify", "--checkpoint-key", pin, *args, str(f)])

    # (a) Rewritten from record 1 without any checkpoint: the chain links, but nothing is signed.
    no_cps = [l for l in lines if '"type":"audit.checkpoint"' not in l]
    no_cps = [re.sub(r'^\{"seq":\d+,', '{"seq":%d,' % (i + 1), l) for i, l in enumerate(no_cps)]
    f, r = verify(_relink(no_cps))
    assert run(["audit", "verify", "--no-signatures", str(f)]).returncode == 0
    assert r.returncode == 1, r.stdout
    assert re.search(rf"FAIL {re.escape(str(f))}:1: 8007 audit.checkpoint: record 1 comes before any "
                     r"signed checkpoint", r.stdout), r.stdout
    # (b) Records added after the shutdown checkpoint (a restarted gateway signs a start
    # checkpoint first) ...
    deny = next(l for l in lines if '"type":"authz.deny"' in l)
    extra = re.sub(r'^\{"seq":\d+,', '{"seq":%d,' % (len(lines) + 1), deny)
    f, r = verify(_relink(lines + [extra], len(lines)))
    assert r.returncode == 1 and "8007 audit.checkpoint" in r.stdout, r.stdout
    assert "follows the shutdown checkpoint" in r.stdout, r.stdout
    # ... or the shutdown checkpoint dropped: the rest reads as a running gateway's unsigned
    # tail, which --closed (the gateway is stopped) and --max-unsigned refuse.
    cut = lines[:-1]
    last_cp = max(i for i, l in enumerate(cut) if '"type":"audit.checkpoint"' in l)
    tail = len(cut) - 1 - last_cp
    assert tail > 0
    f, r = verify(cut)
    assert r.returncode == 0 and f"unsigned tail: {tail} record(s)" in r.stdout, r.stdout
    f, r = verify(cut, "--closed")
    assert r.returncode == 1 and "8008 audit.truncated" in r.stdout and "--closed" in r.stdout, r.stdout
    f, r = verify(cut, "--max-unsigned", str(tail - 1) if tail > 1 else "1")
    if tail > 1:
        assert r.returncode == 1 and "8007 audit.checkpoint" in r.stdout, r.stdout
    # (c) Every checkpoint re-signed with the keyring (whoever holds the cookie/JWT key):
    # refused by default; only --legacy-keyring-checkpoints reads it, saying what it means.
    sign_pem = sorted(keyring.glob("sign-*.pem"))[-1]
    kid = sign_pem.name[len("sign-"):-len(".pem")]
    forged = _relink(list(lines), 0, lambda l: _resign_with_keyring_key(l, kid, sign_pem.read_bytes()))
    f, r = verify(forged, "--keys", str(keyring))
    assert r.returncode == 1, r.stdout
    assert re.search(rf"FAIL {re.escape(str(f))}:1: 8007 audit.checkpoint: checkpoint at record 1: it is "
                     rf"signed with keyring key {kid}", r.stdout), r.stdout
    assert "--legacy-keyring-checkpoints" in r.stdout, r.stdout
    f, r = verify(forged, "--keys", str(keyring), "--legacy-keyring-checkpoints")
    assert r.returncode == 0, r.stdout
    assert "could have re-signed" in r.stdout, r.stdout
    f, r = verify(forged, "--keys", str(keyring), "--legacy-keyring-checkpoints", "--no-keyring-checkpoints")
    assert r.returncode == 1 and "--no-keyring-checkpoints refuses" in r.stdout, r.stdout

def test_report_json_answers_the_reviewers_questions(scenario):
    r = run(["audit", "report", "--config", str(scenario.config), "--since", "1d", "--format", "json"])
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["chain"]["intact"] is True
    users = {u["subject"]: u for u in rep["users"]}
    assert set(users) == {"alice", "bob", "carol"}
    assert "data-scientist@vision" in users["alice"]["roles"]
    grants = [g for g in rep["role_grants"] if g["subject"] == "alice"]
    assert any(g["role"] == "data-scientist" and g["project"] == "vision" and g["claim"] == "groups"
               and g["value"] == "ml-vision-ds" for g in grants)
    denied = [(u, m, p) for u, m, p, st in scenario.calls if st == 403]
    assert [(d["subject"], d["method"], d["path"]) for d in rep["denials"] if d["path"].startswith("/api/")] == denied
    allowed_priv = [(u, p) for u, m, p, st in scenario.calls if st < 400 and ("deploy" in p or "compute" in p)]
    assert [(a["subject"], a["path"]) for a in rep["privileged_actions"] if a["type"] == "authz.allow"] == allowed_priv
    codes = {f["code"]: f["count"] for f in rep["failed_sign_ins"]}
    assert codes.get("gateway.relay_state") == 1 and any(c.startswith("signature.") for c in codes)
    sess = {s["subject"]: s for s in rep["sessions"]}
    assert sess["alice"]["created"] == 1 and sess["alice"]["logged_out"] == 1
    assert sess["bob"]["created"] == 1 and sess["bob"]["logged_out"] == 0
    assert sum(d["sign_ins"] for d in rep["per_day"]) == 3
    assert sum(d["denials"] for d in rep["per_day"]) >= len(denied)


def test_report_csv_and_html(scenario, tmp_path):
    out = tmp_path / "report.csv"
    r = run(["audit", "report", "--config", str(scenario.config), "--format", "csv", "--out", str(out)])
    assert r.returncode == 0, r.stderr
    csv = out.read_text()
    for section in ("users", "role_grants", "privileged_actions", "denials", "failed_sign_ins", "sessions",
                    "tokens_alive", "per_day"):
        assert f"section,{section}\n" in csv
    assert "\nyes," in csv  # the chain is intact
    html = tmp_path / "report.html"
    r = run(["audit", "report", "--config", str(scenario.config), "--format", "html", "--out", str(html)])
    assert r.returncode == 0, r.stderr
    text = html.read_text()
    assert "<script" not in text and "http://" not in text.split("<body>")[0]
    assert text.count("<svg") == 2 and "Chain intact" in text


def test_report_html_renders_in_chromium(scenario, tmp_path):
    from selenium.webdriver.common.by import By
    html = tmp_path / "report.html"
    run(["audit", "report", "--config", str(scenario.config), "--format", "html", "--out", str(html)], check=True)
    driver, profile = chromium_driver("1300,1800")
    try:
        driver.get(html.as_uri())
        assert driver.find_element(By.TAG_NAME, "h1").text == "claimgate access report"
        assert "Chain intact" in driver.find_element(By.ID, "chain-status").text
        bars = driver.find_elements(By.CSS_SELECTOR, "svg rect")
        assert any(float(b.get_attribute("height")) > 0 for b in bars)
        rows = driver.find_elements(By.CSS_SELECTOR, "#denials + table tr")
        assert len(rows) >= 2
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "audit-report.png"))
        assert (ARTIFACTS / "audit-report.png").stat().st_size > 10_000
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_search_answers_everyday_questions(scenario):
    r = run(["audit", "search", "--config", str(scenario.config), "--subject", "alice", "--type", "authz.deny",
             "--since", "1d", "--json"])
    assert r.returncode == 0, r.stderr
    found = [json.loads(l) for l in r.stdout.splitlines()]
    want = [p for u, m, p, st in scenario.calls if u == "alice" and st == 403]
    assert [f["path"] for f in found] == want
    r = run(["audit", "search", "--config", str(scenario.config), "--type", "login."])
    assert r.returncode == 0
    assert "login.failure" in r.stdout and "login.success" in r.stdout
    assert r.stderr.strip().endswith("record(s)")


def test_syslog_copy_is_rfc5424(scenario):
    deadline = time.monotonic() + 5
    n = len(records(scenario.log))
    while len(scenario.syslog.messages) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    msgs = scenario.syslog.messages
    assert len(msgs) == n
    pat = re.compile(r"^<(\d+)>1 (\S+) (\S+) claimgate (\d+) ([a-z_.]+) - (\{.*\})$")
    for m in msgs:
        g = pat.match(m)
        assert g, m[:200]
        rec = json.loads(g.group(6))
        assert g.group(5) == rec["type"] and g.group(2) == rec["time"]
        sev = int(g.group(1)) - 4 * 8  # facility auth
        assert sev == (4 if rec["type"] in ("authz.deny", "login.failure") else 6) or rec["type"].endswith(".revoked")


def _pin(log):
    """--checkpoint-key for the log's checkpoint key (beside it, by default)."""
    return ["--checkpoint-key", str(pathlib.Path(log).parent / "audit-checkpoint.pem")]


def _stack_with_session(tmp_path, extra):
    s = DemoStack(tmp_path, claimgate_bin(), store="sqlite", extra_config=extra)
    sess = requests.Session()
    assert s.signin(sess, "alice", "/").status_code == 200
    return s, sess


def test_kill_9_under_load_leaves_a_log_that_verifies_and_continues(tmp_path):
    s, sess = _stack_with_session(tmp_path, "audit: {path: audit/audit.jsonl, flush_interval: 5ms}\n")
    try:
        stop = threading.Event()
        done = []

        def load():
            c = requests.Session()
            c.cookies.update(sess.cookies)
            while not stop.is_set():
                try:
                    c.get(s.url + "/load", headers=JSON, timeout=5)
                    done.append(1)
                except requests.RequestException:
                    return
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        s.gateway.send_signal(signal.SIGKILL)
        s.gateway.wait(10)
        stop.set()
        for t in threads:
            t.join()
        assert len(done) > 50
        log = tmp_path / "audit" / "audit.jsonl"
        r = run(["audit", "verify", "--keys", str(tmp_path / "keyring"), *_pin(log), str(log)])
        # Whole records verify; at most the last line is torn.
        assert r.returncode == 0 or ("audit.truncated" in r.stdout and "Every whole record" in r.stdout), r.stdout
        s.start_gateway()
        assert sess.get(s.url + "/after", headers=JSON, timeout=10).status_code == 200
        assert s.stop_gateway() == 0
        r = run(["audit", "verify", "--keys", str(tmp_path / "keyring"), *_pin(log), str(log)])
        assert r.returncode == 0, r.stdout
        recs = records(log)
        assert [x["seq"] for x in recs] == list(range(1, len(recs) + 1))
        assert sum(1 for x in recs if x["type"] == "gateway.started") == 2
    finally:
        s.stop()


def test_rotation_under_load_loses_and_repeats_nothing(tmp_path):
    s, sess = _stack_with_session(tmp_path, "audit: {path: audit/audit.jsonl, rotate_bytes: 16KiB}\n")
    try:
        ids = []
        for i in range(300):
            r = sess.get(s.url + f"/rot/{i}", headers=JSON, timeout=10)
            assert r.status_code == 200
            ids.append(f"/rot/{i}")
        assert s.stop_gateway() == 0
        files = sorted((tmp_path / "audit").glob("audit*.jsonl"))
        assert len(files) >= 3, files
        r = run(["audit", "verify", "--keys", str(tmp_path / "keyring"), *_pin(files[-1]), *map(str, files)])
        assert r.returncode == 0, r.stdout
        assert f"in {len(files)} file(s)" in r.stdout
        paths = [x["path"] for x in records(tmp_path / "audit" / "audit.jsonl") if x["type"] == "authz.allow"]
        assert sorted(p for p in paths if p.startswith("/rot/")) == sorted(ids)
    finally:
        s.stop()


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "audit"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("this test needs a small tmpfs (run as root with CAP_SYS_ADMIN): " + r.stderr)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def _fill(mnt):
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_full_disk_refuses_sign_ins_until_space_returns(tmp_path, small_disk):
    s, sess = _stack_with_session(tmp_path, "audit: {path: audit/audit.jsonl, flush_interval: 5ms}\n")
    try:
        filler = _fill(small_disk)
        # Records still fit in the file's last page; past it, writes fail and the log turns
        # unhealthy.
        deadline = time.monotonic() + 10
        n, answered = 0, set()
        while time.monotonic() < deadline and requests.get(s.diag_url + "/readyz", timeout=5).status_code == 200:
            if sess.get(s.url + f"/while-full/{n}", headers=JSON, timeout=10).status_code == 200:
                answered.add(f"/while-full/{n}")
            n += 1
            time.sleep(0.01)
        assert answered
        ready = requests.get(s.diag_url + "/readyz", timeout=5)
        assert ready.status_code == 503 and "audit log" in ready.text and "No space left" in ready.text
        metrics = requests.get(s.diag_url + "/metrics", timeout=5).text
        assert "claimgate_audit_healthy 0" in metrics
        # Fail closed: no sign-in, no proxied request; the process stays up.
        bob = requests.Session()
        acs, form = s.saml_post(bob, "bob", "/")
        r = bob.post(acs, data=form, headers=JSON, timeout=10)
        assert r.status_code == 503 and "audit.unavailable" in r.text
        r = sess.get(s.url + "/refused", headers=JSON, timeout=10)
        assert r.status_code == 503 and "audit" in r.text
        assert s.gateway.poll() is None
        # Space returns: the queued records are written, sign-ins work again.
        filler.unlink()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and requests.get(s.diag_url + "/readyz", timeout=5).status_code != 200:
            time.sleep(0.1)
        assert requests.get(s.diag_url + "/readyz", timeout=5).status_code == 200
        assert s.signin(requests.Session(), "bob", "/").status_code == 200
        assert s.stop_gateway() == 0
        log = small_disk / "audit.jsonl"
        r = run(["audit", "verify", "--keys", str(tmp_path / "keyring"), *_pin(log), str(log)])
        assert r.returncode == 0, r.stdout
        recs = records(log)
        assert any(x["type"] == "login.failure" and x["code"] == "audit.unavailable" for x in recs)
        # Every request allowed while the disk filled up is recorded: queued, not lost.
        allowed = {x["path"] for x in recs if x["type"] == "authz.allow"}
        assert answered <= allowed
        assert [x["seq"] for x in recs] == list(range(1, len(recs) + 1))
    finally:
        s.stop()


def test_stdout_copy_and_expiring_metadata(tmp_path):
    s = DemoStack(tmp_path, claimgate_bin(), store="memory",
                  extra_config="audit: {path: audit/audit.jsonl, also: stdout}\n")
    try:
        # The IdP's metadata now says it ends in 10 days: the start records it.
        s.stop_gateway()
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 10 * 86400))
        md = s.idps[0].metadata
        md.write_text(md.read_text().replace("<ns0:EntityDescriptor ", f'<ns0:EntityDescriptor validUntil="{until}" ', 1))
        s.start_gateway()
        assert s.signin(requests.Session(), "alice", "/").status_code == 200
        assert s.stop_gateway() == 0
        log = tmp_path / "audit" / "audit.jsonl"
        expiring = [r for r in records(log) if r["type"] == "metadata.expiring"]
        assert len(expiring) == 1 and expiring[0]["idp"] == "demo"
        assert expiring[0]["days_left"] in (9, 10) and expiring[0]["valid_until"].startswith(until[:10])
        # stdout (gateway.log holds stdout and stderr) has every record of the second run, as written.
        out = [l for l in s.gateway_log().splitlines() if l.startswith('{"seq":')]
        second_run = log.read_text().splitlines()[-len(out):]
        assert out == second_run and any('"type":"login.success"' in l for l in out)
    finally:
        s.stop()


def test_open_reads_lets_reads_through_while_the_disk_is_full(tmp_path, small_disk):
    s, sess = _stack_with_session(
        tmp_path, "audit: {path: audit/audit.jsonl, flush_interval: 5ms, on_failure: open_reads}\n")
    try:
        _fill(small_disk)
        deadline = time.monotonic() + 10
        n = 0
        while time.monotonic() < deadline and requests.get(s.diag_url + "/readyz", timeout=5).status_code == 200:
            sess.get(s.url + f"/fill/{n}", headers=JSON, timeout=10)
            n += 1
            time.sleep(0.01)
        assert requests.get(s.diag_url + "/readyz", timeout=5).status_code == 503
        assert sess.get(s.url + "/read", headers=JSON, timeout=10).status_code == 200
        r = sess.post(s.url + "/write", headers=JSON, data=b"x", timeout=10)
        assert r.status_code == 503 and "audit.unavailable" in r.text
    finally:
        s.stop()
