"""PyTorch jobs behind the gateway, end to end: the jobs service inside `claimgate serve`
(route upstream builtin:jobs) with the pysaml2 IdP and the example policy, the local executor,
`claimgate exec` verifying every job token before it runs anything, renewal while the job runs,
revocation on cancel and by an administrator, refusals by the node, a restart that loses no job,
and `claimgate jobs serve` alone behind the gateway. Jobs run as an unprivileged account
(jobs.run_as: claimgate-job), in a bubblewrap sandbox: an insider's job reads nothing of the
gateway's or of other jobs'."""
import base64
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import ROOT, claimgate_bin
from gateway_stack import DemoStack, free_port, wait_http
from prometheus_text import scrape, value
from job_user import JOB_USER, ensure_job_user, passable, private_files, readable, run_as_config

POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"
TRAIN_DIR = ROOT / "examples" / "pytorch"
PYTHONPATH = str(ROOT / "python")
JSON = {"Accept": "application/json"}
TTL = 5  # job token lifetime (s), shortened so that jobs outlive several tokens


def jobs_config(state_dir="jobs-state", extra=""):
    return (f"jobs: {{{run_as_config()}, state_dir: {state_dir}, token_ttl: {TTL}s, check_interval: 1s, "
            f"cancel_grace: 3s, poll_interval: 200ms{extra}}}\n")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    ensure_job_user()
    readable(TRAIN_DIR)
    readable(PYTHONPATH)
    d = tmp_path_factory.mktemp("jobs")
    passable(d)  # the job's account passes through to its own directory (tmp_path is 0700)
    s = DemoStack(d, claimgate_bin(), store="sqlite", policy=POLICY, upstream=False,
                  routes=[{"name": "jobs", "prefix": "/api/", "upstream": "builtin:jobs"}],
                  extra_config=jobs_config())
    private_files(d)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sessions(stack):
    out = {}
    for user in ("alice", "bob", "carol", "erin", "frank"):
        s = requests.Session()
        stack.signin(s, user, "/api/projects/vision/jobs")
        assert any(c.name == "cg_session" for c in s.cookies), f"{user} did not get a session"
        out[user] = s
    return out


def submit(stack, session, project, spec):
    return session.post(f"{stack.url}/api/projects/{project}/jobs", json=spec, headers=JSON, timeout=30)


