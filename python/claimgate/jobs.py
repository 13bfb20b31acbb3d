"""Training jobs through the gateway's jobs API (docs/jobs.md), standard library only.

    import claimgate
    jobs = claimgate.Jobs(project="vision")         # the login of claimgate login / claimgate.login()
    job = jobs.submit(["torchrun", "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0", "--nproc_per_node=2", "train.py"],
                      workdir="/data/vision", procs_per_node=2, max_runtime="2h")
    for line in jobs.logs(job, follow=True):        # streamed while the job runs
        print(line, end="")
    done = jobs.wait(job)                           # state succeeded / failed / cancelled / lost
    print(done.state, done.exit_code)

Every call sends the login's access token (refreshed a minute before it expires, and once more
on a 401 for an expired token) and raises claimgate.GatewayError with the gateway's sentence when
it is refused.
"""
import codecs
import http.client
import socket
import time
import urllib.error

from . import auth
from ._http import Client, StaticToken
from .errors import ClaimgateError

__all__ = ["FINISHED", "Job", "JobFailed", "Jobs"]

FINISHED = frozenset({"succeeded", "failed", "cancelled", "lost"})  # states a job never leaves
SPEC_FIELDS = ("name", "env", "workdir", "nodes", "procs_per_node", "gpus", "max_runtime", "pool")


class Job:
    """One job as the gateway answered it. The answer's fields are attributes (`id`, `project`,
    `submitter`, `state`, `exit_code`, `message`, `spec`, `created`, `nodes`, ...) and items;
    `data` is the whole answer. The methods call the gateway again through the Jobs that made it."""

    def __init__(self, data, jobs=None):
        self.data = dict(data)
        self._jobs = jobs

    def __getattr__(self, name):
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    @property
    def finished(self):
        """Whether the job has ended (succeeded, failed, cancelled or lost)."""
        return self.data.get("state") in FINISHED

    def refresh(self):
        return self._jobs.get(self)

    def wait(self, **kwargs):
        return self._jobs.wait(self, **kwargs)

    def logs(self, **kwargs):
        return self._jobs.logs(self, **kwargs)

    def cancel(self):
        return self._jobs.cancel(self)

    def __repr__(self):
        code = self.data.get("exit_code")
        return (f"<claimgate.Job {self.data.get('id')} {self.data.get('project')} {self.data.get('state')}"
                + (f" exit {code}" if code is not None else "") + ">")


