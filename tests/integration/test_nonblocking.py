"""Nothing blocks an event loop (issue 21): while Redis is stopped (SIGSTOP: connections stay
open and nothing answers, the worst kind of outage) and Microsoft Graph takes 5 s to answer,
requests that need neither keep their p99 under 10 ms.

The deployment is the one docs/deployment.md describes for several gateways: sessions, pending
sign-ins and the replay cache in a shared Redis (store.kind redis), an Entra ID IdP whose users
are in too many groups for a token (the groups overage, resolved through Graph). The requests
that need neither are what such a gateway serves beside sign-ins: a public route proxied to its
upstream (static assets, a health page: no session, so no store) and /healthz. What stalls:
sign-ins waiting on Graph (awaited by their coroutine), and new sign-ins (/saml/login stores the
pending request in Redis, which does not answer: awaited on the stores' work pool until its
deadline). Two worker threads (`threads: 2`), fewer than the stalled requests, so a blocking call
anywhere would hold every connection of its thread."""
import concurrent.futures
import http.server
import json
import os
import signal
import threading
import time

import pytest
import requests

from conftest import claimgate_bin
from gateway_stack import DemoStack
from redis_helper import RedisServer
from test_trust import OID, OVERAGE_USER, write_users

# A latency target (p99 under 10 ms): measured with no other test file running beside it.
pytestmark = pytest.mark.serial

GRAPH_DELAY = 5.0  # seconds getMemberGroups takes
SIGNINS = 4        # sign-ins waiting on Graph at once
LOGINS = 3         # clients starting new sign-ins against the stopped Redis


