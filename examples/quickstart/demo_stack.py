#!/usr/bin/python3
"""The quick start's demo stack, also used by the integration tests: a claimgate gateway in
front of a demo upstream, signing people in through a real local SAML IdP (pysaml2).

    demo_stack.py --bin build/release/src/cli/claimgate --dir /tmp/claimgate-demo
starts everything on 127.0.0.1, prints the URL and the demo users' passwords, and runs until
Ctrl-C. `--check` signs alice in once, prints what the upstream saw, and exits.
"""
import argparse
import html.parser
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

HERE = pathlib.Path(__file__).resolve().parent
EXAMPLES = HERE.parent
PY = "/usr/bin/python3"

DEMO_USERS = {
    "alice": {"groups": ["data-scientists", "ml-vision-ds"], "mail": "alice@example.org", "displayName": "Alice Chen"},
    "bob": {"groups": ["devops-engineers", "ml-platform-devops"], "mail": "bob@example.org", "displayName": "Bob Okafor"},
    "carol": {"groups": ["viewers"], "mail": "carol@example.org", "displayName": "Carol Díaz"},
    "dave": {"groups": [], "mail": "dave@example.org", "displayName": "Dave Novak"},
    "erin": {"groups": ["ml-admins"], "mail": "erin@example.org", "displayName": "Erin Walsh"},
    "frank": {"groups": ["ml-nlp-ds"], "mail": "frank@example.org", "displayName": "Frank Moreau"},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_pair(directory, name, cn, days=365):
    key, crt = directory / f"{name}.key", directory / f"{name}.crt"
    if not key.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", str(days),
                        "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
        key.chmod(0o600)
    return key, crt


def wait_http(url, proc, timeout=30):
    import ssl
    import urllib.request
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # only to see that the server answers
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=1, context=insecure)
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class FormParser(html.parser.HTMLParser):
    """The first form of a page: its action and its fields."""

    def __init__(self):
        super().__init__()
        self.action, self.fields, self._in = None, {}, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action, self._in = a.get("action"), True
        elif tag == "input" and self._in and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._in = False


def parse_form(text):
    p = FormParser()
    p.feed(text)
    return p.action, p.fields


class Idp:
    def __init__(self, stack, name):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key, self.crt = make_pair(stack.dir, f"idp-{name}", f"{name}.idp.example")
        self.metadata = stack.dir / f"idp-{name}-metadata.xml"
        out = subprocess.run([PY, str(EXAMPLES / "demo-idp" / "demo_idp.py"), "metadata", "--base-url", self.url,
                              "--key", str(self.key), "--cert", str(self.crt)],
                             check=True, capture_output=True, text=True).stdout
        self.metadata.write_text(out)
        self.proc = None

    def saml_server(self, stack):
        """An in-process pysaml2 Server with this IdP's keys and our SP metadata (to make
        messages the running IdP would: LogoutRequests, responses for benchmarks)."""
        sys.path.insert(0, str(EXAMPLES / "demo-idp"))
        import demo_idp
        return demo_idp.Server(config=demo_idp.idp_config(self.url, str(self.key), str(self.crt),
                                                          str(stack.sp_metadata)))


