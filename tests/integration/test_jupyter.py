"""Real notebooks behind the gateway, in headless Chromium (issue 23).

One gateway, one pysaml2 IdP and one Chromium for the module, in front of
- Jupyter Notebook 6.4 (Debian's jupyter-notebook) on route /jupyter/ (websocket: true), run
  with examples/jupyter/jupyter_notebook_config.py (its own token off, loopback, base_url under
  the prefix, the gateway's origin allowed);
- JupyterHub 3.0 (Debian's jupyterhub, with configurable-http-proxy) on route /jupyterhub/, run
  with examples/jupyterhub/jupyterhub_config.py and claimgate.jupyterhub.ClaimgateAuthenticator
  (the gateway's identity JWT verified with its JWKS; claimgate roles -> hub users and admins).

The hub spawns single-user servers with SimpleLocalProcessSpawner (each person's server runs as
the hub's own account, with a home directory of its own under the test's temporary directory)
rather than LocalProcessSpawner: the latter needs root and a Unix account per person, and this
test must run unprivileged in CI without adding accounts to the machine. What is tested (the
sign-in, the roles, a server per person reached through the hub's proxy and the gateway) does not
depend on the spawner; examples/jupyterhub/ configures LocalProcessSpawner for real use.

Screenshots go under the pytest basetemp (shots/) and build/test-artifacts/jupyter/ (or
$CG_ARTIFACTS/jupyter).
"""
import json
import os
import pathlib
import secrets
import shutil
import signal
import time

import pytest
import requests
import yaml
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, chromium_driver, claimgate_bin
from gateway_stack import DemoStack, free_port, wait_http

