"""The identity of the claimgate job this process runs in (standard library only).

`claimgate exec` verifies the job's token on every node before it starts the command, and sets
CLAIMGATE_JOB_ID, CLAIMGATE_PROJECT, CLAIMGATE_SUBMITTER, CLAIMGATE_NODE_POOL and
CLAIMGATE_TOKEN_FILE. While the command runs, exec renews the token and rewrites that file, so
`JobIdentity.token()` always returns the current one (for calls to services that accept job
tokens, e.g. to register a model on behalf of the job).

    from claimgate import job_identity
    me = job_identity()
    print(me.job_id, me.project, me.submitter)
"""
import base64
import dataclasses
import json
import os

from .errors import ClaimgateError


class NotAJob(ClaimgateError, RuntimeError):
    """The process was not started by `claimgate exec`."""


@dataclasses.dataclass(frozen=True)
class JobIdentity:
    job_id: str
    project: str
    submitter: str
    node_pool: str
    token_file: str
    gateway: str = ""  # the gateway exec checks and renews with (CLAIMGATE_GATEWAY), "" when unset
    ca_file: str = ""  # its CA certificates (CLAIMGATE_CA_FILE), "" for the system's

    def token(self) -> str:
        """The job's current token (renewed by claimgate exec while the job runs)."""
        with open(self.token_file, encoding="ascii") as f:
            return f.read().strip()

    def claims(self) -> dict:
        """The current token's claims, as claimgate exec verified them (not verified again
        here: exec did that before the job started; services verify it with the JWKS)."""
        payload = self.token().split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))

    def expires(self) -> int:
        """When the current token expires (seconds since the epoch)."""
        return int(self.claims()["exp"])

    def verify(self, timeout=30) -> dict:
        """Asks the gateway whether the job's current token is good now (POST
        /.claimgate/jobs/check, as exec does before it starts the command): returns its answer
        ({"active": true, "job", "state", "deadline"}); raises GatewayError with the gateway's
        sentence when the token is refused or revoked (the job was cancelled, its submitter
        revoked). The gateway: `gateway` (CLAIMGATE_GATEWAY), else the token's issuer."""
        import ssl
        import urllib.error
        import urllib.request
        from .errors import GatewayError, from_http
        base = (self.gateway or self.claims().get("iss", "")).rstrip("/")
        if not base.startswith(("https://", "http://")):
            raise GatewayError(0, "", 0, "no gateway to ask: CLAIMGATE_GATEWAY is not set and the token's "
                                         f"issuer {base!r} is not a URL")
        req = urllib.request.Request(base + "/.claimgate/jobs/check", method="POST",
                                     data=json.dumps({"token": self.token()}).encode(),
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise from_http(e.code, e.read()) from None


def job_identity(environ=None) -> JobIdentity:
    """The job this process belongs to; raises NotAJob outside `claimgate exec`."""
    env = os.environ if environ is None else environ
    try:
        return JobIdentity(job_id=env["CLAIMGATE_JOB_ID"], project=env["CLAIMGATE_PROJECT"],
                           submitter=env["CLAIMGATE_SUBMITTER"],
                           node_pool=env.get("CLAIMGATE_NODE_POOL", ""),
                           token_file=env["CLAIMGATE_TOKEN_FILE"],
                           gateway=env.get("CLAIMGATE_GATEWAY", ""), ca_file=env.get("CLAIMGATE_CA_FILE", ""))
    except KeyError as e:
        raise NotAJob(f"{e.args[0]} is not set: this process was not started by claimgate exec") from None
