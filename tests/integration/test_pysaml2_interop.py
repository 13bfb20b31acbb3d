"""Interop with a real, independent IdP: pysaml2 (Debian's python3-pysaml2) signs with the
xmlsec1 program; claimgate verifies with its own verifier. Both directions: the IdP loads our
metadata and accepts our signed AuthnRequests."""
import base64
import functools
import re
import subprocess
import urllib.parse

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, sigver, xmldsig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID

from conftest import ACS, IDP_ENTITY, SP_ENTITY, run

AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
AES128_CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
TRIPLEDES = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc"
SCHEMAS = "/usr/lib/python3/dist-packages/saml2/data/schemas"

IDENTITY = {"mail": ["alice@example.org"], "givenName": ["Alice"], "eduPersonAffiliation": ["member", "staff"]}


def authn_request(env, binding="redirect"):
    """Our AuthnRequest, as the IdP receives it; returns (request id, parsed request)."""
    proc = run(["saml", "request", "--config", str(env.config), "--binding", binding], check=True)
    request_id = proc.stderr.split("request id: ")[1].split()[0]
    return request_id, proc.stdout.strip()


def response(env, request_id, *, sign_response=False, sign_assertion=True, encrypt=None,
             sign_alg=xmldsig.SIG_RSA_SHA256, digest_alg=xmldsig.DIGEST_SHA256, identity=IDENTITY):
    """A Response from the pysaml2 IdP. `encrypt` is an xmlenc content algorithm URI or None."""
    kwargs = {}
    if encrypt:
        # pysaml2 7.0.1 encrypts with 3DES unless told otherwise: set the algorithm and session key.
        kwargs = {"encrypt_assertion": True, "encrypt_cert_assertion": env.sp_crt.read_text()}
        session_key = "aes-256" if "256" in encrypt else "aes-128"
        original_template = sigver.pre_encryption_part
        original_encrypt = env.idp.sec.encrypt_assertion
        import saml2.entity
        saml2.entity.pre_encryption_part = functools.partial(original_template, msg_enc=encrypt)
        env.idp.sec.encrypt_assertion = functools.partial(original_encrypt, key_type=session_key)
    try:
        resp = env.idp.create_authn_response(
            identity, in_response_to=request_id, destination=ACS, sp_entity_id=SP_ENTITY,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="alice@example.org"),
            authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": IDP_ENTITY},
            sign_response=sign_response, sign_assertion=sign_assertion,
            sign_alg=sign_alg, digest_alg=digest_alg, **kwargs)
    finally:
        if encrypt:
            import saml2.entity
            saml2.entity.pre_encryption_part = sigver.pre_encryption_part
            env.idp.sec.encrypt_assertion = original_encrypt
    return str(resp)


@pytest.mark.parametrize("sign_response,sign_assertion", [(False, True), (True, False), (True, True)])
def test_accepts_pysaml2_signed_responses(env, sign_response, sign_assertion):
    request_id, _ = authn_request(env)
    xml = response(env, request_id, sign_response=sign_response, sign_assertion=sign_assertion)
    rc, out = env.validate(xml, "--request-id", request_id)
    assert rc == 0, out
    assert out["ok"] is True
    assert out["name_id"] == "alice@example.org"
    assert out["issuer"] == IDP_ENTITY
    assert out["signed"] == {"response": sign_response, "assertion": sign_assertion}
    assert "alice@example.org" in sum(out["attributes"].values(), [])
    assert out["claims"]["email"] == ["alice@example.org"]


@pytest.mark.parametrize("algorithm", [AES256_GCM, AES128_CBC])
def test_accepts_pysaml2_encrypted_assertion(env, algorithm):
    request_id, _ = authn_request(env)
    xml = response(env, request_id, sign_response=True, encrypt=algorithm)
    assert "EncryptedAssertion" in xml and algorithm in xml and "alice@example.org</" not in xml
    rc, out = env.validate(xml, "--request-id", request_id, "--decrypt-key", str(env.sp_key))
    assert rc == 0, out
    assert out["encrypted"] is True
    assert out["name_id"] == "alice@example.org"
    decrypt = [c for c in out["checks"] if c["check"] == "assertion.decrypt"][0]
    assert algorithm in decrypt["detail"]


def test_pysaml2_default_tripledes_is_refused_unless_allowed(env):
    # pysaml2 7.0.1's own default (what SATOSA sends too): 3DES-CBC content encryption, whatever
    # the SP's metadata lists. Refused with 3201 naming the per-IdP switch; accepted with it.
    request_id, _ = authn_request(env)
    resp = env.idp.create_authn_response(
        IDENTITY, in_response_to=request_id, destination=ACS, sp_entity_id=SP_ENTITY,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="alice@example.org"),
        authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": IDP_ENTITY},
        sign_response=True, sign_assertion=True, sign_alg=xmldsig.SIG_RSA_SHA256,
        digest_alg=xmldsig.DIGEST_SHA256, encrypt_assertion=True,
        encrypt_cert_assertion=env.sp_crt.read_text())
    xml = str(resp)
    assert TRIPLEDES in xml and "alice@example.org</" not in xml
    rc, out = env.validate(xml, "--request-id", request_id, "--decrypt-key", str(env.sp_key))
    assert rc == 1 and out["code"] == "encryption.algorithm" and out["code_number"] == 3201, out
    assert "set saml.idps[].allow_tripledes for this IdP if it cannot be changed" in out["message"], out
    rc, out = env.validate(xml, "--request-id", request_id, "--decrypt-key", str(env.sp_key), "--allow-tripledes")
    assert rc == 0, out
    assert out["encrypted"] is True and out["name_id"] == "alice@example.org"
    decrypt = [c for c in out["checks"] if c["check"] == "assertion.decrypt"][0]
    assert TRIPLEDES in decrypt["detail"], decrypt


