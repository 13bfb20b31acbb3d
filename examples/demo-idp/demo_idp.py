#!/usr/bin/python3
"""A demo SAML 2.0 identity provider for claimgate's quick start and integration tests.

pysaml2 (Debian's python3-pysaml2) does the SAML: it parses and verifies our AuthnRequests,
signs Responses (RSA-SHA256) and handles Single Logout. This file adds a login page and a
small HTTP server (standard library only). Users come from a JSON file:
    {"alice": {"password": "...", "groups": ["data-scientists"], "mail": "alice@example.org",
               "displayName": "Alice"}}

    demo_idp.py metadata --base-url http://127.0.0.1:8081 --key idp.key --cert idp.crt > idp.xml
    demo_idp.py serve --base-url ... --key ... --cert ... --sp-metadata sp.xml --users users.json
Listens on 127.0.0.1 only. Not for production: passwords are compared in plain text.
"""
import argparse
import base64
import html
import json
import secrets
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, sigver, xmldsig
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_TRANSIENT, NAMEID_FORMAT_UNSPECIFIED, NameID
from saml2.server import Server

STYLE = ("body{font:15px system-ui,sans-serif;background:#eef1f5;margin:0}"
         ".box{max-width:380px;margin:80px auto;background:#fff;border-radius:10px;padding:28px 32px;"
         "box-shadow:0 2px 10px #0001}h1{font-size:20px;margin:0 0 6px}p{color:#555}"
         "label{display:block;margin-top:14px;font-size:13px;color:#333}"
         "input{width:100%;padding:8px;margin-top:4px;border:1px solid #ccc;border-radius:6px}"
         "button{margin-top:18px;width:100%;padding:10px;border:0;border-radius:6px;background:#2b5fd9;"
         "color:#fff;font-size:15px}.err{color:#b3261e}")


def idp_config(base_url, key, cert, sp_metadata=None):
    entity = base_url + "/metadata"
    conf = IdPConfig()
    conf.load({
        "entityid": entity,
        "service": {"idp": {
            "endpoints": {
                "single_sign_on_service": [(base_url + "/sso", BINDING_HTTP_REDIRECT),
                                           (base_url + "/sso-post", BINDING_HTTP_POST)],
                "single_logout_service": [(base_url + "/slo", BINDING_HTTP_REDIRECT)],
            },
            "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
            # Redirect-binding requests are signed in the query string; checked in start().
            "want_authn_requests_signed": False,
            "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None,
                                   "name_form": NAME_FORMAT_BASIC}},
        }},
        "key_file": key,
        "cert_file": cert,
        "metadata": {"local": [sp_metadata]} if sp_metadata else {},
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "delete_tmpfiles": True,
    })
    return conf


