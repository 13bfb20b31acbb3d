"""Sign-ins from the IdPs ML teams use, in the shapes each emits by default (idp_shapes.py), posted
to a real gateway's /saml/acs after the gateway's own AuthnRequest, then read back through
/.claimgate/whoami and the identity headers the upstream receives. One gateway trusts all eight
IdPs and ONE policy file decides for all of them: each IdP's config says how its attributes map
onto the claims the policy reads (what docs/idps.md tells the operator to write)."""
import base64
import html
import json
import pathlib
import re
import subprocess
import time

import pytest
import requests
import yaml

import idp_shapes as shapes
from conftest import ROOT, claimgate_bin
from gateway_stack import free_port, wait_http  # noqa: E402 (puts demo_stack on the path)
from demo_stack import EXAMPLES, PY, make_pair

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"

DOCS = ROOT / "docs" / "idps.md"


def documented_idp_entries():
    """Each IdP's saml.idps[] entry as docs/idps.md gives it (the yaml block of its section),
    with the metadata pointed at the test's file instead of the vendor's URL."""
    entries = {}
    for block in re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S):
        doc = yaml.safe_load(block) or {}
        for entry in doc.get("saml", {}).get("idps", []):
            entries[entry["name"]] = entry
    assert set(entries) == set(shapes.SHAPES), sorted(entries)
    for name, entry in entries.items():
        entry.pop("metadata_url", None)
        entry["metadata_file"] = f"{name}-metadata.xml"
    return entries


