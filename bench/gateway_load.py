#!/usr/bin/python3
"""Load benchmark: an authenticated request through claimgate against nginx proxying the same
upstream without authentication, measured in one run with wrk at the same concurrency.

  1. the upstream direct (nginx serving a small static answer),
  2. nginx as a reverse proxy to it (no authentication),
  3. claimgate with a valid session cookie (session lookup, identity headers, JWT, and an audit
     record for every allowed request) to it;
  4. the same with policy rules (loaded by SIGHUP);
  5. that gateway and a second one with the same rules and the audit log off, measured
     alternately three times each (the ratio of medians is the audit log's cost; target 0.9);
     then `claimgate audit verify` of the log the runs wrote (records per second);
then sign-ins per second through /saml/acs with distinct signed responses (pysaml2 signs them
beforehand; the gateway verifies each, records its assertion id and stores a session).

    bench/gateway_load.py --bin build/bench/src/cli/claimgate [--seconds 10] [--connections 64]
Prints req/s, p50 and p99 for each and the ratio claimgate/nginx (target: at least 0.9).
"""
import argparse
import base64
import concurrent.futures
import http.client
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "quickstart"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from demo_stack import DemoStack, free_port  # noqa: E402
from nginx_helper import start_nginx  # noqa: E402
# The benchmark starts thousands of sign-ins from one address (docs/configuration.md,
# "Abuse limits").
NO_SIGNIN_LIMITS = "limits: {signins_per_minute: 0, pending_signins_per_client: 0}\n"


def wrk(url, seconds, connections, threads, headers=()):
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "--timeout", "5s"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(errors.group(1)) if errors else 0, "raw": out}


