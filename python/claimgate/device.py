"""Signing in from a notebook or a script: the device flow of `claimgate login --device`
(docs/tokens.md), standard library only.

    import claimgate
    claimgate.login("https://ml.example.org")
    # To sign in, open https://ml.example.org/.claimgate/device and enter the code BCDF-GHJK
    # (or open https://ml.example.org/.claimgate/device?code=BCDF-GHJK)
    # Signed in to https://ml.example.org as alice; the login lasts until 2027-01-05 10:04 UTC.

The code is entered on the gateway's page from any device where the person is (or gets) signed
in; this process polls the token endpoint meanwhile, and stores the login where `claimgate login`
does (~/.config/claimgate/credentials.json), so the CLI, BearerAuth and claimgate.Jobs() use it.
"""
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from .auth import Credentials, store_login
from .errors import LoginError, NotSignedIn, from_http

__all__ = ["login"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _post(gateway, path, form, context):
    req = urllib.request.Request(gateway + path, data=urllib.parse.urlencode(form).encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Accept": "application/json", "User-Agent": "claimgate-python"})
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            raise from_http(e.code, raw, LoginError) from None


def _when(unix):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(unix)) if unix else "?"


def _still_valid(gateway, config_dir, context):
    """The stored login for `gateway` when the gateway still accepts it (its access token,
    refreshed when due, answers /.claimgate/whoami), else None."""
    try:
        creds = Credentials(gateway, config_dir)
        token = creds.token()
    except NotSignedIn:
        return None
    req = urllib.request.Request(gateway + "/.claimgate/whoami", headers={
        "Authorization": "Bearer " + token, "Accept": "application/json", "User-Agent": "claimgate-python"})
    try:
        with urllib.request.urlopen(req, timeout=30, context=context or creds.ssl_context()):
            return creds
    except urllib.error.HTTPError as e:
        if e.code == 401:
            return None  # revoked, or signed by a key the gateway no longer trusts
        raise from_http(e.code, e.read(), LoginError) from None


def login(gateway=None, *, force=False, ca_file=None, client=None, timeout=None, open_browser=False, out=None,
          config_dir=None):
    """Signs this machine in to the gateway with a device code; returns the stored login
    (claimgate.Credentials: `.gateway`, `.subject`, `.token()`). A login that the gateway still
    accepts is returned as is (running the cell again asks nobody), unless `force`.

    gateway: the gateway's URL (default: $CLAIMGATE_GATEWAY)
    ca_file: CA certificates for its TLS (stored with the login, as the CLI's --ca-file)
    client: the name the gateway's page shows for this client (default: this host's name)
    timeout: seconds to wait for the code to be entered (default: the code's lifetime)
    open_browser: also open the page with the code filled in (webbrowser), for a desktop
    out: where the instructions go (a function taking one string; default: print, flushed,
         which a notebook shows under the cell)
    config_dir: where the login is stored (default: $CLAIMGATE_CONFIG_DIR, $XDG_CONFIG_HOME/
         claimgate, ~/.config/claimgate)

    Raises LoginError with the gateway's sentence when the person denies the request, the code
    expires, or the gateway refuses.
    """
    gateway = (gateway or os.environ.get("CLAIMGATE_GATEWAY") or "").rstrip("/")
    if not gateway:
        raise LoginError(0, "", 0, "no gateway: pass login(\"https://...\") or set CLAIMGATE_GATEWAY")
    say = out or (lambda text: print(text, flush=True))
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    if not force:
        creds = _still_valid(gateway, config_dir, context)
        if creds:
            say(f"Already signed in to {gateway} as {creds.subject}; claimgate.login(force=True) signs in again.")
            return creds
    status, start = _post(gateway, "/.claimgate/cli/device", {"client": client or socket.gethostname()}, context)
    if status != 200 or not isinstance(start, dict) or "device_code" not in start:
        raise from_http(status, json.dumps(start).encode(), LoginError)
    interval = max(1, int(start.get("interval", 5)))
    lifetime = int(start.get("expires_in", 600))
    deadline = time.monotonic() + (lifetime if timeout is None else min(timeout, lifetime))
    say(f"To sign in, open {start['verification_uri']} and enter the code {start['user_code']}\n"
        f"(or open {start['verification_uri_complete']})")
    if open_browser:
        import webbrowser
        webbrowser.open(start["verification_uri_complete"])
    while True:
        time.sleep(interval)
        status, answer = _post(gateway, "/.claimgate/cli/token",
                               {"grant_type": DEVICE_GRANT, "device_code": start["device_code"]}, context)
        if status == 200:
            creds = store_login(gateway, answer, ca_file=ca_file, directory=config_dir)
            say(f"Signed in to {gateway} as {answer.get('subject', '?')}; the login lasts until "
                f"{_when(answer.get('refresh_expires_at'))}.")
            return creds
        error = answer.get("error") if isinstance(answer, dict) else None
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise from_http(status, json.dumps(answer).encode(), LoginError)
        if time.monotonic() + interval > deadline:
            raise LoginError(408, "", 0, f"the code {start['user_code']} was not entered in time; "
                                         f"call claimgate.login() again")