class DemoIdp:
    def __init__(self, args):
        self.base = args.base_url.rstrip("/")
        self.server = Server(config=idp_config(self.base, args.key, args.cert, args.sp_metadata))
        with open(args.users) as f:
            self.users = json.load(f)
        self.pending = {}  # login form id -> parsed request details
        self.sessions = {}  # name id -> session index
        self.lock = threading.Lock()

    def login_page(self, ticket, error=""):
        err = f'<p class="err">{html.escape(error)}</p>' if error else ""
        names = ", ".join(sorted(self.users))
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>Demo IdP sign-in</title>"
                f"<style>{STYLE}</style></head><body><div class='box'><h1>Demo identity provider</h1>"
                f"<p>Sign in as one of: {html.escape(names)}</p>{err}"
                f"<form method='post' action='/login'><input type='hidden' name='ticket' value='{ticket}'>"
                "<label>Username<input name='username' autofocus></label>"
                "<label>Password<input name='password' type='password'></label>"
                "<button type='submit'>Sign in</button></form></div></body></html>")

    def start(self, saml_request, relay_state, binding, raw_query=None):
        req = self.server.parse_authn_request(saml_request, binding)
        msg = req.message
        if binding == BINDING_HTTP_REDIRECT:
            # The SP signs its requests: check the query-string signature with its metadata.
            certs = self.server.metadata.certs(msg.issuer.text, "spsso", "signing")
            query = {k: v[0] for k, v in urllib.parse.parse_qs(raw_query).items()}
            if not certs or not sigver.verify_redirect_signature(query, sigver.RSACrypto(None), cert=certs[0]):
                raise ValueError("the AuthnRequest's Redirect-binding signature does not verify")
        ticket = secrets.token_urlsafe(16)
        acs = msg.assertion_consumer_service_url
        with self.lock:
            self.pending[ticket] = {"id": msg.id, "sp": msg.issuer.text, "acs": acs, "relay": relay_state}
        return ticket

    def respond(self, ticket, username, password, unsolicited_sp=None):
        user = self.users.get(username)
        if not user or not secrets.compare_digest(user["password"], password):
            return None, "Unknown user or wrong password."
        with self.lock:
            p = self.pending.pop(ticket, None) if ticket else None
        if p is None and unsolicited_sp is None:
            return None, "This sign-in expired; start again from the application."
        if p is None:
            p = unsolicited_sp
        identity = {"uid": [username], "mail": [user["mail"]], "displayName": [user["displayName"]]}
        if "groups" in user:  # a user without the key: the attribute is left out (not sent empty)
            identity["groups"] = list(user["groups"])
        for name, values in user.get("attributes", {}).items():  # more, by attribute name
            identity[name] = list(values)
        # A user marked "name_id_format": "transient" gets a new opaque NameID at every sign-in
        # (SimpleSAMLphp's default); others get their username, format unspecified.
        if user.get("name_id_format") == "transient":
            name_id = NameID(format=NAMEID_FORMAT_TRANSIENT, text="_" + secrets.token_hex(16))
        else:
            name_id = NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=username)
        session_index = secrets.token_hex(8)
        with self.lock:
            self.sessions[username] = session_index
        resp = self.server.create_authn_response(
            identity, in_response_to=p["id"], destination=p["acs"], sp_entity_id=p["sp"],
            name_id=name_id,
            authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": self.base + "/metadata"},
            sign_response=True, sign_assertion=True,
            sign_alg=xmldsig.SIG_RSA_SHA256, digest_alg=xmldsig.DIGEST_SHA256,
            session_index=session_index)
        b64 = base64.b64encode(str(resp).encode()).decode()
        form = (f"<!doctype html><html><head><meta charset='utf-8'><title>Signing in</title></head>"
                f"<body onload='document.forms[0].submit()'><form method='post' action='{html.escape(p['acs'])}'>"
                f"<input type='hidden' name='SAMLResponse' value='{b64}'>"
                f"<input type='hidden' name='RelayState' value='{html.escape(p['relay'] or '')}'>"
                "<noscript><button type='submit'>Continue</button></noscript></form></body></html>")
        return form, None

    def logout(self, query):
        q = urllib.parse.parse_qs(query)
        req = self.server.parse_logout_request(q["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        relay = q.get("RelayState", [""])[0]
        resp = self.server.create_logout_response(req.message, [BINDING_HTTP_REDIRECT], sign=False)
        # Sign on the Redirect binding (query-string signature), as claimgate requires.
        info = self.server.apply_binding(BINDING_HTTP_REDIRECT, str(resp), resp.destination, relay,
                                         response=True, sign=True, sigalg=xmldsig.SIG_RSA_SHA256)
        return dict(info["headers"])["Location"]


def handler_for(idp):
    class Handler(BaseHTTPRequestHandler):
        server_version = "demo-idp"

        def log_message(self, fmt, *a):
            sys.stderr.write("demo-idp: " + (fmt % a) + "\n")

        def send(self, status, body, ctype="text/html; charset=utf-8", headers=()):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path, _, query = self.path.partition("?")
            q = urllib.parse.parse_qs(query)
            try:
                if path == "/metadata":
                    return self.send(200, str(entity_descriptor(idp.server.config)), "application/samlmetadata+xml")
                if path == "/sso":
                    ticket = idp.start(q["SAMLRequest"][0], q.get("RelayState", [""])[0], BINDING_HTTP_REDIRECT, query)
                    return self.send(200, idp.login_page(ticket))
                if path == "/slo":
                    return self.send(302, "", headers=[("Location", idp.logout(query))])
                if path == "/healthz":
                    return self.send(200, "ok\n", "text/plain")
            except Exception as e:  # a bad request from a client: say so, keep serving
                return self.send(400, f"<p>Bad SAML request: {html.escape(type(e).__name__ + ': ' + str(e))}</p>")
            self.send(404, "<p>Not found</p>")

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            get = lambda k: form.get(k, [""])[0]
            try:
                if self.path == "/sso-post":
                    ticket = idp.start(get("SAMLRequest"), get("RelayState"), BINDING_HTTP_POST)
                    return self.send(200, idp.login_page(ticket))
                if self.path == "/login":
                    page, error = idp.respond(get("ticket"), get("username"), get("password"))
                    if error:
                        return self.send(401, idp.login_page(get("ticket"), error))
                    return self.send(200, page)
                if self.path == "/idp-initiated":
                    # Tests: an unsolicited Response for the SP named in the form.
                    sp = {"id": None, "sp": get("sp"), "acs": get("acs"), "relay": ""}
                    page, error = idp.respond(None, get("username"), get("password"), unsolicited_sp=sp)
                    return self.send(401 if error else 200, error or page)
            except Exception as e:
                return self.send(400, f"<p>Bad request: {html.escape(str(e))}</p>")
            self.send(404, "<p>Not found</p>")

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["metadata", "serve"])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--sp-metadata")
    ap.add_argument("--users")
    args = ap.parse_args()
    if args.command == "metadata":
        print(str(entity_descriptor(idp_config(args.base_url.rstrip("/"), args.key, args.cert))))
        return
    if not args.sp_metadata or not args.users:
        ap.error("serve needs --sp-metadata and --users")
    idp = DemoIdp(args)
    port = int(urllib.parse.urlparse(args.base_url).port or 80)
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler_for(idp))
    sys.stderr.write(f"demo-idp: listening on {args.base_url}\n")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
