"""claimgate for Python: sign in, run training jobs and call the ML platform through the gateway
(standard library only; `requests` optional, for BearerAuth).

    import claimgate
    claimgate.login("https://ml.example.org")       # device flow: prints a URL and a code, waits
    jobs = claimgate.Jobs(project="vision")
    job = jobs.submit(["python3", "train.py"], workdir="/data/vision")
    for line in jobs.logs(job, follow=True):
        print(line, end="")
    print(jobs.wait(job).exit_code)

- claimgate.login(): the device flow of `claimgate login --device`, stored where the CLI
  stores its login (the CLI, this package and BearerAuth share it).
- claimgate.Jobs: submit / get / list / wait / logs (a generator, streamed) / cancel.
- claimgate.auth: BearerAuth for requests, urlopen for urllib, access_token().
- claimgate.job: job_identity() for training code started by `claimgate exec`.
- Refusals raise claimgate.GatewayError with the gateway's error name, number and sentence.
"""
from .auth import BearerAuth, Credentials, access_token, store_login, urlopen  # noqa: F401
from .errors import ClaimgateError, GatewayError, LoginError, NotSignedIn  # noqa: F401
from .job import JobIdentity, NotAJob, job_identity  # noqa: F401
from .jobs import FINISHED, Job, JobFailed, Jobs  # noqa: F401
from .device import login  # noqa: F401

__version__ = "0.1.0"