def job(stack, session, project, job_id):
    r = session.get(f"{stack.url}/api/projects/{project}/jobs/{job_id}", headers=JSON, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def wait_state(stack, session, project, job_id, states, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = job(stack, session, project, job_id)
        if j["state"] in states:
            return j
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {states}: {j}\nlog:\n{job_log(stack, job_id)}")


def job_dir(stack, job_id):
    return stack.dir / "jobs-state" / job_id


def job_log(stack, job_id):
    p = job_dir(stack, job_id) / "output.log"
    return p.read_text(errors="replace") if p.exists() else ""


def audit_records(stack, type_prefix):
    out = subprocess.run([claimgate_bin(), "audit", "search", "--config", str(stack.config), "--type",
                          type_prefix, "--json", "--limit", "5000"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def python_job(code, **kw):
    spec = {"command": [sys.executable if False else "/usr/bin/python3", "-c", code],
            "env": {"PYTHONPATH": PYTHONPATH}, "max_runtime": "10m"}
    spec.update(kw)
    return spec


def node_exec(stack, token_file, command, *extra, job_id=None, project="vision", pool="default", cwd=None,
              timeout=60, env=None):
    args = [claimgate_bin(), "exec", "--token-file", str(token_file), "--jwks",
            stack.url + "/.well-known/jwks.json", "--gateway", stack.url, "--node-pool", pool,
            "--project", project, "--check-interval", "1s", "--grace", "2s", *extra]
    if job_id:
        args += ["--job-id", job_id]
    return subprocess.run([*args, "--", *command], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=dict(os.environ, XDG_CACHE_HOME=str(stack.dir / "node-cache"), **(env or {})))


# ---- end to end: torchrun through the API, logs, who may do what

def test_torchrun_job_end_to_end(stack, sessions):
    alice = sessions["alice"]
    spec = {"name": "linear", "command": ["torchrun", "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0", "--nproc_per_node=2", "--redirects", "1",
                                          "--tee", "1", "train.py", "--epochs", "3"],
            "workdir": str(TRAIN_DIR), "procs_per_node": 2, "env": {"PYTHONPATH": PYTHONPATH},
            "max_runtime": "10m"}
    r = submit(stack, alice, "vision", spec)
    assert r.status_code == 201, r.text
    j = r.json()
    assert j["submitter"] == "alice" and j["project"] == "vision" and j["state"] == "running"
    assert "eyJ" not in r.text and "renewal" not in r.text.replace("renewals", ""), r.text  # no token, no secret
    done = wait_state(stack, alice, "vision", j["id"], {"succeeded", "failed"}, timeout=180)
    log = job_log(stack, j["id"])
    assert done["state"] == "succeeded" and done["exit_code"] == 0, (done, log)
    assert f"job {j['id']} project vision submitter alice pool default world_size 2" in log, log
    assert "learned weight 3.0" in log or "learned weight 2.99" in log, log
    assert f"claimgate exec: job {j['id']} verified" in log
    # Both DDP processes had the gateway check the job's token before they joined the process
    # group (the ranks' lines interleave in the log as torchrun's tee flushes them).
    for rank in (0, 1):
        assert f"[default{rank}]:rank {rank}/2: job {j['id']} verified by the gateway (running)" in log, log
    assert log.index("rank 0/2: job") < log.index("epoch 1/3"), log
    assert done["nodes"] and done["nodes"][0]["exit_code"] == 0

    # Logs: alice and carol (a viewer everywhere) read them; frank (nlp only) may not.
    for who in ("alice", "carol"):
        r = sessions[who].get(f"{stack.url}/api/projects/vision/jobs/{j['id']}/logs", timeout=30)
        assert r.status_code == 200 and "epoch 3/3" in r.text, (who, r.status_code, r.text[:300])
    r = sessions["frank"].get(f"{stack.url}/api/projects/vision/jobs/{j['id']}/logs", headers=JSON, timeout=30)
    assert r.status_code == 403, r.text
    # Listing: alice sees it; frank may not list vision.
    lst = alice.get(f"{stack.url}/api/projects/vision/jobs?submitter=alice", headers=JSON, timeout=30).json()
    assert j["id"] in [x["id"] for x in lst["jobs"]]
    assert sessions["frank"].get(f"{stack.url}/api/projects/vision/jobs", headers=JSON,
                                 timeout=30).status_code == 403

    # The audit log has the whole story.
    ids = lambda t: [x for x in audit_records(stack, t) if x.get("job_id") == j["id"]]  # noqa: E731
    assert ids("job.submitted")[0]["subject"] == "alice"
    assert ids("job.submitted")[0]["program"] == "torchrun"
    assert ids("job.verified") and ids("job.finished")[0]["state"] == "succeeded"
    assert ids("job.token_revoked")[0]["reason"].startswith("job ended")


def test_who_may_submit_and_cancel(stack, sessions):
    # bob (DevOps, no jobs:submit) cannot submit; frank cannot submit in vision.
    spec = python_job("import time; time.sleep(60)")
    r = submit(stack, sessions["bob"], "vision", spec)
    assert r.status_code == 403, r.text
    assert submit(stack, sessions["frank"], "vision", spec).status_code == 403
    # erin (admin) runs a job; alice may not cancel it, bob (jobs:cancel-any) may.
    r = submit(stack, sessions["erin"], "vision", spec)
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    r = sessions["alice"].post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON,
                               timeout=30)
    assert r.status_code == 403 and "erin's job" in r.json()["message"], r.text
    assert job(stack, sessions["erin"], "vision", jid)["state"] == "running"
    r = sessions["bob"].post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON,
                             timeout=30)
    assert r.status_code == 202, r.text
    done = wait_state(stack, sessions["erin"], "vision", jid, {"cancelled"}, timeout=30)
    assert done["message"] == "cancelled by bob", done
    # A form post (no JSON) cannot submit: a cookie cannot be replayed by another site.
    r = sessions["alice"].post(f"{stack.url}/api/projects/vision/jobs", data={"command": "x"}, headers=JSON,
                               timeout=30)
    assert r.status_code == 415


def test_bad_specs_get_clear_errors(stack, sessions):
    alice = sessions["alice"]
    cases = [({}, "command: required"),
             ({"command": []}, "non-empty list"),
             ({"command": ["x"], "gpus": 1000}, "gpus: 1000 is outside 0..16"),
             ({"command": ["x"], "nodes": 0}, "nodes: 0 is outside 1..16"),
             ({"command": ["x"], "max_runtime": "30d"}, "max_runtime"),
             ({"command": ["x"], "pool": "gpu-a100"}, "not a node pool"),
             ({"command": ["x"], "env": {"CLAIMGATE_JOB_ID": "forged"}}, "set by claimgate itself"),
             ({"command": ["x"], "entrypoint": "train.py"}, "'entrypoint' is not a field")]
    for spec, text in cases:
        r = submit(stack, alice, "vision", spec)
        assert r.status_code == 400 and text in r.json()["message"], (spec, r.text)
        assert r.json()["error"] == "jobs.bad_spec"
    r = alice.get(f"{stack.url}/api/projects/vision/jobs/jdoesnotexist", headers=JSON, timeout=30)
    assert r.status_code == 404 and r.json()["error"] == "jobs.not_found"


# ---- tokens: renewal, revocation, refusals on the node

def test_a_job_outlives_its_token(stack, sessions):
    # The job runs 3.5 token lifetimes; exec renews the token in the background.
    code = ("import time; from claimgate import job_identity; me = job_identity(); "
            "first = me.expires(); print('first exp', first, flush=True); "
            f"time.sleep({TTL * 3.5}); "
            "print('last exp', me.expires(), 'renewed', me.expires() > first, flush=True)")
    r = submit(stack, sessions["alice"], "vision", python_job(code))
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    done = wait_state(stack, sessions["alice"], "vision", jid, {"succeeded", "failed", "cancelled", "lost"},
                      timeout=60)
    log = job_log(stack, jid)
    assert done["state"] == "succeeded", (done, log)
    assert "renewed True" in log, log
    assert done["renewals"] >= 3, done
    assert "expired" not in log


def running_job(stack, session, code="import time; time.sleep(120)", spec=None):
    r = submit(stack, session, "vision", spec or python_job(code))
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    tok = job_dir(stack, jid) / "token"
    deadline = time.monotonic() + 20
    while "verified" not in job_log(stack, jid):
        assert time.monotonic() < deadline, job_log(stack, jid)
        time.sleep(0.1)
    return jid, tok


def test_cancel_revokes_the_token_and_every_node_stops(stack, sessions, tmp_path):
    jid, tok = running_job(stack, sessions["alice"])
    # A second "node" of the same job, run by hand with a copy of the token and the job's own
    # command, in the job's directory (the digest binds both).
    copy = tmp_path / "token"
    copy.write_text(tok.read_text())
    err_file = tmp_path / "node.err"
    spec = job(stack, sessions["alice"], "vision", jid)["spec"]
    with open(err_file, "w") as err_out:
        node = subprocess.Popen([claimgate_bin(), "exec", "--token-file", str(copy), "--jwks",
                                 str(job_dir(stack, jid) / "jwks.json"), "--gateway", stack.url, "--job-id", jid,
                                 "--check-interval", "1s", "--grace", "2s", "--", *spec["command"]],
                                cwd=spec["workdir"], stderr=err_out, env=dict(os.environ, PYTHONPATH=PYTHONPATH))
    try:
        deadline = time.monotonic() + 20
        while "verified" not in err_file.read_text():
            assert node.poll() is None, err_file.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        r = sessions["alice"].post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON,
                                   timeout=30)
        assert r.status_code == 202, r.text
        rc = node.wait(20)
        err = err_file.read_text()
        assert rc == 128 + signal.SIGTERM, (rc, err)
        assert "cancelled by alice" in err, err
    finally:
        if node.poll() is None:
            node.kill()
    done = wait_state(stack, sessions["alice"], "vision", jid, {"cancelled"}, timeout=30)
    assert done["token_revoked"] and "cancelled by alice" in done["revoked_reason"]
    check = requests.post(stack.url + "/.claimgate/jobs/check", json={"token": tok.read_text().strip()}, timeout=10)
    assert check.status_code == 401 and check.json()["error"] == "jobs.token_revoked", check.text
    # The revoked token cannot be renewed either, even with the job's secret.
    secret = (job_dir(stack, jid) / "renewal-secret").read_text()
    r = requests.post(stack.url + "/.claimgate/jobs/renew", json={"token": tok.read_text().strip(),
                                                                   "secret": secret}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "jobs.token_revoked", r.text


def test_job_metrics_follow_submission_renewal_end_and_refusals(stack, sessions):
    def count(m, name, **labels):
        return value(m, name, **labels) or 0

    before = scrape(stack)
    jid, tok = running_job(stack, sessions["alice"])
    # Its node renews the token (every fraction of its 5 s lifetime) while it runs.
    deadline = time.monotonic() + 30
    while job(stack, sessions["alice"], "vision", jid)["renewals"] < 1:
        assert time.monotonic() < deadline, "no renewal within 30 s"
        time.sleep(0.2)
    running = scrape(stack)
    assert count(running, "claimgate_jobs", state="running") >= 1
    assert count(running, "claimgate_tokens_minted_total", kind="job") == \
        count(before, "claimgate_tokens_minted_total", kind="job") + 1
    renewed = count(running, "claimgate_job_token_renewals_total", result="renewed")
    assert renewed >= count(before, "claimgate_job_token_renewals_total", result="renewed") + 1
    assert count(running, "claimgate_tokens_refreshed_total", kind="job") >= \
        count(before, "claimgate_tokens_refreshed_total", kind="job") + 1
    r = sessions["alice"].post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON,
                               timeout=30)
    assert r.status_code == 202, r.text
    wait_state(stack, sessions["alice"], "vision", jid, {"cancelled"}, timeout=30)
    # The revoked token, at check and at renew (with the job's own secret): both refused.
    token = tok.read_text().strip()
    assert requests.post(stack.url + "/.claimgate/jobs/check", json={"token": token}, timeout=10).status_code == 401
    secret = (job_dir(stack, jid) / "renewal-secret").read_text()
    assert requests.post(stack.url + "/.claimgate/jobs/renew", json={"token": token, "secret": secret},
                         timeout=10).status_code == 401
    assert requests.post(stack.url + "/.claimgate/jobs/nowhere", json={}, timeout=10).status_code == 404
    after = scrape(stack)
    assert count(after, "claimgate_jobs_finished_total", state="cancelled") >= \
        count(before, "claimgate_jobs_finished_total", state="cancelled") + 1
    for endpoint, code in (("check", "jobs.token_revoked"), ("renew", "jobs.token_revoked"),
                           ("other", "jobs.not_found")):
        # (At least: the job's own node may have checked once more before it stopped.)
        labels = {"endpoint": endpoint, "code": code}
        assert count(after, "claimgate_job_node_refusals_total", **labels) >= \
            count(running, "claimgate_job_node_refusals_total", **labels) + 1, labels
    assert count(after, "claimgate_job_token_renewals_total", result="refused") >= \
        count(running, "claimgate_job_token_renewals_total", result="refused") + 1


def gateway_key(stack):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    key = sorted((stack.dir / "keyring").glob("sign-*.pem"))[-1]
    return load_pem_private_key(key.read_bytes(), None), key.name[len("sign-"):-len(".pem")]


def marker_job(stack, session, marker):
    """A running job whose command sleeps; run by hand with CG_QUICK set (the environment is
    not bound by the token), it leaves `marker` and ends at once: the marker then says whether
    a node ran it."""
    cmd = ["/bin/sh", "-c", f'if [ -n "$CG_QUICK" ]; then touch {marker}; exit 0; fi; sleep 120']
    jid, tok = running_job(stack, session, spec={"command": cmd, "max_runtime": "10m"})
    return jid, tok, cmd


def test_nodes_refuse_what_they_cannot_verify(stack, sessions, tmp_path):
    marker = tmp_path / "ran"
    jid, tok, cmd = marker_job(stack, sessions["alice"], marker)
    d = job_dir(stack, jid)
    claims = jwt.decode(tok.read_text().strip(), options={"verify_signature": False})

    def refused(token_text, expect, *extra, command=cmd, cwd=d, **kw):
        f = tmp_path / f"t{len(list(tmp_path.iterdir()))}"
        f.write_text(token_text)
        out = node_exec(stack, f, command, *extra, cwd=cwd, env={"CG_QUICK": "1"}, **kw)
        assert out.returncode == 126, (expect, out.returncode, out.stderr)
        assert expect in out.stderr and "nothing was run" in out.stderr, out.stderr
        assert not marker.exists(), f"{expect}: the command ran"
        return out.stderr

    good = tok.read_text()
    # Another command, or the right one in another directory: the digest differs.
    refused(good, "jobs.token_command", command=[*cmd, "extra-argument"])
    refused(good, "jobs.token_command", cwd=tmp_path)
    # Another project, another job, another pool.
    err = refused(good, "jobs.token_job", project="nlp")
    assert "project 'vision'" in err and "'nlp'" in err
    refused(good, "jobs.token_job", job_id="jsomethingelse")
    refused(good, "jobs.token_pool", pool="gpu")
    # Signed by a key the gateway never had (with the gateway's own key id, and with another).
    foreign = ec.generate_private_key(ec.SECP256R1())
    key, kid = gateway_key(stack)
    refused(jwt.encode(claims, foreign, algorithm="ES256", headers={"kid": kid}), "jobs.token_signature")
    refused(jwt.encode(claims, foreign, algorithm="ES256", headers={"kid": "k-unknown"}), "jobs.token_unknown_key")
    # Tampered: the project changed in the payload.
    h, p, s = good.strip().split(".")
    forged = dict(claims, project="nlp")
    p2 = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    refused(f"{h}.{p2}.{s}", "jobs.token_signature")
    # Expired: the gateway's key, but exp long past (beyond the skew).
    old = dict(claims, exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200, iat=int(time.time()) - 7200)
    refused(jwt.encode(old, key, algorithm="ES256", headers={"kid": kid}), "jobs.token_expired")
    # An access token of a person is not a job token.
    refused(jwt.encode(dict(claims, cg_use="access"), key, algorithm="ES256", headers={"kid": kid}),
            "jobs.token_invalid")
    # The job's own token, command and directory: it runs.
    ok = node_exec(stack, tok, cmd, cwd=d, job_id=jid, env={"CG_QUICK": "1"})
    assert ok.returncode == 0 and marker.exists(), ok.stderr
    # Each refusal reached the audit log.
    refusals = [x for x in audit_records(stack, "job.refused") if x.get("job_id") == jid]
    codes = {x["code"] for x in refusals}
    assert {"jobs.token_command", "jobs.token_job", "jobs.token_pool", "jobs.token_signature"} <= codes, codes
    assert any(not x["token_verified"] for x in refusals)
    sessions["alice"].post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON, timeout=30)


