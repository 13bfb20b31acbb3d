"""A JupyterHub authenticator that trusts claimgate's signed identity JWT.

The gateway signs every proxied request's identity into `X-Claimgate-Assertion`: an ES256 JWT
(`kid` in its header; iss = the gateway's `identity.issuer`, by default its public_url; aud = the
route's name; sub, email, groups, roles as "role@project", iat, exp within 5 minutes). This
authenticator verifies that JWT against the gateway's JWKS (`/.well-known/jwks.json`) on every
sign-in to the hub and on each auth refresh; it never reads the plain `X-Claimgate-User` or
`X-Forwarded-User` headers, which anyone who reaches the hub directly could send.

claimgate roles decide who may use the hub and who administers it:

    c.JupyterHub.authenticator_class = "claimgate.jupyterhub.ClaimgateAuthenticator"
    c.ClaimgateAuthenticator.jwks_url = "https://ml.example.org/.well-known/jwks.json"
    c.ClaimgateAuthenticator.issuer = "https://ml.example.org"
    c.ClaimgateAuthenticator.audience = "jupyterhub"          # the route's name
    c.ClaimgateAuthenticator.allowed_roles = ["data-scientist", "admin"]
    c.ClaimgateAuthenticator.admin_roles = ["admin@*"]

A role entry is "role" (that role in any project) or "role@project" ("admin@*" is a role bound
to every project). Someone with none of `allowed_roles` is refused (403) even though the
gateway let them through. examples/jupyterhub/jupyterhub_config.py is a complete config.

Needs python3-jwt and python3-cryptography (and JupyterHub itself); the rest of the claimgate
package does not import this module.
"""
import json
import time

import jwt
from jwt.algorithms import ECAlgorithm
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from traitlets import Bool, Float, Integer, List, Unicode

from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from jupyterhub.handlers.login import LogoutHandler


class ClaimgateLoginHandler(BaseHandler):
    """/hub/login: signs the person in from the gateway's JWT, with no form."""

    async def get(self):
        user = await self.login_user()
        if user is None:
            why = getattr(self, "_claimgate_refusal", None) or "you are not allowed to use this hub"
            raise web.HTTPError(403, "%s", why)
        self.redirect(self.get_next_url(user))


class ClaimgateLogoutHandler(LogoutHandler):
    """/hub/logout: ends the hub's cookie, then sends the browser to the gateway's sign-out
    (otherwise the next visit signs the person straight back in from the gateway's session)."""

    async def render_logout_page(self):
        url = self.authenticator.logout_redirect_url
        if url:
            self.redirect(url, permanent=False)
        else:
            await super().render_logout_page()