class SlowGraph:
    """Microsoft Graph's token endpoint (at once) and getMemberGroups (after GRAPH_DELAY), on
    127.0.0.1; `arrived` is set once SIGNINS getMemberGroups calls are waiting. Each answers
    after GRAPH_DELAY, when the gateway's 5 s bound on a Graph call has passed: the sign-in
    waits the whole bound, then is refused (fail closed)."""

    def __init__(self):
        self.waiting = 0
        self.first = None  # when the first getMemberGroups call arrived (monotonic)
        self.arrived = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path.endswith("/token"):
                    self.answer({"access_token": "graph-token-1", "expires_in": 3600})
                    return
                with outer.lock:
                    outer.first = outer.first or time.monotonic()
                    outer.waiting += 1
                    if outer.waiting >= SIGNINS:
                        outer.arrived.set()
                time.sleep(GRAPH_DELAY)
                self.answer({"value": ["0f0f0f0f-0000-0000-0000-000000000000"]})

            def answer(self, obj):
                data = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def p99(samples):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def test_requests_that_need_neither_redis_nor_graph_are_not_held(tmp_path):
    write_users(tmp_path, hana=OVERAGE_USER)
    (tmp_path / "graph.secret").write_text("s3cret-value\n")
    graph = SlowGraph()
    redis = RedisServer(tmp_path / "redis", persist=False)
    store = ("{kind: redis, address: 127.0.0.1:%d, prefix: 'nb:', connect_timeout: 500ms, "
             "command_timeout: 1s}" % redis.port)
    stack = None
    stopped = False
    pool = concurrent.futures.ThreadPoolExecutor(SIGNINS + LOGINS)
    try:
        stack = DemoStack(tmp_path, claimgate_bin(), store=store, extra_config="threads: 2\n",
                          idp_options=(
            ", graph: {tenant_id: t1, client_id: app-1, client_secret_file: graph.secret, "
            f"token_url: '{graph.url}/t1/oauth2/v2.0/token', api_url: '{graph.url}'}}"))
        upstream = stack.upstream_url
        # The public route (before the demo's catch-all route): no session is read for it.
        text = stack.config.read_text().replace(
            "routes:\n", "routes:\n  - {name: static, prefix: /static/, upstream: %s, public: true}\n" % upstream, 1)
        stack.config.write_text(text)
        stack.stop_gateway()
        stack.start_gateway()
        fast = requests.Session()
        assert fast.get(stack.url + "/static/app.css", timeout=5).status_code == 200

        # SIGNINS sign-ins reach Graph (Redis answers: their pending request and the replay cache
        # are checked), and wait there.
        signins = [pool.submit(stack.signin, requests.Session(), "hana") for _ in range(SIGNINS)]
        assert graph.arrived.wait(30), "the sign-ins did not reach Graph"
        os.kill(redis.proc.pid, signal.SIGSTOP)
        stopped = True
        window_end = graph.first + GRAPH_DELAY - 0.5  # before Graph answers any of them

        # LOGINS clients start new sign-ins over and over: each stores its pending request in
        # the stopped Redis.
        def new_signins():
            out = []
            while time.monotonic() < window_end:
                t0 = time.monotonic()
                r = requests.get(stack.url + "/saml/login?rd=/", allow_redirects=False, timeout=30)
                out.append((time.monotonic() - t0, r.status_code))
                time.sleep(0.05)  # pacing (a refusal comes at once while Redis is marked down)
            return out

        logins = [pool.submit(new_signins) for _ in range(LOGINS)]
        # The requests that need neither, one after another on a keep-alive connection, while
        # the Graph calls are still unanswered.
        lat, proxied = [], []
        while time.monotonic() < window_end:
            path = "/static/app.css" if (len(lat) + len(proxied)) % 4 == 3 else "/healthz"
            t0 = time.monotonic()
            r = fast.get(stack.url + path, timeout=5)
            (proxied if path.startswith("/static/") else lat).append(time.monotonic() - t0)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert not any(f.done() for f in signins), "the Graph sign-ins ended before the measurement"
        stalled = [x for f in logins for x in f.result(timeout=30)]
        os.kill(redis.proc.pid, signal.SIGCONT)
        stopped = False

        # p99 is asserted on /healthz, answered by the same worker threads; the proxied public
        # route shares them but its answer is written in pieces today, so a client's delayed ACK
        # can add 40 ms to one (issue 21's proxy I/O part): it is held to "never waits on a
        # stalled store or Graph" (well under Redis's 1 s timeout and Graph's 5 s).
        assert len(lat) >= 200, len(lat)
        assert p99(lat) < 0.010, f"p99 {p99(lat) * 1000:.1f} ms over {len(lat)} requests (max {max(lat) * 1000:.1f} ms)"
        assert proxied and max(proxied) < 0.3, f"a proxied public request took {max(proxied):.3f} s"
        # What stalled did stall, and then ended: the Graph sign-ins waited the whole 5 s (the
        # gateway's bound on a Graph call, which the stand-in's answer meets or just misses:
        # signed in, or refused with the groups unread); the new sign-ins waited on Redis (503
        # once the client gave up, or their redirect).
        for f in signins:
            r = f.result(timeout=60)
            assert r.status_code in (200, 403), (r.status_code, r.text[:500])
        assert time.monotonic() - graph.first >= GRAPH_DELAY - 0.5
        log = stack.gateway_log()
        ended = log.count("check=claims.groups_overage") + log.count("signin.ok ")
        assert ended >= SIGNINS, log[-3000:]
        # (429: the sign-in limits per client address, at once.)
        assert stalled and all(status in (302, 429, 503) for _, status in stalled), stalled
        assert max(d for d, _ in stalled) >= 0.5, f"no new sign-in waited on Redis: {stalled}"
        print(f"\nneither Redis nor Graph: {len(lat)} /healthz, p99 {p99(lat) * 1000:.2f} ms, "
              f"max {max(lat) * 1000:.2f} ms; {len(proxied)} proxied, p99 {p99(proxied) * 1000:.2f} ms; {len(stalled)} sign-ins started against the stopped "
              f"Redis, longest {max(d for d, _ in stalled):.2f} s")
    finally:
        if stopped:
            os.kill(redis.proc.pid, signal.SIGCONT)
        pool.shutdown(wait=False, cancel_futures=True)
        if stack:
            stack.stop()
        redis.stop()
        graph.stop()