def test_gateway_unreachable_closed_or_open(stack, sessions, tmp_path):
    marker = tmp_path / "ran"
    jid, tok, cmd = marker_job(stack, sessions["alice"], marker)
    d = job_dir(stack, jid)
    dead = f"http://127.0.0.1:{free_port()}"
    base = [claimgate_bin(), "exec", "--token-file", str(tok), "--jwks", str(d / "jwks.json"), "--gateway", dead]
    env = dict(os.environ, CG_QUICK="1")
    out = subprocess.run([*base, "--", *cmd], capture_output=True, text=True, cwd=d, timeout=30, env=env)
    assert out.returncode == 126 and "jobs.unreachable" in out.stderr, out.stderr
    assert not marker.exists()
    out = subprocess.run([*base, "--when-unreachable", "open", "--", *cmd], capture_output=True,
                         text=True, cwd=d, timeout=30, env=env)
    assert out.returncode == 0 and "running anyway" in out.stderr and marker.exists(), out.stderr
    sessions["alice"].post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON, timeout=30)


def test_admin_revoke_stops_the_persons_jobs(stack, sessions):
    r = submit(stack, sessions["frank"], "nlp", python_job("import time; time.sleep(120)"))
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    r = sessions["erin"].post(stack.url + "/.claimgate/admin/revoke", json={"subject": "frank", "reason": "left"},
                              headers=JSON, timeout=30)
    assert r.status_code == 200, r.text
    done = wait_state(stack, sessions["erin"], "nlp", jid, {"cancelled"}, timeout=30)
    assert "submitter revoked" in done["revoked_reason"] and "left" in done["revoked_reason"], done