class DemoStack:
    def __init__(self, directory, binary, *, idps=("demo",), store="sqlite", gateway_port=None,
                 extra_config="", routes=None, upstream=True, log_level="info", env=None,
                 public_url=None, tls=None, policy=None, idp_options=""):
        self.dir = pathlib.Path(directory).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bin = str(pathlib.Path(binary).resolve())
        self.env = env
        self.idp_options = idp_options  # extra fields of each IdP's mapping: ", allow_idp_initiated: true"
        self.procs = []
        try:
            self._start(idps, store, gateway_port, extra_config, routes, upstream, log_level, public_url, tls,
                        policy)
        except BaseException:
            self.stop()
            raise

    def _start(self, idps, store, gateway_port, extra_config, routes, upstream, log_level, public_url, tls,
               policy):
        self.users = {}
        users_file = self.dir / "users.json"
        if users_file.exists():
            self.users = json.loads(users_file.read_text())
        else:
            self.users = {u: dict(v, password=secrets.token_urlsafe(9)) for u, v in DEMO_USERS.items()}
            users_file.write_text(json.dumps(self.users, indent=1))
            users_file.chmod(0o600)
        self.users_file = users_file
        self.port = gateway_port or free_port()
        self.listen_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.url = public_url or self.listen_url  # what browsers use (nginx, when in front)
        self.sp_key, self.sp_crt = make_pair(self.dir, "sp", "claimgate-demo-sp")
        self.idps = [Idp(self, n) for n in idps]
        self.upstream_port = None
        if upstream:
            port_file = self.dir / "upstream.port"
            port_file.unlink(missing_ok=True)
            self.upstream = self._spawn("upstream", [PY, str(EXAMPLES / "demo-upstream" / "echo_upstream.py"),
                                                     "--port-file", str(port_file),
                                                     "--jwks-url", self.url + "/.well-known/jwks.json"])
            deadline = time.monotonic() + 20
            while not port_file.exists():
                if time.monotonic() > deadline or self.upstream.poll() is not None:
                    raise RuntimeError("the demo upstream did not start")
                time.sleep(0.02)
            self.upstream_port = int(port_file.read_text())
        self.upstream_url = f"http://127.0.0.1:{self.upstream_port}"
        if routes is None:
            routes = [{"name": "demo-app", "prefix": "/", "upstream": self.upstream_url, "websocket": True}]
        idp_lines = "".join(f"    - {{name: {i.name}, metadata_file: {i.metadata.name}{self.idp_options}}}\n"
                            for i in self.idps)
        route_lines = "".join("  - " + json.dumps(r) + "\n" for r in routes) or "  []\n"
        # "sqlite", "memory", or a whole `store:` mapping in YAML flow style (Redis).
        store_cfg = {"sqlite": "{kind: sqlite, path: state.db}", "memory": "{kind: memory}"}.get(store, store)
        # The access policy (a copy, so that it may be edited while the gateway runs).
        self.policy = None
        if policy:
            self.policy = self.dir / "policy.yaml"
            self.policy.write_text(pathlib.Path(policy).read_text())
        self.config = self.dir / "claimgate.yaml"
        self.config.write_text(
            f"# The quick start's gateway config (docs/configuration.md explains every field).\n"
            f"listen: 127.0.0.1:{self.port}\n"
            f"public_url: {self.url}\n"
            + ("insecure_http: true   # plain http on 127.0.0.1 for the demo; use https in production\n"
               if not tls else f"tls: {{cert: {tls[0]}, key: {tls[1]}}}\n") +
            f"log_level: {log_level}\n"
            "saml:\n"
            f"  sp: {{signing_key: sp.key, signing_cert: sp.crt}}\n"
            f"  idps:\n{idp_lines}"
            "keys: keyring\n"
            f"store: {store_cfg}\n"
            "routes:\n" + route_lines
            + ("policy_file: policy.yaml   # roles per project and rules (docs/policy.md)\n" if policy else "")
            + extra_config)
        sp_md = subprocess.run([self.bin, "saml", "metadata", "--config", str(self.config)],
                               capture_output=True, text=True)
        if sp_md.returncode != 0:
            raise RuntimeError("claimgate saml metadata failed:\n" + sp_md.stderr)
        self.sp_metadata = self.dir / "sp-metadata.xml"
        self.sp_metadata.write_text(sp_md.stdout)
        for i in self.idps:
            i.proc = self._spawn(f"idp-{i.name}", [PY, str(EXAMPLES / "demo-idp" / "demo_idp.py"), "serve",
                                                   "--base-url", i.url, "--key", str(i.key), "--cert", str(i.crt),
                                                   "--sp-metadata", str(self.sp_metadata),
                                                   "--users", str(users_file)])
        self.gateway = None
        self.start_gateway()
        for i in self.idps:
            wait_http(i.url + "/healthz", i.proc)

    def _spawn(self, name, args, env=None):
        log = open(self.dir / f"{name}.log", "ab")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, env=env)
        self.procs.append(p)
        return p

    def start_gateway(self):
        self.gateway = self._spawn("gateway", [self.bin, "serve", "--config", str(self.config)], env=self.env)
        wait_http(self.listen_url + "/healthz", self.gateway)
        return self.gateway

    def stop_gateway(self, sig=signal.SIGTERM, timeout=30):
        if self.gateway and self.gateway.poll() is None:
            self.gateway.send_signal(sig)
            self.gateway.wait(timeout)
        return self.gateway.returncode

    def gateway_log(self):
        return (self.dir / "gateway.log").read_text(errors="replace")

    def signin(self, session, user, path="/", idp=None):
        """Signs `user` in through the IdP's login form with a requests.Session; returns the final
        response (the upstream's answer at `path`)."""
        r = session.get(self.url + path, headers={"Accept": "text/html"}, allow_redirects=True, timeout=30)
        if idp is not None and "Choose your" in r.text:
            r = session.get(self.url + f"/saml/login?idp={idp}&rd=" + urllib.parse.quote(path),
                            headers={"Accept": "text/html"}, timeout=30)
        action, fields = parse_form(r.text)
        if action != "/login":
            raise AssertionError(f"expected the IdP's login form, got {r.status_code} {r.url}: {r.text[:300]}")
        fields.update(username=user, password=self.users[user]["password"])
        login = session.post(urllib.parse.urljoin(r.url, action), data=fields, timeout=30)
        if login.status_code != 200:
            raise AssertionError(f"IdP refused {user}: {login.status_code} {login.text[:300]}")
        acs, form = parse_form(login.text)
        return session.post(acs, data=form, headers={"Accept": "text/html"}, timeout=30)

    def signout(self, session, **kwargs):
        """Signs out as a browser does: GET /saml/logout shows a form (with a token sealed to the
        session), which POSTs back from the gateway's own page."""
        page = session.get(self.url + "/saml/logout", headers={"Accept": "text/html"}, timeout=30)
        action, fields = parse_form(page.text)
        if action != "/saml/logout":
            return page  # no session: the page says so
        return session.post(self.url + action, data=fields, timeout=30,
                            headers={"Accept": "text/html", "Origin": self.url}, **kwargs)

    def saml_post(self, session, user, path="/"):
        """Like signin, but stops before the ACS: returns (acs url, form fields)."""
        r = session.get(self.url + path, headers={"Accept": "text/html"}, timeout=30)
        action, fields = parse_form(r.text)
        fields.update(username=user, password=self.users[user]["password"])
        login = session.post(urllib.parse.urljoin(r.url, action), data=fields, timeout=30)
        return parse_form(login.text)

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dir", default="/tmp/claimgate-demo")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--check", action="store_true", help="sign alice in once and exit")
    args = ap.parse_args()
    import requests
    port = args.port
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    except OSError:
        port = free_port()
    stack = DemoStack(args.dir, args.bin, gateway_port=port,
                      policy=EXAMPLES / "policy" / "ml-platform.yaml")
    try:
        if args.check:
            s = requests.Session()
            r = stack.signin(s, "alice", "/")
            who = s.get(stack.url + "/.claimgate/whoami", headers={"Accept": "application/json"}, timeout=10).json()
            api = {"Accept": "application/json"}
            echo = s.post(stack.url + "/api/projects/vision/jobs", headers=api, json={"entrypoint": "train.py"},
                          timeout=10)
            denied = s.post(stack.url + "/api/projects/vision/models/m1/deploy", headers=api, timeout=10)
            seen = echo.json()["headers"] if echo.status_code == 200 else {}
            ok = (r.status_code == 200 and who["subject"] == "alice" and echo.status_code == 200
                  and echo.json()["jwt"]["verified"] and seen.get("X-Claimgate-User") == "alice"
                  and seen.get("X-Claimgate-Project") == "vision" and denied.status_code == 403
                  and denied.json()["reason"] == "permission-missing")
            print(f"quick start check: signed in as {who['subject']} (groups {', '.join(who['groups'])}; "
                  f"roles {', '.join(who['roles'])}); POST /api/projects/vision/jobs -> {echo.status_code}, "
                  f"the upstream received X-Claimgate-User={seen.get('X-Claimgate-User')}, "
                  f"X-Claimgate-Permission={seen.get('X-Claimgate-Permission')} and a JWT "
                  f"{'verified' if seen and echo.json()['jwt']['verified'] else 'NOT verified'} with the gateway's "
                  f"JWKS; deploying a model -> {denied.status_code} ({denied.json().get('reason')})")
            # A terminal signs in with the device flow (what `claimgate login --device` does), approved
            # by alice's browser session, and calls the API with its Bearer token.
            dev = requests.post(stack.url + "/.claimgate/cli/device", data={"client": "quick start"}, timeout=10).json()
            action, fields = parse_form(s.get(dev["verification_uri_complete"], headers={"Accept": "text/html"},
                                              timeout=10).text)
            s.post(stack.url + action, data=dict(fields, action="approve"), timeout=10)
            tokens = {}
            for _ in range(10):
                time.sleep(dev["interval"])
                t = requests.post(stack.url + "/.claimgate/cli/token", timeout=10, data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": dev["device_code"]})
                if t.status_code == 200:
                    tokens = t.json()
                    break
            bearer = requests.get(stack.url + "/api/projects/vision/jobs", timeout=10, headers=dict(
                api, Authorization="Bearer " + tokens.get("access_token", "")))
            ok = ok and bearer.status_code == 200 and bearer.json()["headers"].get("X-Claimgate-User") == "alice"
            print(f"terminal sign-in (device code {dev['user_code']}): GET /api/projects/vision/jobs with the "
                  f"Bearer token -> {bearer.status_code} as {bearer.json().get('headers', {}).get('X-Claimgate-User')}")
            # The audit log recorded the sign-in and both decisions, and its chain verifies.
            stack.stop_gateway()
            verify = subprocess.run([stack.bin, "audit", "verify", "--config", str(stack.config)],
                                    capture_output=True, text=True)
            found = subprocess.run([stack.bin, "audit", "search", "--config", str(stack.config),
                                    "--subject", "alice", "--since", "1h", "--json"],
                                   capture_output=True, text=True).stdout
            types = [json.loads(line)["type"] for line in found.splitlines()]
            ok = ok and verify.returncode == 0 and {"login.success", "authz.allow", "authz.deny",
                                                    "token.issued"} <= set(types)
            print(f"audit log: {verify.stdout.strip() or verify.stderr.strip()}; alice's records: "
                  f"{', '.join(sorted(set(types)))}")
            return 0 if ok else 1
        print(f"""
claimgate is running in front of a demo upstream, with a local SAML IdP (pysaml2).

  Open:      {stack.url}/
  Who am I:  {stack.url}/.claimgate/whoami  (your roles per project, and the claims behind them)
  Policy:    {stack.policy} (edit it: the gateway reloads it; try
             {stack.url}/api/projects/vision/jobs as alice, bob, carol, dave and erin)
  Terminal:  CLAIMGATE_CONFIG_DIR=demo-cli {stack.bin} login --gateway {stack.url}
             then: curl -H "Authorization: Bearer $({stack.bin} token)" {stack.url}/api/projects/vision/jobs
  Metrics:   {stack.url}/metrics
  Audit:     {stack.dir}/audit/audit.jsonl (then: {stack.bin} audit report --config {stack.config}
             --format html --out report.html)

  Demo users (the IdP's login page asks for these):""")
        for u, v in stack.users.items():
            print(f"    {u:6} password {v['password']:14} groups: {', '.join(v['groups'])}")
        print(f"""
  Files (config, keys, logs): {stack.dir}
  Press Ctrl-C to stop.""")
        # Blocked only now: the children started above keep default signal handling.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait([signal.SIGINT, signal.SIGTERM])
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
