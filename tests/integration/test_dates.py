"""Dates past 2262 (issue 20): a real pysaml2 IdP whose certificate has no expiry (RFC 5280's
99991231235959Z) signs in, and `claimgate check` prints the certificate's real dates; an
assertion valid until 2999 (Conditions and SubjectConfirmationData) with a session until 9999 is
accepted, not "expired at 1830". The certificate is made at test time with python3-cryptography
(pysaml2 depends on it)."""
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import saml, xmldsig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID

from conftest import ACS, IDP_ENTITY, SP_ENTITY, Env, run

NO_EXPIRY = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)


def forever_pair(directory):
    """An RSA-2048 key and a self-signed certificate valid from yesterday to 9999-12-31T23:59:59Z."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.org")])
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(NO_EXPIRY)
            .sign(key, hashes.SHA256()))
    key_path, crt_path = directory / "idp-forever.key", directory / "idp-forever.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, crt_path, start


def signed_response(env, request_id, **kwargs):
    return str(env.idp.create_authn_response(
        {"mail": ["alice@example.org"]}, in_response_to=request_id, destination=ACS, sp_entity_id=SP_ENTITY,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="alice@example.org"),
        authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": IDP_ENTITY},
        sign_response=False, sign_assertion=True, sign_alg=xmldsig.SIG_RSA_SHA256,
        digest_alg=xmldsig.DIGEST_SHA256, **kwargs))


def request_id_of(env):
    proc = run(["saml", "request", "--config", str(env.config), "--binding", "redirect"], check=True)
    return proc.stderr.split("request id: ")[1].split()[0]


def test_idp_certificate_without_expiry_signs_in_and_check_shows_9999(tmp_path):
    key, crt, start = forever_pair(tmp_path)
    env = Env(tmp_path, idp_pair=(key, crt))
    request_id = request_id_of(env)
    rc, out = env.validate(signed_response(env, request_id), "--request-id", request_id)
    assert rc == 0, out
    assert out["ok"] is True and out["name_id"] == "alice@example.org"

    config = tmp_path / "check.yaml"
    config.write_text(env.config.read_text() + f"keys: {tmp_path / 'keyring'}\n")
    check = run(["check", "--config", str(config)])
    lines = [l for l in check.stdout.splitlines() if "signing certificate" in l and l.startswith("idp pysaml2")]
    assert len(lines) == 1, check.stdout + check.stderr
    assert lines[0].endswith(" to 9999-12-31T23:59:59Z (no expiry)"), lines[0]
    assert f"valid from {start.strftime('%Y-%m-%dT%H:%M:%SZ')} " in lines[0], lines[0]
    assert "1783" not in check.stdout and "expired" not in check.stdout, check.stdout


def test_assertion_valid_until_2999_with_session_until_9999_is_accepted(tmp_path, monkeypatch):
    key, crt, _ = forever_pair(tmp_path)
    env = Env(tmp_path, idp_pair=(key, crt))
    # pysaml2 writes its policy's lifetime as Conditions and SubjectConfirmationData NotOnOrAfter.
    import saml2.assertion
    monkeypatch.setattr(saml2.assertion.Policy, "not_on_or_after", lambda self, sp: "2999-08-23T06:57:01Z")
    request_id = request_id_of(env)
    xml = signed_response(env, request_id, session_not_on_or_after="9999-12-31T23:59:59Z")
    assert xml.count('NotOnOrAfter="2999-08-23T06:57:01Z"') == 2, xml
    rc, out = env.validate(xml, "--request-id", request_id)
    assert rc == 0, out
    assert out["not_on_or_after"] == "2999-08-23T06:57:01Z"
    assert out["session_not_on_or_after"] == "9999-12-31T23:59:59Z"
    # Seen from the year 3000 it is refused (too old), and the sentence names the real year.
    rc, out = env.validate(xml, "--request-id", request_id, "--now", "3000-01-01T00:00:00Z")
    assert rc == 1 and out["code"] == "assertion.too_old", out
    assert "before now (3000-01-01T00:00:00Z)" in out["message"], out
