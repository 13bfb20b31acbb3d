"""Signature shapes beyond RSA-SHA256 with a certificate, against a real `claimgate serve`:
an IdP signing with RSA-PSS (sha256-rsa-MGF1), an IdP whose metadata publishes its key as a
ds:KeyValue (no certificate), and an IdP with an EC key that signs its assertions with
ECDSA-SHA256 (xmlsec1) and its logout messages on the HTTP-Redirect binding as r||s; the gateway
itself has an EC SP key, so its own Redirect signatures are ECDSA r||s too, checked here with
the `cryptography` package (OpenSSL) as an IdP would check them.

xmlsec1 1.2.37 (Debian 12) cannot make RSA-PSS signatures (its transforms list no rsa-pss;
1.3 added them): the PSS response is signed by xmlsec1 with RSA-SHA256 for the digest, then its
SignedInfo, its SignatureMethod changed, is canonicalized by xmllint --exc-c14n and signed by
`openssl dgst -sigopt rsa_padding_mode:pss`."""
import base64
import html
import json
import pathlib
import re
import subprocess
import time
import urllib.parse
import uuid
import zlib

import pytest
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

import idp_shapes as shapes
from conftest import claimgate_bin
from gateway_stack import free_port, wait_http  # noqa: E402 (puts demo_stack on the path)
from demo_stack import make_pair

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
DS = "http://www.w3.org/2000/09/xmldsig#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
PSS_SHA256 = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


def ec_pair(directory, name, cn):
    key, crt = directory / f"{name}.key", directory / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-sha256", "-days", "30", "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    key.chmod(0o600)
    return key, crt


def xmlsec_sign(work, xml, element_id, key, crt, method):
    """`xml` with an enveloped signature (SignatureMethod `method`) of the element `element_id`,
    after its Issuer, made by xmlsec1."""
    start = xml.index(f'ID="{element_id}"')
    at = re.compile(r"</(\w+:)?Issuer>").search(xml, start).end()
    template = shapes._signature_template(element_id, False).replace(RSA_SHA256, method, 1)
    src, out = work / f"tpl-{element_id}.xml", work / f"signed-{element_id}.xml"
    src.write_text(xml[:at] + template + xml[at:])
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{key},{crt}",
                    "--id-attr:ID", f"{shapes.SAMLP}:Response", "--id-attr:ID", f"{shapes.SAML}:Assertion",
                    "--output", str(out), str(src)], check=True, capture_output=True)
    signed = re.sub(r"^<\?xml[^>]*\?>\s*", "", out.read_text())
    src.unlink()
    out.unlink()
    return signed.rstrip("\n")


def pss_resign(xml, key, salt="digest"):
    """The one signature in `xml` (RSA-SHA256 by xmlsec1) made again with RSA-PSS: SignatureMethod
    sha256-rsa-MGF1, the SignedInfo canonicalized by xmllint and signed by openssl dgst."""
    xml = xml.replace(RSA_SHA256, PSS_SHA256, 1)
    si = re.search(r"<ds:SignedInfo>.*?</ds:SignedInfo>", xml, re.S).group(0)
    # Exclusive c14n of a subtree depends only on the namespaces it uses: the SignedInfo on its
    # own, with ds declared, canonicalizes to the same octets.
    standalone = si.replace("<ds:SignedInfo>", f'<ds:SignedInfo xmlns:ds="{DS}">', 1)
    c14n = subprocess.run(["xmllint", "--exc-c14n", "-"], input=standalone.encode(), capture_output=True,
                          check=True).stdout
    assert c14n.startswith(f'<ds:SignedInfo xmlns:ds="{DS}">'.encode()), c14n[:200]
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key), "-sigopt", "rsa_padding_mode:pss",
                          "-sigopt", f"rsa_pss_saltlen:{salt}", "-sigopt", "rsa_mgf1_md:sha256"],
                         input=c14n, capture_output=True, check=True).stdout
    value = base64.b64encode(sig).decode()
    return re.sub(r"<ds:SignatureValue>[^<]*</ds:SignatureValue>", f"<ds:SignatureValue>{value}</ds:SignatureValue>",
                  xml, count=1)


