"""claimgate helpers for Python (standard library only).

- claimgate.auth: Bearer tokens for notebooks and scripts, from the login `claimgate login`
  stored, refreshed by themselves (urllib and requests).
"""
from .auth import BearerAuth, Credentials, NotSignedIn, access_token, urlopen  # noqa: F401
