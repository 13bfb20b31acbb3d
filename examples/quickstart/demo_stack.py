#!/usr/bin/python3
"""The quick start's demo stack, also used by the integration tests: a claimgate gateway in
front of a demo upstream, signing people in through a real local SAML IdP (pysaml2).

    demo_stack.py --bin build/release/src/cli/claimgate --dir /tmp/claimgate-demo
starts everything on 127.0.0.1, prints the URL and the demo users' passwords, and runs until
Ctrl-C. `--check` signs alice in (browser, then terminal: `claimgate login --device`), submits
the PyTorch example as a job (examples/pytorch/train.py), follows its log to its end, is refused
a deployment, checks the audit log, and exits (0 when every step did what it should).
"""
import argparse
import html.parser
import json
import os
import pathlib
import secrets
import shlex
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
                 public_url=None, tls=None, policy=None, idp_options="", extra_routes=()):
        self.dir = pathlib.Path(directory).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bin = str(pathlib.Path(binary).resolve())
        self.env = env
        self.idp_options = idp_options  # extra fields of each IdP's mapping: ", allow_idp_initiated: true"
        self.procs = []
        self.extra_routes = list(extra_routes)  # before the default route (the demo's jobs API)
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
        # The diagnostics listener (/metrics, /readyz): loopback, apart from the public port.
        self.diag_port = free_port()
        self.diag_url = f"http://127.0.0.1:{self.diag_port}"
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
            routes = self.extra_routes + [{"name": "demo-app", "prefix": "/", "upstream": self.upstream_url,
                                           "websocket": True}]
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
            + ("" if "diagnostics:" in extra_config
               else f"diagnostics: {{listen: 127.0.0.1:{self.diag_port}}}   # /metrics and /readyz\n") +
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


JOB_USER = "claimgate-job"  # the unprivileged account the demo's jobs run as (when started as root)


def prepare_jobs(directory, binary):
    """The jobs route of the demo: the job's working directory (the PyTorch example and the
    claimgate Python package, copied where the job's account can read them), the account, and
    the `jobs:` section. Returns (config text, sentences for the banner)."""
    directory.chmod(0o711)  # the job's account passes through to its files; it cannot list
    if os.geteuid() == 0:
        closed = [str(d) for d in directory.parents if not d.stat().st_mode & 0o001]
        if closed:
            raise SystemExit(f"demo_stack: the jobs' account {JOB_USER} cannot reach {directory}: "
                             f"{', '.join(closed)} lets no other user through; choose a --dir under /tmp")
    work = directory / "train"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o755)
    shutil.copy(EXAMPLES / "pytorch" / "train.py", work / "train.py")
    shutil.copytree(EXAMPLES.parent / "python" / "claimgate", work / "claimgate",
                    ignore=shutil.ignore_patterns("__pycache__"))
    notes = []
    fields = ["poll_interval: 200ms"]
    account = None
    if os.geteuid() == 0:
        import pwd
        try:
            account = pwd.getpwnam(JOB_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", JOB_USER],
                           check=True, capture_output=True)
            account = pwd.getpwnam(JOB_USER)
        fields.append(f"run_as: {JOB_USER}")
        notes.append(f"jobs run as the unprivileged account {JOB_USER}")
        exec_bin = reachable_exec(binary, account)
        if exec_bin:
            fields.append(f"claimgate_binary: {exec_bin}")
            notes.append(f"through a copy of claimgate-exec in {os.path.dirname(exec_bin)}, which {JOB_USER} "
                         f"can reach")
    else:
        fields.append("insecure_same_user: true")
        notes.append("jobs run as you (jobs.insecure_same_user: started without root, the demo cannot switch "
                     "to an unprivileged account; never do this in production)")
    why = bwrap_problem(account)
    if why:
        fields.append("sandbox: none")
        notes.append(f"no sandbox: {why}")
    else:
        notes.append("each in a bubblewrap sandbox")
    return "jobs: {" + ", ".join(fields) + "}\n", notes


def reachable_exec(binary, account):
    """claimgate-exec runs as the jobs' account, outside /tmp (a job's sandbox has a /tmp of its
    own). The one beside `binary` when that account may run it (None); otherwise a copy in
    /usr/local/libexec/claimgate-demo (a checkout under /root, which others cannot enter)."""
    beside = pathlib.Path(binary).resolve().parent / "claimgate-exec"
    probe = subprocess.run(["/usr/bin/test", "-x", str(beside)], user=account.pw_uid, group=account.pw_gid,
                           extra_groups=[], env={})
    if probe.returncode == 0:
        return None
    target = pathlib.Path("/usr/local/libexec/claimgate-demo")
    target.mkdir(mode=0o755, parents=True, exist_ok=True)
    shutil.copy(beside, target / "claimgate-exec.new")
    os.chmod(target / "claimgate-exec.new", 0o755)
    os.replace(target / "claimgate-exec.new", target / "claimgate-exec")
    return str(target / "claimgate-exec")


