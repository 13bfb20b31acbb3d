"""nginx `auth_request` in front of an upstream, asking claimgate's /auth (the configuration in
examples/nginx/claimgate-auth-request.conf, run by a real nginx on loopback)."""
import json

import pytest
import requests

from conftest import ROOT, claimgate_bin
from gateway_stack import DemoStack, free_port
from nginx_helper import start_nginx

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def fronted(tmp_path_factory):
    d = tmp_path_factory.mktemp("nginx")
    nginx_port = free_port()
    public = f"http://127.0.0.1:{nginx_port}"
    # Routes with no upstream only say who may pass (for /auth); nginx does the proxying.
    stack = DemoStack(d, claimgate_bin(), store="memory", public_url=public,
                      routes=[{"name": "admin", "prefix": "/admin/", "allow_groups": ["devops-engineers"]},
                              {"name": "admin-host", "host": "admin.example", "prefix": "/",
                               "allow_groups": ["devops-engineers"]},
                              {"name": "app", "prefix": "/"}])
    site = (ROOT / "examples" / "nginx" / "claimgate-auth-request.conf").read_text()
    site = (site.replace("@CLAIMGATE@", f"127.0.0.1:{stack.port}")
                .replace("@APP@", f"127.0.0.1:{stack.upstream_port}")
                .replace("@LISTEN@", f"127.0.0.1:{nginx_port}"))
    nginx = start_nginx(d / "nginx", site, nginx_port)
    yield stack
    nginx.terminate()
    nginx.wait(10)
    stack.stop()


def test_unauthenticated_browser_is_sent_to_signin(fronted):
    r = requests.get(fronted.url + "/notebooks/x?y=1", allow_redirects=False, timeout=10)
    assert r.status_code == 302
    assert r.headers["Location"] == fronted.url + "/saml/login?rd=%2Fnotebooks%2Fx%3Fy%3D1"


def test_signed_in_request_reaches_upstream_with_identity(fronted):
    s = requests.Session()
    r = fronted.signin(s, "alice", "/notebooks/")
    assert r.status_code == 200
    seen = s.get(fronted.url + "/notebooks/x", headers={**JSON, "X-Claimgate-User": "mallory",
                                                        "X-Forwarded-User": "mallory"}, timeout=10).json()
    h = seen["headers"]
    assert h["X-Claimgate-User"] == "alice" and h["X-Forwarded-User"] == "alice"
    assert "ml-vision-ds" in h["X-Claimgate-Groups"]
    assert seen["jwt"]["verified"], seen["jwt"]
    assert seen["jwt"]["claims"]["aud"] == "app"
    assert "mallory" not in json.dumps(h)


def test_group_rule_through_auth_request(fronted):
    alice, bob = requests.Session(), requests.Session()
    fronted.signin(alice, "alice", "/")
    fronted.signin(bob, "bob", "/")
    assert alice.get(fronted.url + "/admin/x", headers=JSON, timeout=10).status_code == 403
    assert bob.get(fronted.url + "/admin/x", headers=JSON, timeout=10).status_code == 200


def test_host_routes_through_auth_request(fronted):
    """Behind real nginx, /auth decides the Host the client used (X-Forwarded-Host, which the
    gateway reads before it strips forwarding headers): admin.example is DevOps only."""
    alice, bob = requests.Session(), requests.Session()
    fronted.signin(alice, "alice", "/")
    fronted.signin(bob, "bob", "/")

    def get(session, **headers):
        # With a Host of its own, requests would not send the jar's cookies: send them here.
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        return requests.get(fronted.url + "/notebooks/x", headers={**JSON, "Cookie": cookie, **headers},
                            timeout=10).status_code

    assert get(alice, Host="admin.example") == 403
    assert get(bob, Host="admin.example") == 200
    assert get(alice) == 200
    # The client's own forwarding headers do not move the decision: nginx overwrites them.
    assert get(alice, **{"Host": "admin.example", "X-Forwarded-Host": "ml.example.org",
                         "X-Original-URI": "/", "X-Original-Method": "GET"}) == 403
