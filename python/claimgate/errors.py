"""Exceptions of the claimgate package. Every refusal by the gateway (or by its jobs service)
raises GatewayError carrying what the gateway answered: the HTTP status, the error's name and
stable number (docs/error-codes.md) and the sentence a person can act on.

    try:
        jobs.submit(["python3", "train.py"], project="nlp")
    except claimgate.GatewayError as e:
        print(e.status, e.name, e.code, e.message)
        # 403 gateway.forbidden 6507 POST /api/projects/nlp/jobs needs jobs:submit in project
        #   'nlp', and you have no role in project 'nlp' (you have: data-scientist in vision)
"""
import json

__all__ = ["ClaimgateError", "GatewayError", "LoginError", "NotSignedIn", "from_http"]


class ClaimgateError(Exception):
    """Base class of every exception this package raises."""


class NotSignedIn(ClaimgateError, RuntimeError):
    """There is no valid login for the gateway: run `claimgate login` or claimgate.login()."""


class GatewayError(ClaimgateError):
    """The gateway answered with an error.

    status: the HTTP status (400, 401, 403, 404, 409, 429, ...)
    name: the error's stable name ("jobs.bad_spec", "gateway.forbidden"; for the token
          endpoint the claimgate name, the OAuth error being in `oauth_error`)
    code: its stable number (9001, ...; 0 when the answer carried none)
    message: the gateway's sentence
    request_id: the gateway's request id (quote it to the operator), "" when absent
    body: the whole decoded JSON answer (a dict; {} when it was not JSON)
    """

    def __init__(self, status, name, code, message, request_id="", body=None, oauth_error=""):
        self.status = status
        self.name = name
        self.code = code
        self.message = message
        self.request_id = request_id
        self.body = body if body is not None else {}
        self.oauth_error = oauth_error
        super().__init__(str(self))

    def __str__(self):
        ident = " ".join(x for x in (self.name, str(self.code) if self.code else "") if x)
        where = f"HTTP {self.status}" + (f", request id {self.request_id}" if self.request_id else "")
        return f"{self.message} ({ident}; {where})" if ident else f"{self.message} ({where})"

    def __reduce__(self):
        return (type(self), (self.status, self.name, self.code, self.message, self.request_id, self.body,
                             self.oauth_error))


class LoginError(GatewayError):
    """A sign-in (claimgate.login()) was refused, expired or not completed in time."""


def from_http(status, raw, cls=GatewayError):
    """The exception for an error answer: `raw` is its body (bytes). JSON bodies of the gateway
    ({"error", "code", "message", "request_id"}), of the token endpoint ({"error",
    "error_description", "code", "name"}) and anything else (the text, clipped) are understood."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw or "")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return cls(status, "", 0, text.strip()[:300] or f"HTTP {status} with an empty body")
    code = body.get("code") if isinstance(body.get("code"), int) else 0
    if "error_description" in body:  # the token endpoint: OAuth's error, claimgate's name
        return cls(status, str(body.get("name") or body.get("error") or ""), code,
                   str(body.get("error_description", "")), str(body.get("request_id", "")), body,
                   oauth_error=str(body.get("error", "")))
    return cls(status, str(body.get("error", "")), code, str(body.get("message") or body.get("error") or text),
               str(body.get("request_id", "")), body)