def bwrap_problem(account):
    """Why bubblewrap cannot sandbox jobs here ("" when it can), tried as the gateway tries it."""
    bwrap = shutil.which("bwrap") or "/usr/bin/bwrap"
    if not os.access(bwrap, os.X_OK):
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    kw = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []} if account else {}
    r = subprocess.run([bwrap, "--die-with-parent", "--unshare-pid", "--ro-bind", "/", "/", "--dev", "/dev",
                        "--proc", "/proc", "--tmpfs", "/tmp", "--", "/bin/true"], capture_output=True, text=True,
                       env={}, **kw)
    return "" if r.returncode == 0 else f"bwrap does not work here ({r.stderr.strip() or r.returncode})"


def job_spec(stack, torchrun):
    """The PyTorch example as a job: through torchrun with two processes when PyTorch is
    installed, otherwise its plain-Python loop (train.py says which it used)."""
    work = str(stack.dir / "train")
    if torchrun:
        return {"name": "quickstart", "command": ["torchrun", "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0", "--nproc_per_node=2", "--redirects",
                                                  "1", "--tee", "1", "train.py", "--epochs", "3"],
                "workdir": work, "procs_per_node": 2, "max_runtime": "10m"}
    return {"name": "quickstart", "command": ["python3", "train.py", "--epochs", "3", "--backend", "python"],
            "workdir": work, "max_runtime": "10m"}


