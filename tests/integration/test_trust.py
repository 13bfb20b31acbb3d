"""Keeping trust current: the claims a sign-in must carry (saml.idps[].required_claims; by
default NameID and the claims the role bindings read), refused at the ACS with a sentence that
names the missing claim and the attributes that did arrive. A real pysaml2 IdP signs people in."""
import html
import http.server
import json
import re
import secrets
import signal
import ssl
import subprocess
import threading
import time

import requests

from conftest import ROOT, claimgate_bin
from gateway_stack import DemoStack
from demo_stack import DEMO_USERS, EXAMPLES, PY, make_pair, wait_http

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"


def write_users(directory, **extra):
    """The demo IdP's users.json: the demo users and `extra` ones."""
    users = {u: dict(v, password=secrets.token_urlsafe(9)) for u, v in DEMO_USERS.items()}
    for name, fields in extra.items():
        users[name] = dict(fields, password=secrets.token_urlsafe(9))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "users.json").write_text(json.dumps(users))
    (directory / "users.json").chmod(0o600)


def audit_records(stack, type_):
    path = stack.dir / "audit" / "audit.jsonl"
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["type"] == type_]


def wait_audit(stack, type_, count, timeout=10):
    """The records of `type_` once there are `count` (background events are batched: they reach
    the file within the audit log's flush interval)."""
    deadline = time.monotonic() + timeout
    while len(records := audit_records(stack, type_)) < count:
        assert time.monotonic() < deadline, f"{count} {type_} record(s) expected, found {len(records)}"
        time.sleep(0.1)
    return records


def test_a_sign_in_without_the_claim_the_role_bindings_read_is_refused(tmp_path):
    # gina's IdP application sends no groups attribute at all (a forgotten attribute statement).
    write_users(tmp_path, gina={"mail": "gina@example.org", "displayName": "Gina Rossi"})
    # (pages.show_details: the operator's sentence on the page; test_pages.py shows what a
    # person reads without it.)
    stack = DemoStack(tmp_path, claimgate_bin(), policy=POLICY, extra_config="pages: {show_details: true}\n")
    try:
        r = stack.signin(requests.Session(), "gina")
        assert r.status_code == 403, r.text[:500]
        text = html.unescape(r.text)
        assert "4036" in text and "claims.missing" in text, text[:2000]
        assert "none of the claims 'groups', 'roles'" in text, text[:2000]
        assert "the role bindings read one of" in text, text[:2000]
        assert "Attributes that arrived:" in text and "mail" in text and "displayName" in text, text[:2000]
        assert "NameID 'gina'" in text
        assert "gina@example.org" not in text  # attribute names, never their values
        failures = [f for f in audit_records(stack, "login.failure") if f.get("code_number") == 4036]
        assert failures and "'groups'" in failures[-1]["message"], failures
        assert "gina" not in [s.get("subject") for s in audit_records(stack, "login.success")]
        # dave's attribute arrives with no value (he is in no group): he signs in; the policy
        # grants him nothing.
        dave = requests.Session()
        assert stack.signin(dave, "dave").status_code == 200
        who = dave.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).json()
        assert who["subject"] == "dave" and who["roles"] in ([], ""), who
    finally:
        stack.stop()


def test_required_claims_named_in_the_config(tmp_path):
    write_users(tmp_path)
    stack = DemoStack(tmp_path, claimgate_bin(), policy=POLICY, extra_config="pages: {show_details: true}\n",
                      idp_options=", required_claims: [name_id, email, department]")
    try:
        r = stack.signin(requests.Session(), "alice")
        assert r.status_code == 403
        text = html.unescape(r.text)
        assert "no 'department' claim" in text, text[:2000]
        assert "saml.idps[demo].required_claims lists" in text, text[:2000]
        assert "'email'" not in text  # sent (as mail, alias email)
        assert "groups" in text  # among the attributes that arrived
    finally:
        stack.stop()


# ---------------------------------------------------------------------------------------------
# IdP metadata from a URL: refreshed, checked before it replaces the document in force, kept in
# a backing file, and an IdP key rollover without a failed sign-in.

