"""HTTP calls to the gateway with a person's (or an agent's) token, standard library only: the
Bearer token on every call, one refresh and retry on a 401 for an expired token, errors raised as
GatewayError with the gateway's name, number and sentence."""
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

from .errors import from_http

USER_AGENT = "claimgate-python"


class StaticToken:
    """A token given as is (an agent token): never refreshed."""

    def __init__(self, token, ca_file=None):
        self._token = token
        self._ca_file = ca_file

    def token(self, force_refresh=False):
        return self._token

    def ssl_context(self):
        return ssl.create_default_context(cafile=self._ca_file) if self._ca_file else None


def _expired(www_authenticate):
    return "expired" in (www_authenticate or "")


class Client:
    """Calls one gateway. `auth` has token(force_refresh) and ssl_context() (a Credentials or a
    StaticToken)."""

    def __init__(self, gateway, auth, timeout=60, ca_file=None):
        self.gateway = gateway.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file else auth.ssl_context()

    def url(self, path, query=None):
        q = {k: v for k, v in (query or {}).items() if v is not None}
        return self.gateway + path + ("?" + urllib.parse.urlencode(q) if q else "")

    def open(self, method, path, query=None, body=None, timeout=None, accept="application/json"):
        """The open response (an http.client.HTTPResponse: read it, or iterate it to stream);
        raises GatewayError for an error answer."""
        data, headers = None, {"Accept": accept, "User-Agent": USER_AGENT}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            req = urllib.request.Request(self.url(path, query), data=data, method=method, headers=dict(
                headers, Authorization="Bearer " + self.auth.token(force_refresh=attempt == 1)))
            try:
                return urllib.request.urlopen(req, timeout=timeout or self.timeout, context=self._context)
            except urllib.error.HTTPError as e:
                raw = e.read()
                if attempt == 0 and e.code == 401 and _expired(e.headers.get("WWW-Authenticate")) \
                        and not isinstance(self.auth, StaticToken):
                    continue
                raise from_http(e.code, raw) from None

    def call(self, method, path, query=None, body=None):
        """The decoded JSON answer of a call."""
        with self.open(method, path, query=query, body=body) as r:
            raw = r.read()
        try:
            return json.loads(raw)
        except ValueError:
            raise from_http(502, b"the gateway's answer is not JSON: " + raw[:200]) from None