class ClaimgateAuthenticator(Authenticator):
    """Signs people in from the gateway's signed identity JWT (verified with its JWKS)."""

    auto_login = True
    login_service = "claimgate"

    jwks_url = Unicode(config=True, help="The gateway's JWKS: <public_url>/.well-known/jwks.json "
                                         "(a loopback URL of the gateway works too)")
    issuer = Unicode(config=True, help="The JWT's iss: the gateway's identity.issuer (its public_url)")
    audience = Unicode("jupyterhub", config=True, help="The JWT's aud: the gateway route's name")
    header = Unicode("X-Claimgate-Assertion", config=True,
                     help="The header holding the JWT (identity.header_prefix + 'Assertion')")
    username_claim = Unicode("sub", config=True, help="The claim that names the JupyterHub user")
    strip_domain = Unicode("", config=True,
                           help="Remove this '@domain' from the username (e.g. 'example.org')")
    allow_agents = Bool(False, config=True,
                        help="Accept identity JWTs of agent tokens (an RFC 8693 'act' claim): "
                             "such a sign-in is never a hub admin, whatever the person's roles")
    allowed_roles = List(Unicode(), ["data-scientist", "admin"], config=True,
                         help="Roles that may use the hub: 'role' (any project) or 'role@project'")
    admin_roles = List(Unicode(), ["admin@*"], config=True,
                       help="Roles that make a hub admin (re-read at every sign-in and auth refresh)")
    logout_redirect_url = Unicode("", config=True,
                                  help="Where /hub/logout sends the browser: <public_url>/saml/logout")
    leeway = Float(30.0, config=True, help="Clock skew allowed on exp/iat, seconds")
    jwks_min_refetch = Integer(30, config=True,
                               help="Seconds between JWKS fetches for an unknown kid (rotation)")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._keys = {}
        self._fetched = 0.0

    def get_handlers(self, app):
        return [(r"/login", ClaimgateLoginHandler), (r"/logout", ClaimgateLogoutHandler)]

    # ---- the JWT

    async def _key(self, kid):
        if kid not in self._keys and time.monotonic() - self._fetched >= self.jwks_min_refetch:
            self._fetched = time.monotonic()
            resp = await AsyncHTTPClient().fetch(self.jwks_url, request_timeout=5)
            keys = {}
            for k in json.loads(resp.body).get("keys", []):
                if k.get("kty") == "EC" and k.get("crv") == "P-256" and k.get("kid"):
                    keys[k["kid"]] = ECAlgorithm(ECAlgorithm.SHA256).from_jwk(json.dumps(k))
            self._keys = keys
        return self._keys.get(kid)

    async def verified_claims(self, handler):
        """The JWT's claims when it verifies; None (and the reason logged) otherwise."""
        token = handler.request.headers.get(self.header, "")
        if not token:
            return None, f"no {self.header} header: the hub is reachable only through claimgate"
        try:
            kid = jwt.get_unverified_header(token).get("kid", "")
            key = await self._key(kid)
            if key is None:
                return None, f"the JWT's key id {kid[:40]!r} is not in the gateway's JWKS"
            claims = jwt.decode(token, key, algorithms=["ES256"], audience=self.audience,
                                issuer=self.issuer, leeway=self.leeway,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.PyJWTError as e:
            return None, f"the identity JWT does not verify: {e}"
        except Exception as e:  # JWKS unreachable or malformed: fail closed
            return None, f"the gateway's JWKS could not be read: {e}"
        if "act" in claims and not self.allow_agents:
            act = claims["act"].get("sub", "?") if isinstance(claims["act"], dict) else "?"
            return None, (f"the identity JWT is an agent's ({str(act)[:60]} acting for "
                          f"{str(claims.get('sub', ''))[:60]}): this hub signs in people only "
                          "(ClaimgateAuthenticator.allow_agents)")
        return claims, ""

    # ---- roles

    @staticmethod
    def _holds(roles, wanted):
        for w in wanted:
            for r in roles:
                if w == r or ("@" not in w and w == r.partition("@")[0]):
                    return True
        return False

    def _model(self, claims):
        name = str(claims.get(self.username_claim, ""))
        if self.strip_domain and name.endswith("@" + self.strip_domain):
            name = name[: -len(self.strip_domain) - 1]
        roles = [r for r in claims.get("roles", []) if isinstance(r, str)]
        # An agent acting for the person carries the person's roles but only its own scope: the
        # hub's admin is a person's, never an agent's.
        agent = "act" in claims
        return {"name": name, "admin": not agent and self._holds(roles, self.admin_roles),
                "auth_state": {"claimgate_roles": roles, "groups": claims.get("groups", []),
                               "email": claims.get("email", "")}}

    async def authenticate(self, handler, data=None):
        claims, why = await self.verified_claims(handler)
        if claims is None:
            self.log.warning("claimgate sign-in refused: %s", why)
            handler._claimgate_refusal = why
            return None
        model = self._model(claims)
        if not self._holds(model["auth_state"]["claimgate_roles"], self.allowed_roles):
            handler._claimgate_refusal = (
                f"{model['name']} holds none of the roles this hub allows "
                f"({', '.join(self.allowed_roles)}); their claimgate roles: "
                f"{', '.join(model['auth_state']['claimgate_roles']) or 'none'}")
            self.log.warning("claimgate sign-in refused: %s", handler._claimgate_refusal)
            return None
        return model

    async def refresh_user(self, user, handler=None):
        """Requests through the gateway carry a fresh JWT: re-read the roles (admin follows the
        admin role). Requests with no JWT (the single-user servers' API calls with their own hub
        tokens, which never pass the gateway) keep what the hub knows."""
        if handler is None or not handler.request.headers.get(self.header):
            return True
        claims, why = await self.verified_claims(handler)
        if claims is None:
            self.log.warning("claimgate refresh of %s refused: %s", user.name, why)
            return False
        model = self._model(claims)
        if self.normalize_username(model["name"]) != user.name:
            return False  # another person's gateway session on this hub cookie: sign in again
        if not self._holds(model["auth_state"]["claimgate_roles"], self.allowed_roles):
            return False
        return model
