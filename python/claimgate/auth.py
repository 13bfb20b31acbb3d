"""Bearer tokens for notebooks and scripts, standard library only.

`claimgate login` stores a login in ~/.config/claimgate/credentials.json (mode 0600): an access
token (a JWT, about 15 minutes) and a refresh token (rotated at every use). This module reads
the same file and refreshes the access token a minute before it expires, under the same file
lock as the CLI, so a long notebook never sends an expired token while the login is valid:

    from claimgate.auth import BearerAuth, urlopen
    requests.get(url, auth=BearerAuth())          # requests
    urlopen("https://ml.example.org/api/...")     # urllib

A refresh token is spent once: two processes refreshing the same login take turns (fcntl lock
on credentials.lock) and the second reads the tokens the first stored.
"""
import fcntl
import json
import os
import pathlib
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from .errors import NotSignedIn

__all__ = ["BearerAuth", "Credentials", "NotSignedIn", "access_token", "store_login", "urlopen"]

REFRESH_MARGIN = 60  # seconds before expiry at which a token is refreshed
KEPT = ("access_token", "expires_at", "refresh_token", "refresh_expires_at", "subject", "token_id")


def config_dir():
    if os.environ.get("CLAIMGATE_CONFIG_DIR"):
        return pathlib.Path(os.environ["CLAIMGATE_CONFIG_DIR"])
    if os.environ.get("XDG_CONFIG_HOME"):
        return pathlib.Path(os.environ["XDG_CONFIG_HOME"]) / "claimgate"
    return pathlib.Path.home() / ".config" / "claimgate"


class Credentials:
    """One gateway's login in the credentials file (the CLI's format)."""

    def __init__(self, gateway=None, directory=None):
        self.dir = pathlib.Path(directory) if directory else config_dir()
        self.path = self.dir / "credentials.json"
        self._lock = threading.Lock()
        data = self._read()
        gw = gateway or os.environ.get("CLAIMGATE_GATEWAY") or data.get("default")
        if not gw:
            raise NotSignedIn("no gateway: pass gateway=, set CLAIMGATE_GATEWAY, or run claimgate login")
        self.gateway = gw.rstrip("/")

    def _read(self):
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"version": 1, "gateways": {}}
        if not isinstance(data, dict) or not isinstance(data.get("gateways"), dict):
            return {"version": 1, "gateways": {}}
        return data

    def _write(self, data):
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        tmp = self.dir / f"credentials.json.tmp-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, self.path)

    def _entry(self, data):
        entry = data["gateways"].get(self.gateway)
        if not entry:
            raise NotSignedIn(f"not signed in to {self.gateway}; run: claimgate login --gateway {self.gateway}")
        return entry

    def token(self, force_refresh=False):
        """A valid access token, refreshed (and stored) when it has under a minute left."""
        with self._lock:
            entry = self._entry(self._read())
            if not force_refresh and entry.get("expires_at", 0) - time.time() > REFRESH_MARGIN:
                return entry["access_token"]
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(self.dir / "credentials.lock", "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                data = self._read()  # another process may have refreshed meanwhile
                entry = self._entry(data)
                if not force_refresh and entry.get("expires_at", 0) - time.time() > REFRESH_MARGIN:
                    return entry["access_token"]
                fresh = self._refresh(entry)
                entry.update({k: fresh[k] for k in KEPT if k in fresh})
                data["gateways"][self.gateway] = entry
                self._write(data)
                return entry["access_token"]

    def _refresh(self, entry):
        if entry.get("refresh_expires_at", 0) <= time.time():
            raise NotSignedIn(f"your login to {self.gateway} has expired; run claimgate login")
        body = urllib.parse.urlencode({"grant_type": "refresh_token",
                                       "refresh_token": entry.get("refresh_token", "")}).encode()
        req = urllib.request.Request(self.gateway + "/.claimgate/cli/token", data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._ssl(entry)) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            try:
                detail = json.loads(e.read()).get("error_description", "")
            except ValueError:
                detail = ""
            raise NotSignedIn(f"the gateway refused to refresh your login ({e.code}): {detail}") from None

    @staticmethod
    def _ssl(entry):
        if entry.get("ca_file"):
            import ssl
            return ssl.create_default_context(cafile=entry["ca_file"])
        return None

    def ssl_context(self):
        """The TLS context for this gateway (its login's ca_file), or None for the system's."""
        try:
            return self._ssl(self._entry(self._read()))
        except NotSignedIn:
            return None

    @property
    def subject(self):
        """Who the login signs in as."""
        return self._entry(self._read()).get("subject", "")

    def __repr__(self):
        return f"<claimgate.Credentials {self.gateway} in {self.path}>"


def store_login(gateway, tokens, ca_file=None, directory=None):
    """Stores a login (the token endpoint's answer) as `claimgate login` does: the gateway's
    entry in the credentials file (directory 0700, file 0600, written whole and renamed, under
    the lock refreshes take), and the gateway made the default. Returns its Credentials."""
    creds = Credentials(gateway, directory)
    creds.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(creds.dir, 0o700)
    with open(creds.dir / "credentials.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = creds._read()
        entry = {k: tokens[k] for k in KEPT if k in tokens}
        if ca_file:
            entry["ca_file"] = str(ca_file)
        data["version"] = 1
        data["gateways"][creds.gateway] = entry
        data["default"] = creds.gateway
        creds._write(data)
    _default.pop(creds.gateway, None)
    _default.pop("", None)  # the default gateway may have changed
    return creds


_default = {}


def _credentials(gateway=None):
    key = gateway or ""
    if key not in _default:
        _default[key] = Credentials(gateway)
    return _default[key]


def access_token(gateway=None):
    """A valid access token for the gateway (the `claimgate token` of Python)."""
    return _credentials(gateway).token()


def _expired(www_authenticate):
    return "expired" in (www_authenticate or "")


class BearerAuth:
    """`requests` authentication: adds a fresh Bearer token to every request, and on a 401 for an
    expired token refreshes once and sends the request again."""

    def __init__(self, gateway=None, credentials=None):
        self.credentials = credentials or _credentials(gateway)

    def __call__(self, request):
        request.headers["Authorization"] = "Bearer " + self.credentials.token()
        if hasattr(request, "register_hook"):
            request.register_hook("response", self._retry)
        return request

    def _retry(self, response, **kwargs):
        if response.status_code != 401 or not _expired(response.headers.get("WWW-Authenticate")):
            return response
        if getattr(response.request, "_claimgate_retried", False):
            return response
        response.content  # noqa: B018 - read the body so the connection can be reused
        retry = response.request.copy()
        retry._claimgate_retried = True
        retry.headers["Authorization"] = "Bearer " + self.credentials.token(force_refresh=True)
        new = response.connection.send(retry, **kwargs)
        new.history.append(response)
        new.request = retry
        return new


def urlopen(url_or_request, data=None, timeout=60, gateway=None, **kwargs):
    """urllib.request.urlopen with the Bearer token (refreshed when needed; once more on an
    expired-token 401)."""
    creds = _credentials(gateway)
    req = url_or_request if isinstance(url_or_request, urllib.request.Request) \
        else urllib.request.Request(url_or_request, data=data)
    for attempt in (0, 1):
        req.add_header("Authorization", "Bearer " + creds.token(force_refresh=attempt == 1))
        try:
            return urllib.request.urlopen(req, timeout=timeout, **kwargs)
        except urllib.error.HTTPError as e:
            if attempt == 0 and e.code == 401 and _expired(e.headers.get("WWW-Authenticate")):
                continue
            raise