def rsa_key_value(crt_path):
    n = x509.load_pem_x509_certificate(crt_path.read_bytes()).public_key().public_numbers()
    b64 = lambda i: base64.b64encode(i.to_bytes((i.bit_length() + 7) // 8, "big")).decode()  # noqa: E731
    return (f'<ds:KeyValue xmlns:ds="{DS}"><ds:RSAKeyValue><ds:Modulus>{b64(n.n)}</ds:Modulus>'
            f"<ds:Exponent>{b64(n.e)}</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>")


class SigningKeys(shapes.Keys):
    """shapes.Keys whose signature is made as `mode` says: "pss", "ecdsa", or "keyvalue" (RSA-SHA256
    with the signer's own KeyValue in place of its certificate, as an attacker would send)."""

    def __init__(self, work, key, crt, mode, salt="digest"):
        super().__init__(work, key, crt, None)
        self.mode, self.salt = mode, salt

    def sign(self, xml, element_id, issuer_prefix, key_name=False, sha1=False):
        if self.mode == "ecdsa":
            return xmlsec_sign(self.work, xml, element_id, self.key, self.crt, ECDSA_SHA256)
        signed = super().sign(xml, element_id, issuer_prefix, key_name, sha1)
        if self.mode == "pss":
            return pss_resign(signed, self.key, self.salt)
        return re.sub(r"<ds:KeyInfo>.*?</ds:KeyInfo>", f"<ds:KeyInfo>{rsa_key_value(self.crt)}</ds:KeyInfo>",
                      signed, count=1, flags=re.S)


def shape(name):
    return shapes.Shape(name, f"https://{name}.idp.example/metadata", f"https://{name}.idp.example/sso",
                        "saml2:", "saml2p:", sign_response=False, sign_assertion=True)


SHAPES = {n: shape(n) for n in ("pss", "kv", "ec")}


class Stack:
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.procs = []
        self.sp_key, self.sp_crt = ec_pair(self.dir, "sp", "claimgate-sp ec")
        self.idp = {}
        for name in ("pss", "kv"):
            self.idp[name] = make_pair(self.dir, f"idp-{name}", f"{name} signing")
        self.idp["ec"] = ec_pair(self.dir, "idp-ec", "ec signing")
        self.attacker = make_pair(self.dir, "attacker", "kv signing")
        for name, (key, crt) in self.idp.items():
            md = SHAPES[name].metadata(crt.read_text())
            if name == "kv":
                # The key alone: a ds:KeyValue, no certificate.
                md = re.sub(r"<ds:X509Data>.*?</ds:X509Data>", rsa_key_value(crt), md, flags=re.S)
                assert "X509Certificate" not in md
            if name == "ec":
                md = md.replace("<md:NameIDFormat>", f'<md:SingleLogoutService Binding="{REDIRECT}" '
                                f'Location="https://ec.idp.example/slo"/><md:NameIDFormat>', 1)
            (self.dir / f"{name}-metadata.xml").write_text(md)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        idps = "".join(f"    - {{name: {n}, metadata_file: {n}-metadata.xml}}\n" for n in SHAPES)
        self.config = self.dir / "claimgate.yaml"
        self.config.write_text(
            f"listen: 127.0.0.1:{self.port}\npublic_url: {self.url}\ninsecure_http: true\n"
            "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt}\n"
            f"  idps:\n{idps}"
            "keys: keyring\nstore: {kind: memory}\n")
        self.check = subprocess.run([claimgate_bin(), "check", "--config", str(self.config)], capture_output=True,
                                    text=True, cwd=self.dir)
        assert self.check.returncode == 0, self.check.stdout + self.check.stderr
        log = open(self.dir / "gateway.log", "ab")
        self.gateway = subprocess.Popen([claimgate_bin(), "serve", "--config", str(self.config)], stdout=log,
                                        stderr=subprocess.STDOUT, cwd=self.dir)
        self.procs.append(self.gateway)
        wait_http(self.url + "/healthz", self.gateway)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
            p.wait(15)

    def start(self, session, idp):
        r = session.get(f"{self.url}/saml/login?idp={idp}&rd=/", headers=HTML, allow_redirects=False, timeout=15)
        assert r.status_code == 302, r.text[:500]
        return r.headers["Location"], shapes.parse_redirect(r.headers["Location"])

    def attempt(self, idp, keys):
        s = requests.Session()
        _, req = self.start(s, idp)
        name_id, attrs = shapes.alice("google", req)
        xml = SHAPES[idp].response(keys, req, name_id, attrs)
        r = s.post(self.url + "/saml/acs", data={"SAMLResponse": xml, "RelayState": req.relay_state},
                   headers=HTML, allow_redirects=False, timeout=15)
        return s, r

    def whoami(self, s):
        return s.get(self.url + "/.claimgate/whoami", headers=JSON, timeout=15)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = Stack(tmp_path_factory.mktemp("sigshapes"))
    yield st
    st.stop()


def sp_public_key(stack):
    return x509.load_pem_x509_certificate(stack.sp_crt.read_bytes()).public_key()


def verify_redirect_rs(stack, location, param):
    """Checks the gateway's Redirect signature on `location` as an IdP does: SigAlg ecdsa-sha256,
    Signature r||s (64 bytes for P-256) over the query as sent."""
    query = urllib.parse.urlparse(location).query
    parts = dict(p.split("=", 1) for p in query.split("&"))
    assert urllib.parse.unquote(parts["SigAlg"]) == ECDSA_SHA256, parts["SigAlg"]
    raw = base64.b64decode(urllib.parse.unquote(parts["Signature"]))
    assert len(raw) == 64, len(raw)
    signed = "&".join(f"{k}={parts[k]}" for k in (param, "RelayState", "SigAlg") if k in parts).encode()
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    sp_public_key(stack).verify(der, signed, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        sp_public_key(stack).verify(der, signed + b"x", ec.ECDSA(hashes.SHA256()))


def test_an_rsa_pss_signed_assertion_signs_in(stack):
    key, crt = stack.idp["pss"]
    s, r = stack.attempt("pss", SigningKeys(stack.dir, key, crt, "pss"))
    assert r.status_code in (302, 303), html.unescape(r.text)[:1500]
    who = stack.whoami(s)
    assert who.status_code == 200 and who.json()["subject"] == "alice.chen@corp.example", who.text
    # The same signature with another salt length than the hash's is not the algorithm's.
    s, r = stack.attempt("pss", SigningKeys(stack.dir, key, crt, "pss", salt="max"))
    assert r.status_code == 403 and "3108" in r.text, html.unescape(r.text)[:1500]
    assert stack.whoami(s).status_code == 401


def test_metadata_with_a_key_value_is_trusted_and_a_message_key_value_never(stack):
    # claimgate check says the key has no dates.
    assert "key without certificate: no validity dates" in stack.check.stdout, stack.check.stdout
    key, crt = stack.idp["kv"]
    s, r = stack.attempt("kv", shapes.Keys(stack.dir, key, crt, None))
    assert r.status_code in (302, 303), html.unescape(r.text)[:1500]
    assert stack.whoami(s).status_code == 200
    # Also when the IdP's KeyInfo carries its own KeyValue rather than a certificate.
    s, r = stack.attempt("kv", SigningKeys(stack.dir, key, crt, "keyvalue"))
    assert r.status_code in (302, 303), html.unescape(r.text)[:1500]
    # The attacker signs with their key and puts it in KeyInfo as a KeyValue: refused.
    a_key, a_crt = stack.attacker
    s, r = stack.attempt("kv", SigningKeys(stack.dir, a_key, a_crt, "keyvalue"))
    assert r.status_code == 403, r.text[:500]
    assert "3109" in r.text, html.unescape(r.text)[:1500]
    assert stack.whoami(s).status_code == 401


def test_ec_idp_and_ec_sp_over_the_redirect_binding(stack):
    key, crt = stack.idp["ec"]
    s = requests.Session()
    location, req = stack.start(s, "ec")
    # Our AuthnRequest, signed with the EC SP key: r||s, as the IdP verifies it.
    verify_redirect_rs(stack, location, "SAMLRequest")
    name_id, attrs = shapes.alice("google", req)
    xml = SHAPES["ec"].response(SigningKeys(stack.dir, key, crt, "ecdsa"), req, name_id, attrs)
    assert ECDSA_SHA256 in base64.b64decode(xml).decode()
    r = s.post(stack.url + "/saml/acs", data={"SAMLResponse": xml, "RelayState": req.relay_state},
               headers=HTML, allow_redirects=False, timeout=15)
    assert r.status_code in (302, 303), html.unescape(r.text)[:1500]
    assert stack.whoami(s).status_code == 200

    # The IdP signs a LogoutRequest on the Redirect binding: ECDSA-SHA256, r||s.
    idp_key = serialization.load_pem_private_key(key.read_bytes(), None)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def logout_url(encoding, relay):
        msg = (f'<samlp:LogoutRequest xmlns:samlp="{shapes.SAMLP}" xmlns:saml="{shapes.SAML}" '
               f'ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{now}" Destination="{stack.url}/saml/slo">'
               f"<saml:Issuer>{SHAPES['ec'].entity_id}</saml:Issuer>"
               f'<saml:NameID Format="{shapes.UNSPECIFIED}">alice.chen@corp.example</saml:NameID>'
               "</samlp:LogoutRequest>")
        deflated = zlib.compress(msg.encode())[2:-4]
        q = (f"SAMLRequest={urllib.parse.quote(base64.b64encode(deflated).decode(), safe='')}"
             f"&RelayState={relay}&SigAlg={urllib.parse.quote(ECDSA_SHA256, safe='')}")
        der = idp_key.sign(q.encode(), ec.ECDSA(hashes.SHA256()))
        if encoding == "rs":
            r_, s_ = decode_dss_signature(der)
            sig = r_.to_bytes(32, "big") + s_.to_bytes(32, "big")
        elif encoding == "tampered":
            r_, s_ = decode_dss_signature(der)
            sig = r_.to_bytes(32, "big") + (s_ ^ 1).to_bytes(32, "big")
        else:
            sig = der
        return f"{stack.url}/saml/slo?{q}&Signature={urllib.parse.quote(base64.b64encode(sig).decode(), safe='')}"

    r = requests.get(logout_url("tampered", "r0"), headers=HTML, allow_redirects=False, timeout=15)
    assert r.status_code == 400 and "4034" in r.text, r.text[:800]
    assert stack.whoami(s).status_code == 200
    r = requests.get(logout_url("rs", "r1"), headers=HTML, allow_redirects=False, timeout=15)
    assert r.status_code == 302, html.unescape(r.text)[:1500]
    back = r.headers["Location"]
    assert back.startswith("https://ec.idp.example/slo?SAMLResponse="), back
    # Our LogoutResponse, signed with the EC SP key, is r||s too.
    verify_redirect_rs(stack, back, "SAMLResponse")
    assert stack.whoami(s).status_code == 401
    # A DER value, which some senders put, is accepted as well.
    r = requests.get(logout_url("der", "r2"), headers=HTML, allow_redirects=False, timeout=15)
    assert r.status_code == 302, html.unescape(r.text)[:1500]
