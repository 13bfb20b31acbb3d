"""Two gateways sharing one real redis-server (with a password, on loopback), behind no load
balancer: the tests talk to each directly, as a balancer would send requests to either. Both have
the same public URL, keyring and SP key (what docs/deployment.md asks of a deployment); each has
its own audit log.

- alice signs in at one and is served by the other;
- a response replayed at the second gateway is refused (SP-initiated: its pending request was
  consumed; IdP-initiated: the assertion id is in the shared replay cache);
- one pending sign-in posted to both gateways at once is accepted exactly once;
- an administrator's revocation at one is refused at the other within one second, although the
  other had alice's session in its local view;
- Redis killed (SIGKILL) and restarted during load: no crash; sessions already read keep working
  for the grace time; a new sign-in gets the clear 503 page; /readyz says why; everything
  recovers by itself when Redis is back."""
import concurrent.futures
import json
import subprocess
import threading
import time

import pytest
import requests

from conftest import ROOT, claimgate_bin
from gateway_stack import DemoStack, free_port, parse_form, wait_http
from job_user import passable, run_as_config
from redis_helper import RedisServer

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"


class TwoGateways:
    def __init__(self, directory):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "redis.pass").write_text("pw-" + str(free_port()) + "-shared\n")
        (directory / "redis.pass").chmod(0o600)
        self.redis = RedisServer(directory / "redis", password=(directory / "redis.pass").read_text().strip())
        store = ("{kind: redis, address: 127.0.0.1:%d, password_file: redis.pass, prefix: 'test:', "
                 "connect_timeout: 200ms, command_timeout: 300ms, outage_grace: 60s}" % self.redis.port)
        self.a = DemoStack(directory, claimgate_bin(), store=store, policy=POLICY,
                           idp_options=", allow_idp_initiated: true", extra_config="audit: {path: audit-a/audit.jsonl}\n")
        self.b_port = free_port()
        self.b_url = f"http://127.0.0.1:{self.b_port}"
        self.diag = {self.a.url: self.a.diag_url}  # public URL -> diagnostics listener (/readyz, /metrics)
        text = self.derive(self.a.config.read_text(), self.b_port)
        self.b_diag_url = self.diag[self.b_url]
        text = text.replace("audit-a/audit.jsonl", "audit-b/audit.jsonl")
        self.config_b = directory / "claimgate-b.yaml"
        self.config_b.write_text(text)
        self.b = self.a._spawn("gateway-b", [claimgate_bin(), "serve", "--config", str(self.config_b)])
        wait_http(self.b_url + "/healthz", self.b)
        self.wait_ready(self.a.url)
        self.wait_ready(self.b_url)

    def derive(self, text, port):
        """Gateway A's config text for another gateway listening on `port`, with a diagnostics
        listener of its own (remembered for wait_ready)."""
        diag = f"127.0.0.1:{free_port()}"
        text = text.replace(f"listen: 127.0.0.1:{self.a.port}", f"listen: 127.0.0.1:{port}")
        text = text.replace(f"diagnostics: {{listen: 127.0.0.1:{self.a.diag_port}}}", f"diagnostics: {{listen: {diag}}}")
        self.diag[f"http://127.0.0.1:{port}"] = "http://" + diag
        return text

    def wait_ready(self, url, timeout=15):
        """Waits until the gateway whose public URL is `url` says it is ready (on its diagnostics
        listener)."""
        url = self.diag[url]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if requests.get(url + "/readyz", timeout=5).status_code == 200:
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"{url}/readyz not 200 within {timeout}s")

    def log_b(self):
        return (self.a.dir / "gateway-b.log").read_text(errors="replace")

    def stop(self):
        self.a.stop()
        self.redis.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = TwoGateways(tmp_path_factory.mktemp("redis"))
    yield g
    g.stop()


def whoami(session, url):
    return session.get(url + "/.claimgate/whoami", headers=JSON, timeout=15)