class MetadataServer:
    """An HTTPS server on 127.0.0.1 (certificate from a CA made here with openssl) serving one
    metadata document that the test swaps; `status` and `body` are what the next GET gets."""

    def __init__(self, directory):
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = directory / "md-ca.pem"
        key, csr, crt, ext = (directory / n for n in ("md-srv.key", "md-srv.csr", "md-srv.pem", "md-srv.ext"))
        ca_key = directory / "md-ca.key"
        run = lambda *a: subprocess.run(list(a), check=True, capture_output=True)  # noqa: E731
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=metadata test CA", "-keyout", str(ca_key), "-out", str(self.ca))
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
        ext.write_text("subjectAltName=IP:127.0.0.1\n")
        run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt))
        self.body, self.status, self.hits = b"", 200, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(crt), str(key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}/idp/metadata"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, text, status=200):
        self.body, self.status = text.encode(), status

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


KEY_DESCRIPTOR = re.compile(r"<(\w+:)?KeyDescriptor\b[^>]*>.*?</(\w+:)?KeyDescriptor>", re.S)


def with_certs_of(doc, *others):
    """`doc` with the KeyDescriptors of the `others` added after its own."""
    extra = "".join(m.group(0) for o in others for m in KEY_DESCRIPTOR.finditer(o))
    last = list(KEY_DESCRIPTOR.finditer(doc))[-1]
    return doc[:last.end()] + extra + doc[last.end():]


def metric(stack, name, **labels):
    text = requests.get(stack.diag_url + "/metrics", timeout=15).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and want in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_metric(stack, name, at_least, timeout=15, **labels):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric(stack, name, **labels) >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name}{labels} did not reach {at_least}: {metric(stack, name, **labels)}")


def refreshes(stack, result):
    return metric(stack, "claimgate_idp_metadata_refresh_total", idp="demo", result=result)


def sighup_and_wait(stack, result):
    before = refreshes(stack, result)
    stack.gateway.send_signal(signal.SIGHUP)
    wait_metric(stack, "claimgate_idp_metadata_refresh_total", before + 1, idp="demo", result=result)


def signs_in(stack, user="alice"):
    s = requests.Session()
    r = stack.signin(s, user)
    assert r.status_code == 200, html.unescape(r.text)[:1500]
    return s


def restart_idp(stack, key, crt):
    """The IdP process again, on its port, signing with another key (its side of a rollover)."""
    idp = stack.idps[0]
    idp.proc.terminate()
    idp.proc.wait(15)
    idp.proc = stack._spawn("idp-demo-next", [PY, str(EXAMPLES / "demo-idp" / "demo_idp.py"), "serve",
                                              "--base-url", idp.url, "--key", str(key), "--cert", str(crt),
                                              "--sp-metadata", str(stack.sp_metadata),
                                              "--users", str(stack.users_file)])
    wait_http(idp.url + "/metadata", idp.proc)


def idp_metadata(stack, key, crt):
    idp = stack.idps[0]
    return subprocess.run([PY, str(EXAMPLES / "demo-idp" / "demo_idp.py"), "metadata", "--base-url", idp.url,
                           "--key", str(key), "--cert", str(crt)], check=True, capture_output=True,
                          text=True).stdout


def metadata_stack(tmp_path, md, **kw):
    """A DemoStack whose IdP entry has metadata_url (the backing copy: the file DemoStack writes)."""
    write_users(tmp_path)
    return DemoStack(tmp_path, claimgate_bin(), policy=POLICY,
                     idp_options=f", metadata_url: '{md.url}', metadata_ca_file: md/md-ca.pem", **kw)