# ---- the job boundary: a job is code from anyone with jobs:submit

INSIDER = r"""
import json, os, sys
import base64, stat
targets = json.loads(base64.b64decode(sys.argv[1]))
# Its own directory's path: the one thing a directory above it may show (as a mount point).
own = os.path.dirname(os.environ["CLAIMGATE_TOKEN_FILE"])
own_parts = set(own.strip("/").split("/"))
got = []
for path in targets:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            names = [n for n in os.listdir(path) if n not in own_parts]
            if names:
                got.append([path, "listed", names[:5]])
            continue
        if stat.S_ISCHR(os.stat(path).st_mode):
            continue  # covered by the sandbox with an empty device file
        if os.path.islink(path):
            got.append([path, "link", os.readlink(path)])
            continue
        with open(path, "rb") as f:
            data = f.read(64)
        got.append([path, "read", data[:32].decode("latin-1")])
    except OSError as e:
        pass
print("INSIDER-READ " + json.dumps(got), flush=True)
print("INSIDER-UID", os.getuid(), os.geteuid(), flush=True)
"""


def gateway_paths(stack, other_job):
    """Every file and directory of the gateway's, another job's, and the gateway's /proc."""
    d = stack.dir
    paths = [str(p) for p in sorted(d.rglob("*")) if "jobs-state" not in p.parts or other_job in p.parts]
    paths += [str(d), str(d / "jobs-state"), str(d / "jobs-state" / "jobs.db"), str(d / "keyring"),
              str(d / "state.db"), str(d / "claimgate.yaml")]
    other = d / "jobs-state" / other_job
    paths += [str(other), str(other / "token"), str(other / "renewal-secret"), str(other / "output.log"),
              str(other / "env.json")]
    proc = f"/proc/{stack.gateway.pid}"
    paths += [proc + "/" + x for x in ("environ", "cmdline", "fd", "fd/0", "fd/3", "mem", "maps", "cwd", "root",
                                       "exe", "status")]
    return sorted(set(paths))