def signins(stack, count, workers):
    """Prepares `count` pending sign-ins and signed responses, then posts them concurrently."""
    from saml2 import saml, xmldsig
    from saml2.saml import NAMEID_FORMAT_UNSPECIFIED, NameID
    server = stack.idps[0].saml_server(stack)
    host, port = "127.0.0.1", stack.port
    prepared = []
    t0 = time.monotonic()
    for i in range(count):
        c = http.client.HTTPConnection(host, port, timeout=10)
        c.request("GET", "/saml/login")
        r = c.getresponse()
        r.read()
        loc = r.getheader("Location")
        cookie = r.getheader("Set-Cookie").split(";")[0]
        q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
        req = server.parse_authn_request(q["SAMLRequest"][0])
        resp = server.create_authn_response(
            {"uid": [f"user{i}"], "groups": ["bench"]}, in_response_to=req.message.id,
            destination=stack.url + "/saml/acs", sp_entity_id=stack.url + "/saml/metadata",
            name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=f"user{i}"),
            authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED}, sign_response=False, sign_assertion=True,
            sign_alg=xmldsig.SIG_RSA_SHA256, digest_alg=xmldsig.DIGEST_SHA256)
        body = urllib.parse.urlencode({"SAMLResponse": base64.b64encode(str(resp).encode()).decode(),
                                       "RelayState": q["RelayState"][0]})
        prepared.append((cookie, body))
        c.close()
    prep_s = time.monotonic() - t0

    def post(chunk):
        c = http.client.HTTPConnection(host, port, timeout=30)
        codes = []
        for cookie, body in chunk:
            c.request("POST", "/saml/acs", body=body, headers={
                "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            r.read()
            codes.append(r.status)
        c.close()
        return codes

    chunks = [prepared[i::workers] for i in range(workers)]
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        codes = [c for part in ex.map(post, chunks) for c in part]
    elapsed = time.monotonic() - t0
    ok = sum(1 for c in codes if c == 303)
    return {"count": count, "ok": ok, "seconds": elapsed, "per_second": ok / elapsed, "prepare_seconds": prep_s}


RULES = ("bindings:\n  - {claim: groups, matches: \"^ml-(\\\\w+)-ds$\", role: data-scientist, project: \"$1\"}\n"
         "rules:\n  - {methods: [GET], path: /bench, permission: jobs:read, project: vision}\n"
         "  - {methods: [POST], path: \"/api/projects/{project}/jobs\", permission: jobs:submit}\n")


def load_args(description):
    """The options every load benchmark takes (bench/gateway_load.py, bench/redis_load.py)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "build" / "release" / "src" / "cli" / "claimgate"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", type=int, default=0, help="nginx workers and claimgate threads (0: cores)")
    ap.add_argument("--signins", type=int, default=400)
    return ap.parse_args()


def main():
    args = load_args(__doc__)
    workers = args.workers or os.cpu_count()
    d = pathlib.Path(tempfile.mkdtemp(prefix="claimgate-bench-"))
    up_port, px_port = free_port(), free_port()
    body = "x" * 64
    upstream = start_nginx(d / "upstream", f"""
  server {{ listen 127.0.0.1:{up_port} reuseport backlog=4096;
    location / {{ default_type text/plain; return 200 "{body}"; }}
    location = /.well-known/jwks.json {{ return 404; }} }}""", up_port, workers=1)
    proxy = start_nginx(d / "proxy", f"""
  upstream app {{ server 127.0.0.1:{up_port}; keepalive 256; }}
  server {{ listen 127.0.0.1:{px_port} backlog=4096;
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}""",
                        px_port, workers=workers)
    stack = DemoStack(d / "claimgate", args.bin, store="memory", log_level="warn", upstream=False,
                      routes=[{"name": "app", "prefix": "/", "upstream": f"http://127.0.0.1:{up_port}"}],
                      extra_config=f"threads: {workers}\n" + NO_SIGNIN_LIMITS)
    try:
        import requests
        s = requests.Session()
        stack.signin(s, "alice", "/")
        cookie = "cg_session=" + s.cookies.get("cg_session")
        check = s.get(stack.url + "/bench", timeout=10)
        assert check.status_code == 200 and check.text == body, (check.status_code, check.text[:200])
        print(f"wrk: {args.connections} connections, {args.threads} threads, {args.seconds}s each; "
              f"nginx workers and claimgate threads: {workers}; {os.cpu_count()} cores shared with wrk")
        results = {}
        for name, url, hdrs in (("upstream direct", f"http://127.0.0.1:{up_port}/bench", ()),
                                ("nginx proxy (no auth)", f"http://127.0.0.1:{px_port}/bench", ()),
                                ("claimgate (session cookie)", stack.url + "/bench", (f"Cookie: {cookie}",))):
            results[name] = wrk(url, args.seconds, args.connections, args.threads, hdrs)
        # The same gateway deciding every request with policy rules (a reload adds them).
        with open(stack.config, "a") as f:
            f.write(RULES)
        stack.gateway.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while s.get(stack.url + "/not-in-the-rules", timeout=10).status_code != 403:
            assert time.monotonic() < deadline, "the policy did not load:\n" + stack.gateway_log()[-2000:]
            time.sleep(0.1)
        allowed = s.get(stack.url + "/bench", timeout=10)
        assert allowed.status_code == 200 and allowed.text == body, (allowed.status_code, allowed.text[:200])
        results["claimgate + policy rules"] = wrk(stack.url + "/bench", args.seconds, args.connections,
                                                  args.threads, (f"Cookie: {cookie}",))
        # The audit log's cost: the same gateway with the audit log off, as a second stack
        # (same rules, same upstream), measured alternately with the first so that both see the
        # same machine; medians of three runs each.
        off = DemoStack(d / "claimgate-audit-off", args.bin, store="memory", log_level="warn", upstream=False,
                        routes=[{"name": "app", "prefix": "/", "upstream": f"http://127.0.0.1:{up_port}"}],
                        extra_config=f"threads: {workers}\n" + NO_SIGNIN_LIMITS + f"audit: {{enabled: false}}\n" + RULES)
        s_off = requests.Session()
        off.signin(s_off, "alice", "/bench")  # "/" is not in the rules
        cookie_off = "cg_session=" + s_off.cookies.get("cg_session")
        on_runs, off_runs = [], []
        for _ in range(3):
            on_runs.append(wrk(stack.url + "/bench", args.seconds, args.connections, args.threads,
                               (f"Cookie: {cookie}",)))
            off_runs.append(wrk(off.url + "/bench", args.seconds, args.connections, args.threads,
                                (f"Cookie: {cookie_off}",)))
        off.stop()
        median = lambda runs: sorted(runs, key=lambda r: r["rps"])[1]
        results["claimgate + policy, audit on"] = median(on_runs)
        results["claimgate + policy, audit off"] = median(off_runs)
        # Every run above wrote one record per allowed request: verify that log (speed).
        assert stack.stop_gateway() == 0
        audit_log = stack.dir / "audit" / "audit.jsonl"
        audit_files = sorted(audit_log.parent.glob("audit*.jsonl"))
        audit_bytes = sum(f.stat().st_size for f in audit_files)
        verify = subprocess.run([args.bin, "audit", "verify", "--closed", "--keys", str(stack.dir / "keyring"),
                                 "--checkpoint-key", str(audit_log.parent / "audit-checkpoint.pem"),
                                 *map(str, audit_files)], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        stack.start_gateway()
        print(f"\n{'':28} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for name, r in results.items():
            print(f"{name:28} {r['rps']:10.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['non2xx']:8d}")
        ratio = results["claimgate (session cookie)"]["rps"] / results["nginx proxy (no auth)"]["rps"]
        print(f"\nclaimgate / nginx throughput: {ratio:.2f} (target >= 0.90)")
        with_policy = results["claimgate + policy rules"]["rps"] / results["claimgate (session cookie)"]["rps"]
        print(f"claimgate with policy rules / without: {with_policy:.2f}")
        audit_ratio = results["claimgate + policy, audit on"]["rps"] / results["claimgate + policy, audit off"]["rps"]
        print(f"audit record for every allow / audit off (medians of 3 alternating runs): {audit_ratio:.2f} "
              "(target >= 0.90); runs on: " + ", ".join(f"{r['rps']:.0f}" for r in on_runs)
              + "; off: " + ", ".join(f"{r['rps']:.0f}" for r in off_runs))
        print(f"audit verify of the log written above ({audit_bytes / 1e6:.1f} MB): {verify.stdout.strip()}")
        if results["claimgate (session cookie)"]["non2xx"] or results["claimgate + policy rules"]["non2xx"]:
            print("WARNING: claimgate answered non-2xx during the run")
        si = signins(stack, args.signins, workers=8)
        print(f"\nsign-ins through /saml/acs: {si['ok']}/{si['count']} accepted in {si['seconds']:.2f}s = "
              f"{si['per_second']:.0f} sign-ins/s (8 client threads; {si['prepare_seconds']:.1f}s to prepare "
              "the signed responses with pysaml2, not counted)")
    finally:
        stack.stop()
        for p in (upstream, proxy):
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
