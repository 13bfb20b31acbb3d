# Jupyter Notebook 6.4 (Debian's jupyter-notebook) behind claimgate: the gateway signs people
# in (SAML) and decides who reaches the route; Jupyter trusts the gateway and runs no sign-in of
# its own. docs/integrations.md#jupyter explains each line.
#
# The gateway's side (claimgate.yaml): the route, with WebSocket for the kernel channels,
#   routes:
#     - {name: jupyter, prefix: /jupyter/, upstream: "http://127.0.0.1:8888", websocket: true}
# and in the policy, who may run code in it (a notebook runs code as the server's account):
#   rules:
#     - {path: "/jupyter/{rest*}", permission: jobs:submit}
#
#   jupyter notebook --config=jupyter_notebook_config.py
#
# The trust is the loopback bind: anyone who can connect to 127.0.0.1:8888 on this host can run
# code without signing in, so run it on a host (or in a network namespace / container) where the
# gateway is the only other party. One server serves one person or one team: for a server per
# person, use JupyterHub (examples/jupyterhub/).
#
# The CLAIMGATE_* / JUPYTER_* environment variables are only there so that the integration test
# (tests/integration/test_jupyter.py) runs this very file on ports chosen at run time.
import os

c = get_config()  # noqa: F821 (Jupyter's config loader defines it)

public_url = os.environ.get("CLAIMGATE_PUBLIC_URL", "https://ml.example.org")

# Reachable from this host only: the gateway connects to it; nobody else should.
c.NotebookApp.ip = "127.0.0.1"
c.NotebookApp.port = int(os.environ.get("JUPYTER_PORT", "8888"))
c.NotebookApp.port_retries = 0          # fail rather than listen where the route does not point
# Everything under the gateway route's prefix (the gateway passes the path as it is).
c.NotebookApp.base_url = "/jupyter/"
# Jupyter's own token and password off: the gateway has signed the person in already.
c.NotebookApp.token = ""
c.NotebookApp.password = ""
c.NotebookApp.open_browser = False
# The browser's Origin is the gateway's public URL, not the Host the gateway sends upstream
# (the upstream's own 127.0.0.1:8888): allow exactly that origin for the kernel WebSockets and
# API calls, nothing else.
c.NotebookApp.allow_origin = public_url
# X-Forwarded-Proto / X-Forwarded-For from the gateway (the scheme and address in the logs).
c.NotebookApp.trust_xheaders = True
c.NotebookApp.notebook_dir = os.environ.get("JUPYTER_NOTEBOOK_DIR", os.getcwd())