def test_signed_in_at_one_gateway_served_by_the_other(gw):
    s = requests.Session()
    r = gw.a.signin(s, "alice", "/")
    assert r.status_code == 200
    at_b = s.get(gw.b_url + "/", headers=JSON, timeout=15)
    assert at_b.status_code == 200, at_b.text
    echoed = at_b.json()
    assert echoed["headers"].get("X-Claimgate-User") == "alice"
    assert whoami(s, gw.b_url).json()["subject"] == "alice"
    # `claimgate check` says whether Redis answers (with the password from the file).
    check = subprocess.run([claimgate_bin(), "check", "--config", str(gw.config_b)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0 and f"store: Redis at redis://127.0.0.1:{gw.redis.port} answers" in check.stdout, \
        check.stdout + check.stderr
    # The gateway's own settings: the password is nowhere in the logs.
    secret = (gw.a.dir / "redis.pass").read_text().strip()
    assert secret not in gw.a.gateway_log() and secret not in gw.log_b()


def test_response_replayed_at_the_second_gateway_is_refused(gw):
    # SP-initiated: the pending request is consumed by the first gateway.
    s = requests.Session()
    acs, form = gw.a.saml_post(s, "carol", "/")
    first = s.post(acs, data=form, headers=HTML, allow_redirects=False, timeout=15)
    assert first.status_code == 303
    acs_b = acs.replace(gw.a.url, gw.b_url)
    again = s.post(acs_b, data=form, headers=HTML, allow_redirects=False, timeout=15)
    # (This IdP also allows IdP-initiated sign-in, so the answer names the request it answers.)
    assert again.status_code == 403 and "4007 response.in_response_to" in again.text, again.text[-1500:]
    assert "has finished already" in again.text  # the person's sentence (refusals.cpp)

    # IdP-initiated (allowed for this IdP): no pending request; the assertion id recorded by the
    # first gateway is refused by the second.
    idp = gw.a.idps[0]
    page = requests.post(idp.url + "/idp-initiated", data={
        "sp": gw.a.url + "/saml/metadata", "acs": gw.a.url + "/saml/acs",
        "username": "bob", "password": gw.a.users["bob"]["password"]}, timeout=15)
    acs, form = parse_form(page.text)
    ok = requests.post(acs, data=form, headers=HTML, allow_redirects=False, timeout=15)
    assert ok.status_code == 303, ok.text[:500]
    replayed = requests.post(acs.replace(gw.a.url, gw.b_url), data=form, headers=HTML,
                             allow_redirects=False, timeout=15)
    assert replayed.status_code in (400, 403) and "assertion.replayed" in replayed.text, replayed.text[:800]


def test_pending_sign_in_is_consumed_once_under_concurrent_posts(gw):
    for _ in range(3):
        s = requests.Session()
        acs, form = gw.a.saml_post(s, "alice", "/")
        cookies = s.cookies.get_dict()
        urls = [acs if i % 2 else acs.replace(gw.a.url, gw.b_url) for i in range(8)]
        barrier = threading.Barrier(len(urls))

        def post(url):
            barrier.wait()
            return requests.post(url, data=form, headers=HTML, cookies=cookies, allow_redirects=False,
                                 timeout=15).status_code

        with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
            codes = list(pool.map(post, urls))
        assert codes.count(303) == 1, codes
        assert all(c in (400, 403) for c in codes if c != 303), codes


def test_revocation_at_one_gateway_reaches_the_other_within_a_second(gw):
    frank = requests.Session()
    gw.a.signin(frank, "frank", "/")
    # B reads frank's session now (into its local view) and serves him without Redis after.
    for _ in range(3):
        assert whoami(frank, gw.b_url).status_code == 200
    erin = requests.Session()
    gw.a.signin(erin, "erin", "/")
    done = erin.post(gw.a.url + "/.claimgate/admin/revoke", timeout=15,
                     headers={"Content-Type": "application/json", "Accept": "application/json"},
                     data=json.dumps({"subject": "frank", "reason": "laptop lost"}))
    assert done.status_code == 200, done.text
    t0 = time.monotonic()
    while whoami(frank, gw.b_url).status_code == 200:
        assert time.monotonic() - t0 < 1.0, "gateway B still serves frank a second after the revocation"
        time.sleep(0.01)
    took = time.monotonic() - t0
    assert took < 1.0
    assert whoami(frank, gw.a.url).status_code == 401
    metrics = requests.get(gw.b_diag_url + "/metrics", timeout=15).text
    assert 'claimgate_redis_view_total{event="invalidation"}' in metrics
    hits = [l for l in metrics.splitlines() if l.startswith('claimgate_redis_view_total{event="hit"}')]
    assert hits and float(hits[0].split()[-1]) >= 1, metrics


def test_redis_killed_and_restarted_during_load(gw):
    alice = requests.Session()
    gw.a.signin(alice, "alice", "/")
    for url in (gw.a.url, gw.b_url):
        assert alice.get(url + "/", headers=JSON, timeout=15).status_code == 200

    stop = threading.Event()
    results = {"ok": 0, "other": {}, "errors": 0}
    lock = threading.Lock()

    def load(url):
        s = requests.Session()
        s.cookies.update(alice.cookies)
        deadline = time.monotonic() + 60  # bounded whatever happens
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                code = s.get(url + "/", headers=JSON, timeout=10).status_code
            except requests.RequestException:
                with lock:
                    results["errors"] += 1
                continue
            with lock:
                if code == 200:
                    results["ok"] += 1
                else:
                    results["other"][code] = results["other"].get(code, 0) + 1

    threads = [threading.Thread(target=load, args=(u,)) for u in (gw.a.url, gw.b_url, gw.a.url, gw.b_url)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        gw.redis.kill()
        time.sleep(1.5)
        # During the outage: alice (in both views) is served; a new sign-in is refused, clearly.
        down = requests.Session()
        page = down.get(gw.a.url + "/saml/login?rd=/", headers=HTML, timeout=15)
        assert page.status_code == 503 and "6505 gateway.store_unavailable" in page.text, page.text[:500]
        # The person reads a plain sentence; the operator's words (Redis's address) are in the log.
        assert "cannot complete the request at the moment" in page.text, page.text[:1500]
        assert "redis://" not in page.text, page.text[:1500]
        rid = page.headers["X-Request-Id"]
        assert any(f"request_id={rid} " in x and "Redis at redis://127.0.0.1:%d" % gw.redis.port in x
                   for x in gw.a.gateway_log().splitlines()), gw.a.gateway_log()[-2000:]
        for url in (gw.a.diag_url, gw.b_diag_url):
            ready = requests.get(url + "/readyz", timeout=15)
            assert ready.status_code == 503 and "Redis" in ready.text, ready.text
        metrics = requests.get(gw.a.diag_url + "/metrics", timeout=15).text
        assert 'claimgate_redis_state{what="reachable"} 0' in metrics
        with lock:
            ok_during = results["ok"]
        time.sleep(1.0)
        with lock:
            assert results["ok"] > ok_during, "cached sessions stopped being served during the outage"

        gw.redis.start()  # same port, same append-only file
        t_back = time.monotonic()
        for url in (gw.a.url, gw.b_url):
            gw.wait_ready(url, timeout=10)
        recovered_in = time.monotonic() - t_back
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert gw.a.gateway.poll() is None and gw.b.poll() is None, "a gateway died"
    assert results["other"] == {} and results["errors"] == 0, results
    assert results["ok"] > 50, results
    assert recovered_in < 10
    # After the recovery: alice still signed in (her session was persisted), new sign-ins work.
    assert alice.get(gw.b_url + "/", headers=JSON, timeout=15).status_code == 200
    fresh = requests.Session()
    assert gw.a.signin(fresh, "carol", "/").status_code == 200
    assert whoami(fresh, gw.b_url).json()["subject"] == "carol"
    log = gw.a.gateway_log()
    assert "session.redis" in log or "Redis at" in log


def restart_b(gw):
    gw.b.terminate()
    gw.b.wait(30)
    gw.b = gw.a._spawn("gateway-b", [claimgate_bin(), "serve", "--config", str(gw.config_b)])
    wait_http(gw.b_url + "/healthz", gw.b)
    gw.wait_ready(gw.b_url)


def test_key_rotation_signs_nobody_out(gw):
    """docs/deployment.md's rotation: stage the next key, restart every gateway, promote,
    restart every gateway again. At each step both gateways serve both people."""
    alice, carol = requests.Session(), requests.Session()
    gw.a.signin(alice, "alice", "/")
    keys = str(gw.a.dir / "keyring")

    def everyone_served():
        for who in (alice, carol):
            if not who.cookies:
                continue
            for url in (gw.a.url, gw.b_url):
                r = who.get(url + "/", headers=JSON, timeout=15)
                assert r.status_code == 200, (url, r.status_code, r.text[:300])

    staged = subprocess.run([claimgate_bin(), "keys", "rotate", "--dir", keys, "--next"],
                            capture_output=True, text=True, timeout=30)
    assert staged.returncode == 0, staged.stderr
    next_id = staged.stdout.split()[2]
    listing = subprocess.run([claimgate_bin(), "keys", "list", "--dir", keys], capture_output=True, text=True)
    assert f"seal {next_id}  (next)" in listing.stdout, listing.stdout
    restart_b(gw)
    everyone_served()
    gw.a.stop_gateway()
    gw.a.start_gateway()
    gw.wait_ready(gw.a.url)
    everyone_served()
    jwks = requests.get(gw.b_url + "/.well-known/jwks.json", timeout=15).json()
    assert next_id in {k["kid"] for k in jwks["keys"]}

    promoted = subprocess.run([claimgate_bin(), "keys", "promote", "--dir", keys],
                              capture_output=True, text=True, timeout=30)
    assert promoted.returncode == 0 and next_id in promoted.stdout, promoted.stdout + promoted.stderr
    gw.a.stop_gateway()
    gw.a.start_gateway()  # A seals with the new key now; B (not restarted) still with the old
    gw.wait_ready(gw.a.url)
    gw.a.signin(carol, "carol", "/")
    assert carol.cookies.get("cg_session").startswith(next_id + ".")
    everyone_served()
    restart_b(gw)
    everyone_served()


def wait_job_state(session, url, jid, state, timeout):
    """The nlp job `jid` as `url` shows it, once it is in `state`."""
    deadline = time.monotonic() + timeout
    while True:
        j = session.get(f"{url}/api/projects/nlp/jobs/{jid}", headers=JSON, timeout=15).json()
        if j["state"] == state:
            return j
        assert time.monotonic() < deadline, j
        time.sleep(0.2)


@pytest.mark.parametrize("topology", ["builtin", "jobs-serve"])
def test_revocation_at_any_gateway_stops_jobs(gw, topology):
    """Jobs run in one place (docs/deployment.md#training-jobs): the jobs service inside one
    gateway (builtin:jobs), or `claimgate jobs serve` behind the gateways. An administrator's
    revocation sent to another gateway reaches it by Redis pub/sub and stops the person's jobs."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    svc_port = free_port()
    # The nodes call the jobs service itself (the gateways' public URL leads to one without jobs).
    node_url = url if topology == "builtin" else f"http://127.0.0.1:{svc_port}"
    jobs_section = (f"jobs: {{state_dir: jobs-{topology}, token_ttl: 5s, check_interval: 1s, cancel_grace: 3s, "
                    f"poll_interval: 200ms, gateway_url: '{node_url}', {run_as_config()}}}\n")
    passable(gw.a.dir)  # the jobs' account reaches its own directory
    procs = []
    text = gw.derive(gw.a.config.read_text(), port)
    text = text.replace("audit-a/audit.jsonl", f"audit-{topology}/audit.jsonl")
    if topology == "builtin":
        upstream = "builtin:jobs"
        text += jobs_section
    else:
        upstream = f"http://127.0.0.1:{svc_port}"
        svc_config = gw.a.dir / "jobs-serve.yaml"
        svc_config.write_text(text.replace("audit-jobs-serve/", "audit-jobs-service/") + jobs_section)
        procs.append(gw.a._spawn("jobs-serve", [claimgate_bin(), "jobs", "serve", "--config", str(svc_config),
                                                "--listen", f"127.0.0.1:{svc_port}"]))
        wait_http(upstream + "/healthz", procs[-1])
    text = text.replace("routes:\n", 'routes:\n  - {"name": "jobs", "prefix": "/api/", "upstream": "%s"}\n' % upstream)
    config_c = gw.a.dir / f"claimgate-{topology}.yaml"
    config_c.write_text(text)
    procs.append(gw.a._spawn(f"gateway-{topology}", [claimgate_bin(), "serve", "--config", str(config_c)]))
    try:
        wait_http(url + "/healthz", procs[-1])
        gw.wait_ready(url)
        frank, erin = requests.Session(), requests.Session()
        gw.a.signin(frank, "frank", "/")   # signed in at A, served by the jobs gateway through Redis
        gw.a.signin(erin, "erin", "/")
        spec = {"command": ["/usr/bin/python3", "-c", "import time; time.sleep(120)"], "max_runtime": "10m"}
        r = frank.post(url + "/api/projects/nlp/jobs", json=spec, headers=JSON, timeout=30)
        assert r.status_code == 201, r.text
        jid = r.json()["id"]
        # Its node has verified the token and runs the command: the revocation must stop it.
        wait_audit_events(gw, "builtin" if topology == "builtin" else "jobs-service", "job.verified", jid, 1)
        done = erin.post(gw.b_url + "/.claimgate/admin/revoke", timeout=15,
                         headers={"Content-Type": "application/json", "Accept": "application/json"},
                         data=json.dumps({"subject": "frank", "reason": "contract ended"}))
        assert done.status_code == 200, done.text
        j = wait_job_state(erin, url, jid, "cancelled", 30)
        assert "contract ended" in j["revoked_reason"], j
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)


def spawn_jobs_gateway(gw, name, jobs_section):
    """A gateway of the deployment (shared Redis, keys, public URL) with its own port, audit log
    and `jobs:` section, routing /api/ to builtin:jobs. Returns (url, process)."""
    port = free_port()
    text = gw.derive(gw.a.config.read_text(), port)
    text = text.replace("audit-a/audit.jsonl", f"audit-{name}/audit.jsonl")
    text = text.replace("routes:\n", 'routes:\n  - {"name": "jobs", "prefix": "/api/", "upstream": "builtin:jobs"}\n')
    config = gw.a.dir / f"claimgate-{name}.yaml"
    config.write_text(text + jobs_section)
    proc = gw.a._spawn(f"gateway-{name}", [claimgate_bin(), "serve", "--config", str(config)])
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", proc)
    gw.wait_ready(url)
    return url, proc


def audit_events(gw, name):
    path = gw.a.dir / f"audit-{name}" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_audit_events(gw, name, type_, jid, count, timeout=15):
    """Gateway `name`'s audit records of `type_` for job `jid`, once there are `count` of them
    (background events are batched: on disk within the audit log's flush interval)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in audit_events(gw, name) if e["type"] == type_ and e.get("job_id") == jid]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, audit_events(gw, name)[-5:]
        time.sleep(0.2)


def test_two_jobs_gateways_share_the_jobs(gw):
    """Two gateways with builtin:jobs on the Redis store (each its own jobs.state_dir, so each is
    its own jobs service): a job submitted at C runs under C, whose nodes check and renew at D
    (C's jobs.gateway_url); D lists and reads it; a cancel sent to D reaches C, which stops the
    process; the end C records is what D shows."""
    common = f"token_ttl: 6s, check_interval: 1s, cancel_grace: 3s, poll_interval: 200ms, {run_as_config()}"
    passable(gw.a.dir)  # the jobs' account reaches its own directory
    procs = []
    try:
        # D first, so that C's nodes have it to call: every node call is answered by the service
        # that did not start the job.
        url_d, proc_d = spawn_jobs_gateway(gw, "d", f"jobs: {{state_dir: jobs-d, {common}}}\n")
        procs.append(proc_d)
        url_c, proc_c = spawn_jobs_gateway(gw, "c", f"jobs: {{state_dir: jobs-c, gateway_url: '{url_d}', {common}}}\n")
        procs.append(proc_c)
        frank = requests.Session()
        gw.a.signin(frank, "frank", "/")
        script = "import time\nfor i in range(240):\n    print('step', i, flush=True)\n    time.sleep(0.5)\n"
        spec = {"command": ["/usr/bin/python3", "-c", script], "max_runtime": "10m"}
        r = frank.post(url_c + "/api/projects/nlp/jobs", json=spec, headers=JSON, timeout=30)
        assert r.status_code == 201, r.text
        job = r.json()
        jid = job["id"]
        assert job["owner"].endswith("jobs-c"), job
        # The nodes verified the token at D, and renew it there (at 2/3 of its 6 s life).
        deadline = time.monotonic() + 30
        while True:
            at_d = frank.get(f"{url_d}/api/projects/nlp/jobs/{jid}", headers=JSON, timeout=15).json()
            if at_d["state"] == "running" and at_d["renewals"] >= 2:
                break
            assert time.monotonic() < deadline, at_d
            time.sleep(0.3)
        assert at_d["owner"] == job["owner"]
        # D audited the nodes' calls.
        wait_audit_events(gw, "d", "job.token_renewed", jid, 2)
        events_d = audit_events(gw, "d")
        assert any(e["type"] == "job.verified" and e.get("job_id") == jid for e in events_d), events_d[-5:]
        listed = frank.get(f"{url_d}/api/projects/nlp/jobs", headers=JSON, timeout=15).json()["jobs"]
        assert jid in [j["id"] for j in listed]
        # The log is in C's job directory: C serves it, D says where it is.
        log_c = frank.get(f"{url_c}/api/projects/nlp/jobs/{jid}/logs", timeout=15)
        assert log_c.status_code == 200 and "step" in log_c.text, log_c.text
        log_d = frank.get(f"{url_d}/api/projects/nlp/jobs/{jid}/logs", headers=JSON, timeout=15)
        assert log_d.status_code == 409 and job["owner"] in log_d.json()["message"], log_d.text
        # Cancelled at D: C's monitor stops the process.
        cancelled = frank.post(f"{url_d}/api/projects/nlp/jobs/{jid}/cancel", json={}, headers=JSON, timeout=15)
        assert cancelled.status_code == 202, cancelled.text
        at_d = wait_job_state(frank, url_d, jid, "cancelled", 20)
        assert at_d["message"] == "cancelled by frank", at_d
        assert at_d["exit_code"] is not None, at_d
        # The end is audited by C, not D.
        wait_audit_events(gw, "c", "job.finished", jid, 1)
        assert not any(e["type"] == "job.finished" and e.get("job_id") == jid for e in audit_events(gw, "d"))
        assert proc_c.poll() is None and proc_d.poll() is None
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
