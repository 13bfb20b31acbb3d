"""SAML Responses in the shapes real IdPs emit by default (Okta, Entra ID, ADFS, Google Workspace,
Keycloak, OneLogin, Shibboleth IdP, Auth0), built here from what each vendor documents and signed
(and, where that IdP encrypts by default, encrypted) at test time with keys the test makes.

Each shape fixes what differs between IdPs: the namespace prefixes (or default namespaces), the
Issuer, the NameID format and qualifiers, the attribute names, NameFormats and FriendlyNames,
repeated attributes, which element is signed (Response, Assertion or both), the KeyInfo and the
encryption algorithms. What is the same everywhere (audience, recipient, InResponseTo, times) is
taken from the AuthnRequest the gateway sent.
"""
import base64
import datetime as dt
import hashlib
import os
import re
import secrets
import subprocess
import uuid
import zlib
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape, quoteattr

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
UNSPEC_NAMEFORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

MS = "http://schemas.microsoft.com/identity/claims/"
XMLSOAP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
ENTRA_GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
ENTRA_ROLE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
ENTRA_GROUPS_LINK = "http://schemas.microsoft.com/claims/groups.link"
ADFS_GROUP = "http://schemas.xmlsoap.org/claims/Group"
EPPN = "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"
IS_MEMBER_OF = "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"
MAIL_OID = "urn:oid:0.9.2342.19200300.100.1.3"
DISPLAY_NAME_OID = "urn:oid:2.16.840.1.113730.3.1.241"
SCOPED_AFFILIATION = "urn:oid:1.3.6.1.4.1.5923.1.1.1.9"
X500_EMAIL = "urn:oid:1.2.840.113549.1.9.1"

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def instant(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def instant_ms(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@dataclass
class Attr:
    name: str
    values: list
    name_format: str = None
    friendly_name: str = None
    typed: bool = True  # xsi:type="xs:string" on each value


@dataclass
class NameId:
    value: str
    format: str
    name_qualifier: str = None
    sp_name_qualifier: str = None


@dataclass
class Request:
    """What the gateway's AuthnRequest (HTTP-Redirect) says: its ID and where to answer."""
    id: str
    acs: str
    sp_entity_id: str
    relay_state: str
    name_id_policy: str = None


def parse_redirect(location):
    q = parse_qs(urlparse(location).query)
    xml = zlib.decompress(base64.b64decode(q["SAMLRequest"][0]), -15).decode()
    rid = re.search(r'\bID="([^"]+)"', xml).group(1)
    acs = re.search(r'AssertionConsumerServiceURL="([^"]+)"', xml).group(1)
    issuer = re.search(r"<(?:\w+:)?Issuer[^>]*>([^<]+)</", xml).group(1)
    policy = re.search(r'<(?:\w+:)?NameIDPolicy[^>]*\bFormat="([^"]+)"', xml)
    return Request(rid, acs, issuer, q.get("RelayState", [""])[0], policy.group(1) if policy else None)


@dataclass
class Shape:
    """One IdP's default response shape."""
    idp: str                       # the config's saml.idps[].name
    entity_id: str
    sso_url: str
    assertion_prefix: str          # "saml:", "saml2:" or "" (a default namespace on Assertion)
    protocol_prefix: str           # "samlp:" or "saml2p:"
    sign_response: bool
    sign_assertion: bool
    encrypt: str = None            # None, or the data algorithm ("aes256-cbc", "aes128-gcm")
    key_name: bool = False         # KeyInfo also carries a KeyName (Keycloak)
    id_style: str = "underscore"   # how IDs look: "underscore" (_hex), "entra" (_uuid), "id" (ID_uuid)
    millis: bool = False           # IssueInstant with milliseconds
    authn_context: str = PASSWORD_PROTECTED
    name_id_formats: tuple = (UNSPECIFIED,)
    notes: str = ""

    def new_id(self):
        if self.id_style == "entra":
            return "_" + str(uuid.uuid4())
        if self.id_style == "id":
            return "ID_" + str(uuid.uuid4())
        return "_" + secrets.token_hex(20)

    def when(self, t):
        return instant_ms(t) if self.millis else instant(t)

    def metadata(self, crt_pem):
        cert = "".join(l for l in crt_pem.splitlines() if "-----" not in l)
        formats = "".join(f"<md:NameIDFormat>{f}</md:NameIDFormat>" for f in self.name_id_formats)
        return ('<?xml version="1.0" encoding="UTF-8"?>'
                '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID={quoteattr(self.entity_id)}>'
                '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
                'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
                '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
                f'<ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
                f'{formats}'
                '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
                f'Location={quoteattr(self.sso_url)}/>'
                '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
                f'Location={quoteattr(self.sso_url)}/>'
                '</md:IDPSSODescriptor></md:EntityDescriptor>\n')

    # -- building ---------------------------------------------------------------------------

    def assertion(self, req, name_id, attrs, now, assertion_id, session_index, sp_crt=None):
        a = self.assertion_prefix
        ns = (f'xmlns="{SAML}"' if a == "" else f'xmlns:{a[:-1]}="{SAML}"')
        nq = "".join(f" {k}={quoteattr(v)}" for k, v in (("NameQualifier", name_id.name_qualifier),
                                                          ("SPNameQualifier", name_id.sp_name_qualifier)) if v)
        name_id_xml = (f"<{a}NameID Format={quoteattr(name_id.format)}{nq}>{escape(name_id.value)}</{a}NameID>")
        if sp_crt is not None:
            # An EncryptedID: the NameID, with its namespace declared, encrypted on its own.
            standalone = name_id_xml.replace(f"<{a}NameID ", f"<{a}NameID {ns} ", 1)
            name_id_xml = encrypt_element(standalone, sp_crt, self.encrypt or "aes128-gcm", a, "EncryptedID")
        attr_xml = []
        for at in attrs:
            head = f"<{a}Attribute Name={quoteattr(at.name)}"
            if at.name_format:
                head += f" NameFormat={quoteattr(at.name_format)}"
            if at.friendly_name:
                head += f" FriendlyName={quoteattr(at.friendly_name)}"
            vals = "".join(
                (f'<{a}AttributeValue xmlns:xs="{XS}" xmlns:xsi="{XSI}" xsi:type="xs:string">' if at.typed
                 else f"<{a}AttributeValue>") + escape(v) + f"</{a}AttributeValue>" for v in at.values)
            attr_xml.append(head + ">" + vals + f"</{a}Attribute>")
        later = now + dt.timedelta(minutes=5)
        earlier = now - dt.timedelta(minutes=1)
        irt = f" InResponseTo={quoteattr(req.id)}" if req.id else ""  # none when IdP-initiated
        statement = (f"<{a}AttributeStatement>{''.join(attr_xml)}</{a}AttributeStatement>" if attrs else "")
        return (f'<{a}Assertion {ns} ID="{assertion_id}" IssueInstant="{self.when(now)}" Version="2.0">'
                f"<{a}Issuer>{escape(self.entity_id)}</{a}Issuer>"
                f"<{a}Subject>{name_id_xml}"
                f'<{a}SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
                f'<{a}SubjectConfirmationData{irt} NotOnOrAfter="{self.when(later)}" '
                f"Recipient={quoteattr(req.acs)}/></{a}SubjectConfirmation></{a}Subject>"
                f'<{a}Conditions NotBefore="{self.when(earlier)}" NotOnOrAfter="{self.when(later)}">'
                f"<{a}AudienceRestriction><{a}Audience>{escape(req.sp_entity_id)}</{a}Audience>"
                f"</{a}AudienceRestriction></{a}Conditions>"
                f'<{a}AuthnStatement AuthnInstant="{self.when(now)}" SessionIndex="{session_index}">'
                f"<{a}AuthnContext><{a}AuthnContextClassRef>{self.authn_context}</{a}AuthnContextClassRef>"
                f"</{a}AuthnContext></{a}AuthnStatement>{statement}</{a}Assertion>")

    def response(self, keys, req, name_id, attrs, now=None, sha1=False, encrypt=..., encrypt_name_id=False):
        """The base64 SAMLResponse this IdP would POST, signed (and encrypted) as it does (with
        RSA-SHA1 and SHA-1 digests when `sha1`: what older IdP applications still default to)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        p = self.protocol_prefix
        aid, rid = self.new_id(), self.new_id()
        irt = f" InResponseTo={quoteattr(req.id)}" if req.id else ""
        encrypt = self.encrypt if encrypt is ... else encrypt
        assertion = self.assertion(req, name_id, attrs, now, aid, self.new_id(),
                                   keys.sp_crt if encrypt_name_id else None)
        if self.sign_assertion:
            assertion = keys.sign(assertion, aid, self.assertion_prefix, self.key_name, sha1)
        if encrypt:
            assertion = encrypt_element(assertion, keys.sp_crt, encrypt, self.assertion_prefix, "EncryptedAssertion")
        issuer_prefix = self.assertion_prefix
        issuer_ns = "" if self.assertion_prefix else f' xmlns="{SAML}"'
        a_ns = (f' xmlns:{self.assertion_prefix[:-1]}="{SAML}"' if self.assertion_prefix else "")
        xml = (f'<{p}Response xmlns:{p[:-1]}="{SAMLP}"{a_ns} ID="{rid}" Version="2.0" '
               f'IssueInstant="{self.when(now)}" Destination={quoteattr(req.acs)}{irt}>'
               f"<{issuer_prefix}Issuer{issuer_ns}>{escape(self.entity_id)}</{issuer_prefix}Issuer>"
               f'<{p}Status><{p}StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></{p}Status>'
               f"{assertion}</{p}Response>")
        if self.sign_response:
            xml = keys.sign(xml, rid, issuer_prefix, self.key_name, sha1)
        return base64.b64encode(xml.encode()).decode()


# -- signing and encryption -------------------------------------------------------------------

def _signature_template(ref_id, key_name, sha1=False):
    kn = "<ds:KeyName/>" if key_name else ""
    method, digest = (RSA_SHA1, SHA1) if sha1 else (RSA_SHA256, SHA256)
    return ('<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
            f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
            f'<ds:SignatureMethod Algorithm="{method}"/>'
            f'<ds:Reference URI="#{ref_id}"><ds:Transforms>'
            '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
            f'<ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms>'
            f'<ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>'
            f"<ds:SignatureValue/><ds:KeyInfo>{kn}<ds:X509Data/></ds:KeyInfo></ds:Signature>")


class Keys:
    """An IdP's signing pair (and the SP certificate it encrypts to), used through xmlsec1."""

    def __init__(self, work, key, crt, sp_crt, key_name=None):
        self.work, self.key, self.crt, self.sp_crt = work, key, crt, sp_crt
        self.key_name = key_name

    def sign(self, xml, element_id, issuer_prefix, key_name=False, sha1=False):
        """`xml` with an enveloped signature of the element whose ID is `element_id`, placed after
        that element's Issuer (where SAML puts it), made by xmlsec1."""
        start = xml.index(f'ID="{element_id}"')
        issuer_end = re.compile(r"</(\w+:)?Issuer>").search(xml, start)
        at = issuer_end.end()
        template = xml[:at] + _signature_template(element_id, key_name, sha1) + xml[at:]
        # xmlsec1 signs the first template in document order: sign the Assertion before adding the
        # Response's template (which comes earlier in the document).
        src = self.work / f"tpl-{element_id}.xml"
        out = self.work / f"signed-{element_id}.xml"
        src.write_text(template)
        args = ["xmlsec1", "--sign", "--privkey-pem", f"{self.key},{self.crt}",
                "--id-attr:ID", f"{SAMLP}:Response", "--id-attr:ID", f"{SAML}:Assertion",
                "--output", str(out), str(src)]
        subprocess.run(args, check=True, capture_output=True)
        signed = out.read_text()
        src.unlink()
        out.unlink()
        signed = re.sub(r"^<\?xml[^>]*\?>\s*", "", signed)
        if key_name and self.key_name:
            signed = signed.replace("<ds:KeyName/>", f"<ds:KeyName>{escape(self.key_name)}</ds:KeyName>", 1)
        return signed.rstrip("\n")


def encrypt_element(element_xml, sp_crt, data_alg, prefix, wrapper):
    """`wrapper` (EncryptedAssertion, EncryptedID) holding `element_xml` encrypted for the SP
    certificate: RSA-OAEP (MGF1 SHA-1) key transport, AES-CBC or AES-GCM data encryption, as ADFS
    and Shibboleth send."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, padding as sym_padding
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    cert = x509.load_pem_x509_certificate(sp_crt.read_bytes())
    plain = element_xml.encode()
    if data_alg == "aes256-cbc":
        key, iv = os.urandom(32), os.urandom(16)
        padder = sym_padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        cipher = iv + enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
        alg_uri = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
    elif data_alg == "aes128-gcm":
        key, iv = os.urandom(16), os.urandom(12)
        cipher = iv + AESGCM(key).encrypt(iv, plain, None)
        alg_uri = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
    else:
        raise ValueError(data_alg)
    wrapped = cert.public_key().encrypt(key, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                                          algorithm=hashes.SHA1(), label=None))
    a = prefix
    ns = "" if prefix else f' xmlns="{SAML}"'
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return (f"<{a}{wrapper}{ns}>"
            '<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" '
            f'Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{alg_uri}"/>'
            '<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>'
            '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p">'
            '<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod>'
            f"<xenc:CipherData><xenc:CipherValue>{b64(wrapped)}</xenc:CipherValue></xenc:CipherData>"
            "</xenc:EncryptedKey></ds:KeyInfo>"
            f"<xenc:CipherData><xenc:CipherValue>{b64(cipher)}</xenc:CipherValue></xenc:CipherData>"
            f"</xenc:EncryptedData></{a}{wrapper}>")


# -- the eight IdPs ---------------------------------------------------------------------------

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"

SHAPES = {
    # Okta: an app integration's default signs the Response and the Assertion (RSA-SHA256); NameID
    # unspecified (Okta username); attribute statements Unspecified name format; group attribute
    # statement named as the admin chose ("groups").
    "okta": Shape("okta", "http://www.okta.com/exk1fcia6d6EMsf331d8", "https://corp.okta.example/app/ml/sso/saml",
                  "saml2:", "saml2p:", sign_response=True, sign_assertion=True, id_style="id",
                  name_id_formats=(UNSPECIFIED, EMAIL)),
    # Entra ID: only the Assertion is signed ("Sign SAML assertion"); the Assertion has a default
    # namespace; claims are URIs without NameFormat; groups are object ids; the NameID is the UPN
    # in emailAddress format (persistent is an option).
    "entra": Shape("entra", f"https://sts.windows.net/{TENANT}/",
                   f"https://login.microsoftonline.com/{TENANT}/saml2", "", "samlp:",
                   sign_response=False, sign_assertion=True, id_style="entra", millis=True,
                   name_id_formats=(EMAIL, PERSISTENT, UNSPECIFIED, TRANSIENT)),
    # ADFS: Assertion signed only (SamlResponseSignature AssertionOnly), encrypted to the relying
    # party's encryption certificate with AES-256-CBC; UPN and Group claims.
    "adfs": Shape("adfs", "http://adfs.corp.example/adfs/services/trust", "https://adfs.corp.example/adfs/ls/",
                  "", "samlp:", sign_response=False, sign_assertion=True, encrypt="aes256-cbc", millis=True,
                  authn_context="urn:federation:authentication:windows",
                  name_id_formats=(EMAIL, PERSISTENT, TRANSIENT, UNSPECIFIED)),
    # Google Workspace: the Assertion is signed ("Signed response" unchecked); NameID the primary
    # email, format unspecified; custom attribute names.
    "google": Shape("google", "https://accounts.google.com/o/saml2?idpid=C01abc2de",
                    "https://accounts.google.com/o/saml2/idp?idpid=C01abc2de", "saml2:", "saml2p:",
                    sign_response=False, sign_assertion=True, name_id_formats=(UNSPECIFIED, EMAIL)),
    # Keycloak: "Sign documents" on (the Response), "Sign assertions" off; KeyInfo carries a KeyName;
    # the role list mapper sends one Role attribute per role (Single Role Attribute off).
    "keycloak": Shape("keycloak", "https://sso.example.org/realms/ml",
                      "https://sso.example.org/realms/ml/protocol/saml", "saml:", "samlp:",
                      sign_response=True, sign_assertion=False, key_name=True, id_style="id", millis=True,
                      name_id_formats=(UNSPECIFIED, EMAIL, PERSISTENT, TRANSIENT)),
    # OneLogin: the Assertion is signed (SAML signature element: Assertion); NameID the email.
    "onelogin": Shape("onelogin", "https://app.onelogin.com/saml/metadata/0b3c2a9e-1f7d-4c55-8b1e-5d6f7a8b9c0d",
                      "https://corp.onelogin.example/trust/saml2/http-redirect/sso/0b3c2a9e", "saml:", "samlp:",
                      sign_response=False, sign_assertion=True, name_id_formats=(EMAIL,)),
    # Shibboleth IdP: signResponses true, encryptAssertions true (AES-128-GCM); persistent NameID
    # with NameQualifier and SPNameQualifier; urn:oid names with FriendlyNames, URI name format.
    "shibboleth": Shape("shibboleth", "https://idp.uni.example/idp/shibboleth",
                        "https://idp.uni.example/idp/profile/SAML2/Redirect/SSO", "saml2:", "saml2p:",
                        sign_response=True, sign_assertion=False, encrypt="aes128-gcm", millis=True,
                        name_id_formats=(TRANSIENT, PERSISTENT)),
    # Auth0: the Assertion is signed (signResponse false), RSA-SHA256 / SHA-256; NameID the Auth0
    # user id, format unspecified; ws/2005/05 claim URIs, URI name format.
    "auth0": Shape("auth0", "urn:corp-ml.eu.auth0.com", "https://corp-ml.eu.auth0.com/samlp/Xk3mQ",
                   "saml:", "samlp:", sign_response=False, sign_assertion=True, millis=True,
                   name_id_formats=(UNSPECIFIED, EMAIL, PERSISTENT)),
}

# Alice's Entra ID group object ids: the policy gives the first one a readable name.
ALICE_ENTRA_GROUP = "5e1f0c7a-4c1e-4a7b-9a53-2f0d8e6b1c02"
ALICE_OBJECT_ID = "b1f5a6c2-3d4e-4f70-8a9b-0c1d2e3f4a5b"
ALICE_AUTH0_ID = "auth0|64f1c2d3e4a5b6c7d8e9f0a1"


def persistent_id(idp_entity, sp_entity, user):
    """A Shibboleth-style persistent id: opaque, stable per (IdP, SP, user)."""
    return base64.b64encode(hashlib.sha1(f"{idp_entity}!{sp_entity}!{user}".encode()).digest()).decode()


def alice(idp, req, **over):
    """(NameID, attributes) for Alice Chen, a data scientist in the vision project, as each IdP
    sends her."""
    s = SHAPES[idp]
    if idp == "okta":
        return (NameId("alice.chen@corp.example", UNSPECIFIED),
                [Attr("email", ["alice.chen@corp.example"], UNSPEC_NAMEFORMAT),
                 Attr("firstName", ["Alice"], UNSPEC_NAMEFORMAT), Attr("lastName", ["Chen"], UNSPEC_NAMEFORMAT),
                 Attr("groups", ["Everyone", "ml-vision-ds"], UNSPEC_NAMEFORMAT)])
    if idp == "entra":
        groups = over.get("groups", [ALICE_ENTRA_GROUP, "0c2d4e6f-8a9b-4c1d-9e2f-3a4b5c6d7e8f"])
        attrs = [Attr(MS + "tenantid", [TENANT], typed=False),
                 Attr(MS + "objectidentifier", [ALICE_OBJECT_ID], typed=False),
                 Attr(MS + "displayname", ["Alice Chen"], typed=False),
                 Attr(MS + "identityprovider", [f"https://sts.windows.net/{TENANT}/"], typed=False),
                 Attr("http://schemas.microsoft.com/claims/authnmethodsreferences",
                      ["http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"], typed=False),
                 Attr(XMLSOAP + "givenname", ["Alice"], typed=False),
                 Attr(XMLSOAP + "surname", ["Chen"], typed=False),
                 Attr(XMLSOAP + "emailaddress", ["alice.chen@corp.example"], typed=False),
                 Attr(XMLSOAP + "name", ["alice.chen@corp.example"], typed=False)]
        if over.get("overage"):
            attrs.append(Attr(ENTRA_GROUPS_LINK, [
                f"https://graph.windows.net/{TENANT}/users/{ALICE_OBJECT_ID}/getMemberObjects"], typed=False))
        else:
            attrs.insert(2, Attr(ENTRA_GROUPS, groups, typed=False))
        if over.get("roles"):
            attrs.append(Attr(ENTRA_ROLE, over["roles"], typed=False))
        return NameId(over.get("name_id", "alice.chen@corp.example"), over.get("format", EMAIL)), attrs
    if idp == "adfs":
        return (NameId("alice.chen@corp.example", EMAIL),
                [Attr(XMLSOAP + "upn", ["achen@corp.example"], typed=False),
                 Attr(XMLSOAP + "emailaddress", ["alice.chen@corp.example"], typed=False),
                 Attr(XMLSOAP + "name", ["CORP\\alice.chen"], typed=False),
                 Attr(ADFS_GROUP, ["Domain Users", "ml-vision-ds"], typed=False)])
    if idp == "google":
        return (NameId("alice.chen@corp.example", UNSPECIFIED),
                [Attr("email", ["alice.chen@corp.example"], UNSPEC_NAMEFORMAT),
                 Attr("department", ["Research"], UNSPEC_NAMEFORMAT),
                 Attr("ml_groups", ["ml-vision-ds"], UNSPEC_NAMEFORMAT)])
    if idp == "keycloak":
        roles = ["default-roles-ml", "offline_access", "uma_authorization", "ml-vision-ds"]
        fmt = over.get("format", UNSPECIFIED)
        value = "alice" if fmt == UNSPECIFIED else ("G-" + str(uuid.uuid4()) if fmt == TRANSIENT else
                                                   "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e")
        return (NameId(value, fmt),
                [Attr(X500_EMAIL, ["alice.chen@corp.example"], URI, "email"),
                 *[Attr("Role", [r], BASIC) for r in roles]])
    if idp == "onelogin":
        return (NameId("alice.chen@corp.example", EMAIL),
                [Attr("User.email", ["alice.chen@corp.example"], BASIC),
                 Attr("User.FirstName", ["Alice"], BASIC), Attr("User.LastName", ["Chen"], BASIC),
                 Attr("PersonImmutableID", ["ach1042"], BASIC),
                 Attr("memberOf", ["ml-vision-ds", "engineering"], BASIC)])
    if idp == "shibboleth":
        fmt = over.get("format", PERSISTENT)
        nid = (NameId(persistent_id(s.entity_id, req.sp_entity_id, "achen"), PERSISTENT, s.entity_id,
                      req.sp_entity_id) if fmt == PERSISTENT else
               NameId("AAdzZWNyZXQx" + secrets.token_urlsafe(24), TRANSIENT, s.entity_id, req.sp_entity_id))
        return (nid,
                [Attr(EPPN, ["achen@uni.example"], URI, "eduPersonPrincipalName"),
                 Attr(MAIL_OID, ["alice.chen@uni.example"], URI, "mail"),
                 Attr(DISPLAY_NAME_OID, ["Alice Chen"], URI, "displayName"),
                 Attr(SCOPED_AFFILIATION, ["member@uni.example", "staff@uni.example"], URI,
                      "eduPersonScopedAffiliation"),
                 Attr(IS_MEMBER_OF, ["ml-vision-ds"], URI, "isMemberOf")])
    if idp == "auth0":
        return (NameId(ALICE_AUTH0_ID, UNSPECIFIED),
                [Attr(XMLSOAP + "nameidentifier", [ALICE_AUTH0_ID], URI),
                 Attr(XMLSOAP + "emailaddress", ["alice.chen@corp.example"], URI),
                 Attr(XMLSOAP + "name", ["Alice Chen"], URI),
                 Attr(XMLSOAP + "upn", ["alice.chen@corp.example"], URI),
                 Attr("http://schemas.auth0.com/email_verified", ["true"], URI),
                 Attr(ADFS_GROUP, ["ml-vision-ds"], URI)])
    raise KeyError(idp)
