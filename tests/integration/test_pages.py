"""Pages for the person, details for the operator: a person the gateway refuses at sign-in reads
one plain sentence, what helps next (pages.contact, or signing in again) and the request id; the
operator's words (config keys, the attributes that arrived) go to the log and the audit record,
and to the page only for an administrator (audit:read in every project) or under
pages.show_details. A real pysaml2 IdP signs people in; headless Chromium takes screenshots of
both pages (build/test-artifacts/, or $CG_ARTIFACTS)."""
import html
import json
import os
import pathlib
import re
import secrets
import shutil

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, chromium_driver, claimgate_bin
from gateway_stack import DemoStack
from demo_stack import DEMO_USERS

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
POLICY = ROOT / "examples" / "policy" / "ml-platform.yaml"
ARTIFACTS = pathlib.Path(os.environ.get("CG_ARTIFACTS", ROOT / "build" / "test-artifacts"))
CONTACT = "pages: {contact: {url: 'mailto:ml-platform@example.org', text: the ML platform team}}\n"
# The operator's words of 4036 claims.missing: none of them may reach a person's page.
OPERATOR_WORDS = ("required_claims", "saml.idps", "Attributes that arrived", "displayName",
                  "role bindings", "For the administrator")


def make_stack(directory, extra_config):
    # gina's IdP application sends no groups attribute (a forgotten attribute statement).
    users = {u: dict(v, password=secrets.token_urlsafe(9)) for u, v in DEMO_USERS.items()}
    users["gina"] = {"mail": "gina@example.org", "displayName": "Gina Rossi",
                     "password": secrets.token_urlsafe(9)}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "users.json").write_text(json.dumps(users))
    (directory / "users.json").chmod(0o600)
    return DemoStack(directory, claimgate_bin(), store="memory", policy=POLICY, extra_config=extra_config)