class Stack:
    """A claimgate gateway trusting the eight IdP shapes, in front of the demo echo upstream."""

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.procs = []
        self.sp_key, self.sp_crt = make_pair(self.dir, "sp", "claimgate-sp")
        self.keys = {}
        for name, shape in shapes.SHAPES.items():
            key, crt = make_pair(self.dir, f"idp-{name}", f"{name} signing")
            self.keys[name] = shapes.Keys(self.dir, key, crt, self.sp_crt, key_name=f"{name}-signing-1")
            (self.dir / f"{name}-metadata.xml").write_text(shape.metadata(crt.read_text()))
        port_file = self.dir / "upstream.port"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._spawn("upstream", [PY, str(EXAMPLES / "demo-upstream" / "echo_upstream.py"),
                                 "--port-file", str(port_file), "--jwks-url", self.url + "/.well-known/jwks.json"])
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert time.monotonic() < deadline, "the echo upstream did not start"
            time.sleep(0.02)
        upstream = f"http://127.0.0.1:{int(port_file.read_text())}"
        # The one policy: the examples' ML platform policy, with Alice's Entra ID group object id
        # named as docs/idps.md says (aliases: values:).
        policy = POLICY.read_text().replace(
            "  values:\n", f'  values:\n    "{shapes.ALICE_ENTRA_GROUP}": ml-vision-ds\n', 1)
        assert shapes.ALICE_ENTRA_GROUP in policy
        (self.dir / "policy.yaml").write_text(policy)
        self.entries = documented_idp_entries()
        idps = "".join(f"    - {json.dumps(e)}\n" for e in self.entries.values())
        self.config = self.dir / "claimgate.yaml"
        self.config.write_text(
            f"listen: 127.0.0.1:{self.port}\npublic_url: {self.url}\ninsecure_http: true\n"
            "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt}\n"
            f"  idps:\n{idps}"
            "keys: keyring\nstore: {kind: memory}\n"
            f'routes:\n  - {{"name": "app", "prefix": "/", "upstream": "{upstream}"}}\n'
            "policy_file: policy.yaml\n"
            # One address signs in ~40 times in a few seconds here; the limits have their own
            # tests (test_abuse), and at the default burst of 30 this module was refused with 429.
            "limits: {signins_per_minute: 6000, signin_burst: 1000}\n"
            # The refusal tests read the operator's words (what to change at the IdP) on the page.
            "pages: {show_details: true}\n")
        check = subprocess.run([claimgate_bin(), "check", "--config", str(self.config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.gateway = self._spawn("gateway", [claimgate_bin(), "serve", "--config", str(self.config)])
        wait_http(self.url + "/healthz", self.gateway)

    def _spawn(self, name, args):
        log = open(self.dir / f"{name}.log", "ab")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        self.procs.append(p)
        return p

    def wait_audit(self, match, timeout=10):
        """The first audit record `match` accepts, once it is in the file (records are batched)."""
        path = self.dir / "audit" / "audit.jsonl"
        deadline = time.monotonic() + timeout
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            found = [r for r in map(json.loads, lines) if match(r)]
            if found:
                return found[0]
            assert time.monotonic() < deadline, "no such audit record"
            time.sleep(0.1)

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            p.wait(15)

    def start(self, session, idp, rd="/"):
        """The gateway's AuthnRequest to `idp` (its HTTP-Redirect), as the IdP receives it."""
        r = session.get(f"{self.url}/saml/login?idp={idp}&rd={rd}", headers=HTML, allow_redirects=False, timeout=15)
        assert r.status_code == 302, r.text[:500]
        loc = r.headers["Location"]
        sso = shapes.SHAPES[idp].sso_url
        assert loc.startswith(sso + ("&" if "?" in sso else "?")), loc
        return shapes.parse_redirect(loc)

    def post(self, session, saml_response, req):
        return session.post(self.url + "/saml/acs", data={"SAMLResponse": saml_response, "RelayState": req.relay_state},
                            headers=HTML, allow_redirects=False, timeout=15)

    def attempt(self, idp, keys=None, shape=None, **over):
        """Alice's sign-in through `idp` (signed with `keys`, by default the IdP's own; `shape`:
        Shape.response's options, such as sha1 or encrypt_name_id); returns (session, the ACS's
        answer)."""
        s = requests.Session()
        req = self.start(s, idp)
        name_id, attrs = shapes.alice(idp, req, **over)
        xml = shapes.SHAPES[idp].response(keys or self.keys[idp], req, name_id, attrs, **(shape or {}))
        return s, self.post(s, xml, req)

    def signin(self, idp, shape=None, **over):
        """Alice signs in through `idp`; returns (session, whoami JSON)."""
        s, r = self.attempt(idp, shape=shape, **over)
        assert r.status_code in (302, 303), f"{idp}: {r.status_code} {html.unescape(r.text)[:1500]}"
        who = s.get(self.url + "/.claimgate/whoami", headers=JSON, timeout=15)
        assert who.status_code == 200, who.text
        return s, who.json()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = Stack(tmp_path_factory.mktemp("idps"))
    yield st
    st.stop()


def claim(who, name):
    return [c for c in who["claims"] if c["name"] == name]


# What whoami shows for Alice through each IdP: subject (the user id, from where docs/idps.md's
# user_id says), NameID, its format, email, groups.
EXPECTED = {
    "okta": ("alice.chen@corp.example", "alice.chen@corp.example", shapes.UNSPECIFIED, "alice.chen@corp.example",
             ["Everyone", "ml-vision-ds"]),
    "entra": (shapes.ALICE_OBJECT_ID, "alice.chen@corp.example", shapes.EMAIL, "alice.chen@corp.example",
              [shapes.ALICE_ENTRA_GROUP, "0c2d4e6f-8a9b-4c1d-9e2f-3a4b5c6d7e8f"]),
    "adfs": ("achen@corp.example", "alice.chen@corp.example", shapes.EMAIL, "alice.chen@corp.example",
             ["Domain Users", "ml-vision-ds"]),
    "google": ("alice.chen@corp.example", "alice.chen@corp.example", shapes.UNSPECIFIED, "alice.chen@corp.example",
               ["ml-vision-ds"]),
    "keycloak": ("alice", "alice", shapes.UNSPECIFIED, "alice.chen@corp.example",
                 ["default-roles-ml", "offline_access", "uma_authorization", "ml-vision-ds"]),
    "onelogin": ("alice.chen@corp.example", "alice.chen@corp.example", shapes.EMAIL, "alice.chen@corp.example",
                 ["ml-vision-ds", "engineering"]),
    "shibboleth": (None, None, shapes.PERSISTENT, "alice.chen@uni.example", ["ml-vision-ds"]),
    "auth0": (shapes.ALICE_AUTH0_ID, shapes.ALICE_AUTH0_ID, shapes.UNSPECIFIED, "alice.chen@corp.example",
              ["ml-vision-ds"]),
}


@pytest.mark.parametrize("idp", list(shapes.SHAPES))
def test_each_idp_default_shape_signs_alice_in_with_the_same_roles(stack, idp):
    s, who = stack.signin(idp)
    subject, name_id, fmt, email, groups = EXPECTED[idp]
    if idp == "shibboleth":  # opaque, per (IdP, SP, user)
        subject = name_id = shapes.persistent_id(shapes.SHAPES[idp].entity_id, stack.url + "/saml/metadata", "achen")
    assert who["idp"] == idp and who["idp_entity_id"] == shapes.SHAPES[idp].entity_id, who
    assert (who["subject"], who["name_id"], who["name_id_format"]) == (subject, name_id, fmt), who
    assert who["email"] == email and who["groups"] == groups, who
    # ONE policy: the data-scientist role in the vision project, whatever the IdP called the groups.
    assert [(g["project"], g["role"]) for g in who["role_grants"]] == [("vision", "data-scientist")], who
    # A renamed attribute is shown under the claim name the policy reads, not the name sent.
    for sent, claim_name in stack.entries[idp].get("attribute_map", {}).items():
        assert claim(who, claim_name) and not claim(who, sent), (sent, claim_name, who["claims"])
    # The upstream sees the same person and the decision.
    echo = s.post(stack.url + "/api/projects/vision/jobs", headers=JSON, json={"entrypoint": "train.py"}, timeout=15)
    assert echo.status_code == 200, echo.text[:500]
    seen = echo.json()["headers"]
    assert seen["X-Claimgate-User"] == subject and seen["X-Claimgate-Idp"] == idp, seen
    assert seen["X-Claimgate-Email"] == email and seen["X-Claimgate-Groups"] == ",".join(groups), seen
    assert seen["X-Claimgate-Project"] == "vision" and seen["X-Claimgate-Permission"] == "jobs:submit", seen
    jwt = echo.json()["jwt"]
    assert jwt["verified"] and jwt["claims"]["sub"] == subject, jwt
    # Not an admin anywhere: deploying a model needs models:deploy.
    denied = s.post(stack.url + "/api/projects/vision/models/m1/deploy", headers=JSON, timeout=15)
    assert denied.status_code == 403 and denied.json()["reason"] == "permission-missing", denied.text[:300]
    # The audit log records the sign-in under the same user id.
    stack.wait_audit(lambda r: r["type"] == "login.success" and r["idp"] == idp and r["subject"] == subject)


@pytest.mark.parametrize("idp,expected", [("keycloak", "alice.chen@corp.example"),
                                          ("shibboleth", "achen@uni.example")])
def test_a_transient_nameid_is_never_the_user_id(stack, idp, expected):
    # Keycloak's and Shibboleth's transient format: a new NameID at every sign-in. The documented
    # user_id lists go on to the email (Keycloak) or the eppn (Shibboleth).
    name_ids = set()
    for _ in range(2):
        s, who = stack.signin(idp, format=shapes.TRANSIENT)
        assert who["name_id_format"] == shapes.TRANSIENT and who["subject"] == expected, who
        name_ids.add(who["name_id"])
    assert len(name_ids) == 2 and expected not in name_ids, name_ids


def test_the_entra_user_id_is_the_object_id_whatever_the_nameid(stack):
    # A UPN rename (the NameID changes), or the persistent format: the same user id.
    s, who = stack.signin("entra", name_id="alice.rossi@corp.example")
    assert who["subject"] == shapes.ALICE_OBJECT_ID and who["name_id"] == "alice.rossi@corp.example", who
    s, who = stack.signin("entra", name_id="Yc3R1dm5oV2xkZ0JQSkxHc0ZPQ2Nk", format=shapes.PERSISTENT)
    assert who["subject"] == shapes.ALICE_OBJECT_ID and who["name_id_format"] == shapes.PERSISTENT, who


@pytest.mark.parametrize("idp", list(shapes.SHAPES))
def test_each_shape_signed_by_a_key_the_metadata_does_not_hold_is_refused(stack, idp, tmp_path):
    key, crt = make_pair(tmp_path, "mallory", "mallory")
    s, r = stack.attempt(idp, keys=shapes.Keys(tmp_path, key, crt, stack.sp_crt, key_name="mallory"))
    assert r.status_code == 403, r.text[:500]
    text = html.unescape(r.text)
    assert "signature" in text.lower(), text[:1500]
    assert s.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 401


def test_entra_groups_overage_without_graph_is_refused_with_the_advice(stack):
    # More than 150 groups: Entra ID sends the groups.link claim instead of the groups.
    s, r = stack.attempt("entra", overage=True)
    assert r.status_code == 403, r.text[:500]
    text = html.unescape(r.text)
    assert "4037" in text and "claims.groups_overage" in text, text[:2000]
    assert s.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 401


def test_entra_150_groups_and_an_app_role_reach_the_policy(stack):
    # 150 groups (the most Entra ID puts in a SAML token before the overage link).
    groups = [shapes.ALICE_ENTRA_GROUP] + [f"00000000-0000-4000-8000-{i:012d}" for i in range(149)]
    s, who = stack.signin("entra", groups=groups)
    assert len(who["groups"]) == 150 and who["groups"][0] == shapes.ALICE_ENTRA_GROUP, len(who["groups"])
    assert [(g["project"], g["role"]) for g in who["role_grants"]] == [("vision", "data-scientist")], who
    # An app role assigned in the enterprise application arrives in the role claim.
    s, who = stack.signin("entra", roles=["ML.Admin"])
    grants = {(g["project"], g["role"]) for g in who["role_grants"]}
    assert grants == {("vision", "data-scientist"), ("*", "admin")}, who["role_grants"]


@pytest.mark.parametrize("idp", ["onelogin", "okta"])
def test_a_sha1_signature_is_refused_with_what_to_change_at_the_idp(stack, idp):
    # Older OneLogin connectors and Okta apps default to SHA-1: the page says what to change.
    s, r = stack.attempt(idp, shape={"sha1": True})
    assert r.status_code == 403, r.text[:500]
    text = html.unescape(r.text)
    assert "SHA-1" in text and "allow SHA-1 for this IdP" in text, text[:1500]
    assert s.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 401


@pytest.mark.parametrize("started,answered", [("okta", "auth0"), ("entra", "adfs"), ("keycloak", "shibboleth")])
def test_a_response_from_another_trusted_idp_does_not_answer_a_sign_in(stack, started, answered):
    # The gateway trusts both IdPs; a sign-in started with one is answered only by that one, even
    # when the other's response is genuine and names the right AuthnRequest.
    s = requests.Session()
    req = stack.start(s, started)
    name_id, attrs = shapes.alice(answered, req)
    r = stack.post(s, shapes.SHAPES[answered].response(stack.keys[answered], req, name_id, attrs), req)
    assert r.status_code == 403, r.text[:500]
    text = html.unescape(r.text).lower()
    # Refused at the first check that tells them apart: the Issuer, or (when the Response itself
    # is signed) a signature by a key the started IdP's metadata does not hold.
    assert ("issuer" in text and shapes.SHAPES[answered].entity_id in text) or "signature" in text, text[-3000:]
    assert s.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 401


def test_an_okta_dashboard_tile_sign_in_is_refused_without_allow_idp_initiated(stack):
    # The tile posts an unsolicited Response (no InResponseTo, no RelayState); the documented
    # entry does not allow IdP-initiated sign-ins, so the page says which setting would.
    s = requests.Session()
    req = shapes.Request(None, stack.url + "/saml/acs", stack.url + "/saml/metadata", "")
    name_id, attrs = shapes.alice("okta", req)
    r = s.post(stack.url + "/saml/acs", data={"SAMLResponse": shapes.SHAPES["okta"].response(
        stack.keys["okta"], req, name_id, attrs)}, headers=HTML, allow_redirects=False, timeout=15)
    assert r.status_code == 400, r.text[:500]
    assert "allow_idp_initiated" in html.unescape(r.text), html.unescape(r.text)[-3000:]
    assert s.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 401


@pytest.mark.parametrize("idp,subject", [("adfs", "achen@corp.example"), ("entra", shapes.ALICE_OBJECT_ID)])
def test_an_encrypted_nameid_from_adfs_or_entra_signs_alice_in(stack, idp, subject):
    # ADFS and Entra ID can encrypt the NameID to the SP certificate (EncryptedID): ADFS inside
    # its encrypted assertion, Entra ID in a plain signed one. The gateway decrypts it with its
    # key, as it decrypts an EncryptedAssertion, and reads the NameID as usual.
    s = requests.Session()
    req = stack.start(s, idp)
    name_id, attrs = shapes.alice(idp, req)
    posted = shapes.SHAPES[idp].response(stack.keys[idp], req, name_id, attrs, encrypt_name_id=True)
    if idp == "entra":  # the assertion is in clear: only the NameID is hidden
        xml = base64.b64decode(posted).decode()
        assert "EncryptedID" in xml and "NameID" not in xml.replace("EncryptedID", ""), xml[:3000]
    r = stack.post(s, posted, req)
    assert r.status_code in (302, 303), html.unescape(r.text)[:1500]
    who = s.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).json()
    assert (who["subject"], who["name_id"], who["name_id_format"]) == (subject, "alice.chen@corp.example",
                                                                       shapes.EMAIL), who
    assert [(g["project"], g["role"]) for g in who["role_grants"]] == [("vision", "data-scientist")], who


def test_a_shibboleth_nameid_for_another_sp_is_refused(stack):
    # The persistent NameID carries SPNameQualifier = the SP it was issued for; one issued for
    # another SP of the same IdP is not ours to accept, even signed and addressed to us.
    s = requests.Session()
    req = stack.start(s, "shibboleth")
    name_id, attrs = shapes.alice("shibboleth", req)
    assert name_id.sp_name_qualifier == req.sp_entity_id
    name_id.sp_name_qualifier = "https://wiki.uni.example/shibboleth"
    r = stack.post(s, shapes.SHAPES["shibboleth"].response(stack.keys["shibboleth"], req, name_id, attrs), req)
    assert r.status_code == 403, r.text[:500]
    assert s.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 401
    failure = stack.wait_audit(lambda e: e["type"] == "login.failure" and e["idp"] == "shibboleth"
                               and e["code_number"] == 4040)
    assert failure["code"] == "subject.sp_name_qualifier", failure
    assert "'https://wiki.uni.example/shibboleth'" in failure["message"], failure
    assert f"'{req.sp_entity_id}'" in failure["message"], failure
