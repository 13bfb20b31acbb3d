"""The quick start (scripts/quickstart.sh) as a newcomer runs it, on the binary under test:
examples/quickstart/demo_stack.py with its jobs route. `--check` signs alice in through the
pysaml2 IdP, then from the terminal (`claimgate login --device`, `claimgate token`), submits the
PyTorch example as a job (its plain-Python loop: the quick start installs no PyTorch), follows its
log to the end, is refused a deployment, and verifies the audit log; without `--check` the demo
prints its URL, its users and how to submit a job, and stops on SIGTERM."""
import os
import signal
import subprocess
import sys

from conftest import ROOT, claimgate_bin
from gateway_stack import free_port
from job_user import passable

DEMO = ROOT / "examples" / "quickstart" / "demo_stack.py"


def demo(tmp_path, *args):
    d = tmp_path / "demo"
    d.mkdir()
    passable(d)  # the jobs' account passes through to its job directory (tmp_path is 0700)
    return [sys.executable, str(DEMO), "--bin", claimgate_bin(), "--dir", str(d), "--port", str(free_port()),
            *args]


# A newcomer's check: every step of the quick start's demo, the job included, does what it should.
def test_quickstart_check_runs_the_example_job_without_pytorch(tmp_path):
    r = subprocess.run(demo(tmp_path, "--check", "--job", "python"), capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert "quick start check: passed" in out, out
    assert "terminal sign-in: claimgate login --device" in out, out
    assert "training with the plain-Python loop" in out, out
    assert "learned weight 3.0" in out or "learned weight 2.99" in out, out
    assert ": succeeded (exit code 0), submitted by alice, its token revoked" in out, out
    assert "models/m1/deploy -> 403 (permission-missing)" in out, out
    assert "job.finished" in out and "login.success" in out, out


# Without --check: the banner names the URL, the users and the job command, and SIGTERM ends it.
def test_quickstart_demo_prints_its_url_and_stops_on_sigterm(tmp_path):
    p = subprocess.Popen(demo(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in p.stdout:
            seen.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        text = "".join(seen)
        assert "Open:      http://127.0.0.1:" in text, text
        assert "alice " in text and "password" in text, text
        assert "login --gateway http://127.0.0.1:" in text and "/api/projects/vision/jobs" in text, text
        assert "jobs submit --follow --project vision" in text and " -- " in text, text
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
