"""The Slurm executor against a real single-machine Slurm (munge, slurmctld, slurmd started
here): a job submitted through the gateway becomes an sbatch script whose srun runs
claimgate-exec, which verifies the token on the node before the command runs; the job's exit
comes back; a cancel is an scancel and revokes the token."""
import json
import pwd
import time

import pytest
import requests

from conftest import ROOT, claimgate_bin
from gateway_stack import DemoStack
from job_user import JOB_USER, passable, readable, run_as_config
from slurm_cluster import SlurmCluster

POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, cluster):
    d = tmp_path_factory.mktemp("jobs-slurm")
    passable(d)  # the job's account (sbatch --uid) reaches its own directory on the "shared" storage
    readable(ROOT / "python")
    # A variable of the gateway's own that the job must not see (sbatch exports its environment).
    env = dict(cluster.env, CLAIMGATE_TEST_GATEWAY_ONLY="gateway-secret")
    s = DemoStack(d, claimgate_bin(), store="sqlite", policy=POLICY, upstream=False, env=env,
                  routes=[{"name": "jobs", "prefix": "/api/", "upstream": "builtin:jobs"}],
                  extra_config=f"jobs: {{executor: slurm, {run_as_config()}, state_dir: jobs-state, token_ttl: 5s, check_interval: 1s, "
                               "poll_interval: 300ms, slurm: {partition: debug}}\n")
    yield s
    s.stop()


def wait_state(stack, session, jid, states, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = session.get(f"{stack.url}/api/projects/vision/jobs/{jid}", headers=JSON, timeout=30).json()
        if j["state"] in states:
            return j
        time.sleep(0.3)
    log = stack.dir / "jobs-state" / jid / "output.log"
    raise AssertionError(f"{jid} never reached {states}: {j}\n{log.read_text() if log.exists() else ''}")


def test_slurm_job_runs_through_exec_on_the_node_and_cancels(stack, cluster):
    alice = requests.Session()
    stack.signin(alice, "alice", "/api/projects/vision/jobs")
    code = ("import os, time; from claimgate import job_identity; me = job_identity(); "
            "print('node', os.environ.get('SLURMD_NODENAME'), 'job', me.job_id, 'submitter', me.submitter, "
            "flush=True); print('uid', os.getuid(), 'gid', os.getgid(), 'secret', "
            "os.environ.get('CLAIMGATE_TEST_GATEWAY_ONLY'), flush=True); time.sleep(12); print('renewed', me.expires() > me.claims()['iat'] + 4, flush=True)")
    spec = {"command": ["/usr/bin/python3", "-c", code], "env": {"PYTHONPATH": str(ROOT / "python")},
            "max_runtime": "10m", "procs_per_node": 1}
    r = alice.post(stack.url + "/api/projects/vision/jobs", json=spec, headers=JSON, timeout=30)
    assert r.status_code == 201, r.text
    j = r.json()
    assert j["executor"] == "slurm" and j["ref"].isdigit(), j
    script = (stack.dir / "jobs-state" / j["id"] / "job.sbatch").read_text()
    assert "srun" in script and "claimgate-exec" in script and "--job-id" in script, script
    done = wait_state(stack, alice, j["id"], {"succeeded", "failed", "lost"})
    log = (stack.dir / "jobs-state" / j["id"] / "output.log").read_text()
    assert done["state"] == "succeeded" and done["exit_code"] == 0, (done, log, cluster.logs())
    assert f"node localhost job {j['id']} submitter alice" in log, log
    assert f"claimgate exec: job {j['id']} verified" in log
    account = pwd.getpwnam(JOB_USER)
    assert f"uid {account.pw_uid} gid {account.pw_gid} secret None" in log, log  # jobs.run_as, not root
    assert done["renewals"] >= 2, done  # ran 12 s on 5 s tokens
    assert done["nodes"] and done["nodes"][0]["node"] == "localhost/0", done

    # A cancel becomes scancel; the token is revoked and the node's command stops.
    r = alice.post(stack.url + "/api/projects/vision/jobs",
                   json=dict(spec, command=["/bin/sh", "-c", "sleep 300"]), headers=JSON, timeout=30)
    jid = r.json()["id"]
    wait_state(stack, alice, jid, {"running"})
    r = alice.post(f"{stack.url}/api/projects/vision/jobs/{jid}/cancel", json={}, headers=JSON, timeout=30)
    assert r.status_code == 202, r.text
    done = wait_state(stack, alice, jid, {"cancelled"}, timeout=60)
    assert "cancelled by alice" in done["revoked_reason"], done
    token = (stack.dir / "jobs-state" / jid / "token").read_text().strip()
    check = requests.post(stack.url + "/.claimgate/jobs/check", json={"token": token}, timeout=10)
    assert check.status_code == 401 and check.json()["error"] == "jobs.token_revoked"
