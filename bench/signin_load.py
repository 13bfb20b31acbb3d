#!/usr/bin/python3
"""Sign-in load benchmark: distinct signed responses POSTed concurrently to /saml/acs, audit on,
with the memory store and with SQLite (on a new database, and on one that already holds
`--sqlite-rows` live sessions), each reported as sign-ins/s and server CPU per sign-in, beside
the in-process validation reference measured in the same run (bench/saml_validate_bench).

Every sign-in is a real one: its pending request made by GET /saml/login (RelayState, the
browser's pending cookie, the AuthnRequest's ID as InResponseTo), its Response signed
beforehand (RSA-2048/SHA-256, by bench/signin_responses with the IdP's key), then all of them
POSTed by wrk (C, so that the client costs little of the 2 cores it shares with the gateway),
each once. The gateway validates each, takes the pending request, records the assertion id in
the replay cache, stores a session, writes login.success and session.created to the audit log
(durable: synced before the 303), and answers 303.

    bench/signin_load.py --bin build/dev/src/cli/claimgate [--signins 6000] [--sqlite-rows 1000000]

Targets (issue 21, W1): >= 10,000 sign-ins/s with the memory store and the audit log on, about
0.2 ms of server CPU per sign-in on 2 cores; SQLite >= 0.8 of that, flat as the database grows.
Throughput on a shared machine is noisy: the CPU per sign-in (utime + stime of the gateway over
the run, /proc) is the figure to compare, with the validation alone (the reference) beside it.
"""
import argparse
import base64
import concurrent.futures
import http.client
import os
import pathlib
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "quickstart"))
from demo_stack import DemoStack  # noqa: E402

