"""The claimgate Python package as a person installs and uses it: `pip install ./python` into a
venv (Debian 12's Python, offline: --system-site-packages --no-build-isolation --no-index), then,
from that installed copy only (the source tree is not on sys.path), against a real gateway with
the jobs route and pysaml2 sign-in: claimgate.login() (the device flow, approved by a signed-in
browser), the PyTorch example submitting itself (`train.py --submit`: torchrun, two processes),
its log streamed, wait's exit code, cancel, refusals raised with the gateway's sentence,
BearerAuth, and job_identity() inside the job (project, submitter, a fresh token)."""
import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import time

import pytest
import requests

from conftest import ROOT, claimgate_bin
from gateway_stack import DemoStack, parse_form
from job_user import ensure_job_user, passable, private_files, run_as_config

POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"
HTML = {"Accept": "text/html"}
TTL = 30  # job token lifetime (s)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    ensure_job_user()
    d = tmp_path_factory.mktemp("pyclient-gw")
    passable(d)  # the job's account passes through to its own directory
    s = DemoStack(d, claimgate_bin(), store="sqlite", policy=POLICY, upstream=False,
                  routes=[{"name": "jobs", "prefix": "/api/", "upstream": "builtin:jobs"}],
                  extra_config=(f"tokens: {{device_poll_interval: 1s}}\n"
                                f"jobs: {{{run_as_config()}, state_dir: jobs-state, token_ttl: {TTL}s, "
                                "check_interval: 1s, cancel_grace: 3s, poll_interval: 200ms}\n"))
    private_files(d)
    yield s
    s.stop()


