"""claimgate helpers for Python (standard library only).

- claimgate.auth: Bearer tokens for notebooks and scripts, from the login `claimgate login`
  stored, refreshed by themselves (urllib and requests).
- claimgate.job: job_identity() for training scripts started by `claimgate exec`.
"""
from .auth import BearerAuth, Credentials, NotSignedIn, access_token, urlopen  # noqa: F401
from .job import JobIdentity, NotAJob, job_identity  # noqa: F401