NO_SIGNIN_LIMITS = "limits: {signins_per_minute: 0, pending_signins_per_client: 0}\n"
TICK = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = r"""
local threads, counter = {}, 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  local nthreads, path = tonumber(args[1]), args[2]
  reqs, n, ok, bad = {}, 0, 0, 0
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid then
      local cookie, body = line:match("^([^\t]*)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", "/saml/acs", {["Cookie"] = cookie,
        ["Content-Type"] = "application/x-www-form-urlencoded"}, body)
    end
    i = i + 1
  end
end
function request()
  n = n + 1
  if n > #reqs then return wrk.format("GET", "/healthz") end
  return reqs[n]
end
function response(status, headers, body)
  if status == 303 then ok = ok + 1 elseif status ~= 200 then bad = bad + 1 end
  if ok + bad >= #reqs then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("SIGNINS ok=%d bad=%d p50_us=%d p99_us=%d\n", o, b,
    latency:percentile(50), latency:percentile(99)))
end
"""


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def signins_total(stack):
    c = http.client.HTTPConnection("127.0.0.1", stack.diag_port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    return sum(float(m.group(1)) for m in
               re.finditer(r'^claimgate_signins_total\{[^}]*result="success"[^}]*\} ([\d.e+]+)$', text, re.M))


def pending_signins(stack, count):
    """GET /saml/login `count` times: (pending cookie, RelayState, AuthnRequest ID) each."""
    def some(n):
        c = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        out = []
        for _ in range(n):
            c.request("GET", "/saml/login")
            r = c.getresponse()
            r.read()
            q = urllib.parse.parse_qs(urllib.parse.urlparse(r.getheader("Location")).query)
            xml = zlib.decompress(base64.b64decode(q["SAMLRequest"][0]), -15).decode()
            out.append((r.getheader("Set-Cookie").split(";")[0], q["RelayState"][0],
                        re.search(r'\sID="([^"]+)"', xml).group(1)))
        c.close()
        return out
    parts = [count // 4 + (1 if i < count % 4 else 0) for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        return [p for chunk in ex.map(some, parts) for p in chunk]


def run_signins(stack, tool, count, connections, threads, work, perf=None):
    t0 = time.monotonic()
    pending = pending_signins(stack, count)
    idp = stack.idps[0]
    made = subprocess.run([tool, "--key", str(idp.key), "--cert", str(idp.crt), "--issuer", idp.url + "/metadata",
                           "--acs", stack.url + "/saml/acs", "--audience", stack.url + "/saml/metadata"],
                          input="".join(f"{rid} user{i}\n" for i, (_, _, rid) in enumerate(pending)),
                          capture_output=True, text=True, check=True).stdout.split()
    assert len(made) == count, (len(made), count)
    reqs = work / "requests.tsv"
    with open(reqs, "w") as f:
        for (cookie, relay, _), b64 in zip(pending, made):
            f.write(cookie + "\t" + urllib.parse.urlencode({"SAMLResponse": b64, "RelayState": relay}) + "\n")
    prepare = time.monotonic() - t0
    script = work / "signins.lua"
    script.write_text(WRK_SCRIPT)
    base = signins_total(stack)
    pid = stack.gateway.pid
    prof = None
    if perf:  # the gateway's profile over the run (perf report -i FILE)
        prof = subprocess.Popen(["perf", "record", "-g", "-F", "999", "-p", str(pid), "-o", perf],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    cpu0, w0 = cpu_seconds(pid), time.monotonic()
    wrk = subprocess.Popen(["wrk", "-t", str(threads), "-c", str(connections), "-d", "120s", "--timeout", "10s",
                            "-s", str(script), f"http://127.0.0.1:{stack.port}", "--", str(threads), str(reqs)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Started when the first sign-in lands (wrk's set-up, reading the file, is not counted),
    # ended when the last one has: the audit log grows by two durable records a sign-in, watched
    # from here so that the gateway does no extra work for the benchmark (a /metrics scrape
    # counts the sessions). Bounded by wrk's own 120 s.
    audit = stack.dir / "audit" / "audit.jsonl"
    size0 = audit.stat().st_size
    start = None
    last, last_t, last_cpu = size0, w0, cpu0
    prev_t, prev_cpu = w0, cpu0
    deadline = time.monotonic() + 130
    while time.monotonic() < deadline and wrk.poll() is None:
        size = audit.stat().st_size
        t, cpu = time.monotonic(), cpu_seconds(pid)
        if start is None and size > size0:
            start, cpu_start = prev_t, prev_cpu
        if size != last:
            last, last_t, last_cpu = size, t, cpu
        if start is not None and t - last_t > 1.0:
            break  # nothing more for a second: all answered
        prev_t, prev_cpu = t, cpu
        time.sleep(0.01)
    end, cpu_end = last_t, last_cpu
    ok_total = signins_total(stack) - base
    if prof:
        prof.send_signal(signal.SIGINT)
        prof.wait(30)
    if wrk.poll() is None:
        wrk.send_signal(signal.SIGINT)
    out = wrk.communicate(timeout=30)[0]
    m = re.search(r"SIGNINS ok=(\d+) bad=(\d+) p50_us=(\d+) p99_us=(\d+)", out)
    if start is None:
        start, cpu_start = w0, cpu0
    secs = end - start
    ok = int(ok_total)
    return {"count": count, "ok": ok, "bad": int(m.group(2)) if m else -1, "seconds": secs,
            "per_second": ok / secs if secs > 0 else 0, "cpu_ms": (cpu_end - cpu_start) * 1000 / max(ok, 1),
            "p50_ms": int(m.group(3)) / 1000 if m else 0, "p99_ms": int(m.group(4)) / 1000 if m else 0,
            "prepare_seconds": prepare, "last": last}


def add_sessions(db_path, rows):
    """`rows` live sessions straight into the gateway's SQLite database (gateway stopped)."""
    db = sqlite3.connect(db_path)
    far = int((time.time() + 8 * 3600) * 1000)
    now = int(time.time() * 1000)
    db.execute("PRAGMA synchronous=OFF")
    idle_column = any(r[1] == "idle_until_ms" for r in db.execute("PRAGMA table_info(sessions)"))
    columns = "id, subject, idp, session_index, data, expires_ms, idle_s, last_seen_ms"
    if idle_column:
        columns += ", idle_until_ms"
    marks = ",".join("?" * len(columns.split(",")))
    batch = 50_000
    for start in range(0, rows, batch):
        db.executemany(f"INSERT INTO sessions({columns}) VALUES ({marks})",
                       ((os.urandom(32).hex(), f"filler{i}", "demo", "_s", "{}", far, 3600, now, now + 3600_000)
                        [:len(columns.split(","))] for i in range(start, min(rows, start + batch))))
        db.commit()
    db.close()


def validation_reference(bench):
    out = subprocess.run([bench, "--benchmark_filter=BM_RsaVerify2048|BM_ValidateResponse",
                          "--benchmark_min_time=1"], capture_output=True, text=True, timeout=120).stdout
    return "\n".join(line for line in out.splitlines() if line.strip().startswith(("bare", "claimgate", "Summary")))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "build" / "dev" / "src" / "cli" / "claimgate"))
    ap.add_argument("--tool", default=None, help="bench/signin_responses (default: beside --bin's build)")
    ap.add_argument("--validate-bench", default=None, help="bench/saml_validate_bench (same default)")
    ap.add_argument("--signins", type=int, default=6000)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--sqlite-rows", type=int, default=1_000_000, help="0: skip the large-database run")
    ap.add_argument("--stores", default="memory,sqlite")
    ap.add_argument("--perf", default=None, help="record the gateway's profile of each run to FILE.<store>")
    args = ap.parse_args()
    build = pathlib.Path(args.bin).resolve().parents[2]
    tool = args.tool or str(build / "bench" / "signin_responses")
    vbench = args.validate_bench or str(build / "bench" / "saml_validate_bench")
    d = pathlib.Path(tempfile.mkdtemp(prefix="claimgate-signin-"))
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}; "
          f"wrk {args.threads} thread(s), {args.connections} connections; {args.signins} sign-ins a run")
    results = []
    for store in args.stores.split(","):
        stack = DemoStack(d / store, args.bin, store=store, log_level="warn", upstream=False,
                          routes=[{"name": "app", "prefix": "/", "upstream": "http://127.0.0.1:9"}],
                          extra_config="threads: 2\n" + NO_SIGNIN_LIMITS)
        try:
            results.append((f"{store}", run_signins(stack, tool, args.signins, args.connections, args.threads,
                                                    d / store, args.perf and f"{args.perf}.{store}")))
            if store == "sqlite" and args.sqlite_rows:
                assert stack.stop_gateway() == 0
                t0 = time.monotonic()
                add_sessions(stack.dir / "state.db", args.sqlite_rows)
                filled = time.monotonic() - t0
                stack.start_gateway()
                results.append((f"sqlite, +{args.sqlite_rows:,} sessions ({filled:.0f}s to add)",
                                run_signins(stack, tool, args.signins, args.connections, args.threads,
                                            d / store, args.perf and f"{args.perf}.{store}-large")))
        finally:
            stack.stop()
    print(f"\n{'store':44} {'ok':>6} {'bad':>5} {'s':>6} {'sign-ins/s':>10} {'CPU ms/sign-in':>15} "
          f"{'p50 ms':>7} {'p99 ms':>7}")
    for name, r in results:
        print(f"{name:44} {r['ok']:6d} {r['bad']:5d} {r['seconds']:6.2f} {r['per_second']:10.0f} "
              f"{r['cpu_ms']:15.3f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f}")
    for name, r in results:
        print(f"{name}: {2 / r['cpu_ms'] * 1000:.0f} sign-ins/s of CPU on 2 cores (target 10,000 for memory)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if os.path.exists(vbench):
        print("\nin-process validation (the reference, same run):\n" + validation_reference(vbench))


if __name__ == "__main__":
    main()
