"""`claimgate jobs` from the terminal, end to end: a real gateway with the jobs route, the pysaml2
IdP and the example policy; alice signs in with `claimgate login` (a script playing the browser)
and carol (a viewer everywhere) with the device flow. Submit (the command after -- verbatim),
list, status, logs -f, cancel, wait's exit code, --json, a viewer's refusal carrying the
gateway's sentence, and a followed job that outlives the person's access token (access_ttl 10s:
the CLI refreshes the login as it goes)."""
import json
import os
import re
import subprocess
import time

import jwt

import pytest
import requests

from conftest import claimgate_bin
from gateway_stack import DemoStack
from job_user import ensure_job_user, passable, private_files, readable
from test_jobs import POLICY, PYTHONPATH, TRAIN_DIR, jobs_config
from test_tokens import Cli, cli_home, device_login, play_browser

PY = "/usr/bin/python3"
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    ensure_job_user()
    readable(TRAIN_DIR)
    readable(PYTHONPATH)
    d = tmp_path_factory.mktemp("jobs-cli")
    passable(d)
    s = DemoStack(d, claimgate_bin(), store="sqlite", policy=POLICY, upstream=False,
                  routes=[{"name": "jobs", "prefix": "/api/", "upstream": "builtin:jobs"}],
                  extra_config=jobs_config() + "tokens: {access_ttl: 10s, device_poll_interval: 1s}\n")
    private_files(d)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def homes(stack, tmp_path_factory):
    """CLI config directories: alice's from a real `claimgate login`, carol's from the device flow."""
    base = tmp_path_factory.mktemp("cli-homes")
    alice = base / "alice"
    proc = Cli(alice, "login", "--gateway", stack.url, "--no-browser", "--timeout", "60")
    try:
        url = proc.read_until(r"^\s+(http\S+/\.claimgate/cli/authorize\S+)").group(1)
        assert play_browser(stack, requests.Session(), url, "alice").status_code == 200
        rc, err = proc.finish()
        assert rc == 0 and "as alice" in err, err
    finally:
        proc.kill()
    browser = requests.Session()  # signed in first: this stack has no page at "/"
    stack.signin(browser, "carol", "/api/projects/vision/jobs")
    return {"alice": alice, "carol": cli_home(stack, base / "carol", device_login(stack, "carol", browser))}