class Installed:
    """The package installed in a venv, and a working directory for jobs holding the venv and
    the example (the job's sandbox has a /tmp of its own: the job reaches only its workdir)."""

    def __init__(self, work):
        self.work = work
        self.venv = work / "venv"
        self.python = self.venv / "bin" / "python"
        self.site = self.venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        self.home = work.parent / (work.name + "-home")  # the login's credentials, not for the job

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "CLAIMGATE_GATEWAY"}
        env["CLAIMGATE_CONFIG_DIR"] = str(self.home)
        return env

    def run(self, *args, timeout=60):
        return subprocess.run([str(self.python), *args], capture_output=True, text=True, timeout=timeout,
                              cwd=self.work, env=self.env())

    def script(self, code, *args, timeout=60):
        """Runs `code` with the venv's Python; returns its last stdout line, decoded as JSON."""
        out = self.run("-c", code, *args, timeout=timeout)
        assert out.returncode == 0, f"exit {out.returncode}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
        return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("pyclient")
    src = base / "src"  # a copy: pip builds in the tree it is given, and the checkout stays clean
    shutil.copytree(ROOT / "python", src / "python",
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    work = base / "work"
    work.mkdir(mode=0o755)
    passable(work)
    shutil.copy(ROOT / "examples" / "pytorch" / "train.py", work / "train.py")
    pkg = Installed(work)
    # The documented way (python/README.md): Debian 12's pip refuses system installs (PEP 668).
    for cmd in (["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(pkg.venv)],
                [str(pkg.venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-index",
                 "--disable-pip-version-check", str(src / "python")]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=base, umask=0o022,
                           env={k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))})
        assert r.returncode == 0, f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return pkg


def test_the_package_is_imported_from_the_venv(installed):
    seen = installed.script(
        "import json, sys, importlib.metadata as md, claimgate, claimgate.jobs, claimgate.auth\n"
        "hub = [e.value for e in md.entry_points(group='jupyterhub.authenticators') if e.name == 'claimgate']\n"
        "print(json.dumps([claimgate.__file__, claimgate.jobs.__file__, claimgate.__version__, sys.path, hub]))\n")
    init, jobs_mod, version, path, hub = seen
    assert hub == ["claimgate.jupyterhub:ClaimgateAuthenticator"]  # authenticator_class = "claimgate"
    for f in (init, jobs_mod):
        assert pathlib.Path(f).resolve().is_relative_to(installed.site.resolve()), f
    assert version and re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert not any(p and pathlib.Path(p).resolve().is_relative_to(ROOT) for p in path), path
    # pip's record of the installation (what `pip show -f claimgate` lists, read without pip).
    records = list(installed.site.glob("claimgate-*.dist-info/RECORD"))
    assert len(records) == 1 and "claimgate/jobs.py," in records[0].read_text(), records


def device_login(stack, installed, user, action):
    """claimgate.login() in the venv, the code approved (or denied) by `user`'s signed-in browser
    on the gateway's device page, as a person does from another window. Returns (exit code,
    stdout, stderr)."""
    code = ("import sys, claimgate\n"
            "try:\n"
            "    c = claimgate.login(sys.argv[1], client='notebook', timeout=30)\n"
            "    print('RESULT', c.subject, c.gateway, flush=True)\n"
            "except claimgate.LoginError as e:\n"
            "    print('REFUSED', e.oauth_error, e.name, e.code, '|', e.message, flush=True)\n")
    proc = subprocess.Popen([str(installed.python), "-c", code, stack.url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=installed.work, env=installed.env())
    try:
        first = proc.stdout.readline()
        m = re.match(r"To sign in, open (\S+/\.claimgate/device) and enter the code ([B-Z]{4}-[B-Z]{4})$",
                     first.strip())
        assert m and m.group(1) == stack.url + "/.claimgate/device", first + proc.stderr.read()
        complete = proc.stdout.readline().strip()
        assert complete == f"(or open {stack.url}/.claimgate/device?code={m.group(2)})", complete
        browser = requests.Session()
        stack.signin(browser, user, "/api/projects/vision/jobs")
        page = browser.get(stack.url + "/.claimgate/device?code=" + m.group(2), headers=HTML, timeout=15)
        form_action, fields = parse_form(page.text)
        assert fields.get("user_code") == m.group(2), page.text[:300]
        done = browser.post(stack.url + form_action, data=dict(fields, action=action), headers=HTML, timeout=15)
        assert done.status_code == 200, done.text[:300]
        out, err = proc.communicate(timeout=30)
        return proc.returncode, first + complete + "\n" + out, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def alice(stack, installed):
    """alice signed in through claimgate.login(); returns what login printed."""
    rc, out, err = device_login(stack, installed, "alice", "approve")
    assert rc == 0, out + err
    return out


def test_login_from_python_with_the_device_flow(stack, installed, alice):
    assert f"RESULT alice {stack.url}" in alice, alice
    assert re.search(rf"Signed in to {re.escape(stack.url)} as alice; the login lasts until \d{{4}}-", alice)
    creds = installed.home / "credentials.json"
    saved = json.loads(creds.read_text())
    assert saved["default"] == stack.url and saved["gateways"][stack.url]["subject"] == "alice"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600 and stat.S_IMODE(installed.home.stat().st_mode) == 0o700
    # Running the cell again asks nobody while the gateway accepts the login.
    again = installed.script("import json, sys, claimgate\n"
                             "c = claimgate.login(sys.argv[1], out=lambda t: print(json.dumps(t)))\n", stack.url)
    assert again == f"Already signed in to {stack.url} as alice; claimgate.login(force=True) signs in again."
    # The same file as the CLI's: `claimgate token` reads this login.
    tok = subprocess.run([claimgate_bin(), "token"], capture_output=True, text=True, timeout=30,
                         env=installed.env())
    assert tok.returncode == 0 and tok.stdout.strip() == saved["gateways"][stack.url]["access_token"], tok.stderr


def test_a_denied_login_raises_with_the_sentence(stack, installed, alice, tmp_path):
    other = Installed(installed.work)
    other.home = tmp_path / "denied-home"
    rc, out, err = device_login(stack, other, "carol", "deny")
    assert rc == 0, out + err
    assert "REFUSED access_denied" in out and "the request was refused on the device page" in out, out
    assert not (other.home / "credentials.json").exists()


def test_the_example_submits_itself_and_reads_its_identity(stack, installed, alice):
    started = time.time()
    # PyTorch (python3-torch, in install-deps' TEST list) is seen through the venv's system site
    # packages: the example submits itself through torchrun with two processes.
    out = installed.run(str(installed.work / "train.py"), "--submit", "--project", "vision", "--gateway",
                        stack.url, "--epochs", "2", "--samples", "1024", "--nproc", "2", timeout=150)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    m = re.search(r"^submitted job (j\S+) in project vision as alice: (\S+) -m torch\.distributed\.run --rdzv_backend=c10d --rdzv_endpoint=localhost:0 "
                  r"--nproc_per_node=2 .* train\.py --epochs 2 --samples 1024 --backend torch$", text, re.M)
    assert m and m.group(2) == str(installed.python), text  # the job runs the venv's interpreter
    jid = m.group(1)
    # Printed inside the job by rank 0 (torchrun's --tee prefix [default0]:) from job_identity(),
    # streamed back through jobs.logs().
    assert f"    | [default0]:job {jid} project vision submitter alice pool default world_size 2\n" in text, text
    t = re.search(r"^    \| \[default0\]:job token expires \S+ \(in \d+ s; checked at (\d+), expires (\d+)\)$",
                  text, re.M)
    assert t, text
    checked, expires = int(t.group(1)), int(t.group(2))
    assert int(started) <= checked <= time.time() and 0 < expires - checked <= TTL, (started, checked, expires)
    for rank in (0, 1):  # each DDP process had the gateway check the job's token (JobIdentity.verify)
        assert f"    | [default{rank}]:rank {rank}/2: job {jid} verified by the gateway (running)\n" in text, text
    assert "    | [default0]:epoch 2/2 loss" in text and "    | [default0]:learned weight" in text, text
    assert text.rstrip().endswith(f"job {jid} succeeded (exit code 0)"), text


def test_jobs_stream_cancel_wait_list_and_refusals(stack, installed, alice):
    code = r"""
import json, sys, time, requests, claimgate
jobs = claimgate.Jobs(project="vision")
out = {}
slow = jobs.submit(["/usr/bin/python3", "-c",
                    "import time\nprint('ready', flush=True)\ntime.sleep(2.5)\nprint('still here', flush=True)\n"
                    "while True: time.sleep(0.1)"], name="slow", max_runtime="5m")
out["submitted"] = [slow.id, slow.state, slow.submitter]
lines = []
# timeout=1: the job is quiet for 2.5 s after 'ready'; the stream is asked for again from its offset.
for line in jobs.logs(slow, follow=True, timeout=1):
    lines.append(line)
    if line == "still here\n":  # the job is still running: the log is a stream, not its end
        out["state_at_line"] = jobs.get(slow.id).state
        out["cancel"] = jobs.cancel(slow.id).state
out["lines"] = lines
done = jobs.wait(slow, timeout=30, poll=0.2)
out["cancelled"] = [done.state, done.message, bool(done.token_revoked)]
three = jobs.submit(["/usr/bin/python3", "-c", "print('exiting'); raise SystemExit(3)"])
out["three"] = [jobs.wait(three.id, timeout=30, poll=0.2).exit_code, "".join(three.logs())]
try:
    three.wait(check=True)
except claimgate.JobFailed as e:
    out["job_failed"] = str(e)
# Inside a job: the installed copy (the venv's Python in the job's working directory) and the
# job's identity, its token checked with the gateway.
probe = ("import json, claimgate\nme = claimgate.job_identity()\n"
         "print('IDENTITY ' + json.dumps([claimgate.__file__, me.project, me.submitter, me.job_id, me.gateway, "
         "me.verify()]))")
ident = jobs.submit([sys.executable, "-c", probe], workdir=sys.argv[1])
out["ident"] = [jobs.wait(ident, timeout=30, poll=0.2).exit_code, ident.id, "".join(ident.logs())]
out["listed"] = [j.id for j in jobs.list(mine=True)]
for name, call in (("bad_spec", lambda: jobs.submit(["x"], gpus=1000)),
                   ("forbidden", lambda: jobs.submit(["x"], project="nlp")),
                   ("not_found", lambda: jobs.get("jdoesnotexist"))):
    try:
        call()
    except claimgate.GatewayError as e:
        out[name] = [e.status, e.name, e.code, e.message, e.request_id]
r = requests.get(jobs.gateway + "/api/projects/vision/jobs", auth=claimgate.BearerAuth(),
                 headers={"Accept": "application/json"}, timeout=15)
out["bearer"] = [r.status_code, len(r.json()["jobs"])]
# An agent token (read-only) used as is: it lists, and is refused a submission with the sentence.
made = requests.post(jobs.gateway + "/.claimgate/tokens", auth=claimgate.BearerAuth(), timeout=15,
                     json={"agent": "py-bot", "scope": ["jobs:read"], "project": "vision", "ttl": "1h"})
agent = claimgate.Jobs(jobs.gateway, "vision", token=made.json()["token"])
out["agent_list"] = len(agent.list())
try:
    agent.submit(["x"])
except claimgate.GatewayError as e:
    out["agent_refused"] = [e.status, e.name, e.body.get("reason"), e.message]
print(json.dumps(out))
"""
    out = installed.script(code, str(installed.work), timeout=90)
    slow_id, state, submitter = out["submitted"]
    assert state in ("queued", "running") and submitter == "alice"
    assert out["state_at_line"] == "running" and out["cancel"] in ("running", "cancelled"), out
    lines = out["lines"]
    assert lines[0].startswith("claimgate exec: job " + slow_id + " verified"), lines
    # Across the quiet spell's reconnections, every line once, in order.
    assert lines[1:3] == ["ready\n", "still here\n"], lines
    # What exec wrote after the cancel came through the same stream.
    assert any("received Terminated" in x for x in lines[3:]), lines
    asked = re.findall(rf"method=GET path=/api/projects/vision/jobs/{slow_id}/logs route=jobs status=200",
                       stack.gateway_log())
    assert len(asked) >= 2, asked  # the quiet spell made it ask again
    assert out["cancelled"] == ["cancelled", "cancelled by alice", True], out["cancelled"]
    assert out["three"][0] == 3 and out["three"][1].endswith(" verified (project vision, submitter alice, pool "
                                                            "default); running /usr/bin/python3\nexiting\n"), out

    assert "failed (exit code 3)" in out["job_failed"]
    rc, ident_id, log = out["ident"]
    assert rc == 0, log
    where, project, submitter, job_id, gateway, check = json.loads(log.split("IDENTITY ", 1)[1])
    assert pathlib.Path(where).is_relative_to(installed.site), where
    assert (project, submitter, job_id, gateway) == ("vision", "alice", ident_id, stack.url)
    assert check["active"] is True and check["job"] == ident_id and check["state"] == "running", check
    assert slow_id in out["listed"] and ident_id in out["listed"]
    status, name, code, message, request_id = out["bad_spec"]
    assert (status, name, code) == (400, "jobs.bad_spec", 9001) and "gpus: 1000 is outside 0..16" in message
    status, name, code, message, request_id = out["forbidden"]
    assert (status, name, code) == (403, "gateway.forbidden", 6507) and request_id, out["forbidden"]
    assert message.startswith("POST /api/projects/nlp/jobs needs jobs:submit in project 'nlp', and you have no "
                              "role in project 'nlp'"), message
    assert out["not_found"][:2] == [404, "jobs.not_found"], out["not_found"]
    assert out["bearer"][0] == 200 and out["bearer"][1] >= 2
    assert out["agent_list"] == out["bearer"][1]
    status, name, reason, message = out["agent_refused"]
    assert (status, name, reason) == (403, "gateway.forbidden", "agent-scope"), out["agent_refused"]
    assert message.startswith("agent token 'py-bot' (") and message.endswith(
        "may use jobs:read in project 'vision'; this request needs jobs:submit"), message


class FakeGateway:
    """A stand-in for the gateway for what a real one does not do on demand: a log stream that
    breaks mid-line, an access token that expired before its stored expiry, an error page that is
    not JSON. Records the requests it received."""

    def __init__(self):
        import http.server
        import threading
        fake = self
        self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def chunked(self, parts, finish):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in parts:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                if finish:
                    self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True

            def answer(self, status, body, ctype="application/json", **headers):
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):
                fake.seen.append((self.command, self.path, self.headers.get("Authorization")))
                if self.path == "/api/projects/p/jobs/j1/logs?follow=1":
                    self.chunked([b"one\ntw"], finish=False)  # the connection drops mid-line
                elif self.path == "/api/projects/p/jobs/j1/logs?follow=1&offset=6":
                    self.chunked([b"o\nthr", b"ee\n"], finish=True)
                elif self.path == "/api/projects/p/jobs/j2":
                    if self.headers.get("Authorization") == "Bearer fresh":
                        self.answer(200, {"id": "j2", "project": "p", "state": "running"})
                    else:
                        self.answer(401, {"error": "gateway.token_expired", "code": 6512, "message": "expired"},
                                    WWW_Authenticate='Bearer realm="claimgate", error="invalid_token", '
                                                     'error_description="access token expired at ..."')
                else:
                    self.answer(502, "<html><body>Bad Gateway (the front proxy's page)</body></html>", "text/html")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                fake.seen.append((self.command, self.path, body))
                self.answer(200, {"access_token": "fresh", "expires_at": int(time.time()) + 900,
                                  "refresh_token": "r2", "refresh_expires_at": int(time.time()) + 3600,
                                  "subject": "alice", "token_id": "t1"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_broken_streams_expired_tokens_and_error_pages(installed, tmp_path):
    fake = FakeGateway()
    try:
        home = tmp_path / "fake-home"
        home.mkdir(mode=0o700)
        # Stored as valid for 10 more minutes, but the gateway says it expired (a clock ahead).
        (home / "credentials.json").write_text(json.dumps({"version": 1, "default": fake.url, "gateways": {
            fake.url: {"access_token": "stale", "expires_at": int(time.time()) + 600, "refresh_token": "r1",
                       "refresh_expires_at": int(time.time()) + 3600, "subject": "alice", "token_id": "t1"}}}))
        pkg = Installed(installed.work)
        pkg.home = home
        out = pkg.script(
            "import json, claimgate\n"
            "jobs = claimgate.Jobs(project='p')\n"
            "lines = list(jobs.logs('j1', follow=True))\n"
            "state = jobs.get('j2').state\n"
            "try:\n"
            "    jobs.get('j3')\n"
            "except claimgate.GatewayError as e:\n"
            "    err = [e.status, e.name, e.code, e.message]\n"
            "print(json.dumps([lines, state, err]))\n")
    finally:
        fake.stop()
    lines, state, err = out
    assert lines == ["one\n", "two\n", "three\n"], lines  # resumed at byte 6: nothing lost or repeated
    assert state == "running"
    assert err[:3] == [502, "", 0] and "Bad Gateway (the front proxy's page)" in err[3], err
    auths = [a for m, p, a in fake.seen if p == "/api/projects/p/jobs/j2"]
    assert auths == ["Bearer stale", "Bearer fresh"], fake.seen  # refreshed once, sent again
    posts = [b for m, p, b in fake.seen if m == "POST"]
    assert posts == ["grant_type=refresh_token&refresh_token=r1"], posts
    saved = json.loads((home / "credentials.json").read_text())["gateways"][fake.url]
    assert saved["access_token"] == "fresh" and saved["refresh_token"] == "r2"
