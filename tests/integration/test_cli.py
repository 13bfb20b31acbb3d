"""`claimgate saml` as a person uses it: the quick-start path, input forms, exit codes."""
import base64
import json
import subprocess
import urllib.parse

import pytest

from conftest import claimgate_bin, run

SP = "http://127.0.0.1:8080/saml/metadata"
ACS = "http://127.0.0.1:8080/saml/acs"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    out = run(["saml", "demo", "--out", str(d)], check=True).stdout
    assert "claimgate saml validate" in out
    return d


def validate(demo, *args, stdin=None, path=None):
    proc = run(["saml", "validate", str(path or demo / "response.b64"), "--idp-metadata", str(demo / "idp-metadata.xml"),
                "--sp-entity-id", SP, "--acs-url", ACS, *args], stdin=stdin)
    return proc.returncode, json.loads(proc.stdout)


def test_demo_response_validates_with_every_check_listed(demo):
    rc, out = validate(demo)
    assert rc == 0 and out["ok"] is True and out["code"] is None
    assert out["name_id"] == "alice@example.org"
    assert out["attributes"]["groups"] == ["ml-vision-ds", "ml-nlp-viewer", "all-staff"]
    names = [c["check"] for c in out["checks"]]
    assert names[:3] == ["decode", "xml.parse", "response.element"]
    for required in ("response.signature", "assertion.signature", "conditions.audience", "subject.confirmation"):
        assert required in names
    assert all(c["result"] in ("pass", "skip") for c in out["checks"])


def test_encrypted_demo_needs_the_key(tmp_path):
    run(["saml", "demo", "--out", str(tmp_path), "--encrypt"], check=True)
    base = ["saml", "validate", str(tmp_path / "response.b64"), "--idp-metadata", str(tmp_path / "idp-metadata.xml"),
            "--sp-entity-id", SP, "--acs-url", ACS]
    without = run(base)
    assert without.returncode == 1 and json.loads(without.stdout)["code"] == "encryption.no_key"
    with_key = run(base + ["--decrypt-key", str(tmp_path / "sp.key")])
    assert with_key.returncode == 0, with_key.stdout


def test_accepts_form_body_raw_xml_and_stdin(demo, tmp_path):
    b64 = (demo / "response.b64").read_text().strip()
    form = tmp_path / "form.txt"
    form.write_text("RelayState=abc&SAMLResponse=" + urllib.parse.quote(b64))
    assert validate(demo, path=form)[0] == 0
    raw = tmp_path / "raw.xml"
    raw.write_bytes(base64.b64decode(b64))
    assert validate(demo, path=raw)[0] == 0
    assert validate(demo, stdin=b64, path="-")[0] == 0


def test_wrong_audience_names_both_values(demo):
    proc = run(["saml", "validate", str(demo / "response.b64"), "--idp-metadata", str(demo / "idp-metadata.xml"),
                "--sp-entity-id", "https://someone-else.example", "--acs-url", ACS])
    out = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert out["code"] == "conditions.audience" and out["code_number"] == 4021
    assert out["message"] == f"Audience '{SP}' does not match this SP's entity id 'https://someone-else.example'"
    assert out["checks"][-1] == {"check": "conditions.audience", "result": "fail", "detail": out["message"]}


def test_expired_response_with_pinned_clock(demo):
    rc, out = validate(demo, "--now", "2099-01-01T00:00:00Z", "--ignore-cert-dates")
    assert rc == 1 and out["code"] in ("assertion.too_old", "subject.expired")


def test_exit_code_2_for_input_and_usage_errors(demo, tmp_path):
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("this is *not* base64!")
    rc, out = validate(demo, path=garbage)
    assert rc == 2 and out["code"] == "response.decode"
    assert run(["saml", "validate", str(demo / "response.b64")]).returncode == 2  # required options missing
    bad_md = tmp_path / "md.xml"
    bad_md.write_text("<html>login page</html>")
    proc = run(["saml", "validate", str(demo / "response.b64"), "--idp-metadata", str(bad_md), "--sp-entity-id", SP,
                "--acs-url", ACS])
    assert proc.returncode == 2 and json.loads(proc.stdout)["code"] == "idp.metadata_invalid"
    rc, out = validate(demo, "--now", "yesterday")
    assert rc == 2 and "--now" in out["message"]


def test_huge_and_hostile_input_is_refused_cleanly(demo, tmp_path):
    huge = tmp_path / "huge.b64"
    huge.write_text(base64.b64encode(b"<a>" + b"x" * (3 << 20) + b"</a>").decode())
    rc, out = validate(demo, path=huge)
    assert rc in (1, 2) and out["ok"] is False and out["code"] in ("response.decode", "xml.too_large")
    xxe = tmp_path / "xxe.xml"
    xxe.write_text('<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
    rc, out = validate(demo, path=xxe)
    assert rc == 1 and out["code"] == "xml.dtd_forbidden"
    assert "root:" not in json.dumps(out)


def test_metadata_command_reports_every_config_problem(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("public_url: ftp://nope\nsaml:\n  sp: {signing_key: missing.key, signing_cert: missing.crt}\n"
                   "  idps: []\n  clock_skew: soon\n")
    proc = run(["saml", "metadata", "--config", str(cfg)])
    assert proc.returncode == 1
    for expected in ("public_url", "saml.sp.signing_key", "saml.sp.signing_cert", "saml.idps", "saml.clock_skew"):
        assert expected in proc.stderr, proc.stderr


def test_version_and_help():
    assert subprocess.run([claimgate_bin(), "--version"], capture_output=True, text=True).stdout.startswith("claimgate")
    help_text = subprocess.run([claimgate_bin(), "saml", "--help"], capture_output=True, text=True).stdout
    for cmd in ("validate", "metadata", "decode", "request", "demo"):
        assert cmd in help_text


def test_decode_post_body_and_base64(demo, tmp_path):
    b64 = (demo / "response.b64").read_text().strip()
    body = tmp_path / "body.txt"
    body.write_text("SAMLResponse=" + urllib.parse.quote(b64) + "&RelayState=r-123")
    proc = run(["saml", "decode", str(body)], check=True)
    assert "<samlp:Response" in proc.stdout and "alice@example.org" in proc.stdout
    assert "RelayState: r-123" in proc.stderr
    bare = run(["saml", "decode", "-"], stdin=b64, check=True)
    assert "<samlp:Response" in bare.stdout
    bad = run(["saml", "decode", "-"], stdin="%%% not a message")
    assert bad.returncode == 2 and "claimgate:" in bad.stderr