def jobs(home, *args, timeout=60):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMGATE_")}
    env["CLAIMGATE_CONFIG_DIR"] = str(home)
    return subprocess.run([claimgate_bin(), "jobs", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def ok(proc):
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def credentials(home, stack):
    return json.loads((home / "credentials.json").read_text())["gateways"][stack.url]


def test_submit_follow_list_status_with_the_command_verbatim(stack, homes):
    alice = homes["alice"]
    # Everything after -- is the job's, verbatim: a list-looking argument, options of ours.
    code = ("import os, sys, time\nprint('argv', sys.argv[1:], flush=True)\n"
            "print('greeting', os.environ['GREETING'], flush=True)\n"
            "for i in range(4):\n    print('line', i, flush=True); time.sleep(0.4)")
    args = ['["a"]', "[1,2]", "--json", "-p", "nlp", "--"]
    # No --project: alice holds roles in vision only, so that is where it goes.
    sub = ok(jobs(alice, "submit", "--name", "verbatim", "--env", "GREETING=hello there", "--max-runtime", "5m",
                  "--", PY, "-c", code, *args))
    jid = sub.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", jid) and "submitted in project vision" in sub.stderr, sub
    # logs -f prints the log as it grows and returns when the job has ended.
    logs = ok(jobs(alice, "logs", jid, "-f"))
    assert f"argv {args!r}" in logs.stdout, logs.stdout
    assert "greeting hello there" in logs.stdout
    assert [f"line {i}" for i in range(4)] == re.findall(r"line \d", logs.stdout)

    status = json.loads(ok(jobs(alice, "status", jid, "--json")).stdout)
    assert status["state"] == "succeeded" and status["exit_code"] == 0, status
    assert status["spec"]["command"] == [PY, "-c", code, *args]
    assert status["spec"]["name"] == "verbatim" and status["spec"]["max_runtime"] == 300
    table = ok(jobs(alice, "status", jid)).stdout
    assert re.search(r"^state\s+succeeded$", table, re.M), table

    mine = json.loads(ok(jobs(alice, "list", "--mine", "--json")).stdout)["jobs"]
    assert jid in [j["id"] for j in mine] and all(j["submitter"] == "alice" for j in mine)
    running = json.loads(ok(jobs(alice, "list", "--project", "vision", "--state", "running", "--json")).stdout)
    assert jid not in [j["id"] for j in running["jobs"]]
    people = ok(jobs(alice, "list")).stdout.splitlines()
    assert people[0].split()[:4] == ["ID", "PROJECT", "STATE", "SUBMITTER"]
    row = next(line for line in people if line.startswith(jid))
    assert row.split()[1:4] == ["vision", "succeeded(0)", "alice"], row
    assert ok(jobs(alice, "wait", jid)).returncode == 0


def test_wait_and_follow_exit_with_the_jobs_exit_code(stack, homes):
    alice = homes["alice"]
    followed = jobs(alice, "submit", "--follow", "--", PY, "-c", "import sys; print('bye'); sys.exit(3)")
    assert followed.returncode == 3, (followed.stdout, followed.stderr)
    assert "bye" in followed.stdout and "failed (exit code 3)" in followed.stderr
    jid = ok(jobs(alice, "submit", "--json", "--", PY, "-c", "import sys, time; time.sleep(1); sys.exit(3)"))
    jid = json.loads(jid.stdout)["id"]
    waited = jobs(alice, "wait", jid, "--json")
    assert waited.returncode == 3, (waited.stdout, waited.stderr)
    assert json.loads(waited.stdout)["state"] == "failed"


def test_cancel_ends_the_job_and_wait_says_so(stack, homes):
    alice = homes["alice"]
    jid = ok(jobs(alice, "submit", "--", PY, "-c", "import time; time.sleep(120)")).stdout.strip()
    ok(jobs(alice, "cancel", jid))
    waited = jobs(alice, "wait", jid, "--json", timeout=30)
    end = json.loads(waited.stdout)
    assert end["state"] == "cancelled" and end["token_revoked"] and waited.returncode != 0, (end, waited.stderr)
    assert "cancelled" in waited.stderr
    again = jobs(alice, "cancel", jid)
    assert again.returncode == 1 and "has already ended" in again.stderr, again.stderr


def test_a_long_log_comes_in_pieces(stack, homes):
    # 9 MiB of output: `jobs logs` reads it 4 MiB a request (?offset=&limit=), every byte once.
    alice = homes["alice"]
    code = "import sys\nfor i in range(9 * 1024):\n    sys.stdout.write('%08d' % i + 'x' * 1015 + '\\n')"
    jid = ok(jobs(alice, "submit", "--", PY, "-c", code)).stdout.strip()
    assert ok(jobs(alice, "wait", jid)).returncode == 0
    out = subprocess.run([claimgate_bin(), "jobs", "logs", jid], capture_output=True, timeout=60,
                         env=dict(os.environ, CLAIMGATE_CONFIG_DIR=str(alice)))
    assert out.returncode == 0, out.stderr
    log = (stack.dir / "jobs-state" / jid / "output.log").read_bytes()
    assert len(log) > 9 << 20 and out.stdout == log, (len(out.stdout), len(log))
    token = subprocess.run([claimgate_bin(), "token"], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, CLAIMGATE_CONFIG_DIR=str(alice))).stdout.strip()
    piece = requests.get(f"{stack.url}/api/projects/vision/jobs/{jid}/logs?offset=10&limit=100", timeout=30,
                         headers={"Authorization": "Bearer " + token})
    assert piece.status_code == 200 and piece.content == log[10:110], piece.content[:200]


def test_refusals_carry_the_gateways_sentence(stack, homes):
    carol = homes["carol"]
    # What the gateway says to carol, a viewer, when she submits in vision ...
    token = credentials(carol, stack)["access_token"]
    direct = requests.post(stack.url + "/api/projects/vision/jobs", json={"command": ["true"]},
                           headers=dict(JSON, Authorization="Bearer " + token), timeout=15)
    assert direct.status_code in (401, 403), direct.text
    # ... is what the CLI prints, and it exits 1 (the token may have been refreshed meanwhile:
    # compare with a fresh 403's sentence).
    refused = jobs(carol, "submit", "--project", "vision", "--", "true")
    assert refused.returncode == 1 and refused.stdout == "", refused
    token = credentials(carol, stack)["access_token"]
    sentence = requests.post(stack.url + "/api/projects/vision/jobs", json={"command": ["true"]},
                             headers=dict(JSON, Authorization="Bearer " + token), timeout=15).json()["message"]
    assert sentence in refused.stderr and "viewer" in refused.stderr, (sentence, refused.stderr)
    # Roles in every project: listing needs a project; a job id nobody has is named.
    assert jobs(carol, "list").returncode == 2
    ok(jobs(carol, "list", "--project", "vision"))
    missing = jobs(carol, "status", "--project", "vision", "nosuchjob")
    assert missing.returncode == 1 and "has no job nosuchjob" in missing.stderr, missing.stderr
    # Not signed in: the sentence says what to do.
    nobody = jobs(carol.parent / "nobody", "list", "--gateway", stack.url)
    assert nobody.returncode == 1 and "claimgate login" in nobody.stderr


def test_a_followed_job_outlives_the_access_token(stack, homes):
    alice = homes["alice"]
    first = credentials(alice, stack)["access_token"]
    # access_ttl is 10s: the job runs 12s; every request of the follow loop refreshes the login.
    code = "import time\nfor i in range(12):\n    print('tick', i, flush=True); time.sleep(1)"
    run = jobs(alice, "submit", "--follow", "--", PY, "-c", code, timeout=60)
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert re.findall(r"tick \d+", run.stdout) == [f"tick {i}" for i in range(12)], run.stdout
    assert "succeeded (exit code 0)" in run.stderr
    # The token the run began with has expired meanwhile (the gateway allows 30s of clock skew
    # beyond exp, so its own refusal would come later); the login holds a newer one.
    assert jwt.decode(first, options={"verify_signature": False})["exp"] < time.time()
    assert credentials(alice, stack)["access_token"] != first


def test_a_refused_access_token_is_refreshed_once(stack, homes, tmp_path):
    # A stored access token the gateway refuses (revoked, or a clock ahead of ours) although it
    # looks valid here: the 401 makes the CLI refresh and try again.
    alice = homes["alice"]
    creds_file = alice / "credentials.json"
    creds = json.loads(creds_file.read_text())
    entry = creds["gateways"][stack.url]
    entry["access_token"], entry["expires_at"] = "not-a-token", 4102444800
    creds_file.write_text(json.dumps(creds))
    ok(jobs(alice, "list", "--project", "vision"))
    assert credentials(alice, stack)["access_token"] != "not-a-token"