def terminal_signin(stack, browser):
    """`claimgate login --device`, as a person runs it in a terminal, approved in the browser
    session `browser`; then `claimgate token`. Returns the access token."""
    import requests
    env = dict(os.environ, CLAIMGATE_CONFIG_DIR=str(stack.dir / "cli"))
    login = subprocess.Popen([stack.bin, "login", "--gateway", stack.url, "--device"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = None
        for line in login.stderr:
            if line.strip().startswith("or open "):
                page = line.strip()[len("or open "):]
                break
        if not page:
            raise AssertionError("claimgate login --device printed no page to open")
        action, fields = parse_form(browser.get(page, headers={"Accept": "text/html"}, timeout=10).text)
        browser.post(urllib.parse.urljoin(stack.url, action), data=dict(fields, action="approve"), timeout=10)
        rest = login.communicate(timeout=60)[1]
        if login.returncode != 0:
            raise AssertionError(f"claimgate login --device failed: {rest}")
    finally:
        if login.poll() is None:
            login.kill()
            login.wait()
    token = subprocess.run([stack.bin, "token"], env=env, capture_output=True, text=True, timeout=30)
    if token.returncode != 0:
        raise AssertionError(f"claimgate token failed: {token.stderr}")
    return token.stdout.strip()


def check(stack, torchrun):
    """The quick start's check: alice signs in (browser, then terminal), submits the PyTorch
    example, follows it to its end, is refused a deployment; the audit log verifies."""
    import requests
    api = {"Accept": "application/json"}
    s = requests.Session()
    r = stack.signin(s, "alice", "/")
    who = s.get(stack.url + "/.claimgate/whoami", headers=api, timeout=10).json()
    echo = s.get(stack.url + "/", headers=api, timeout=10)
    seen = echo.json().get("headers", {}) if echo.status_code == 200 else {}
    ok = (r.status_code == 200 and who["subject"] == "alice" and echo.status_code == 200
          and echo.json()["jwt"]["verified"] and seen.get("X-Claimgate-User") == "alice")
    print(f"browser sign-in: alice (groups {', '.join(who['groups'])}; roles {', '.join(who['roles'])}); "
          f"the upstream received X-Claimgate-User={seen.get('X-Claimgate-User')} and a JWT "
          f"{'verified' if echo.status_code == 200 and echo.json()['jwt']['verified'] else 'NOT verified'} "
          f"with the gateway's JWKS", flush=True)

    token = terminal_signin(stack, s)
    bearer = dict(api, Authorization="Bearer " + token)
    print(f"terminal sign-in: claimgate login --device, approved in alice's browser; claimgate token -> an "
          f"access token ({len(token)} bytes)", flush=True)
    spec = job_spec(stack, torchrun)
    sub = requests.post(stack.url + "/api/projects/vision/jobs", json=spec, headers=bearer, timeout=30)
    if sub.status_code != 201:
        print(f"submitting the job: {sub.status_code} {sub.text[:500]}")
        return 1
    job_id = sub.json()["id"]
    print(f"POST /api/projects/vision/jobs {json.dumps(spec['command'])} -> 201, job {job_id}; its log:",
          flush=True)
    logs = requests.get(f"{stack.url}/api/projects/vision/jobs/{job_id}/logs?follow=1", headers=bearer,
                        stream=True, timeout=300)
    text = ""
    pending = ""
    for chunk in logs.iter_content(chunk_size=None):
        pending += chunk.decode("utf-8", "replace")
        *lines, pending = pending.split("\n")
        text += "".join(line + "\n" for line in lines)
        sys.stdout.write("".join("    | " + line + "\n" for line in lines))
        sys.stdout.flush()
    text += pending
    job = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = requests.get(f"{stack.url}/api/projects/vision/jobs/{job_id}", headers=bearer, timeout=10).json()
        if job.get("state") not in ("queued", "running"):
            break
        time.sleep(0.2)
    ok = (ok and logs.status_code == 200 and job.get("state") == "succeeded" and job.get("exit_code") == 0
          and job.get("submitter") == "alice" and f"job {job_id} project vision submitter alice" in text
          and "learned weight" in text)
    print(f"job {job_id}: {job.get('state')} (exit code {job.get('exit_code')}), submitted by "
          f"{job.get('submitter')}, its token {'revoked' if job.get('token_revoked') else 'NOT revoked'} at "
          f"its end", flush=True)
    denied = requests.post(stack.url + "/api/projects/vision/models/m1/deploy", headers=bearer, timeout=10)
    reason = denied.json().get("reason") if denied.headers.get("Content-Type", "").startswith(
        "application/json") else denied.text[:200]
    ok = ok and denied.status_code == 403 and reason == "permission-missing"
    print(f"POST /api/projects/vision/models/m1/deploy -> {denied.status_code} ({reason})", flush=True)
    # The audit log recorded the sign-ins, the decisions and the job, and its chain verifies.
    stack.stop_gateway()
    verify = subprocess.run([stack.bin, "audit", "verify", "--config", str(stack.config)],
                            capture_output=True, text=True)
    found = subprocess.run([stack.bin, "audit", "search", "--config", str(stack.config),
                            "--subject", "alice", "--since", "1h", "--json"], capture_output=True, text=True).stdout
    types = {json.loads(line)["type"] for line in found.splitlines()}
    ok = ok and verify.returncode == 0 and {"login.success", "authz.allow", "authz.deny", "token.issued",
                                            "job.submitted", "job.verified", "job.finished"} <= types
    print(f"audit log: {verify.stdout.strip() or verify.stderr.strip()}; alice's records: "
          f"{', '.join(sorted(types))}")
    print("quick start check: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dir", default="/tmp/claimgate-demo")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--check", action="store_true", help="sign alice in, run a job, and exit")
    ap.add_argument("--job", choices=["auto", "torchrun", "python"], default="auto",
                    help="the check's job: torchrun (PyTorch), the example's plain-Python loop, or auto "
                         "(torchrun when it is installed)")
    args = ap.parse_args()
    port = args.port
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    except OSError:
        port = free_port()
    directory = pathlib.Path(args.dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    jobs_cfg, job_notes = prepare_jobs(directory, args.bin)
    torchrun = args.job == "torchrun" or (args.job == "auto" and shutil.which("torchrun") is not None)
    stack = DemoStack(directory, args.bin, gateway_port=port, policy=EXAMPLES / "policy" / "ml-platform.yaml",
                      extra_routes=[{"name": "jobs", "prefix": "/api/", "upstream": "builtin:jobs"}],
                      extra_config=jobs_cfg)
    try:
        if args.check:
            return check(stack, torchrun)
        # Blocked only now (before the banner says Ctrl-C): the children started above keep
        # default signal handling.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        cli = f"{stack.bin}"
        spec = job_spec(stack, torchrun)
        submit = shlex.join([cli, "jobs", "submit", "--follow", "--project", "vision", "--name", spec["name"],
                             "--workdir", spec["workdir"], "--max-runtime", spec["max_runtime"]]
                            + (["--procs-per-node", str(spec["procs_per_node"])] if "procs_per_node" in spec else [])
                            + ["--", *spec["command"]])
        print(f"""
claimgate is running in front of a demo upstream, with a local SAML IdP (pysaml2) and its jobs API.

  Open:      {stack.url}/
  Who am I:  {stack.url}/.claimgate/whoami  (your roles per project, and the claims behind them)
  Policy:    {stack.policy} (edit it: the gateway reloads it; try
             {stack.url}/api/projects/vision/jobs as alice, bob, carol, dave and erin)
  Terminal:  {cli} login --gateway {stack.url} --device
             (sign in as alice in the browser, open the page it prints, enter the code, Allow)
  A job:     {submit}
             (prints its log as it runs; then: {cli} jobs list, {cli} jobs status ID,
             {cli} jobs wait ID; or the API with curl -H "Authorization: Bearer $({cli} token)")
             ({'; '.join(job_notes)})
  Metrics:   {stack.diag_url}/metrics (the diagnostics listener: loopback only)
  Audit:     {stack.dir}/audit/audit.jsonl (then: {cli} audit report --config {stack.config}
             --format html --out report.html)

  Demo users (the IdP's login page asks for these):""")
        for u, v in stack.users.items():
            print(f"    {u:6} password {v['password']:14} groups: {', '.join(v['groups'])}")
        print(f"""
  Files (config, keys, logs): {stack.dir}
  Press Ctrl-C to stop.""", flush=True)
        signal.sigwait([signal.SIGINT, signal.SIGTERM])
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
