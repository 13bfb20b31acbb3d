"""Who the user is (saml.idps[].user_id, attribute_map): a transient NameID (a new value at every
sign-in, SimpleSAMLphp's default) is never the user id; the user id comes from an attribute, so
X-Claimgate-User stays the same across sign-ins, and Single Logout still names the NameID."""
import base64
import json
import re
import urllib.parse
import zlib

import pytest
import requests

from conftest import claimgate_bin, run
from gateway_stack import DemoStack
from demo_stack import DEMO_USERS

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("identity")
    # alice's IdP sends a transient NameID; the others their username (unspecified).
    users = {u: dict(v, password=f"pw-{u}") for u, v in DEMO_USERS.items()}
    users["alice"]["name_id_format"] = "transient"
    (d / "users.json").write_text(json.dumps(users))
    s = DemoStack(d, claimgate_bin(), store="sqlite", idps=("corp", "plain"))
    # corp takes the user id from an attribute (renamed by attribute_map); plain keeps the
    # default, [nameid].
    cfg = s.config.read_text().replace(
        "{name: corp, metadata_file: idp-corp-metadata.xml}",
        "{name: corp, metadata_file: idp-corp-metadata.xml, user_id: [login, nameid], "
        "attribute_map: {uid: login, displayName: full_name}}")
    # The refusal tests read the operator's words (the sources tried) on the page.
    cfg += "pages: {show_details: true}\n"
    assert "attribute_map" in cfg
    s.config.write_text(cfg)
    s.stop_gateway()
    s.start_gateway()
    yield s
    s.stop()


def sign_in(stack, user, idp):
    sess = requests.Session()
    r = stack.signin(sess, user, "/", idp=idp)
    return sess, r


def whoami(stack, sess):
    r = sess.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=10)
    assert r.status_code == 200, r.text[:300]
    return r.json()


def test_transient_nameid_gives_the_same_user_at_every_signin(stack):
    seen = []
    for _ in range(2):
        sess, r = sign_in(stack, "alice", "corp")
        assert r.status_code == 200, r.text[:500]
        echo = sess.get(stack.url + "/echo", headers=JSON, timeout=10).json()["headers"]
        who = whoami(stack, sess)
        seen.append((echo["X-Claimgate-User"], who["subject"], who["name_id"], who["name_id_format"]))
    (user1, sub1, nid1, fmt1), (user2, sub2, nid2, fmt2) = seen
    assert user1 == user2 == sub1 == sub2 == "alice"
    assert fmt1 == fmt2 == TRANSIENT
    assert nid1.startswith("_") and nid2.startswith("_") and nid1 != nid2  # new at each sign-in
    # The gateway's log names the user id, not the NameID.
    signins = [line for line in stack.gateway_log().splitlines() if "signin.ok" in line and " idp=corp " in line]
    assert len(signins) >= 2 and all(re.search(r'subject="?alice"? ', x) for x in signins), signins
    assert nid1 not in stack.gateway_log() and nid2 not in stack.gateway_log()


def test_attribute_map_renames_before_the_policy_sees_claims(stack):
    sess, r = sign_in(stack, "bob", "corp")
    assert r.status_code == 200, r.text[:500]
    who = whoami(stack, sess)
    names = {c["name"] for c in who["claims"]}
    assert {"login", "full_name"} <= names and "uid" not in names and "displayName" not in names
    assert who["subject"] == "bob"


def test_transient_nameid_without_user_attribute_is_refused(stack):
    sess, r = sign_in(stack, "alice", "plain")
    assert r.status_code == 403
    assert "4039 claims.no_user_id" in r.text
    assert "transient" in r.text and "saml.idps[plain].user_id" in r.text
    assert re.search(r"Attributes that arrived: [^.]*\buid\b", r.text), r.text
    assert sess.cookies.get("cg_session") is None
    # Persistent-enough NameIDs (unspecified) keep today's behaviour.
    sess, r = sign_in(stack, "bob", "plain")
    assert r.status_code == 200
    assert whoami(stack, sess)["subject"] == "bob"


def test_single_logout_names_the_nameid_not_the_user_id(stack):
    sess, _ = sign_in(stack, "alice", "corp")
    nid = whoami(stack, sess)["name_id"]
    r = stack.signout(sess)
    assert r.status_code == 200
    to_idp = [h.headers["Location"] for h in r.history if "/slo?SAMLRequest=" in h.headers.get("Location", "")]
    assert to_idp
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to_idp[0]).query))
    xml = zlib.decompress(base64.b64decode(q["SAMLRequest"]), -15).decode()
    assert f">{nid}</saml:NameID>" in xml and f'Format="{TRANSIENT}"' in xml
    assert ">alice<" not in xml


def test_idp_logout_by_transient_nameid_ends_only_that_session(stack):
    from saml2 import BINDING_HTTP_REDIRECT, xmldsig
    from saml2.saml import NameID

    first, _ = sign_in(stack, "alice", "corp")
    second, _ = sign_in(stack, "alice", "corp")
    nid = whoami(stack, first)["name_id"]
    server = stack.idps[0].saml_server(stack)
    # No SessionIndex: the transient NameID alone names the session.
    _, req = server.create_logout_request(stack.url + "/saml/slo", server.config.entityid,
                                          name_id=NameID(format=TRANSIENT, text=nid))
    info = server.apply_binding(BINDING_HTTP_REDIRECT, str(req), stack.url + "/saml/slo", "r",
                                sign=True, sigalg=xmldsig.SIG_RSA_SHA256)
    r = requests.get(dict(info["headers"])["Location"], allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text[:300]
    assert first.get(stack.url + "/echo", headers=JSON, timeout=10).status_code == 401
    assert second.get(stack.url + "/echo", headers=JSON, timeout=10).status_code == 200
    assert re.search(r'logout.idp .*idp=corp subject="?alice"? sessions_ended=1', stack.gateway_log())


def test_check_warns_when_the_idp_offers_only_transient_nameids(stack, tmp_path):
    md = (stack.dir / "idp-plain-metadata.xml").read_text()
    assert "nameid-format:unspecified" in md
    (stack.dir / "idp-plain-metadata.xml.bak").write_text(md)
    try:
        (stack.dir / "idp-plain-metadata.xml").write_text(
            md.replace("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", TRANSIENT))
        proc = run(["check", "--config", str(stack.config)])
        assert "saml.idps[plain]: the IdP's metadata advertises only transient NameIDs" in proc.stdout, proc.stdout
        assert "saml.idps[corp]" not in proc.stdout.split("transient")[0]  # corp names an attribute
    finally:
        (stack.dir / "idp-plain-metadata.xml").write_text(md)
