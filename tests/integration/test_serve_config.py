"""`claimgate check` and `serve` on broken configs; `serve` over TLS."""
import datetime
import subprocess

import pytest
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import claimgate_bin, run
from gateway_stack import DemoStack, wait_http


def write_cert(directory, name, days_from, days_to, san="127.0.0.1"):
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days_from))
            .not_valid_after(now + datetime.timedelta(days=days_to))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san))]), False)
            .sign(key, hashes.SHA256()))
    k, c = directory / f"{name}.key", directory / f"{name}.crt"
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return k, c


def test_check_prints_every_problem_and_serve_refuses(tmp_path):
    old_key, old_crt = write_cert(tmp_path, "old", -30, -1)
    other_key, _ = write_cert(tmp_path, "other", 0, 30)
    (tmp_path / "broken-idp.xml").write_text("<EntityDescriptor")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "listen: 127.0.0.1:99999\n"
        "public_url: ftp://ml.example.org\n"
        "colour: blue\n"
        f"tls: {{cert: {old_crt}, key: {other_key}}}\n"
        "saml:\n"
        "  sp: {signing_key: missing.key, signing_cert: missing.crt}\n"
        "  idps:\n    - {name: corp, metadata_file: broken-idp.xml}\n"
        "keys: keyring\n"
        "routes:\n  - {prefix: /app/, upstream: 'not a url'}\n")
    proc = run(["check", "--config", str(cfg)])
    assert proc.returncode == 1
    out = proc.stderr
    for path in ("listen", "public_url", "colour", "tls.key", "tls.cert", "saml.sp.signing_key",
                 "saml.idps[0].metadata_file", "routes[0].upstream"):
        assert f"{path}:" in out or f"{path} " in out, (path, out)
    assert "expired" in out and "not well-formed" in out
    assert out.count("public_url:") == 1
    # serve says the same and does not start.
    serve = run(["serve", "--config", str(cfg)])
    assert serve.returncode == 1
    assert "refusing to start" in serve.stderr
    assert "routes[0].upstream" in serve.stderr


def test_check_accepts_the_quick_start_config(tmp_path):
    stack = DemoStack(tmp_path, claimgate_bin(), store="sqlite")
    try:
        proc = run(["check", "--config", str(stack.config)])
        assert proc.returncode == 0, proc.stderr
        audit = stack.dir / "audit" / "audit.jsonl"
        assert f"OK (1 IdP(s), 1 route(s), store sqlite, no policy, audit {audit})" in proc.stdout
    finally:
        stack.stop()


def test_serve_refuses_to_start_without_its_audit_log(tmp_path):
    stack = DemoStack(tmp_path, claimgate_bin(), store="memory")
    try:
        stack.stop_gateway()
        # A file where the log's directory should be: the log cannot be opened.
        blocker = tmp_path / "blocked"
        blocker.write_text("not a directory\n")
        stack.config.write_text(stack.config.read_text() + "audit: {path: blocked/audit.jsonl}\n")
        serve = subprocess.run([claimgate_bin(), "serve", "--config", str(stack.config)],
                               capture_output=True, text=True, timeout=30)
        assert serve.returncode == 1
        assert "8003 audit.open" in serve.stderr and "blocked" in serve.stderr
        assert "refusing to start without its audit log" in serve.stderr
        # A bad audit section is a config problem, with its path and what is allowed.
        stack.config.write_text(stack.config.read_text().replace(
            "audit: {path: blocked/audit.jsonl}", "audit: {on_failure: maybe, also: kafka}"))
        check = run(["check", "--config", str(stack.config)])
        assert check.returncode == 1
        assert "audit.on_failure" in check.stderr and "closed or open_reads" in check.stderr
        assert "audit.also" in check.stderr and "none, stdout or syslog" in check.stderr
    finally:
        stack.stop()


def test_serve_over_tls_with_secure_cookies(tmp_path):
    urllib3.disable_warnings()
    key, crt = write_cert(tmp_path, "tls", -1, 30)
    stack = DemoStack(tmp_path, claimgate_bin(), store="memory", tls=(crt, key))
    try:
        assert stack.url.startswith("https://")
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would turn verification back on
        s.verify = False
        r = s.get(stack.url + "/saml/login", allow_redirects=False, timeout=10)
        pending = r.headers["Set-Cookie"]
        assert "Secure" in pending and "SameSite=None" in pending  # survives the IdP's cross-site POST
        r = stack.signin(s, "carol", "/tls")
        assert r.status_code == 200
        final = r.history[-1].headers["Set-Cookie"] if r.history else ""
        assert "cg_session=" in final and "Secure" in final and "SameSite=Lax" in final
        seen = s.get(stack.url + "/tls", headers={"Accept": "application/json"}, timeout=10).json()
        assert seen["headers"]["X-Claimgate-User"] == "carol"
        assert seen["headers"]["X-Forwarded-Proto"] == "https"
    finally:
        stack.stop()