@pytest.fixture(scope="module")
def person_stack(tmp_path_factory):
    s = make_stack(tmp_path_factory.mktemp("pages-person"), CONTACT)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def details_stack(tmp_path_factory):
    s = make_stack(tmp_path_factory.mktemp("pages-details"), "pages: {show_details: true}\n")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    driver, profile = chromium_driver(window_size="1100,900")
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def words(text):
    """What a reader sees: the page's text without tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text))


def audit_records(stack, type_):
    path = stack.dir / "audit" / "audit.jsonl"
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["type"] == type_]


def test_a_person_without_the_group_claim_reads_a_plain_sentence(person_stack):
    stack = person_stack
    r = stack.signin(requests.Session(), "gina")
    assert r.status_code == 403, r.text[:500]
    rid = r.headers["X-Request-Id"]
    text = html.unescape(r.text)
    assert "Your account is missing information this service needs" in text, text[:2000]
    assert "Trying again will not change this" in text
    assert "Please contact the ML platform team and give them the request id" in words(text)
    assert "Ask for help" in text
    assert "mailto:ml-platform@example.org?subject=Sign-in%20problem%20%28request%20id%20" + rid in text
    assert rid in text and "4036" in text  # the reference a person passes on
    assert "Sign in again" in text  # still offered, second
    for w in OPERATOR_WORDS:
        assert w not in text, (w, text[:3000])
    assert r.headers["Cache-Control"] == "no-store"
    # The operator's words are in the log line and the audit record of that request.
    line = [x for x in stack.gateway_log().splitlines()
            if " request.error " in x and f" request_id={rid} " in x and " status=403 " in x]
    assert line and "claims.missing" in line[0] and "required_claims" in line[0] and "next=contact" in line[0], line
    failure = [f for f in audit_records(stack, "login.failure") if f.get("request_id") == rid]
    assert failure and failure[0]["code_number"] == 4036, failure
    assert "required_claims" in failure[0]["message"] and "displayName" in failure[0]["message"], failure


def test_an_api_client_gets_the_code_and_a_plain_message(person_stack):
    stack = person_stack
    sess = requests.Session()
    acs, form = stack.saml_post(sess, "gina")
    r = sess.post(acs, data=form, headers=JSON, timeout=15)
    assert r.status_code == 403
    body = r.json()
    assert body["code"] == 4036 and body["error"] == "claims.missing", body
    assert body["next"] == "contact" and body["contact"]["text"] == "the ML platform team", body
    assert body["contact"]["url"].startswith("mailto:ml-platform@example.org?subject="), body
    assert "detail" not in body and "required_claims" not in r.text, body
    assert body["request_id"] == r.headers["X-Request-Id"]


def test_a_refusal_that_may_pass_offers_signing_in_again(person_stack):
    stack = person_stack
    sess = requests.Session()
    acs, form = stack.saml_post(sess, "alice")
    assert sess.post(acs, data=form, headers=HTML, timeout=15, allow_redirects=False).status_code == 303
    # The same response again: its sign-in was used (6502), a second sign-in will work.
    again = sess.post(acs, data=form, headers=HTML, timeout=15, allow_redirects=False)
    assert again.status_code == 400, again.text[:500]
    text = html.unescape(again.text)
    assert "6502" in text and "Trying again usually works." in text, text[:2000]
    assert "If it keeps happening, contact the ML platform team" in words(text)
    assert "RelayState" not in text and "For the administrator" not in text, text[:2000]


def test_an_administrator_sees_the_operator_words(person_stack):
    # erin holds the admin role in every project (audit:read): her own refused request shows the
    # detail, alice's (a data scientist) does not.
    stack = person_stack
    for user, admin in (("erin", True), ("alice", False)):
        sess = requests.Session()
        assert stack.signin(sess, user).status_code == 200
        r = sess.post(stack.url + "/saml/acs", data={"SAMLResponse": "PHg+", "RelayState": "f" * 32},
                      headers=HTML, timeout=15)
        assert r.status_code == 400, r.text[:500]
        text = html.unescape(r.text)
        assert "6502" in text
        assert ("For the administrator" in text) == admin, (user, text[:3000])
        assert ("the RelayState names no pending sign-in" in text) == admin, (user, text[:3000])
        if admin:
            assert "signed in as erin, who may read the audit log" in text
        j = sess.post(stack.url + "/saml/acs", data={"SAMLResponse": "PHg+", "RelayState": "f" * 32},
                      headers=JSON, timeout=15).json()
        assert ("detail" in j) == admin, (user, j)


def test_show_details_puts_the_operator_words_on_everyones_page(details_stack):
    stack = details_stack
    r = stack.signin(requests.Session(), "gina")
    assert r.status_code == 403
    text = html.unescape(r.text)
    assert "Your account is missing information this service needs" in text
    assert "For the administrator" in text and "pages.show_details is on" in text
    assert "required_claims" in text and "displayName" in text and "gina@example.org" not in text
    # No pages.contact: the default sentence, no contact link.
    assert "Please contact your IT help desk or the team that runs this service" in words(text)
    assert "Ask for help" not in text


def browser_signin(browser, stack, user):
    wait = WebDriverWait(browser, 30)
    browser.delete_all_cookies()
    browser.get(stack.url + "/")
    wait.until(EC.presence_of_element_located((By.NAME, "username")))
    browser.find_element(By.NAME, "username").send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(stack.users[user]["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: d.current_url.startswith(stack.url + "/saml/acs"))
    wait.until(EC.presence_of_element_located((By.TAG_NAME, "h1")))


def test_screenshots_of_the_person_page_and_the_operator_page(browser, person_stack, details_stack):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser_signin(browser, person_stack, "gina")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign-in failed"
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Your account is missing information" in body and "request id" in body.lower()
    assert not any(w in body for w in OPERATOR_WORDS), body
    link = browser.find_element(By.LINK_TEXT, "Ask for help").get_attribute("href")
    assert link.startswith("mailto:ml-platform@example.org?subject="), link
    shot = ARTIFACTS / "signin-refused-person.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"\nperson page: {shot}")

    browser_signin(browser, details_stack, "gina")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "For the administrator" in body and "required_claims" in body, body
    shot = ARTIFACTS / "signin-refused-operator.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"operator page: {shot}")