class Jobs:
    """The jobs API of one gateway.

    gateway: its URL (default: $CLAIMGATE_GATEWAY, else the login signed in to last)
    project: the project calls use when they name none
    token: an access or agent token to use as is, instead of the stored login
    credentials: a claimgate.Credentials (default: the stored login, refreshed by itself)
    ca_file: CA certificates for the gateway's TLS (default: the login's, else the system's)
    timeout: seconds per call (a followed log waits longer: `logs(timeout=...)`)
    """

    def __init__(self, gateway=None, project=None, *, token=None, credentials=None, ca_file=None, timeout=60):
        if token:
            import os
            gw = gateway or os.environ.get("CLAIMGATE_GATEWAY")
            if not gw:
                raise ClaimgateError("Jobs(token=...) needs gateway= (or $CLAIMGATE_GATEWAY)")
            source = StaticToken(token, ca_file)
        else:
            source = credentials or auth.Credentials(gateway)
            gw = source.gateway
        self.project = project
        self.client = Client(gw, source, timeout=timeout, ca_file=ca_file)

    @property
    def gateway(self):
        return self.client.gateway

    def _where(self, job, project):
        """(project, job id) of a Job or an id."""
        if isinstance(job, Job):
            return project or job.data.get("project") or self.project, job.data["id"]
        p = project or self.project
        if not p:
            raise ClaimgateError("no project: pass project= here or to Jobs(project=...)")
        return p, str(job)

    def _project(self, project):
        p = project or self.project
        if not p:
            raise ClaimgateError("no project: pass project= here or to Jobs(project=...)")
        return p

    def _path(self, project, *rest):
        from urllib.parse import quote
        return "/api/projects/" + "/".join(quote(str(x), safe="") for x in (project, "jobs", *rest))

    def submit(self, command, *, project=None, name=None, env=None, workdir=None, nodes=None,
               procs_per_node=None, gpus=None, max_runtime=None, pool=None, **extra):
        """Submits a job; returns it (state running or queued). `command` is the program and its
        arguments (a list); the other fields are the spec's (docs/jobs.md: max_runtime "2h" or
        seconds, env a dict, workdir an absolute path). Fields the gateway does not know are
        refused by it, with the sentence that says so."""
        if isinstance(command, str):
            raise ClaimgateError("command: a list of strings (the program and its arguments), not one string")
        spec = {"command": [str(c) for c in command]}
        values = dict(name=name, env=env, workdir=workdir, nodes=nodes, procs_per_node=procs_per_node, gpus=gpus,
                      max_runtime=max_runtime, pool=pool, **extra)
        spec.update({k: (str(v) if k == "workdir" else v) for k, v in values.items() if v is not None})
        p = self._project(project)
        return Job(self.client.call("POST", self._path(p), body=spec), self)

    def get(self, job, project=None):
        """The job now (a Job or its id)."""
        p, jid = self._where(job, project)
        return Job(self.client.call("GET", self._path(p, jid)), self)

    def list(self, project=None, *, submitter=None, state=None, limit=None, mine=False):
        """The project's jobs, newest first; `mine`: only the signed-in person's."""
        p = self._project(project)
        if mine and not submitter:
            submitter = self.whoami().get("subject")
        answer = self.client.call("GET", self._path(p), query={"submitter": submitter, "state": state,
                                                               "limit": limit})
        return [Job(j, self) for j in answer.get("jobs", [])]

    def cancel(self, job, project=None):
        """Asks the gateway to cancel the job (its processes get SIGTERM, then SIGKILL); returns
        it as the gateway answered (the state follows when its processes end: wait() for it)."""
        p, jid = self._where(job, project)
        return Job(self.client.call("POST", self._path(p, jid, "cancel"), body={}), self)

    def wait(self, job, project=None, *, timeout=None, poll=1.0, check=False):
        """Waits until the job has ended and returns it (`exit_code`, `state`). Raises
        TimeoutError after `timeout` seconds; with `check`, a job that did not succeed raises
        JobFailed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            j = self.get(job, project)
            if j.finished:
                if check and j.state != "succeeded":
                    raise JobFailed(j)
                return j
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {j.id} is still {j.state} after {timeout} s")
            time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))

    def logs(self, job, project=None, *, follow=False, offset=0, timeout=None, reconnects=10):
        """The job's output, a line at a time (each line with its newline; the last may lack
        one), as a generator. With `follow`, lines come as the job writes them, until it ends.

        A followed stream that stays quiet for `timeout` seconds (default: 300 s, or the Jobs'
        timeout when longer) is asked for again from the byte reached (`offset`), as is one that
        breaks (a gateway restart: up to `reconnects` tries in a row, a second or two apart), so
        no line is lost or repeated while the job runs. Without `follow`, a timeout (the Jobs'
        by default) or a broken stream raises."""
        p, jid = self._where(job, project)
        if timeout is None:
            timeout = max(300, self.client.timeout) if follow else self.client.timeout
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        pos = offset
        failures = 0
        while True:
            query = {"follow": "1" if follow else None, "offset": pos or None}
            try:
                with self.client.open("GET", self._path(p, jid, "logs"), query=query, timeout=timeout,
                                      accept="text/plain") as r:
                    failures = 0
                    while True:
                        chunk = r.read1(65536)
                        if not chunk:
                            break
                        pos += len(chunk)
                        pending += decoder.decode(chunk)
                        *lines, pending = pending.split("\n")
                        for line in lines:
                            yield line + "\n"
                break
            except (TimeoutError, socket.timeout):  # the same class from Python 3.10 on
                if not follow:
                    raise
                # A quiet job: the stream stays open while it runs; ask again from `pos`.
            except (http.client.HTTPException, ConnectionError, urllib.error.URLError) as e:
                failures += 1
                if not follow or failures > reconnects:
                    raise ClaimgateError(f"the log of job {jid} could not be read on from byte {pos}: {e}") from e
                time.sleep(min(2.0, 0.25 * failures))
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending

    def whoami(self):
        """The gateway's /.claimgate/whoami for the token in use (subject, roles, ...)."""
        return self.client.call("GET", "/.claimgate/whoami")


class JobFailed(ClaimgateError):
    """wait(check=True) of a job that did not succeed; `job` is the job as it ended."""

    def __init__(self, job):
        self.job = job
        super().__init__(f"job {job.get('id')} {job.get('state')} (exit code {job.get('exit_code')}): "
                         f"{job.get('message') or ''}".rstrip(": "))
