# JupyterHub 3.0 behind claimgate: people sign in once through the gateway (SAML); the hub
# trusts the gateway's signed identity JWT (X-Claimgate-Assertion, verified with the gateway's
# JWKS), never a plain header. docs/integrations.md#jupyterhub explains each line.
#
# The gateway's side (claimgate.yaml):
#   routes:
#     - {name: jupyterhub, prefix: /jupyterhub/, upstream: "http://127.0.0.1:8000", websocket: true}
# and in the policy, who may reach the hub at all (the hub then decides by role):
#   rules:
#     - {path: "/jupyterhub/{rest*}", signed_in: true}
#
#   pip install ./python && jupyterhub -f jupyterhub_config.py
# (or, without installing: PYTHONPATH=/path/to/claimgate/python jupyterhub -f jupyterhub_config.py;
# installed, authenticator_class = "claimgate" names the same class through its entry point)
#
# The CLAIMGATE_* / JUPYTERHUB_* environment variables are only there so that the integration
# test (tests/integration/test_jupyter.py) runs this very file on ports chosen at run time.
import os

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)

gateway = os.environ.get("CLAIMGATE_PUBLIC_URL", "https://ml.example.org")
gateway_jwks = os.environ.get("CLAIMGATE_JWKS_URL", gateway + "/.well-known/jwks.json")

# The hub's public side (configurable-http-proxy) on loopback only, under the route's prefix:
# only the gateway reaches it. The hub's own API stays on loopback too.
c.JupyterHub.bind_url = os.environ.get("JUPYTERHUB_BIND_URL", "http://127.0.0.1:8000/jupyterhub/")
c.JupyterHub.hub_bind_url = os.environ.get("JUPYTERHUB_HUB_BIND_URL", "http://127.0.0.1:8081")
c.ConfigurableHTTPProxy.api_url = os.environ.get("JUPYTERHUB_PROXY_API_URL", "http://127.0.0.1:8001")

# The browser's origin is the gateway's: the hub compares the Referer of its API calls with
# X-Forwarded-Host (set by the gateway from the browser's Host, a client's copy removed), not
# with the Host the gateway sends upstream (this loopback address).
c.JupyterHub.forwarded_host_header = "X-Forwarded-Host"

# Sign-in: the gateway's JWT, checked against its JWKS, for this route (aud = the route's name).
c.JupyterHub.authenticator_class = "claimgate.jupyterhub.ClaimgateAuthenticator"
c.ClaimgateAuthenticator.jwks_url = gateway_jwks
c.ClaimgateAuthenticator.issuer = gateway               # the gateway's identity.issuer
c.ClaimgateAuthenticator.audience = "jupyterhub"        # the route's name
# claimgate roles -> JupyterHub: who may use the hub, who administers it. "role" is that role
# in any project, "role@project" in one ("admin@*": bound to every project).
c.ClaimgateAuthenticator.allowed_roles = ["data-scientist", "devops-engineer", "admin"]
c.ClaimgateAuthenticator.admin_roles = ["admin@*"]
# Roles are re-read from the JWT of a request through the gateway at most this often (seconds):
# someone whose admin role was taken away loses the hub's admin page within it.
c.Authenticator.auth_refresh_age = int(os.environ.get("JUPYTERHUB_AUTH_REFRESH_AGE", "60"))
# Sign-out of the hub ends the gateway's session too.
c.ClaimgateAuthenticator.logout_redirect_url = gateway + "/saml/logout"

# Single-user servers: one local process per person, running as their Unix account
# (LocalProcessSpawner needs the accounts and a hub running as root). The test uses
# SimpleLocalProcessSpawner instead (see tests/integration/test_jupyter.py).
c.JupyterHub.spawner_class = os.environ.get("JUPYTERHUB_SPAWNER", "jupyterhub.spawner.LocalProcessSpawner")
c.Spawner.default_url = "/tree"
c.Spawner.cmd = ["jupyterhub-singleuser"]
# The kernels' WebSockets come from the gateway's origin (the single-user server sees the
# hub proxy's loopback Host): allow exactly that origin.
c.Spawner.args = ["--NotebookApp.allow_origin=" + gateway]

state = os.environ.get("JUPYTERHUB_STATE_DIR", "/var/lib/jupyterhub")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(state, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(state, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(state, "jupyterhub.pid")