ARTIFACTS = pathlib.Path(os.environ.get("CG_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "jupyter"
CELL = 'import os\nprint("answer", 6 * 7, "from", os.environ.get("JUPYTERHUB_USER", "jupyter"))'


def notebook_file(directory):
    directory.mkdir(parents=True, exist_ok=True)
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                     "source": CELL}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    (directory / "demo.ipynb").write_text(json.dumps(nb))


class Apps:
    """The gateway stack, Jupyter and JupyterHub, on ports chosen now."""

    def __init__(self, base):
        self.base = base
        self.shots = base / "shots"
        self.shots.mkdir()
        self.jupyter_port, self.hub_port = free_port(), free_port()
        policy = yaml.safe_load((ROOT / "examples" / "policy" / "ml-platform.yaml").read_text())
        # The rules of examples/jupyter and examples/jupyterhub: a notebook runs code, so it
        # needs what submitting a job needs; the hub is open to everyone signed in and decides
        # by role itself (the authenticator).
        policy["rules"] += [{"path": "/jupyter/{rest*}", "permission": "jobs:submit"},
                            {"path": "/jupyterhub/{rest*}", "signed_in": True}]
        policy_file = base / "policy-src.yaml"
        policy_file.write_text(yaml.safe_dump(policy))
        self.stack = DemoStack(
            base / "stack", claimgate_bin(), store="memory", policy=policy_file,
            extra_routes=[
                {"name": "jupyter", "prefix": "/jupyter/", "upstream": f"http://127.0.0.1:{self.jupyter_port}",
                 "websocket": True},
                {"name": "jupyterhub", "prefix": "/jupyterhub/", "upstream": f"http://127.0.0.1:{self.hub_port}",
                 "websocket": True}],
            # A tunnel re-checks its session every second (default 5s).
            extra_config="upstream: {websocket_check: 1s}\n")
        try:
            self._start_apps()
        except BaseException:
            self.stack.stop()
            raise

    def _start_apps(self):
        s = self.stack
        root_flag = ["--allow-root"] if os.geteuid() == 0 else []
        nbdir = self.base / "notebooks"
        notebook_file(nbdir)
        env = dict(os.environ, CLAIMGATE_PUBLIC_URL=s.url, JUPYTER_PORT=str(self.jupyter_port),
                   JUPYTER_NOTEBOOK_DIR=str(nbdir), HOME=str(self.base / "jupyter-home"),
                   JUPYTER_CONFIG_DIR=str(self.base / "jupyter-config"))
        self.jupyter = s._spawn("jupyter", ["jupyter-notebook", *root_flag,
                                            "--config=" + str(ROOT / "examples" / "jupyter" / "jupyter_notebook_config.py")],
                                env=env)
        # JupyterHub: the example config, with the test's spawner, ports and state.
        hub_dir = self.base / "hub"
        hub_dir.mkdir()
        self.homes = self.base / "homes"
        for user in ("alice", "erin"):
            notebook_file(self.homes / user)
        wrapper = hub_dir / "jupyterhub_config.py"
        wrapper.write_text(
            f"load_subconfig({str(ROOT / 'examples' / 'jupyterhub' / 'jupyterhub_config.py')!r})\n"
            f"c.SimpleLocalProcessSpawner.home_dir_template = {str(self.homes) + '/{username}'!r}\n"
            f"c.Spawner.args = c.Spawner.args + {root_flag!r}\n"
            "c.Spawner.start_timeout = 30\n"
            "c.Spawner.http_timeout = 30\n")
        hub_env = dict(os.environ, CLAIMGATE_PUBLIC_URL=s.url, CLAIMGATE_JWKS_URL=s.url + "/.well-known/jwks.json",
                       JUPYTERHUB_BIND_URL=f"http://127.0.0.1:{self.hub_port}/jupyterhub/",
                       JUPYTERHUB_HUB_BIND_URL=f"http://127.0.0.1:{free_port()}",
                       JUPYTERHUB_PROXY_API_URL=f"http://127.0.0.1:{free_port()}",
                       JUPYTERHUB_SPAWNER="simple", JUPYTERHUB_STATE_DIR=str(hub_dir),
                       JUPYTERHUB_AUTH_REFRESH_AGE="1",  # roles re-read from the JWT each second
                       CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(16),
                       PYTHONPATH=str(ROOT / "python"),
                       # configurable-http-proxy's modules, for a Node.js that does not search
                       # Debian's /usr/share/nodejs by itself (harmless with Debian's).
                       NODE_PATH="/usr/share/nodejs")
        self.hub = s._spawn("jupyterhub", ["jupyterhub", "-f", str(wrapper)], env=hub_env)
        wait_http(f"http://127.0.0.1:{self.jupyter_port}/jupyter/api/status", self.jupyter)
        wait_http(f"http://127.0.0.1:{self.hub_port}/jupyterhub/hub/health", self.hub)

    def shot(self, browser, name):
        path = self.shots / f"{name}.png"
        assert browser.save_screenshot(str(path))
        assert path.stat().st_size > 10_000
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, ARTIFACTS / path.name)
        return path

    def log(self, name):
        return (self.stack.dir / f"{name}.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    a = Apps(tmp_path_factory.mktemp("jupyter"))
    yield a
    a.stack.stop()


@pytest.fixture(scope="module")
def browser():
    driver, profile = chromium_driver()
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def browser_signin(browser, apps, user, path):
    """Signs `user` in from a clean cookie jar through the IdP's login page; lands on `path`."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    wait = WebDriverWait(browser, 20)
    browser.get(apps.stack.url + path)
    wait.until(EC.presence_of_element_located((By.NAME, "username")))
    browser.find_element(By.NAME, "username").send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(apps.stack.users[user]["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: d.current_url.startswith(apps.stack.url + "/") and "/saml/" not in d.current_url)


def run_first_cell(browser, expected):
    """Waits for the kernel's WebSocket, runs the first cell with the toolbar's Run button, waits
    for its output; returns the output text."""
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.execute_script(
        "return !!(window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel"
        " && Jupyter.notebook.kernel.is_connected())"))
    browser.find_element(By.CSS_SELECTOR, "div.cell").click()
    browser.find_element(By.CSS_SELECTOR,
                         "button[data-jupyter-action='jupyter-notebook:run-cell-and-select-next']").click()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "div.output_subarea"), expected))
    return browser.find_element(By.CSS_SELECTOR, "div.output_subarea").text


def signed_in_session(apps, user, path="/"):
    s = requests.Session()
    r = apps.stack.signin(s, user, path)
    return s, r


def test_viewer_gets_403_at_the_jupyter_route(apps):
    import websocket
    s, r = signed_in_session(apps, "carol", "/jupyter/tree")
    assert r.status_code == 403, r.text[:300]
    assert "Access denied" in r.text
    assert s.get(apps.stack.url + "/jupyter/api/kernels", timeout=10).status_code == 403
    cookie = "; ".join(f"{k}={v}" for k, v in s.cookies.items())
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(apps.stack.url.replace("http", "ws") + "/jupyter/api/kernels/x/channels",
                                    header=[f"Cookie: {cookie}", f"Origin: {apps.stack.url}"], timeout=10)
    assert e.value.status_code == 403


def test_notebook_cell_runs_and_revocation_closes_the_kernel_socket(apps, browser):
    browser_signin(browser, apps, "alice", "/jupyter/notebooks/demo.ipynb")
    assert browser.current_url == apps.stack.url + "/jupyter/notebooks/demo.ipynb"
    out = run_first_cell(browser, "answer 42")
    assert out.strip() == "answer 42 from jupyter", out
    apps.shot(browser, "jupyter-notebook-output")
    # The output came back through the kernel's WebSocket, which the gateway tunnels.
    assert browser.execute_script("return Jupyter.notebook.kernel.ws.readyState") == 1
    browser.execute_script(
        "window.__cg_closes = [];"
        "Jupyter.notebook.kernel.ws.addEventListener('close', e => window.__cg_closes.push(e.code));")

    # An administrator (erin, admin everywhere) revokes alice: her session ends, and the tunnel
    # of her kernel's WebSocket is closed with 1008 at its next check (upstream.websocket_check).
    admin, _ = signed_in_session(apps, "erin")
    t0 = time.monotonic()
    r = admin.post(apps.stack.url + "/.claimgate/admin/revoke", json={"subject": "alice", "reason": "test"},
                   headers={"Origin": apps.stack.url}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["sessions_ended"] >= 1
    codes = WebDriverWait(browser, 6, poll_frequency=0.05).until(
        lambda d: d.execute_script("return window.__cg_closes.length ? window.__cg_closes : null"))
    elapsed = time.monotonic() - t0
    assert codes[0] == 1008, codes
    assert elapsed < 5, elapsed  # websocket_check is 1s; ASan and a busy machine are slower
    print(f"\nkernel WebSocket closed {elapsed:.2f}s after the revocation (code {codes[0]})")
    # The notebook's page says it lost its kernel: its reconnect (1 s later) is refused by the
    # gateway (no session any more), and the page shows Jupyter's "Connection failed" dialog.
    assert not browser.execute_script("return Jupyter.notebook.kernel.is_connected()")
    WebDriverWait(browser, 10).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".modal-title"), "Connection failed"))
    assert browser.find_element(By.ID, "kernel_indicator_icon").get_attribute("title") == "No Connection to Kernel"
    apps.shot(browser, "jupyter-after-revocation")
    # And the next page asks alice to sign in again.
    browser.get(apps.stack.url + "/jupyter/tree")
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.NAME, "username")))


def test_jupyterhub_alice_gets_her_server_and_runs_a_cell(apps, browser):
    browser_signin(browser, apps, "alice", "/jupyterhub/hub/spawn")
    # The hub signs alice in from the JWT, spawns her server, its progress page (an
    # EventSource through the gateway) sends her to it.
    WebDriverWait(browser, 40).until(lambda d: "/jupyterhub/user/alice/" in d.current_url)
    browser.get(apps.stack.url + "/jupyterhub/user/alice/notebooks/demo.ipynb")
    out = run_first_cell(browser, "answer 42")
    assert out.strip() == "answer 42 from alice", out
    apps.shot(browser, "jupyterhub-alice-notebook")
    hub_log = apps.log("jupyterhub")
    assert "User logged in: alice" in hub_log
    # alice is no hub admin (data-scientist in vision only): the admin page is refused.
    browser.get(apps.stack.url + "/jupyterhub/hub/admin")
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.TAG_NAME, "body")))
    assert "403" in browser.page_source and "Forbidden" in browser.page_source, browser.page_source[:500]


def test_jupyterhub_refuses_carol(apps, browser):
    browser_signin(browser, apps, "carol", "/jupyterhub/hub/login")
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.TAG_NAME, "body")))
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "403" in page and "carol holds none of the roles this hub allows" in page, page[:500]
    assert "viewer@*" in page
    apps.shot(browser, "jupyterhub-carol-refused")
    assert "claimgate sign-in refused: carol holds none" in apps.log("jupyterhub")


def test_jupyterhub_admin_page_follows_the_admin_role(apps, browser):
    browser_signin(browser, apps, "erin", "/jupyterhub/hub/admin")
    assert browser.current_url.startswith(apps.stack.url + "/jupyterhub/hub/admin")
    # The admin page (a React app calling the hub's API through the gateway) lists alice and
    # her running server.
    WebDriverWait(browser, 20).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "alice"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "erin" in body and "alice" in body, body[:500]
    apps.shot(browser, "jupyterhub-admin-page")
    # The hub's own record: erin admin, alice not, carol never created.
    users = {}
    for name in ("alice", "erin"):
        users[name] = browser.execute_script(
            "return fetch(arguments[0], {headers: {Accept: 'application/json'}})"
            ".then(r => r.status == 200 ? r.json() : r.status)",
            apps.stack.url + f"/jupyterhub/hub/api/users/{name}")
    assert users["erin"]["admin"] is True and users["alice"]["admin"] is False, users
    assert users["alice"]["server"], users["alice"]


def test_jupyterhub_admin_follows_a_role_change(apps, browser):
    # alice is no hub admin; the policy then makes her group admin everywhere (reloaded on
    # SIGHUP, same gateway session): her next JWT carries admin@*, the hub's auth refresh reads
    # it, and its admin page opens for her.
    browser_signin(browser, apps, "alice", "/jupyterhub/hub/home")
    browser.get(apps.stack.url + "/jupyterhub/hub/admin")
    assert "403" in browser.page_source
    original = apps.stack.policy.read_text()
    whoami = "return fetch('/.claimgate/whoami', {headers: {Accept: 'application/json'}}).then(r => r.json())"
    try:
        apps.stack.policy.write_text(original.replace(
            "bindings:\n", "bindings:\n- {claim: groups, equals: ml-vision-ds, role: admin, project: '*'}\n", 1))
        apps.stack.gateway.send_signal(signal.SIGHUP)
        WebDriverWait(browser, 10, poll_frequency=0.2).until(
            lambda d: "admin@*" in d.execute_script(whoami)["roles"])

        def admin_page_opens(d):
            d.get(apps.stack.url + "/jupyterhub/hub/admin")
            return "react-admin-hook" in d.page_source
        WebDriverWait(browser, 15, poll_frequency=0.5).until(admin_page_opens)
    finally:
        apps.stack.policy.write_text(original)
        apps.stack.gateway.send_signal(signal.SIGHUP)
    WebDriverWait(browser, 10, poll_frequency=0.2).until(
        lambda d: "admin@*" not in d.execute_script(whoami)["roles"])
    # And taken away again at the next refresh.
    def admin_page_refused(d):
        d.get(apps.stack.url + "/jupyterhub/hub/admin")
        return "403" in d.page_source and "Forbidden" in d.page_source
    WebDriverWait(browser, 15, poll_frequency=0.5).until(admin_page_refused)


def test_jupyterhub_refuses_a_forged_or_missing_jwt(apps):
    # Straight to the hub's proxy, bypassing the gateway: a plain identity header proves
    # nothing, and a JWT signed by another key is refused.
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    hub = f"http://127.0.0.1:{apps.hub_port}/jupyterhub/hub/login"
    r = requests.get(hub, headers={"X-Claimgate-User": "erin", "X-Forwarded-User": "erin"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 403
    kid = requests.get(apps.stack.url + "/.well-known/jwks.json", timeout=10).json()["keys"][0]["kid"]
    now = int(time.time())
    forged = jwt.encode({"iss": apps.stack.url, "aud": "jupyterhub", "sub": "erin", "roles": ["admin@*"],
                         "iat": now, "exp": now + 60}, ec.generate_private_key(ec.SECP256R1()),
                        algorithm="ES256", headers={"kid": kid})
    r = requests.get(hub, headers={"X-Claimgate-Assertion": forged}, allow_redirects=False, timeout=10)
    assert r.status_code == 403
    assert "the identity JWT does not verify" in apps.log("jupyterhub")
    # Signed by the gateway's own key, but an agent's (RFC 8693 act): an agent token acting for
    # an admin carries the admin's roles, and is still no hub sign-in (allow_agents is off).
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    key_file = sorted((apps.stack.dir / "keyring").glob("sign-*.pem"))[-1]
    agent = jwt.encode({"iss": apps.stack.url, "aud": "jupyterhub", "sub": "erin", "roles": ["admin@*"],
                        "act": {"sub": "agent:review-bot"}, "scope": "jobs:read", "iat": now, "exp": now + 60},
                       load_pem_private_key(key_file.read_bytes(), None), algorithm="ES256",
                       headers={"kid": key_file.name[len("sign-"):-len(".pem")]})
    r = requests.get(hub, headers={"X-Claimgate-Assertion": agent}, allow_redirects=False, timeout=10)
    assert r.status_code == 403
    assert "the identity JWT is an agent's (agent:review-bot acting for erin)" in apps.log("jupyterhub")