def test_an_insiders_job_reads_nothing_of_the_gateway_or_other_jobs(stack, sessions):
    # The finding: a job ran `cat ../../keyring/seal-*.key; sqlite3 state.db` as the gateway's
    # user and signed in as anyone. Another person's job runs beside it, with its token and log.
    victim, _ = running_job(stack, sessions["erin"])
    assert (job_dir(stack, victim) / "token").exists()
    targets = gateway_paths(stack, victim)
    assert any("seal-" in t for t in targets) and any(t.endswith("audit.jsonl") for t in targets), targets
    r = submit(stack, sessions["alice"], "vision",
               {"command": ["/usr/bin/python3", "-c", INSIDER, base64.b64encode(json.dumps(targets).encode()).decode()],
                "max_runtime": "5m"})
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    done = wait_state(stack, sessions["alice"], "vision", jid, {"succeeded", "failed"})
    log = job_log(stack, jid)
    assert done["state"] == "succeeded", (done, log)
    line = next(x for x in log.splitlines() if x.startswith("INSIDER-READ "))
    read = json.loads(line[len("INSIDER-READ "):])
    assert read == [], "the job could read: " + json.dumps(read, indent=1)
    # It ran as the configured account, not as the gateway's user.
    import pwd
    uid = pwd.getpwnam(JOB_USER).pw_uid
    assert f"INSIDER-UID {uid} {uid}" in log, log
    # Its own directory is its account's, 0700, and holds its own token only.
    st = job_dir(stack, jid).stat()
    assert st.st_uid == uid and st.st_mode & 0o777 == 0o700, oct(st.st_mode)
    assert sorted(p.name for p in job_dir(stack, jid).iterdir() if p.name.startswith("token")) == ["token"]
    # The jobs directory cannot be listed by a job's account; the keyring is the gateway's alone.
    assert (stack.dir / "jobs-state").stat().st_mode & 0o777 == 0o711
    assert (stack.dir / "keyring").stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o077 == 0 for p in (stack.dir / "keyring").glob("*.*"))
    # The gateway said what isolation is in force.
    gw_log = (stack.dir / "gateway.log").read_text(errors="replace")
    said = [x for x in gw_log.splitlines() if "isolation" in x and "bubblewrap sandbox" in x]
    assert said and f"{JOB_USER} (uid {uid})" in said[-1], gw_log[-2000:]
    sessions["erin"].post(f"{stack.url}/api/projects/vision/jobs/{victim}/cancel", json={}, headers=JSON, timeout=30)