def test_idp_key_rollover_through_refreshed_metadata(tmp_path):
    """Before, during and after an IdP's key rollover, sign-ins work: the refreshed metadata
    first adds the next certificate, the IdP switches keys, the old certificate goes. Each new
    document is audited with the certificates added and removed and kept in the backing file."""
    md = MetadataServer(tmp_path / "md")
    md.serve("not yet", status=503)
    stack = metadata_stack(tmp_path, md)
    try:
        copy = stack.idps[0].metadata
        first = copy.read_text()
        # The start fetched at once: the 503 was refused and the copy stays in force.
        wait_metric(stack, "claimgate_idp_metadata_refresh_total", 1, idp="demo", result="refused")
        signs_in(stack)
        md.serve(first)
        sighup_and_wait(stack, "unchanged")
        # The IdP publishes its next certificate beside the current one.
        next_key, next_crt = make_pair(tmp_path, "idp-demo-next", "demo.idp.example next")
        following = idp_metadata(stack, next_key, next_crt)
        md.serve(with_certs_of(first, following))
        sighup_and_wait(stack, "updated")
        updated = wait_audit(stack, "idp.metadata_updated", 1)[-1]
        assert updated["certs_added"] and not updated["certs_removed"], updated
        assert len(updated["signing_certs"].split(",")) == 2
        assert copy.read_text() == with_certs_of(first, following)  # the backing copy follows
        signs_in(stack)  # still signed with the old key
        restart_idp(stack, next_key, next_crt)
        signs_in(stack, "bob")  # signed with the next key, trusted since the refresh
        md.serve(following)
        sighup_and_wait(stack, "updated")
        gone = wait_audit(stack, "idp.metadata_updated", 2)[-1]
        assert gone["certs_removed"] and not gone["certs_added"], gone
        signs_in(stack, "carol")
        # The document's cacheDuration shortens the interval: fetched again without a SIGHUP.
        cached = re.sub(r"<(\w+:)?EntityDescriptor\b", lambda m: m.group(0) + ' cacheDuration="PT5S"',
                        following, count=1)
        md.serve(cached)
        sighup_and_wait(stack, "updated")
        before = refreshes(stack, "unchanged")
        wait_metric(stack, "claimgate_idp_metadata_refresh_total", before + 1, timeout=15, idp="demo",
                    result="unchanged")
        assert stack.gateway.poll() is None
    finally:
        stack.stop()
        md.stop()


def test_a_bad_document_is_refused_and_the_old_one_stays(tmp_path):
    md = MetadataServer(tmp_path / "md")
    md.serve("warming up", status=503)
    stack = metadata_stack(tmp_path, md)
    try:
        first = stack.idps[0].metadata.read_text()
        cases = [
            ("<html>Sign in to continue</html>", 4028),                                   # not metadata
            (re.sub(r"<(\w+:)?EntityDescriptor\b", lambda m: m.group(0) + ' validUntil="2001-01-01T00:00:00Z"',
                    first, count=1), 4027),                                                # expired
            (re.sub(r'entityID="[^"]+"', 'entityID="https://evil.example/idp"', first, count=1), 6517),  # another IdP
        ]
        for n, (body, code) in enumerate(cases):
            md.serve(body)
            sighup_and_wait(stack, "refused")
            refused = wait_audit(stack, "idp.metadata_refused", n + 2)[-1]  # +1: the start's 503
            assert refused["code"] == code, refused
            assert stack.idps[0].metadata.read_text() == first  # the copy is untouched
            signs_in(stack)
        md.stop()  # the endpoint goes away: counted as failed, the document in force stays
        sighup_and_wait(stack, "failed")
        assert wait_audit(stack, "idp.metadata_unreachable", 1)[-1]["code"] == 6011
        signs_in(stack, "bob")
        log = (stack.dir / "gateway.log").read_text()
        assert re.search(r"WARN  gateway idp.metadata_unreachable idp=\S+ url=\S+ code=6011 .* in_force=", log), log[-2000:]
    finally:
        stack.stop()


