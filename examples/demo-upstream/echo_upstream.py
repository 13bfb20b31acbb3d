#!/usr/bin/python3
"""A demo upstream for claimgate: it shows (and echoes back) what the gateway passed on.

  GET  /anything            HTML (browsers) or JSON: method, path, every header received, and
                            the identity JWT checked against the gateway's JWKS (--jwks-url)
  POST /upload              consumes the body as it streams (chunked too): {"bytes", "sha256"}
  GET  /download?bytes=N    streams N bytes (Content-Length; &chunked=1 for chunked)
  GET  /ws                  WebSocket echo (text and binary; closes when asked)
  GET  /events              Server-Sent Events: "one", then waits for GET /events/release, "two"
  GET  /slow?seconds=N      answers after N seconds
Standard library only (plus python3-jwt for the JWT check). Listens on 127.0.0.1.
"""
import argparse
import base64
import hashlib
import html
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
release = threading.Event()


def check_jwt(token, jwks_url, audience_hint):
    if not token:
        return {"verified": False, "why": "no X-Claimgate-Assertion header"}
    if not jwks_url:
        return {"verified": False, "why": "no --jwks-url given"}
    try:
        import jwt
        from jwt.algorithms import ECAlgorithm
        keys = json.load(urllib.request.urlopen(jwks_url, timeout=5))["keys"]
        kid = jwt.get_unverified_header(token)["kid"]
        jwk = next(k for k in keys if k["kid"] == kid)
        key = ECAlgorithm.from_jwk(json.dumps(jwk))
        aud = jwt.decode(token, options={"verify_signature": False}).get("aud")
        claims = jwt.decode(token, key, algorithms=["ES256"], audience=aud)
        return {"verified": True, "claims": claims}
    except Exception as e:  # shown on the page: the point is to see what went wrong
        return {"verified": False, "why": f"{type(e).__name__}: {e}"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo-upstream"
    jwks_url = None

    def log_message(self, fmt, *a):
        if self.server.verbose:
            sys.stderr.write("echo-upstream: " + (fmt % a) + "\n")

    def reply(self, status, body, ctype="application/json", extra=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_exactly(self, n):
        """Yields the next n body bytes in pieces of at most 64 KiB (fewer if the peer closes)."""
        while n:
            chunk = self.rfile.read(min(n, 1 << 16))
            if not chunk:
                return
            n -= len(chunk)
            yield chunk

    def body_chunks(self):
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            yield from self.read_exactly(int(self.headers.get("Content-Length", "0")))
            return
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            yield from self.read_exactly(size)
            self.rfile.readline()

    def echo(self, body_bytes=0, sha=None):
        path, _, query = self.path.partition("?")
        headers = {k: v for k, v in self.headers.items()}
        token = self.headers.get("X-Claimgate-Assertion")
        info = {"method": self.command, "path": path, "query": query, "headers": headers,
                "body_bytes": body_bytes, "jwt": check_jwt(token, self.jwks_url, None)}
        if sha:
            info["sha256"] = sha
        if "text/html" in self.headers.get("Accept", "") and self.command == "GET":
            user = self.headers.get("X-Claimgate-User", "(nobody)")
            rows = "".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(v[:300])}</code></td></tr>"
                           for k, v in sorted(headers.items()))
            verdict = ("verified with the gateway's JWKS" if info["jwt"]["verified"]
                       else "NOT verified: " + info["jwt"].get("why", ""))
            page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Demo upstream</title>"
                    "<style>body{font:15px system-ui,sans-serif;margin:40px auto;max-width:900px;padding:0 20px}"
                    "th{text-align:left;padding:4px 12px 4px 0;vertical-align:top;color:#555}"
                    "code{word-break:break-all}</style></head><body>"
                    f"<h1>Hello, {html.escape(user)}</h1><p>This is a demo upstream behind claimgate. "
                    f"The identity JWT was <b>{html.escape(verdict)}</b>.</p>"
                    "<p><a href='/.claimgate/whoami'>Who am I (gateway)</a> &middot; "
                    "<a href='/saml/logout'>Sign out</a></p>"
                    f"<h2>Headers this upstream received</h2><table>{rows}</table></body></html>")
            return self.reply(200, page, "text/html; charset=utf-8")
        self.reply(200, json.dumps(info, indent=1))

    def do_GET(self):
        path, _, query = self.path.partition("?")
        q = urllib.parse.parse_qs(query)
        if path == "/download":
            n = int(q.get("bytes", ["0"])[0])
            chunked = q.get("chunked", ["0"])[0] == "1"
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(n))
            self.end_headers()
            block = bytes(range(256)) * 256  # 64 KiB
            left = n
            while left:
                part = block[:min(left, len(block))]
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
                else:
                    self.wfile.write(part)
                left -= len(part)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            return
        if path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        if path == "/events":
            release.clear()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, word in enumerate(["one", "two"]):
                if i == 1 and not release.wait(30):
                    break
                ev = f"data: {word}\n\n".encode()
                self.wfile.write(b"%x\r\n" % len(ev) + ev + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        if path == "/events/release":
            release.set()
            return self.reply(200, "{}")
        if path == "/slow":
            time.sleep(float(q.get("seconds", ["1"])[0]))
        self.echo()

    do_HEAD = do_GET

    def do_POST(self):
        h = hashlib.sha256()
        n = 0
        for chunk in self.body_chunks():
            h.update(chunk)
            n += len(chunk)
        self.echo(n, h.hexdigest())

    do_PUT = do_POST
    do_DELETE = do_POST
    do_PATCH = do_POST

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        proto = self.headers.get("Sec-WebSocket-Protocol")
        if proto:
            self.send_header("Sec-WebSocket-Protocol", proto.split(",")[0].strip())
        self.end_headers()
        self.wfile.flush()
        user = self.headers.get("X-Claimgate-User", "")
        r = self.rfile
        while True:
            head = r.read(2)
            if len(head) < 2:
                return
            op = head[0] & 0x0F
            n = head[1] & 0x7F
            if n == 126:
                n = struct.unpack(">H", r.read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", r.read(8))[0]
            mask = r.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytearray(r.read(n))
            for i in range(len(data)):
                data[i] ^= mask[i % 4]
            if op == 8:  # close: answer with the same code
                self.ws_send(8, bytes(data[:2]))
                return
            if op == 9:
                self.ws_send(10, bytes(data))
                continue
            if op == 1 and data == b"whoami":
                data = bytearray(user.encode())
            self.ws_send(op, bytes(data))

    def ws_send(self, op, payload):
        n = len(payload)
        head = bytes([0x80 | op])
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        try:
            self.wfile.write(head + payload)
            self.wfile.flush()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--jwks-url")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--port-file", help="write the port chosen here")
    args = ap.parse_args()
    Handler.jwks_url = args.jwks_url
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    httpd.verbose = args.verbose
    port = httpd.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    sys.stderr.write(f"echo-upstream: listening on http://127.0.0.1:{port}\n")
    httpd.serve_forever()


if __name__ == "__main__":
    main()
