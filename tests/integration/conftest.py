"""Shared fixtures for integration tests: the claimgate binary and a real pysaml2 IdP.

Keys are generated at test time with openssl; nothing secret is committed.
"""
import base64
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pytest_configure(config):
    # scripts/test.sh runs the other files over two workers at once, then these alone.
    config.addinivalue_line("markers", "serial: measures latency, so it runs with nothing else "
                                       "running beside it (scripts/test.sh runs it after the rest)")
SP_URL = "https://ml.example.org"
SP_ENTITY = SP_URL + "/saml/metadata"
ACS = SP_URL + "/saml/acs"
IDP_URL = "https://idp.example.org"
IDP_ENTITY = IDP_URL + "/idp.xml"


def claimgate_bin():
    path = os.environ.get("CLAIMGATE_BIN", str(ROOT / "build" / "dev" / "src" / "cli" / "claimgate"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"claimgate binary not found at {path}; build first (README) or set CLAIMGATE_BIN")
    return path


def run(args, stdin=None, check=False):
    proc = subprocess.run([claimgate_bin(), *args], input=stdin, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"claimgate {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_pair(directory, name, cn):
    key, crt = directory / f"{name}.key", directory / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
                    "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    return key, crt


class Env:
    """An SP config for claimgate and a pysaml2 IdP that trusts our SP metadata."""

    def __init__(self, directory, idp_pair=None):
        """`idp_pair`: (key path, certificate path) for the IdP instead of a fresh 30-day pair."""
        self.dir = directory
        self.sp_key, self.sp_crt = make_pair(directory, "sp", "ml.example.org")
        self.idp_key, self.idp_crt = idp_pair or make_pair(directory, "idp", "idp.example.org")
        self.config = directory / "claimgate.yaml"
        self.idp_metadata = directory / "idp-metadata.xml"
        self.sp_metadata = directory / "sp-metadata.xml"
        self.config.write_text(
            f"public_url: {SP_URL}\n"
            "saml:\n"
            f"  sp: {{signing_key: {self.sp_key}, signing_cert: {self.sp_crt}}}\n"
            f"  idps:\n    - {{name: pysaml2, metadata_file: {self.idp_metadata}}}\n")
        # Our metadata first: the IdP must load it.
        self.idp_metadata.write_text("<placeholder/>")
        self.sp_metadata.write_text(self._sp_metadata_without_idp())
        self.idp = self._make_idp()
        from saml2.metadata import entity_descriptor
        self.idp_metadata.write_text(str(entity_descriptor(self.idp.config)))

    def _sp_metadata_without_idp(self):
        # `saml metadata` loads the whole config, IdP included: give it a minimal IdP first.
        cert = "".join(l for l in self.idp_crt.read_text().splitlines() if "-----" not in l)
        self.idp_metadata.write_text(
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP_ENTITY}"><md:IDPSSODescriptor '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing">'
            f'<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>'
            '</md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f'Location="{IDP_URL}/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>')
        return run(["saml", "metadata", "--config", str(self.config)], check=True).stdout

    def _make_idp(self):
        from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
        from saml2.config import IdPConfig
        from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_EMAILADDRESS
        from saml2.server import Server
        conf = IdPConfig()
        conf.load({
            "entityid": IDP_ENTITY,
            "service": {"idp": {
                "endpoints": {
                    "single_sign_on_service": [(IDP_URL + "/sso", BINDING_HTTP_REDIRECT),
                                               (IDP_URL + "/sso-post", BINDING_HTTP_POST)],
                    "single_logout_service": [(IDP_URL + "/slo", BINDING_HTTP_REDIRECT)],
                },
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None,
                                       "name_form": NAME_FORMAT_BASIC}},
            }},
            "key_file": str(self.idp_key),
            "cert_file": str(self.idp_crt),
            "metadata": {"local": [str(self.sp_metadata)]},
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "delete_tmpfiles": True,
        })
        return Server(config=conf)

    def validate(self, xml, *extra):
        """Runs `claimgate saml validate` on a Response (XML text); returns (exit code, JSON)."""
        path = self.dir / "response.b64"
        path.write_text(base64.b64encode(xml.encode() if isinstance(xml, str) else xml).decode())
        proc = run(["saml", "validate", str(path), "--idp-metadata", str(self.idp_metadata),
                    "--sp-entity-id", SP_ENTITY, "--acs-url", ACS, *extra])
        try:
            out = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"not JSON (exit {proc.returncode}): {proc.stdout!r} {proc.stderr!r}")
        return proc.returncode, out


@pytest.fixture(scope="session")
def env(tmp_path_factory):
    return Env(tmp_path_factory.mktemp("interop"))


def chromium_driver(window_size="1200,1000"):
    """Debian's headless Chromium through chromium-driver (selenium), with a fresh profile.
    Returns (driver, profile directory); quit the driver and remove the directory after."""
    import tempfile
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="cg-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={window_size}"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_page_load_timeout(30)
    return driver, profile