def test_encrypted_assertion_without_key_is_refused(env):
    request_id, _ = authn_request(env)
    xml = response(env, request_id, encrypt=AES256_GCM)
    rc, out = env.validate(xml, "--request-id", request_id)
    assert rc == 1 and out["code"] == "encryption.no_key"


def test_rejects_tampered_pysaml2_response(env):
    request_id, _ = authn_request(env)
    xml = response(env, request_id, sign_response=True, sign_assertion=True)
    # pysaml2 chooses its own prefixes (ns1:NameID): edit whichever it used.
    tampered = re.sub(r"(<[\w]+:NameID[^>]*>)alice@example.org<", r"\1admin@example.org<", xml)
    assert tampered != xml
    rc, out = env.validate(tampered, "--request-id", request_id)
    assert rc == 1
    assert out["code"] == "signature.digest_mismatch"
    assert out["name_id"] is None


def test_rejects_wrong_request_id(env):
    request_id, _ = authn_request(env)
    xml = response(env, request_id)
    rc, out = env.validate(xml, "--request-id", "_not_the_request")
    assert rc == 1 and out["code"] == "response.in_response_to"


def test_rejects_sha1_by_default(env):
    request_id, _ = authn_request(env)
    xml = response(env, request_id, sign_alg=xmldsig.SIG_RSA_SHA1, digest_alg=xmldsig.DIGEST_SHA1)
    rc, out = env.validate(xml, "--request-id", request_id)
    assert rc == 1 and out["code"] == "signature.weak_algorithm"
    rc, out = env.validate(xml, "--request-id", request_id, "--allow-sha1")
    assert rc == 0, out


def test_pinned_clock_far_ahead_rejects_stale_response(env):
    request_id, _ = authn_request(env)
    xml = response(env, request_id)
    rc, out = env.validate(xml, "--request-id", request_id, "--now", "2099-01-01T00:00:00Z", "--ignore-cert-dates")
    assert rc == 1 and out["code"] in ("assertion.too_old", "subject.expired")


def test_idp_loads_our_metadata_and_verifies_our_redirect_request(env):
    request_id, url = authn_request(env, "redirect")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["SigAlg"] == xmldsig.SIG_RSA_SHA256
    # pysaml2 verifies the query-string signature with the certificate from our metadata.
    cert = env.idp.metadata.certs(SP_ENTITY, "spsso", "signing")[0]
    assert sigver.verify_redirect_signature(query, sigver.RSACrypto(None), cert=cert)
    forged = dict(query, RelayState="tampered")
    assert not sigver.verify_redirect_signature(forged, sigver.RSACrypto(None), cert=cert)
    req = env.idp.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
    assert req.message.id == request_id
    assert req.message.assertion_consumer_service_url == ACS
    assert req.message.issuer.text == SP_ENTITY


def test_idp_verifies_our_post_request(env):
    env.idp.config.setattr("idp", "want_authn_requests_signed", True)
    try:
        request_id, html = authn_request(env, "post")
        value = html.split('name="SAMLRequest" value="')[1].split('"')[0]
        req = env.idp.parse_authn_request(value, BINDING_HTTP_POST)
        assert req.message.id == request_id
        assert req.message.signature is not None
        forged = base64.b64encode(base64.b64decode(value).replace(ACS.encode(), b"https://evil.example/acs")).decode()
        with pytest.raises(Exception):
            env.idp.parse_authn_request(forged, BINDING_HTTP_POST)
    finally:
        env.idp.config.setattr("idp", "want_authn_requests_signed", False)


def test_sp_metadata_is_schema_valid(env, tmp_path):
    # The SAML XSDs import xmldsig and xmlenc by URL: map those to pysaml2's local copies.
    catalog = tmp_path / "catalog.xml"
    catalog.write_text(f"""<?xml version="1.0"?>
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <uri name="http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd" uri="file://{SCHEMAS}/xmldsig-core-schema.xsd"/>
  <uri name="http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd" uri="file://{SCHEMAS}/xenc-schema.xsd"/>
  <uri name="http://www.w3.org/2001/xml.xsd" uri="file://{SCHEMAS}/xml.xsd"/>
  <system systemId="http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd" uri="file://{SCHEMAS}/xmldsig-core-schema.xsd"/>
  <system systemId="http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd" uri="file://{SCHEMAS}/xenc-schema.xsd"/>
  <system systemId="http://www.w3.org/2001/xml.xsd" uri="file://{SCHEMAS}/xml.xsd"/>
</catalog>""")
    proc = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", f"{SCHEMAS}/saml-schema-metadata-2.0.xsd",
                           str(env.sp_metadata)], capture_output=True, text=True,
                          env={"XML_CATALOG_FILES": str(catalog), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "validates" in proc.stderr


def test_decode_turns_redirect_url_into_xml(env, tmp_path):
    request_id, url = authn_request(env, "redirect")
    path = tmp_path / "url.txt"
    path.write_text(url)
    proc = run(["saml", "decode", str(path)], check=True)
    assert request_id in proc.stdout and "<samlp:AuthnRequest" in proc.stdout
    assert "signed with" in proc.stderr