def test_a_job_as_the_gateways_user_is_refused_unless_insecure(stack):
    # check and serve refuse a jobs config without run_as (the jobs would run as root here).
    cfg = stack.dir / "same-user.yaml"
    cfg.write_text(stack.config.read_text().replace(f"{run_as_config()}, ", ""))
    out = subprocess.run([claimgate_bin(), "check", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "jobs.run_as" in out.stdout and "gateway's own user" in out.stdout, out.stdout
    # The development switch allows it, said loudly.
    cfg.write_text(cfg.read_text().replace("poll_interval: 200ms", "poll_interval: 200ms, insecure_same_user: true"))
    out = subprocess.run([claimgate_bin(), "check", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert "jobs.insecure_same_user is true" in out.stdout and "INSECURE" in out.stdout, out.stdout
    # Root is refused as the account too, with the same kind of sentence.
    cfg.write_text(cfg.read_text().replace("insecure_same_user: true", "run_as: root"))
    out = subprocess.run([claimgate_bin(), "check", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "jobs.run_as: root (uid 0) is root" in out.stdout, out.stdout


def test_loader_variables_are_refused_and_never_reach_exec(stack, sessions, tmp_path):
    alice = sessions["alice"]
    for name in ("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_CHECK_"):
        r = submit(stack, alice, "vision", {"command": ["/bin/true"], "env": {name: "/tmp/evil.so"}})
        assert r.status_code == 400 and r.json()["error"] == "jobs.bad_spec", (name, r.text)
        assert f"env: {name} is read by the dynamic loader" in r.json()["message"], r.text
    # The spec's own variables reach the command, never exec's environment: the command prints
    # its environment and its parent's (exec's).
    show = ('if [ -n "$CG_QUICK" ]; then echo "CMD:$(env | grep -E "^(CG_|LD_|GCONV|GLIBC|MALLOC)" | sort | tr "\\n" " ")";'
            ' echo "EXEC:$(tr "\\0" "\\n" < /proc/$PPID/environ | grep -E "^(CG_|LD_|GCONV|GLIBC|MALLOC)" | sort'
            ' | tr "\\n" " ")"; exit 0; fi; sleep 120')
    cmd = ["/bin/sh", "-c", show]
    jid, tok = running_job(stack, alice, spec={"command": cmd, "env": {"CG_SPEC_VAR": "yes"}, "max_runtime": "5m"})
    d = job_dir(stack, jid)
    evil = {"LD_LIBRARY_PATH": "/nonexistent-lib", "LD_BIND_NOW": "1", "GCONV_PATH": "/nonexistent",
            "GLIBC_TUNABLES": "glibc.malloc.check=0", "MALLOC_ARENA_MAX": "2", "CG_QUICK": "1"}
    out = node_exec(stack, tok, cmd, "--env-file", str(d / "env.json"), cwd=d, job_id=jid, env=evil)
    assert out.returncode == 0, out.stderr
    cmd_line = next(x for x in out.stdout.splitlines() if x.startswith("CMD:"))
    exec_line = next(x for x in out.stdout.splitlines() if x.startswith("EXEC:"))
    assert "CG_SPEC_VAR=yes" in cmd_line and "CG_QUICK=1" in cmd_line, out.stdout
    assert "LD_" not in cmd_line and "GCONV" not in cmd_line and "GLIBC" not in cmd_line and "MALLOC" not in cmd_line
    # exec's own environment (as it was started: /proc shows the initial block, so the loader
    # variables the test gave it are there; exec clears them before anything, which the
    # command's environment above shows) never held the spec's variable.
    assert "CG_SPEC_VAR" not in exec_line, exec_line
    # An env file that sets a loader variable is refused by exec (nothing run).
    bad = tmp_path / "env.json"
    bad.write_text(json.dumps({"LD_PRELOAD": "/tmp/x.so"}))
    out = node_exec(stack, tok, cmd, "--env-file", str(bad), cwd=d, job_id=jid, env={"CG_QUICK": "1"})
    assert out.returncode == 126 and "LD_PRELOAD" in out.stderr and "nothing was run" in out.stderr, out.stderr
    alice.post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON, timeout=30)


def test_a_symlinked_workdir_is_bound_as_the_directory_it_led_to(stack, sessions, tmp_path):
    passable(tmp_path)
    real, other = tmp_path / "real", tmp_path / "other"
    for x in (real, other):
        x.mkdir()
        x.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(real)
    alice = sessions["alice"]
    cmd = ["/bin/sh", "-c", 'if [ -n "$CG_QUICK" ]; then pwd -P; exit 0; fi; pwd -P; sleep 120']
    r = submit(stack, alice, "vision", {"command": cmd, "workdir": str(link), "max_runtime": "5m"})
    assert r.status_code == 201, r.text
    j = r.json()
    assert j["spec"]["workdir"] == str(real.resolve()), j["spec"]  # the directory, not the name
    jid = j["id"]
    deadline = time.monotonic() + 20
    while "verified" not in job_log(stack, jid):
        assert time.monotonic() < deadline, job_log(stack, jid)
        time.sleep(0.1)
    assert str(real.resolve()) in job_log(stack, jid)
    tok = job_dir(stack, jid) / "token"
    # The link now leads elsewhere: a node started in "link" (with PWD naming the link) is in
    # another directory, and refuses.
    link.unlink()
    link.symlink_to(other)
    out = node_exec(stack, tok, cmd, cwd=link, job_id=jid, env={"CG_QUICK": "1", "PWD": str(link)})
    assert out.returncode == 126 and "jobs.token_command" in out.stderr and "nothing was run" in out.stderr, \
        out.stderr
    # In the directory it was submitted with, it runs.
    out = node_exec(stack, tok, cmd, cwd=real, job_id=jid, env={"CG_QUICK": "1"})
    assert out.returncode == 0 and str(real.resolve()) in out.stdout, out.stderr
    alice.post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON, timeout=30)
    # A working directory in the gateway's own directories is refused.
    r = submit(stack, alice, "vision", {"command": ["/bin/true"], "workdir": str(stack.dir / "jobs-state")})
    assert r.status_code == 400 and r.json()["error"] == "jobs.workdir", r.text
    r = submit(stack, alice, "vision", {"command": ["/bin/true"], "workdir": str(stack.dir / "keyring")})
    assert r.status_code == 400 and r.json()["error"] == "jobs.workdir", r.text


# ---- a restart loses no job

def test_restart_reattaches_running_jobs_and_marks_lost_ones(stack, sessions):
    alice = sessions["alice"]
    keep = submit(stack, alice, "vision", python_job("import time; time.sleep(8); print('finished')")).json()["id"]
    lose = submit(stack, alice, "vision", python_job("import time; time.sleep(120)")).json()["id"]
    for jid in (keep, lose):
        deadline = time.monotonic() + 20
        while "verified" not in job_log(stack, jid):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert stack.stop_gateway() == 0
    # While the gateway is down, one job's processes are killed outright (no exit status).
    pid = int(json.loads(subprocess.run(["sqlite3", str(stack.dir / "jobs-state" / "jobs.db"),
                                         f"SELECT data FROM jobs WHERE id='{lose}'"],
                                        capture_output=True, text=True).stdout)["ref"])
    os.killpg(pid, signal.SIGKILL)
    stack.start_gateway()
    wait_http(stack.url + "/healthz", stack.gateway)
    kept = wait_state(stack, alice, "vision", keep, {"succeeded", "failed", "lost"}, timeout=60)
    assert kept["state"] == "succeeded" and kept["exit_code"] == 0, (kept, job_log(stack, keep))
    lost = job(stack, alice, "vision", lose)
    assert lost["state"] == "lost" and lost["token_revoked"], lost
    outcomes = {x["job_id"]: x["outcome"] for x in audit_records(stack, "job.recovered")}
    assert outcomes.get(keep) == "re-attached" and outcomes.get(lose) == "lost", outcomes


# ---- logs streamed with follow

def test_logs_follow_streams_until_the_job_ends(stack, sessions):
    code = "import time\nfor i in range(5):\n    print('line', i, flush=True); time.sleep(0.5)"
    jid = submit(stack, sessions["alice"], "vision", python_job(code)).json()["id"]
    r = sessions["carol"].get(f"{stack.url}/api/projects/vision/jobs/{jid}/logs?follow=1", stream=True, timeout=60)
    assert r.status_code == 200 and r.headers.get("Transfer-Encoding") == "chunked"
    text = "".join(chunk.decode() for chunk in r.iter_content(chunk_size=None))
    assert all(f"line {i}" in text for i in range(5)), text
    assert job(stack, sessions["alice"], "vision", jid)["state"] == "succeeded"


def test_a_follower_that_goes_away_ends_its_stream_while_the_job_is_quiet(stack, sessions):
    import socket
    code = "import time\nprint('started', flush=True)\ntime.sleep(60)"
    jid = submit(stack, sessions["alice"], "vision", python_job(code)).json()["id"]
    cookie = sessions["alice"].cookies.get("cg_session")
    in_flight = lambda: value(scrape(stack), "claimgate_requests_in_flight") or 0  # noqa: E731
    idle = in_flight()
    try:
        s = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
        s.sendall((f"GET /api/projects/vision/jobs/{jid}/logs?follow=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Cookie: cg_session={cookie}\r\n\r\n").encode())
        got = b""
        while b"started" not in got:
            got += s.recv(4096)
        assert got.startswith(b"HTTP/1.1 200"), got
        assert in_flight() == idle + 1
        s.close()  # the follower goes; the job prints nothing more for a minute
        deadline = time.monotonic() + 5
        while in_flight() > idle and time.monotonic() < deadline:
            time.sleep(0.1)
        assert in_flight() == idle, "the followed stream stayed open after its client left"
    finally:
        sessions["alice"].post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON, timeout=10)


# ---- the jobs service alone, behind the gateway

def test_jobs_serve_alone_trusts_only_the_gateway(stack, tmp_path):
    import shutil
    passable(tmp_path)
    port = free_port()
    # A gateway in front of the service: its route's JWT (aud jobs-alone) is what lets requests in.
    # Both sign with one keyring, as the gateways of one deployment do.
    front = DemoStack(tmp_path / "front", claimgate_bin(), store="sqlite", policy=POLICY, upstream=False,
                      routes=[{"name": "jobs-alone", "prefix": "/api/", "upstream": f"http://127.0.0.1:{port}"}])
    svc = None
    try:
        front.stop_gateway()
        shutil.rmtree(front.dir / "keyring")
        shutil.copytree(stack.dir / "keyring", front.dir / "keyring")
        front.start_gateway()
        cfg = tmp_path / "jobs.yaml"
        cfg.write_text(stack.config.read_text()
                       .replace(f"listen: 127.0.0.1:{stack.port}", f"listen: 127.0.0.1:{port}")
                       .replace("state_dir: jobs-state", f"state_dir: {tmp_path / 'state'}")
                       .replace("keys: keyring", f"keys: {stack.dir / 'keyring'}")
                       .replace("policy_file: policy.yaml", f"policy_file: {stack.dir / 'policy.yaml'}")
                       .replace("sp.key", str(stack.dir / "sp.key")).replace("sp.crt", str(stack.dir / "sp.crt"))
                       .replace("metadata_file: ", f"metadata_file: {stack.dir}/")
                       .replace("path: state.db", f"path: {tmp_path / 'state.db'}")
                       + f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n")
        svc_log = tmp_path / "jobs-serve.log"
        svc = subprocess.Popen([claimgate_bin(), "jobs", "serve", "--config", str(cfg), "--audience", "jobs-alone",
                                "--issuer", front.url], stdout=subprocess.DEVNULL, stderr=svc_log.open("wb"))
        wait_http(f"http://127.0.0.1:{port}/healthz", svc)
        # Directly, without the gateway's identity, or with a forged one: refused.
        r = requests.get(f"http://127.0.0.1:{port}/api/projects/vision/jobs", timeout=10)
        assert r.status_code == 401 and r.json()["error"] == "jobs.identity", r.text
        r = requests.get(f"http://127.0.0.1:{port}/api/projects/vision/jobs",
                         headers={"X-Claimgate-Assertion": "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}, timeout=10)
        assert r.status_code == 401, r.text
        # Through the gateway: alice submits; carol (viewer) may not.
        s = requests.Session()
        front.signin(s, "alice", "/api/projects/vision/jobs")
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        r = s.post(front.url + "/api/projects/vision/jobs", json=python_job("print('alone')"),
                   headers={**JSON, "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}, timeout=30)
        assert r.status_code == 201, r.text
        assert r.json()["submitter"] == "alice"
        # Its log lines carry the client's trace (continued through the gateway) and the request
        # id; a request with no traceparent gets one started here.
        # (The access line is written once the answer is sent: wait for it, bounded.)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "status=201" not in svc_log.read_text():
            time.sleep(0.05)
        lines = svc_log.read_text().splitlines()
        assert any(" request " in l and f"trace_id={trace}" in l and "status=201" in l for l in lines), lines
        assert any(" job.submitted " in l and f"trace_id={trace}" in l for l in lines), lines
        assert any(" request " in l and "status=401" in l and "trace_id=" in l and trace not in l
                   for l in lines), lines
        # The job's audit records name the request once (request_id, trace_id), and verify.
        records = [json.loads(l, object_pairs_hook=lambda kv: (
            [k for k, _ in kv], dict(kv))) for l in (tmp_path / "audit.jsonl").read_text().splitlines()]
        jobs_recs = [(keys, rec) for keys, rec in records if rec.get("type", "").startswith("job.")]
        submitted = [rec for keys, rec in jobs_recs if rec["type"] == "job.submitted"]
        assert submitted and submitted[0]["trace_id"] == trace, jobs_recs
        for keys, rec in jobs_recs:
            assert keys.count("request_id") <= 1 and keys.count("trace_id") <= 1, keys
        v = subprocess.run([claimgate_bin(), "audit", "verify", "--config", str(cfg)], capture_output=True,
                           text=True, timeout=60)
        assert v.returncode == 0, v.stdout + v.stderr
        s2 = requests.Session()
        front.signin(s2, "carol", "/api/projects/vision/jobs")
        r = s2.post(front.url + "/api/projects/vision/jobs", json=python_job("print('x')"), headers=JSON,
                    timeout=30)
        assert r.status_code == 403, r.text
        assert s2.get(front.url + "/api/projects/vision/jobs", headers=JSON, timeout=30).status_code == 200
    finally:
        if svc:
            svc.terminate()
            svc.wait(20)
        front.stop()


# ---- key rotation: nodes with an older JWKS follow it (runs last: it restarts the gateway)

def test_nodes_follow_a_key_rotation(stack, sessions, tmp_path):
    old_jwks = tmp_path / "old-jwks.json"
    old_jwks.write_text(requests.get(stack.url + "/.well-known/jwks.json", timeout=10).text)
    out = subprocess.run([claimgate_bin(), "keys", "rotate", "--dir", str(stack.dir / "keyring")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert stack.stop_gateway() == 0
    stack.start_gateway()
    marker = tmp_path / "ran"
    jid, tok, cmd = marker_job(stack, sessions["alice"], marker)  # signed with the new key
    new_kid = jwt.get_unverified_header(tok.read_text().strip())["kid"]
    assert new_kid not in old_jwks.read_text()
    d = job_dir(stack, jid)
    base = [claimgate_bin(), "exec", "--token-file", str(tok), "--jwks", str(old_jwks), "--job-id", jid]
    env = dict(os.environ, CG_QUICK="1")
    # Without a gateway to fetch the current keys from, the old JWKS cannot verify it.
    out = subprocess.run([*base, "--offline", "--", *cmd], capture_output=True, text=True, cwd=d, timeout=30,
                         env=env)
    assert out.returncode == 126 and "jobs.token_unknown_key" in out.stderr and not marker.exists(), out.stderr
    # With --gateway, exec fetches the gateway's JWKS once on the unknown key id, and runs.
    out = subprocess.run([*base, "--gateway", stack.url, "--", *cmd], capture_output=True, text=True, cwd=d,
                         timeout=30, env=env)
    assert out.returncode == 0 and marker.exists(), out.stderr
    sessions["alice"].post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON, timeout=30)


def test_a_job_is_never_submitted_from_another_site(stack, sessions):
    """Security finding 11: the JSON-only rule parses the media type (browsers send
    `text/plain; a=application/json` cross-site without a preflight), and a cookie-authenticated
    submission or cancel that the browser says comes from another site is refused."""
    alice = sessions["alice"]
    spec = json.dumps(python_job("print(1)"))
    before = alice.get(f"{stack.url}/api/projects/vision/jobs", headers=JSON, timeout=30).json()
    for ct in ("text/plain; a=application/json", "text/plain;application/json", "application/jsonp"):
        r = alice.post(f"{stack.url}/api/projects/vision/jobs", data=spec,
                       headers={**JSON, "Content-Type": ct}, timeout=30)
        assert r.status_code == 415, (ct, r.status_code, r.text)
    for h in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        r = alice.post(f"{stack.url}/api/projects/vision/jobs", data=spec,
                       headers={**JSON, "Content-Type": "application/json", **h}, timeout=30)
        assert r.status_code == 403 and r.json()["error"] == "gateway.cross_site", (h, r.text)
    after = alice.get(f"{stack.url}/api/projects/vision/jobs", headers=JSON, timeout=30).json()
    assert len(after["jobs"]) == len(before["jobs"])
    r = alice.post(f"{stack.url}/api/projects/vision/jobs", data=spec,
                   headers={**JSON, "Content-Type": "application/json", "Origin": stack.url,
                            "Sec-Fetch-Site": "same-origin"}, timeout=30)
    assert r.status_code == 201, r.text
