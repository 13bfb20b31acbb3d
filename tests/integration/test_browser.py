"""A real browser: headless Chromium (Debian's chromium + chromium-driver, driven by selenium)
signs in through the pysaml2 IdP's login page and reaches the upstream, under the example
policy (examples/policy/ml-platform.yaml). Screenshots of whoami (roles per project), of a
403 page and of the sign-out confirmation are kept as test artefacts (build/test-artifacts/, or $CG_ARTIFACTS)."""
import os
import pathlib
import shutil

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, chromium_driver, claimgate_bin
from gateway_stack import DemoStack

ARTIFACTS = pathlib.Path(os.environ.get("CG_ARTIFACTS", ROOT / "build" / "test-artifacts"))


@pytest.fixture(scope="module")
def browser():
    driver, profile = chromium_driver()
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = DemoStack(tmp_path_factory.mktemp("browser"), claimgate_bin(), store="memory",
                  policy=ROOT / "examples" / "policy" / "ml-platform.yaml")
    yield s
    s.stop()


def test_chromium_signs_in_and_reaches_the_upstream(browser, stack):
    wait = WebDriverWait(browser, 20)
    browser.get(stack.url + "/?from=browser")
    # The gateway sent the browser to the IdP's login page.
    wait.until(EC.presence_of_element_located((By.NAME, "username")))
    assert browser.current_url.startswith(stack.idps[0].url + "/sso?")
    browser.find_element(By.NAME, "username").send_keys("alice")
    browser.find_element(By.NAME, "password").send_keys(stack.users["alice"]["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The IdP's form posts to /saml/acs (JavaScript), the gateway redirects to the page asked for.
    wait.until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
    wait.until(lambda d: d.current_url == stack.url + "/?from=browser")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Hello, alice"
    assert "verified with the gateway's JWKS" in browser.page_source
    cookie = browser.get_cookie("cg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    browser.get(stack.url + "/.claimgate/whoami")
    wait.until(EC.presence_of_element_located((By.TAG_NAME, "table")))
    assert "Who am I" in browser.find_element(By.TAG_NAME, "h1").text
    assert "ml-vision-ds" in browser.page_source
    roles = browser.find_element(By.CSS_SELECTOR, "table.roles").text
    assert "vision" in roles and "data-scientist" in roles and "groups=ml-vision-ds" in roles
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "whoami.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"\nwhoami screenshot: {shot}")

    # A request the policy denies: the 403 page says why, with the request id, and links whoami.
    browser.get(stack.url + "/api/projects/nlp/jobs")
    wait.until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Access denied"
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "no-role-in-project" in page and "jobs:read" in page and "request id" in page.lower()
    assert browser.find_element(By.LINK_TEXT, "See your roles and claims").get_attribute("href") == \
        stack.url + "/.claimgate/whoami"
    shot = ARTIFACTS / "denied.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    # The gateway's own forms POST as the browser sends them: under Referrer-Policy no-referrer
    # Chromium's Origin is "null" and Sec-Fetch-Site same-origin; the cross-site check lets
    # them through (the device page here, the sign-out page below).
    start = requests.post(stack.url + "/.claimgate/cli/device", data={"client": "chromium-test"},
                          timeout=15).json()
    browser.get(start["verification_uri_complete"])
    wait.until(EC.presence_of_element_located((By.NAME, "user_code")))
    browser.find_element(By.XPATH, "//button[text()='Allow']").click()
    wait.until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Terminal signed in", browser.page_source[:600]

    # Signing out: GET asks (a cross-site link cannot sign anyone out), the form's button POSTs.
    browser.get(stack.url + "/saml/logout")
    wait.until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign out?"
    shot = ARTIFACTS / "logout.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    browser.find_element(By.XPATH, "//button[text()='Sign out']").click()
    wait.until(lambda d: "signed out" in d.page_source.lower())
    browser.get(stack.url + "/?after=logout")
    wait.until(EC.presence_of_element_located((By.NAME, "username")))
