#!/usr/bin/python3
"""Redis store benchmark: the same gateway config on the memory store and on a real redis-server
(started here on loopback, persistence off), measured in one run.

  1. authenticated proxy throughput (wrk, session cookie, identity headers, JWT, an audit record
     per request) through each, alternately three times; the ratio of the medians is the Redis
     store's cost (target: at least 0.95). The local view answers session reads, so an
     authenticated request should cost no Redis round trip; the view's hit/miss counters from
     /metrics are printed to show it;
  2. sign-ins per second through /saml/acs with distinct signed responses on each store (every
     sign-in takes its pending request, records the assertion id in the replay cache and stores
     a session: three Redis scripts on the Redis store);
  3. the Redis round trip itself (redis-benchmark PING, one connection), for reference.

    bench/redis_load.py --bin build/bench/src/cli/claimgate [--seconds 10] [--connections 64]
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from gateway_load import NO_SIGNIN_LIMITS, DemoStack, free_port, load_args, signins, start_nginx, wrk  # noqa: E402
from redis_helper import RedisServer  # noqa: E402


def metric(url, name):
    import requests
    text = requests.get(url + "/metrics", timeout=10).text
    m = re.search(re.escape(name) + r"\s+([\d.e+]+)", text)
    return float(m.group(1)) if m else None


def main():
    args = load_args(__doc__)
    workers = args.workers or os.cpu_count()
    d = pathlib.Path(tempfile.mkdtemp(prefix="claimgate-redis-bench-"))
    up_port = free_port()
    body = "x" * 64
    upstream = start_nginx(d / "upstream", f"""
  server {{ listen 127.0.0.1:{up_port} reuseport backlog=4096;
    location / {{ default_type text/plain; return 200 "{body}"; }}
    location = /.well-known/jwks.json {{ return 404; }} }}""", up_port, workers=1)
    redis = RedisServer(d / "redis", persist=False)
    stacks = {}
    try:
        import requests
        route = [{"name": "app", "prefix": "/", "upstream": f"http://127.0.0.1:{up_port}"}]
        for name, store in (("memory", "memory"),
                            ("redis", "{kind: redis, address: 127.0.0.1:%d}" % redis.port)):
            st = DemoStack(d / name, args.bin, store=store, log_level="warn", upstream=False, routes=route,
                           extra_config=f"threads: {workers}\n" + NO_SIGNIN_LIMITS)
            s = requests.Session()
            st.signin(s, "alice", "/")
            check = s.get(st.url + "/bench", timeout=10)
            assert check.status_code == 200 and check.text == body, (name, check.status_code, check.text[:200])
            stacks[name] = (st, "cg_session=" + s.cookies.get("cg_session"))
        redis_url = stacks["redis"][0].diag_url  # /metrics is on the diagnostics listener
        before = {e: metric(redis_url, f'claimgate_redis_view_total{{event="{e}"}}') for e in ("hit", "miss")}
        print(f"wrk: {args.connections} connections, {args.threads} threads, {args.seconds}s each; "
              f"claimgate threads: {workers}; {os.cpu_count()} cores shared with wrk and redis-server")
        runs = {"memory": [], "redis": []}
        for _ in range(3):
            for name in ("memory", "redis"):
                st, cookie = stacks[name]
                runs[name].append(wrk(st.url + "/bench", args.seconds, args.connections, args.threads,
                                      (f"Cookie: {cookie}",)))
        after = {e: metric(redis_url, f'claimgate_redis_view_total{{event="{e}"}}') for e in ("hit", "miss")}
        median = lambda rs: sorted(rs, key=lambda r: r["rps"])[1]
        print(f"\n{'store':10} {'req/s (median)':>15} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}   runs")
        for name in ("memory", "redis"):
            m = median(runs[name])
            print(f"{name:10} {m['rps']:15.0f} {m['p50']:8.2f} {m['p99']:8.2f} {m['non2xx']:8d}   "
                  + ", ".join(f"{r['rps']:.0f}" for r in runs[name]))
        ratio = median(runs["redis"])["rps"] / median(runs["memory"])["rps"]
        print(f"\nredis / memory throughput: {ratio:.3f} (target >= 0.95)")
        hits = after["hit"] - before["hit"]
        misses = after["miss"] - before["miss"]
        print(f"redis gateway's local view during its runs: {hits:.0f} hits, {misses:.0f} reads from Redis")
        for name in ("memory", "redis"):
            si = signins(stacks[name][0], args.signins, workers=8)
            print(f"sign-ins through /saml/acs, {name} store: {si['ok']}/{si['count']} accepted in "
                  f"{si['seconds']:.2f}s = {si['per_second']:.0f} sign-ins/s (8 client threads)")
        ping = subprocess.run(["redis-benchmark", "-p", str(redis.port), "-c", "1", "-n", "20000", "-q",
                               "-t", "ping"], capture_output=True, text=True, timeout=120).stdout
        print("redis-benchmark, one connection (the round trip a request would cost without the view):")
        for line in ping.replace("\r", "\n").splitlines():
            if "requests per second" in line:
                print("  " + line.strip())
    finally:
        for st, _ in stacks.values():
            st.stop()
        redis.stop()
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    main()