def paths_section(stdout):
    """The `paths (relative to DIR):` section of `check`, as {setting: resolved path}."""
    lines = stdout.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("paths (relative to "))
    out = {}
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        key, _, value = line.strip().partition(": ")
        out[key] = value
    return lines[start], out


def test_relative_paths_resolve_against_the_config_directory(tmp_path):
    """`serve --config claimgate.yaml` (as the README writes it) with a jobs route: every relative
    path, the jobs state directory included, is taken against the config file's directory,
    whatever the working directory; `check` prints them (issue 22: the state went to /jobs)."""
    from job_user import ensure_job_user, run_as_config
    ensure_job_user()
    d = tmp_path / "gw"
    stack = DemoStack(d, claimgate_bin(), store="memory", upstream=False,
                      routes=[{"name": "jobs", "prefix": "/api/", "upstream": "builtin:jobs"}],
                      extra_config=f"jobs: {{{run_as_config()}}}\n")
    try:
        stack.stop_gateway()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        seen = []
        for cwd, arg in ((d, "claimgate.yaml"), (d, "./claimgate.yaml"), (tmp_path, "gw/claimgate.yaml"),
                         (elsewhere, "../gw/claimgate.yaml"), ("/", str(d / "claimgate.yaml"))):
            proc = subprocess.run([claimgate_bin(), "check", "--config", arg], cwd=cwd,
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, (cwd, arg, proc.stdout, proc.stderr)
            seen.append(paths_section(proc.stdout))
        head, paths = seen[0]
        assert all(s == seen[0] for s in seen), seen
        assert head == f"paths (relative to {d}):"
        assert paths["jobs.state_dir"] == str(d / "jobs")
        assert paths["keys"] == str(d / "keyring")
        assert paths["saml.sp.signing_key"] == str(d / "sp.key")
        assert paths["saml.idps[0].metadata_file"] == str(d / "idp-demo-metadata.xml")
        assert paths["audit.path"] == str(d / "audit" / "audit.jsonl")
        assert paths["audit.index"] == str(d / "audit" / "index.db")
        # serve from elsewhere with a relative config path: its state lands beside the config.
        import shutil
        shutil.rmtree(d / "jobs")  # the stack's own start (cwd = d) made it
        gw = subprocess.Popen([claimgate_bin(), "serve", "--config", "../gw/claimgate.yaml"], cwd=elsewhere,
                              stdout=open(d / "gateway-elsewhere.log", "ab"), stderr=subprocess.STDOUT)
        stack.procs.append(gw)
        wait_http(stack.url + "/healthz", gw)
        assert (d / "jobs").is_dir()
        assert list(elsewhere.iterdir()) == []
    finally:
        stack.stop()


def test_environment_references_are_expanded_before_checking(tmp_path):
    """`${VAR}` in values: expanded from serve's environment; an unset one is a problem naming the
    setting and the variable; `$${` is a literal; an inline secret is refused without being shown."""
    import os
    stack = DemoStack(tmp_path, claimgate_bin(), store="memory")
    try:
        stack.stop_gateway()
        text = stack.config.read_text()
        port = str(stack.port)
        stack.config.write_text(text.replace(f"listen: 127.0.0.1:{port}", "listen: 127.0.0.1:${CG_IT_PORT}")
                                .replace("log_level: info", "log_level: ${CG_IT_LEVEL:-info}"))
        env = dict(os.environ, CG_IT_PORT=port)
        env.pop("CG_IT_LEVEL", None)
        ok = subprocess.run([claimgate_bin(), "check", "--config", str(stack.config)], env=env,
                            capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        env.pop("CG_IT_PORT")
        bad = subprocess.run([claimgate_bin(), "check", "--config", str(stack.config)], env=env,
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1
        assert ("listen: found '${CG_IT_PORT}'; the environment variable CG_IT_PORT is not set"
                in bad.stderr), bad.stderr
        stack.config.write_text(text.replace("store: {kind: memory}",
                                             "store: {kind: redis, password: 'hunter2-$${x}'}"))
        inline = run(["check", "--config", str(stack.config)])
        assert inline.returncode == 1
        assert "store.password: found '(a secret, not shown)'" in inline.stderr, inline.stderr
        assert "hunter2" not in inline.stderr + inline.stdout
    finally:
        stack.stop()
