#!/usr/bin/python3
"""Load benchmark: an authenticated request through claimgate against nginx proxying the same
upstream without authentication, on real files, measured in one run with wrk at the same
concurrency (docs/life-of-a-request.md; issue 21's W2 target).

For each body (1 KiB, 16 KiB, 1 MiB files served by an nginx upstream, checked byte-exact
through every path first):
  1. the upstream direct,
  2. nginx as a reverse proxy to it (no authentication; keepalive pool, default buffering),
  3. claimgate with a valid session cookie (session lookup, identity headers, JWT, an audit
     record for every allowed request),
  4. claimgate with an access token (Authorization: Bearer, from the device flow);
each: req/s, p50, p99, server CPU per request (utime+stime from /proc/PID/stat of the proxy's
processes, and of the upstream's), and syscalls per request (strace -c -f attached to the
proxy's processes for a short sub-run of its own; strace slows that sub-run, so its req/s is
not used), with the ratio to nginx beside each.

    bench/gateway_load.py --bin build/dev/src/cli/claimgate [--duration 3] [--connections 64]

--extras adds the older sections after it (policy rules by SIGHUP, the audit log's cost as
alternating runs with it on and off, `claimgate audit verify` speed, sign-ins per second through
/saml/acs with distinct signed responses; --seconds per run there).
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
    # wrk takes whole seconds; a fraction rounds up.
    secs = max(1, int(-(-float(seconds) // 1)))
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{secs}s", "--latency", "--timeout", "5s"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(errors.group(1)) if errors else 0,
            "requests": int(done.group(1)) if done else 0, "raw": out}


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
    ap.add_argument("--duration", type=float, default=3.0,
                    help="seconds of each measured cell of the body matrix (bench/gateway_load.py)")
    ap.add_argument("--strace-seconds", type=float, default=1.0,
                    help="seconds of each strace sub-run (syscalls per request)")
    ap.add_argument("--extras", action="store_true",
                    help="bench/gateway_load.py: also policy rules, audit on/off, sign-ins")
    return ap.parse_args()


BODIES = (("1 KiB", "1k.bin", 1024), ("16 KiB", "16k.bin", 16 * 1024), ("1 MiB", "1m.bin", 1024 * 1024))
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def process_tree(pid):
    """`pid` and its children (nginx's master and workers)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            kids = pathlib.Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            pids += [int(k) for k in kids]
    except OSError:
        pass
    return pids


def cpu_seconds(pids):
    """utime + stime of `pids` (all their threads), from /proc/PID/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    return total / tick


def strace_syscalls(pids, url, seconds, connections, threads, headers):
    """Syscalls per request of `pids` (strace -c -f attached for a wrk run of `seconds`)."""
    out = tempfile.NamedTemporaryFile(prefix="strace-", suffix=".txt", delete=False).name
    args = ["strace", "-c", "-f", "-o", out]
    for p in pids:
        args += ["-p", str(p)]
    tracer = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # strace says "Process N attached" once per thread: wait for the first line, bounded.
        deadline = time.monotonic() + 10
        line = tracer.stderr.readline()
        assert line and time.monotonic() < deadline, "strace did not attach"
        time.sleep(0.3)  # the other threads' attach lines follow at once
        r = wrk(url, seconds, connections, threads, headers)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    text = pathlib.Path(out).read_text()
    os.unlink(out)
    # Rows: % time, seconds, usecs/call, calls, [errors,] syscall.
    top = []
    for row in text.splitlines():
        f = row.split()
        if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[-1] != "total":
            top.append((int(f[3]), f[-1]))
    top.sort(reverse=True)
    calls = sum(c for c, _ in top)
    return {"calls": calls, "requests": r["requests"], "per_request": calls / max(1, r["requests"]),
            "top": top[:4]}


def device_token(stack, browser):
    """An access token through the device flow (what `claimgate login --device` does), with the
    browser session already signed in."""
    import requests
    start = requests.post(stack.url + "/.claimgate/cli/device", data={"client": "bench"}, timeout=15).json()
    page = browser.get(start["verification_uri_complete"], headers={"Accept": "text/html"}, timeout=30)
    from demo_stack import parse_form
    action, fields = parse_form(page.text)
    fields["action"] = "approve"
    done = browser.post(stack.url + action, data=fields, headers={"Accept": "text/html"}, timeout=15)
    assert done.status_code == 200, (done.status_code, done.text[:300])
    deadline = time.monotonic() + 15
    while True:
        r = requests.post(stack.url + "/.claimgate/cli/token",
                          data={"grant_type": DEVICE_GRANT, "device_code": start["device_code"]}, timeout=15)
        if r.status_code == 200:
            return r.json()["access_token"]
        assert r.json().get("error") in ("authorization_pending", "slow_down") and time.monotonic() < deadline, r.text
        time.sleep(1.1)


def matrix(args):
    """Every body through every path: the W2 table."""
    import requests
    workers = args.workers or os.cpu_count()
    d = pathlib.Path(tempfile.mkdtemp(prefix="claimgate-bench-"))
    files = d / "files"
    files.mkdir()
    contents = {}
    for _, name, size in BODIES:
        contents[name] = os.urandom(size)
        (files / name).write_bytes(contents[name])
    up_port, px_port = free_port(), free_port()
    upstream = start_nginx(d / "upstream", f"""
  server {{ listen 127.0.0.1:{up_port} reuseport backlog=4096; root {files};
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
        s = requests.Session()
        stack.signin(s, "alice", "/")
        cookie = "cg_session=" + s.cookies.get("cg_session")
        token = device_token(stack, s)
        up_pids = process_tree(upstream.pid)
        paths = (
            ("upstream direct", f"http://127.0.0.1:{up_port}", (), up_pids),
            ("nginx proxy (no auth)", f"http://127.0.0.1:{px_port}", (), process_tree(proxy.pid)),
            ("claimgate (cookie)", stack.url, (f"Cookie: {cookie}",), [stack.gateway.pid]),
            ("claimgate (Bearer)", stack.url, (f"Authorization: Bearer {token}",), [stack.gateway.pid]),
        )
        for _, base, hdrs, _ in paths:
            for _, name, _ in BODIES:
                h = dict(x.split(": ", 1) for x in hdrs)
                got = requests.get(f"{base}/{name}", headers=h, timeout=30)
                assert got.status_code == 200 and got.content == contents[name], \
                    (base, name, got.status_code, len(got.content), got.text[:200] if got.status_code != 200 else "")
        load = os.getloadavg()
        print(f"wrk: {args.connections} connections, {args.threads} threads, {args.duration:g}s per cell; nginx "
              f"workers and claimgate threads: {workers}; {os.cpu_count()} cores shared with wrk; "
              f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print("CPU/req: utime+stime of the path's own processes (/proc/PID/stat) per request; up CPU/req: the "
              "upstream nginx's. syscalls/req: strace -c -f attached for a separate "
              f"{args.strace_seconds:g}s sub-run (its req/s not used).")
        table = {}
        for label, name, size in BODIES:
            for path, base, hdrs, pids in paths:
                url = f"{base}/{name}"
                c0, u0 = cpu_seconds(pids), cpu_seconds(up_pids)
                r = wrk(url, args.duration, args.connections, args.threads, hdrs)
                c1, u1 = cpu_seconds(pids), cpu_seconds(up_pids)
                n = max(1, r["requests"])
                r["cpu_us"] = (c1 - c0) / n * 1e6
                r["up_cpu_us"] = (u1 - u0) / n * 1e6
                sc = strace_syscalls(pids, url, args.strace_seconds, args.connections, args.threads, hdrs)
                r["syscalls"] = sc["per_request"]
                r["top"] = sc["top"]
                table[(label, path)] = r
        hdr = (f"{'body':7} {'path':22} {'req/s':>9} {'x nginx':>8} {'MB/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
               f"{'x nginx':>8} {'CPU/req us':>10} {'x nginx':>8} {'up CPU us':>9} {'sysc/req':>8} "
               f"{'x nginx':>8} {'non-2xx':>7}")
        print("\n" + hdr)
        for label, name, size in BODIES:
            ref = table[(label, "nginx proxy (no auth)")]
            for path, *_ in paths:
                r = table[(label, path)]
                print(f"{label:7} {path:22} {r['rps']:9.0f} {r['rps'] / ref['rps']:8.2f} {r['rps'] * size / 1e6:8.1f} "
                      f"{r['p50']:7.2f} {r['p99']:7.2f} {r['p99'] / ref['p99']:8.2f} {r['cpu_us']:10.1f} "
                      f"{r['cpu_us'] / max(ref['cpu_us'], 1e-9):8.2f} {r['up_cpu_us']:9.1f} {r['syscalls']:8.1f} "
                      f"{r['syscalls'] / max(ref['syscalls'], 1e-9):8.2f} {r['non2xx']:7d}")
        print("\nmost frequent syscalls in the strace sub-runs (calls):")
        for label, name, size in BODIES:
            for path, *_ in paths:
                r = table[(label, path)]
                print(f"  {label:7} {path:22} " + ", ".join(f"{c} {n}" for n, c in r["top"]))
        for label in ("1 KiB", "1 MiB"):
            ref = table[(label, "nginx proxy (no auth)")]
            cg = table[(label, "claimgate (cookie)")]
            target = 0.9 if label == "1 KiB" else 0.95
            print(f"W2 {label}: claimgate (cookie) / nginx req/s {cg['rps'] / ref['rps']:.2f} (target >= {target}), "
                  f"p99 {cg['p99'] / ref['p99']:.2f}x nginx's (target <= 2), syscalls/req {cg['syscalls']:.1f} "
                  f"vs nginx {ref['syscalls']:.1f}")
        load = os.getloadavg()
        print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        if any(r["non2xx"] for r in table.values()):
            print("WARNING: non-2xx answers during the run")
    finally:
        stack.stop()
        for p in (upstream, proxy):
            p.terminate()
            p.wait(10)


def extras(args):
    """The older sections: policy rules, the audit log's cost, audit verify, sign-ins (64-byte
    body)."""
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


def main():
    args = load_args(__doc__)
    matrix(args)
    if args.extras:
        extras(args)


if __name__ == "__main__":
    main()