def test_the_gateway_starts_from_the_backing_copy_when_the_idp_is_down(tmp_path):
    md = MetadataServer(tmp_path / "md")
    md.stop()  # nothing answers at metadata_url
    stack = metadata_stack(tmp_path, md)
    try:
        assert requests.get(stack.diag_url + "/readyz", timeout=15).status_code == 200
        signs_in(stack)
        check = subprocess.run([stack.bin, "check", "--config", str(stack.config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "serve starts from the copy in" in check.stdout, check.stdout
    finally:
        stack.stop()
    # Without a copy, the start needs the endpoint: a clear refusal.
    stack.idps[0].metadata.unlink()
    check = subprocess.run([stack.bin, "check", "--config", str(stack.config)], capture_output=True, text=True)
    assert check.returncode == 1
    assert "metadata_url" in check.stderr and "holds no usable copy yet" in check.stderr, check.stderr


# ---------------------------------------------------------------------------------------------
# SP certificate rollover: `claimgate certs rollover` stages, a running gateway publishes the
# next certificate within seconds, `--promote` switches signing; audited; sign-ins keep working.

def certs(stack, *args):
    return subprocess.run([stack.bin, "certs", *args, "--config", str(stack.config)], capture_output=True,
                          text=True, timeout=60)


def published_certs(stack):
    """The signing certificates in the gateway's /saml/metadata, in order (base64 DER)."""
    text = requests.get(stack.url + "/saml/metadata", timeout=15).text
    signing = re.findall(r'<md:KeyDescriptor use="signing">.*?</md:KeyDescriptor>', text, re.S)
    return [re.search(r"<ds:X509Certificate>([^<]+)<", kd).group(1) for kd in signing]


def der_b64(pem_path):
    pem = pem_path.read_text()
    return "".join(line for line in pem.splitlines() if "-----" not in line)


def wait_published(stack, count, timeout=20):
    deadline = time.monotonic() + timeout
    while len(found := published_certs(stack)) != count:
        assert time.monotonic() < deadline, f"{len(found)} certificate(s) published, {count} expected"
        time.sleep(0.2)
    return found


def idp_learns_our_metadata(stack):
    """The IdP reads our metadata again (what an IdP that refreshes it does) and restarts."""
    stack.sp_metadata.write_text(requests.get(stack.url + "/saml/metadata", timeout=15).text)
    idp = stack.idps[0]
    restart_idp(stack, idp.key, idp.crt)


def test_sp_certificate_rollover_without_a_failed_sign_in(tmp_path):
    write_users(tmp_path)
    stack = DemoStack(tmp_path, claimgate_bin(), policy=POLICY)
    try:
        old = der_b64(stack.sp_crt)
        assert published_certs(stack) == [old]
        status = certs(stack, "status")
        assert status.returncode == 0 and "next      none staged" in status.stdout, status.stdout + status.stderr
        staged = certs(stack, "rollover")
        assert staged.returncode == 0, staged.stderr
        next_crt = stack.sp_crt.with_name("sp.next.crt")
        assert next_crt.exists() and oct(stack.sp_crt.with_name("sp.next.key").stat().st_mode & 0o777) == "0o600"
        new = der_b64(next_crt)
        # The running gateway publishes it beside the current one, and says so in its audit log.
        assert wait_published(stack, 2) == [old, new]
        changed = wait_audit(stack, "sp.certificates_changed", 1)[-1]
        assert changed["next"] and changed["rollover"]["staged_by"], changed
        idp_learns_our_metadata(stack)
        signs_in(stack)  # still signed with the current key
        again = certs(stack, "rollover")
        assert again.returncode == 1 and "staged already" in again.stderr
        early = certs(stack, "rollover", "--promote")
        assert early.returncode == 1 and "rollover_window" in early.stderr, early.stderr
        promoted = certs(stack, "rollover", "--promote", "--force")
        assert promoted.returncode == 0, promoted.stderr
        # The new pair signs; the old one stays published (and decrypts) until it expires.
        deadline = time.monotonic() + 20
        while published_certs(stack) != [new, old]:
            assert time.monotonic() < deadline, published_certs(stack)
            time.sleep(0.2)
        assert der_b64(stack.sp_crt) == new and der_b64(stack.sp_crt.with_name("sp.previous.crt")) == old
        change = wait_audit(stack, "sp.certificates_changed", 2)[-1]
        assert change["current_before"] != change["current"] and change["previous"] == change["current_before"]
        assert change["rollover"]["promoted_by"] and change["rollover"].get("forced") is True
        idp_learns_our_metadata(stack)
        signs_in(stack, "bob")  # the AuthnRequest is signed with the new key, which the IdP checks
        status = certs(stack, "status")
        assert "previous" in status.stdout and "published at" in status.stdout, status.stdout
        assert "current, previous" in status.stdout, status.stdout
        assert stack.gateway.poll() is None
    finally:
        stack.stop()


# ---------------------------------------------------------------------------------------------
# Entra ID groups overage: the groups link instead of the groups; resolved through a local
# stand-in for Microsoft Graph (nothing else is reachable here), or refused with advice.

OID = "7d3c1f0e-2b7a-4c55-9e1d-3a4b5c6d7e8f"
NLP_GROUP = "5e1f0c7a-4c1e-4a7b-9a53-2f0d8e6b1c01"  # aliased to ml-nlp-ds in the example policy
OVERAGE_USER = {"mail": "hana@example.org", "displayName": "Hana Sato", "attributes": {
    "http://schemas.microsoft.com/claims/groups.link": [f"https://graph.windows.net/t1/users/{OID}/getMemberObjects"],
    "http://schemas.microsoft.com/identity/claims/objectidentifier": [OID]}}


class GraphStandIn:
    """The token endpoint and getMemberGroups of Microsoft Graph, on 127.0.0.1, recording calls."""

    def __init__(self):
        self.calls, self.groups_status = [], 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                outer.calls.append((self.path, self.headers.get("Authorization", ""), body))
                if self.path == "/t1/oauth2/v2.0/token":
                    form = dict(p.split("=", 1) for p in body.split("&"))
                    ok = form.get("client_secret") == "s3cret-value" and form.get("client_id") == "app-1" \
                        and form.get("grant_type") == "client_credentials"
                    self.answer(200 if ok else 401, {"access_token": "graph-token-1", "expires_in": 3600} if ok
                                else {"error": "invalid_client", "error_description": "bad secret"})
                elif self.path == f"/v1.0/users/{OID}/getMemberGroups":
                    if self.headers.get("Authorization") != "Bearer graph-token-1":
                        self.answer(401, {"error": {"code": "InvalidAuthenticationToken", "message": "no"}})
                    elif outer.groups_status != 200:
                        self.answer(outer.groups_status, {"error": {"code": "Authorization_RequestDenied",
                                                                    "message": "Insufficient privileges"}})
                    else:
                        self.answer(200, {"value": [NLP_GROUP, "0f0f0f0f-0000-0000-0000-000000000000"]})
                else:
                    self.answer(404, {"error": {"code": "NotFound", "message": self.path}})

            def answer(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_entra_groups_overage_resolved_through_graph(tmp_path):
    write_users(tmp_path, hana=OVERAGE_USER)
    (tmp_path / "graph.secret").write_text("s3cret-value\n")
    graph = GraphStandIn()
    stack = DemoStack(tmp_path, claimgate_bin(), policy=POLICY, extra_config="pages: {show_details: true}\n",
                      idp_options=(
        ", graph: {tenant_id: t1, client_id: app-1, client_secret_file: graph.secret, "
        f"token_url: '{graph.url}/t1/oauth2/v2.0/token', api_url: '{graph.url}'}}"))
    try:
        hana = signs_in(stack, "hana")
        who = hana.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).json()
        assert who["roles"] == ["data-scientist@nlp"], who
        token_calls = [c for c in graph.calls if c[0].endswith("/token")]
        assert len(token_calls) == 1 and "scope=" in token_calls[0][2]
        assert [c for c in graph.calls if "getMemberGroups" in c[0]][0][1] == "Bearer graph-token-1"
        ok = [r for r in audit_records(stack, "login.success") if r["subject"] == "hana"][-1]
        assert ok["groups_from"] == "microsoft-graph" and NLP_GROUP in json.dumps(ok["claims"]), ok
        signs_in(stack, "hana")  # the application token is reused
        assert len([c for c in graph.calls if c[0].endswith("/token")]) == 1
        assert "s3cret-value" not in stack.gateway_log()
        # Graph refuses: the sign-in is refused, saying what the application needs.
        graph.groups_status = 403
        r = stack.signin(requests.Session(), "hana")
        text = html.unescape(r.text)
        assert r.status_code == 403 and "6518" in text and "gateway.graph" in text, text[:1500]
        assert "Insufficient privileges" in text and "GroupMember.Read.All" in text, text[:1500]
    finally:
        stack.stop()
        graph.stop()


def test_entra_groups_overage_without_graph_is_refused_with_advice(tmp_path):
    write_users(tmp_path, hana=OVERAGE_USER)
    stack = DemoStack(tmp_path, claimgate_bin(), policy=POLICY, extra_config="pages: {show_details: true}\n")
    try:
        r = stack.signin(requests.Session(), "hana")
        text = html.unescape(r.text)
        assert r.status_code == 403 and "4037" in text and "claims.groups_overage" in text, text[:1500]
        assert "Assign the groups to the enterprise application" in text
        assert "saml.idps[].graph" in text
    finally:
        stack.stop()


# ---------------------------------------------------------------------------------------------
# Scheduled keyring rotation: `claimgate keys schedule` (run daily) stages, promotes, retires;
# the JWKS publishes the staged key; nobody is signed out across the restarts.

def keys_schedule(stack, now):
    return subprocess.run([stack.bin, "keys", "schedule", "--config", str(stack.config), "--now", now],
                          capture_output=True, text=True, timeout=60)


def restart_gateway(stack):
    stack.gateway.terminate()
    stack.gateway.wait(15)
    stack.start_gateway()


def test_scheduled_keyring_rotation_signs_nobody_out(tmp_path):
    write_users(tmp_path)
    stack = DemoStack(tmp_path, claimgate_bin(), policy=POLICY,
                      extra_config="key_rotation: {every: 30d, overlap: 2d, retire_after: 40d}\n")
    try:
        keys = stack.dir / "keyring"
        first = sorted(p.name[5:-4] for p in keys.glob("seal-*.key"))
        assert len(first) == 1
        from datetime import datetime, timedelta, timezone
        t0 = datetime.now(timezone.utc)
        at = lambda days: (t0 + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        alice = signs_in(stack)
        cookie_before = alice.cookies.get("cg_session")
        quiet = keys_schedule(stack, at(10))
        assert quiet.returncode == 0 and "nothing due" in quiet.stdout, quiet.stdout + quiet.stderr
        staged = keys_schedule(stack, at(29))
        assert staged.returncode == 0 and "staged key" in staged.stdout, staged.stdout + staged.stderr
        assert len(list(keys.glob("seal-*.next.key"))) == 1
        restart_gateway(stack)
        jwks = requests.get(stack.url + "/.well-known/jwks.json", timeout=15).json()
        assert len(jwks["keys"]) == 2  # current and next
        assert alice.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 200
        # Key ids carry the real time they were made: one day on, the staged key waits.
        waiting = keys_schedule(stack, at(1))
        assert "is staged" in waiting.stdout, waiting.stdout
        promoted = keys_schedule(stack, at(3))
        assert promoted.returncode == 0 and "promoted key" in promoted.stdout, promoted.stdout
        restart_gateway(stack)
        # alice's cookie was sealed with the old key, which still opens; a new sign-in gets the new one.
        assert alice.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 200
        bob = signs_in(stack, "bob")
        second = sorted(p.name[5:-4] for p in keys.glob("seal-*.key"))
        assert len(second) == 2 and bob.cookies.get("cg_session").startswith(second[-1] + ".")
        assert cookie_before.startswith(first[0] + ".")
        not_yet = keys_schedule(stack, at(40))
        assert "retired" not in not_yet.stdout, not_yet.stdout
        retired = keys_schedule(stack, at(45))
        assert f"retired key {first[0]}" in retired.stdout, retired.stdout + retired.stderr
        # (the run at day 40 found the current key due and staged a third; day 45 promoted it)
        assert "staged key" in not_yet.stdout and "promoted key" in retired.stdout
        left = sorted(p.name[5:-4] for p in keys.glob("seal-*.key"))
        assert first[0] not in left and second[-1] in left and len(left) == 2, left
        assert (keys / "retired" / f"sign-{first[0]}.pem").exists()
        restart_gateway(stack)
        # The audit checkpoints the retired key signed still verify.
        verify = subprocess.run([stack.bin, "audit", "verify", "--config", str(stack.config)],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert bob.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 200
        # A retire_after shorter than what the keys sealed can live is refused by the config check.
        bad = stack.config.read_text().replace("retire_after: 40d", "retire_after: 2d")
        (stack.dir / "bad.yaml").write_text(bad)
        check = subprocess.run([stack.bin, "check", "--config", str(stack.dir / "bad.yaml")],
                               capture_output=True, text=True)
        assert check.returncode == 1 and "key_rotation.retire_after" in check.stderr, check.stderr
    finally:
        stack.stop()


def test_check_warns_of_expiry_and_compares_the_audience_urls(tmp_path):
    write_users(tmp_path)
    # The demo certificates are valid for a year: a 365-day warning window covers them.
    stack = DemoStack(tmp_path, claimgate_bin(), policy=POLICY, extra_config="certificate_warning: 365d\n")
    try:
        check = subprocess.run([stack.bin, "check", "--config", str(stack.config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert re.search(r"warning: saml.sp.signing_cert certificate \(.*\) expires in 36\d day\(s\)", check.stdout), \
            check.stdout
        assert "warning: IdP demo signing certificate" in check.stdout
        assert "public_url: the gateway there publishes this entity id and ACS URL" in check.stdout, check.stdout
        log = stack.gateway_log()
        assert re.search(r"certificate.expiring use=sp-signing .* days_left=36\d ", log), log[-2000:]
        expiring = wait_audit(stack, "certificate.expiring", 2)
        assert {"sp-signing", "idp:demo"} <= {r["use"] for r in expiring}
        # A config whose entity id differs from what the running gateway publishes is named.
        moved = stack.config.read_text().replace("  sp: {", "  sp: {entity_id: 'https://ml.example.org/saml/metadata', ", 1)
        assert moved != stack.config.read_text()
        (stack.dir / "moved.yaml").write_text(moved)
        check = subprocess.run([stack.bin, "check", "--config", str(stack.dir / "moved.yaml")],
                               capture_output=True, text=True)
        assert check.returncode == 1, check.stdout
        assert "error: the gateway at public_url publishes entity id" in check.stdout, check.stdout
        assert "names host ml.example.org, public_url is on 127.0.0.1" in check.stdout, check.stdout
        # IdP metadata that is really our own SP metadata is named too.
        (stack.dir / "ours.xml").write_text(requests.get(stack.url + "/saml/metadata", timeout=15).text)
        swapped = stack.config.read_text().replace("metadata_file: idp-demo-metadata.xml", "metadata_file: ours.xml")
        (stack.dir / "swapped.yaml").write_text(swapped)
        check = subprocess.run([stack.bin, "check", "--config", str(stack.dir / "swapped.yaml")],
                               capture_output=True, text=True)
        assert check.returncode != 0, check.stdout + check.stderr
        assert "ours.xml" in check.stdout + check.stderr
    finally:
        stack.stop()


def test_an_expired_sp_certificate_is_replaced_at_once(tmp_path):
    """The gateway refuses to start on an expired SP certificate (4038 sp.keys); `claimgate
    certs rollover` then `--promote` replace it straight away (no window, no previous kept)."""
    import datetime as dt
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired sp")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=400))
            .not_valid_after(now - dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "sp.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    (tmp_path / "sp.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    idp_key, idp_crt = make_pair(tmp_path, "idp", "idp.example")
    (tmp_path / "idp.xml").write_text(subprocess.run(
        [PY, str(EXAMPLES / "demo-idp" / "demo_idp.py"), "metadata", "--base-url", "http://127.0.0.1:8",
         "--key", str(idp_key), "--cert", str(idp_crt)], check=True, capture_output=True, text=True).stdout)
    config = tmp_path / "claimgate.yaml"
    config.write_text("public_url: http://127.0.0.1:9\ninsecure_http: true\nkeys: keyring\n"
                      "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt}\n"
                      "  idps: [{name: corp, metadata_file: idp.xml}]\naudit: {enabled: false}\n")
    binary = claimgate_bin()
    run = lambda *a: subprocess.run([binary, *a, "--config", str(config)], capture_output=True, text=True)  # noqa: E731
    check = run("check")
    assert check.returncode == 1
    assert "expired on" in check.stderr and "claimgate certs rollover" in check.stderr, check.stderr
    assert run("certs", "rollover").returncode == 0
    promoted = run("certs", "rollover", "--promote")  # no --force needed: the current one is dead
    assert promoted.returncode == 0 and "it is not kept" in promoted.stdout, promoted.stdout + promoted.stderr
    assert not (tmp_path / "sp.previous.crt").exists()
    check = run("check")
    assert check.returncode == 0, check.stdout + check.stderr


SIGNATURE_TEMPLATE = (
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
    '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<ds:Reference URI="#_md1"><ds:Transforms>'
    '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
    '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
    '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>'
    '</ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>')


def signed_metadata(doc, key, crt, work):
    """`doc` signed (enveloped, first child of the root) by `key` with xmlsec1, as a federation
    operator signs the metadata it publishes."""
    doc = re.sub(r"<(\w+:)?EntityDescriptor\b", lambda m: m.group(0) + ' ID="_md1"', doc, count=1)
    start = re.search(r"<(\w+:)?EntityDescriptor\b[^>]*>", doc)
    template = work / "md-template.xml"
    template.write_text(doc[:start.end()] + SIGNATURE_TEMPLATE + doc[start.end():])
    out = work / "md-signed.xml"
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{key},{crt}", "--id-attr:ID",
                    "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", "--output", str(out), str(template)],
                   check=True, capture_output=True)
    return out.read_text()


def test_metadata_signed_by_a_pinned_certificate(tmp_path):
    """With metadata_signing_cert, each fetched document must carry a valid signature by it: an
    unsigned one and one signed by another key are refused; the start replaces an unsigned copy."""
    md = MetadataServer(tmp_path / "md")
    md.serve("starting", status=503)
    stack = metadata_stack(tmp_path, md)
    try:
        unsigned = stack.idps[0].metadata.read_text()
        fed_key, fed_crt = make_pair(tmp_path, "federation", "metadata signer")
        other_key, other_crt = make_pair(tmp_path, "other", "someone else")
        signed = signed_metadata(unsigned, fed_key, fed_crt, tmp_path)
        md.serve(signed)
        # Pin the federation's certificate: the unsigned copy on disk no longer counts, so the
        # start fetches (and keeps) the signed document.
        stack.stop_gateway()
        stack.config.write_text(stack.config.read_text().replace(
            "metadata_ca_file: md/md-ca.pem", "metadata_ca_file: md/md-ca.pem, metadata_signing_cert: federation.crt"))
        stack.start_gateway()
        assert stack.idps[0].metadata.read_text() == signed
        signs_in(stack)
        md.serve(unsigned)
        sighup_and_wait(stack, "refused")
        assert "not signed" in wait_audit(stack, "idp.metadata_refused", 2)[-1]["message"]  # 1: the first start's 503
        md.serve(signed_metadata(unsigned, other_key, other_crt, tmp_path))
        sighup_and_wait(stack, "refused")
        assert "signature is not valid" in wait_audit(stack, "idp.metadata_refused", 3)[-1]["message"]
        assert stack.idps[0].metadata.read_text() == signed
        signs_in(stack, "bob")
    finally:
        stack.stop()
        md.stop()
