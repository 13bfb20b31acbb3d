"""3DES from a real pysaml2 IdP through a real gateway: pysaml2 7.0.1 (and SATOSA, built on it)
encrypts assertions with tripledes-cbc by default whatever the SP's metadata lists. One gateway
trusts two pysaml2 IdPs; only the one with saml.idps[].allow_tripledes may use 3DES, and check
and serve warn once about it."""
import base64
import json
import pathlib
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import claimgate_bin, make_pair, run
from gateway_stack import free_port, wait_http  # noqa: E402 (puts demo_stack on the path)
from demo_stack import EXAMPLES, PY

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
TRIPLEDES = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc"
POLICY = pathlib.Path(__file__).resolve().parents[2] / "examples" / "policy" / "ml-platform.yaml"
IDPS = {"satosa": "https://satosa.example.org/idp.xml", "corp": "https://corp.example.org/idp.xml"}


def idp_metadata(entity, crt):
    cert = "".join(l for l in crt.read_text().splitlines() if "-----" not in l)
    base = entity.rsplit("/", 1)[0]
    return ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}"><md:IDPSSODescriptor '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing">'
            f'<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>'
            '</md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f'Location="{base}/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>')


def pysaml2_idp(entity, key, crt, sp_metadata):
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_EMAILADDRESS
    from saml2.server import Server
    conf = IdPConfig()
    conf.load({
        "entityid": entity,
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(entity.rsplit("/", 1)[0] + "/sso", BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None,
                                   "name_form": NAME_FORMAT_BASIC}},
        }},
        "key_file": str(key), "cert_file": str(crt),
        "metadata": {"local": [str(sp_metadata)]},
        "xmlsec_binary": "/usr/bin/xmlsec1", "delete_tmpfiles": True,
    })
    return Server(config=conf)


class Stack:
    def __init__(self, d):
        self.dir, self.procs = d, []
        self.sp_key, self.sp_crt = make_pair(d, "sp", "claimgate-sp")
        port_file = d / "upstream.port"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._spawn("upstream", [PY, str(EXAMPLES / "demo-upstream" / "echo_upstream.py"), "--port-file",
                                 str(port_file), "--jwks-url", self.url + "/.well-known/jwks.json"])
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert time.monotonic() < deadline, "the echo upstream did not start"
            time.sleep(0.02)
        idp_keys = {}
        for name, entity in IDPS.items():
            idp_keys[name] = make_pair(d, f"idp-{name}", name)
            (d / f"{name}-metadata.xml").write_text(idp_metadata(entity, idp_keys[name][1]))
        (d / "policy.yaml").write_text(POLICY.read_text())
        self.config = d / "claimgate.yaml"
        self.config.write_text(
            f"listen: 127.0.0.1:{self.port}\npublic_url: {self.url}\ninsecure_http: true\n"
            "saml:\n  sp: {signing_key: sp.key, signing_cert: sp.crt}\n  idps:\n"
            "    - {name: satosa, metadata_file: satosa-metadata.xml, allow_tripledes: true}\n"
            "    - {name: corp, metadata_file: corp-metadata.xml}\n"
            "keys: keyring\nstore: {kind: memory}\n"
            f'routes:\n  - {{"name": "app", "prefix": "/", "upstream": "http://127.0.0.1:{int(port_file.read_text())}"}}\n'
            "policy_file: policy.yaml\n")
        sp_metadata = d / "sp-metadata.xml"
        sp_metadata.write_text(run(["saml", "metadata", "--config", str(self.config)], check=True).stdout)
        self.idps = {n: pysaml2_idp(e, *idp_keys[n], sp_metadata) for n, e in IDPS.items()}
        self.check = subprocess.run([claimgate_bin(), "check", "--config", str(self.config)],
                                    capture_output=True, text=True)
        self.gateway = self._spawn("gateway", [claimgate_bin(), "serve", "--config", str(self.config)])
        wait_http(self.url + "/healthz", self.gateway)

    def _spawn(self, name, args):
        p = subprocess.Popen(args, stdout=open(self.dir / f"{name}.log", "ab"), stderr=subprocess.STDOUT, cwd=self.dir)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            p.wait(15)

    def signin(self, idp):
        """Alice's sign-in through `idp`, its Response as pysaml2 makes it by default (3DES);
        returns (session, the ACS's answer, the Response XML)."""
        from saml2 import BINDING_HTTP_REDIRECT, saml, xmldsig
        from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
        s = requests.Session()
        r = s.get(f"{self.url}/saml/login?idp={idp}&rd=/", headers=HTML, allow_redirects=False, timeout=15)
        assert r.status_code == 302, r.text[:500]
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
        server = self.idps[idp]
        req = server.parse_authn_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT).message
        resp = server.create_authn_response(
            {"mail": ["alice@example.org"], "groups": ["ml-vision-ds"]}, in_response_to=req.id,
            destination=req.assertion_consumer_service_url, sp_entity_id=req.issuer.text,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="alice@example.org"),
            authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": IDPS[idp]},
            sign_response=True, sign_assertion=True, sign_alg=xmldsig.SIG_RSA_SHA256,
            digest_alg=xmldsig.DIGEST_SHA256, encrypt_assertion=True,
            encrypt_cert_assertion=self.sp_crt.read_text())
        xml = str(resp)
        posted = s.post(self.url + "/saml/acs", data={"SAMLResponse": base64.b64encode(xml.encode()).decode(),
                                                      "RelayState": q.get("RelayState", "")},
                        headers=HTML, allow_redirects=False, timeout=15)
        return s, posted, xml

    def audit(self, match, timeout=10):
        path = self.dir / "audit" / "audit.jsonl"
        deadline = time.monotonic() + timeout
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            found = [r for r in map(json.loads, lines) if match(r)]
            if found:
                return found[0]
            assert time.monotonic() < deadline, "no such audit record"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = Stack(tmp_path_factory.mktemp("tripledes"))
    yield st
    st.stop()


def test_the_idp_with_allow_tripledes_signs_in_with_pysaml2s_default_encryption(stack):
    s, r, xml = stack.signin("satosa")
    assert TRIPLEDES in xml and "EncryptedAssertion" in xml, xml[:2000]
    assert r.status_code in (302, 303), r.text[:1500]
    who = s.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15)
    assert who.status_code == 200 and who.json()["subject"] == "alice@example.org", who.text[:500]
    assert who.json()["idp"] == "satosa"


def test_another_idps_tripledes_is_refused_naming_the_switch(stack):
    s, r, xml = stack.signin("corp")
    assert TRIPLEDES in xml
    assert r.status_code == 403, r.text[:1500]
    assert s.get(stack.url + "/.claimgate/whoami", headers=JSON, timeout=15).status_code == 401
    failure = stack.audit(lambda e: e["type"] == "login.failure" and e["idp"] == "corp")
    assert failure["code_number"] == 3201 and failure["code"] == "encryption.algorithm", failure
    assert TRIPLEDES in failure["message"], failure
    assert "set saml.idps[].allow_tripledes for this IdP if it cannot be changed" in failure["message"], failure


def test_check_and_serve_warn_once_about_the_idp_that_allows_tripledes(stack):
    assert stack.check.returncode == 0, stack.check.stdout + stack.check.stderr
    out = stack.check.stdout + stack.check.stderr
    assert out.count("saml.idps[satosa].allow_tripledes is on") == 1, out
    assert "saml.idps[corp].allow_tripledes" not in out, out
    log = (stack.dir / "gateway.log").read_text()
    assert log.count("saml.idps[satosa].allow_tripledes is on") == 1, log[-3000:]
    assert "saml.idps[corp].allow_tripledes" not in log
