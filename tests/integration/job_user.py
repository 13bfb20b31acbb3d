"""The unprivileged account the jobs of the integration tests run as (jobs.run_as): created
when missing (CI runs as root on a fresh machine), and the directories a job must reach made
passable for it (pytest's tmp_path is 0700)."""
import fcntl
import os
import pathlib
import pwd
import subprocess

JOB_USER = "claimgate-job"


def ensure_job_user(name=JOB_USER):
    """The account's pwd entry, created with useradd --system when missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    # pytest-xdist's workers may get here together: one creates the account, the others wait.
    with open(f"/tmp/.{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
            return pwd.getpwnam(name)


def passable(path):
    """Lets other users pass through `path` and every directory above it (o+x, not o+r: they
    cannot list them), so that a job's account reaches its own directory below."""
    p = pathlib.Path(path).resolve()
    for d in [p, *p.parents]:
        mode = d.stat().st_mode & 0o7777
        if not mode & 0o001:
            os.chmod(d, mode | 0o011)


def readable(path):
    """Makes a directory tree a job reads from (scripts, data) readable and passable for
    others."""
    p = pathlib.Path(path)
    passable(p)
    for root, dirs, files in os.walk(p):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


def private_files(directory):
    """The files a test wrote beside the gateway's config (config, policy, ...): 0600."""
    for f in pathlib.Path(directory).iterdir():
        if f.is_file() and not f.is_symlink():
            os.chmod(f, 0o600)


def run_as_config():
    ensure_job_user()
    return f"run_as: {JOB_USER}"
