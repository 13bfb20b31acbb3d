"""Runs a real nginx (Debian's nginx-light) on loopback for tests and benchmarks."""
import os
import pathlib
import subprocess
import time
import urllib.request

NGINX = "/usr/sbin/nginx"


def start_nginx(directory, server_block, port, workers=1):
    d = pathlib.Path(directory)
    (d / "tmp").mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = d / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes {workers};\n"
        f"error_log {d}/nginx-error.log warn;\n"
        f"pid {d}/nginx.pid;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        f"  access_log off;\n"
        f"  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n"
        f"  fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n"
        + server_block + "\n}\n")
    proc = subprocess.Popen([NGINX, "-p", str(d), "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=open(d / "nginx-stderr.log", "wb"))
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError("nginx exited: " + (d / "nginx-stderr.log").read_text()
                               + (d / "nginx-error.log").read_text() if (d / "nginx-error.log").exists() else "")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=1):
                break
        except Exception as e:  # 404 etc. still means nginx answers
            if hasattr(e, "code"):
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"nginx did not answer on port {port}")
            time.sleep(0.05)
    return proc
