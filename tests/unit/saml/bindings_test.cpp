#include "saml/bindings.h"

#include <gtest/gtest.h>
#include <openssl/rsa.h>

#include <functional>

#include "core/encoding.h"
#include "saml/authn_request.h"
#include "support/saml_fixture.h"
#include "xml/document.h"
#include "xml/names.h"
#include "xml/node.h"
#include "xml/signature.h"

namespace cg::saml {
namespace {

SpConfig test_sp() {
  SpConfig sp;
  sp.entity_id = testing::kSpEntity;
  sp.acs_url = testing::kAcs;
  sp.current = {testing::sp_keys().key, testing::sp_keys().cert};
  return sp;
}

// A signed Redirect URL decodes back to the request, and its query signature verifies.
TEST(BindingsTest, RedirectRoundTripWithSignature) {
  testing::DeterministicRandom rnd;
  auto req =
      build_authn_request(test_sp(), "https://idp/sso?tenant=1", {}, rnd, testing::test_now());
  auto url = authn_request_redirect_url(test_sp(), req, "opaque-relay");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->rfind("https://idp/sso?tenant=1&SAMLRequest=", 0), 0u);
  auto m = decode_redirect(*url);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->xml, req.xml);
  EXPECT_EQ(m->relay_state, "opaque-relay");
  std::vector trusted{testing::sp_keys().cert};
  EXPECT_TRUE(verify_redirect_signature(*m, trusted, false).has_value());
  std::vector wrong{testing::idp_keys().cert};
  EXPECT_EQ(verify_redirect_signature(*m, wrong, false).error().name, "binding.signature");
  auto tampered = *m;
  tampered.signed_content = testing::replace_once(tampered.signed_content, "opaque-relay", "other");
  EXPECT_FALSE(verify_redirect_signature(tampered, trusted, false).has_value());
}

// A Redirect-binding query as an IdP signs it: `sig_alg` and the value `sign` makes over the
// octets the binding signs.
RedirectMessage signed_redirect(const char* sig_alg,
                                const std::function<std::string(std::string_view)>& sign) {
  std::string query =
      "SAMLRequest=" + core::url_encode(core::base64_encode(core::deflate_raw("<x ID=\"_1\"/>"))) +
      "&RelayState=r1&SigAlg=" + core::url_encode(sig_alg);
  query += "&Signature=" + core::url_encode(core::base64_encode(sign(query)));
  auto m = decode_redirect(query);
  EXPECT_TRUE(m.has_value());
  return *m;
}

// RSA-PSS SigAlgs (xmldsig-more#sha256-rsa-MGF1 and siblings) made by OpenSSL verify with the
// PSS parameters of RFC 6931; a PKCS#1 value under a PSS SigAlg does not.
TEST(BindingsTest, VerifiesRsaPssRedirectSignatures) {
  const auto& kp = testing::idp_keys();
  std::vector trusted{kp.cert};
  std::vector key_only{crypto::Certificate::from_key(kp.cert.public_key())};
  struct P {
    const char* uri;
    const char* md;
  };
  for (P p : {P{xml::alg::kRsaPssSha256, "SHA256"}, P{xml::alg::kRsaPssSha384, "SHA384"},
              P{xml::alg::kRsaPssSha512, "SHA512"}}) {
    SCOPED_TRACE(p.uri);
    auto m = signed_redirect(p.uri, [&](std::string_view d) {
      return testing::openssl_pss_sign(kp.key, p.md, p.md, RSA_PSS_SALTLEN_DIGEST, d);
    });
    EXPECT_TRUE(verify_redirect_signature(m, trusted, false).has_value());
    EXPECT_TRUE(verify_redirect_signature(m, key_only, false).has_value());
    std::vector wrong{testing::attacker_keys().cert};
    EXPECT_FALSE(verify_redirect_signature(m, wrong, false).has_value());
    auto salt0 = signed_redirect(p.uri, [&](std::string_view d) {
      return testing::openssl_pss_sign(kp.key, p.md, p.md, 0, d);
    });
    EXPECT_FALSE(verify_redirect_signature(salt0, trusted, false).has_value());
  }
  auto pkcs1 = signed_redirect(xml::alg::kRsaPssSha256, [&](std::string_view d) {
    auto sig = kp.key.sign(crypto::HashAlg::kSha256,
                           std::span(reinterpret_cast<const uint8_t*>(d.data()), d.size()));
    return std::string(sig->begin(), sig->end());
  });
  EXPECT_FALSE(verify_redirect_signature(pkcs1, trusted, false).has_value());
}

// ECDSA Redirect signatures are r||s (the form XML DSig 1.1 gives the SigAlg URI): OpenSSL's
// DER converted to r||s verifies for P-256 (64 bytes) and P-384 (96 bytes); DER, which some
// senders put, is accepted too; both only with the metadata's key.
TEST(BindingsTest, VerifiesEcdsaRedirectSignaturesAsRawRs) {
  struct C {
    const testing::KeyPair* kp;
    const char* uri;
    const char* md;
    int field;
  };
  for (C c : {C{&testing::idp_ec_keys(), xml::alg::kEcdsaSha256, "SHA256", 32},
              C{&testing::idp_ec384_keys(), xml::alg::kEcdsaSha384, "SHA384", 48},
              C{&testing::idp_ec_keys(), xml::alg::kEcdsaSha512, "SHA512", 32}}) {
    SCOPED_TRACE(c.uri);
    std::vector trusted{c.kp->cert};
    auto raw = signed_redirect(c.uri, [&](std::string_view d) {
      return testing::ecdsa_der_to_raw(testing::openssl_ecdsa_sign_der(c.kp->key, c.md, d),
                                       c.field);
    });
    EXPECT_EQ(raw.signature.size(), static_cast<size_t>(2 * c.field));
    EXPECT_TRUE(verify_redirect_signature(raw, trusted, false).has_value());
    auto der = signed_redirect(c.uri, [&](std::string_view d) {
      return testing::openssl_ecdsa_sign_der(c.kp->key, c.md, d);
    });
    EXPECT_TRUE(verify_redirect_signature(der, trusted, false).has_value());
    std::vector other{testing::attacker_keys().cert, testing::idp_keys().cert};
    EXPECT_FALSE(verify_redirect_signature(raw, other, false).has_value());
    auto tampered = raw;
    tampered.signed_content =
        testing::replace_once(tampered.signed_content, "RelayState=r1", "RelayState=r2");
    EXPECT_FALSE(verify_redirect_signature(tampered, trusted, false).has_value());
  }
}

// Our own Redirect signatures with an EC SP key are r||s (ecdsa-sha256), so that IdPs verify
// them as the binding defines; an RSA key signs rsa-sha256.
TEST(BindingsTest, SignsRedirectWithEcdsaAsRawRs) {
  const auto& kp = testing::idp_ec_keys();
  auto url = redirect_url("https://idp/sso", "SAMLRequest", "<x/>", "r", &kp.key);
  ASSERT_TRUE(url.has_value());
  auto m = decode_redirect(*url);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->sig_alg, xml::alg::kEcdsaSha256);
  ASSERT_EQ(m->signature.size(), 64u);
  // OpenSSL verifies it once it is DER again.
  auto r = std::span(reinterpret_cast<const uint8_t*>(m->signature.data()), 64);
  auto data = std::span(reinterpret_cast<const uint8_t*>(m->signed_content.data()),
                        m->signed_content.size());
  EXPECT_TRUE(kp.cert.public_key().verify(crypto::HashAlg::kSha256, data, r, true));
  std::vector trusted{kp.cert};
  EXPECT_TRUE(verify_redirect_signature(*m, trusted, false).has_value());
}

// Refused SigAlgs are named as they arrived with what is accepted; SHA-1 names its setting.
TEST(BindingsTest, RefusedSigAlgsNameTheUriAndTheSetting) {
  const auto& kp = testing::idp_keys();
  std::vector trusted{kp.cert};
  auto sha1 = signed_redirect(xml::alg::kRsaSha1, [&](std::string_view d) {
    auto sig = kp.key.sign(crypto::HashAlg::kSha1,
                           std::span(reinterpret_cast<const uint8_t*>(d.data()), d.size()));
    return std::string(sig->begin(), sig->end());
  });
  auto e = verify_redirect_signature(sha1, trusted, false);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find(xml::alg::kRsaSha1), std::string::npos) << e.error().message;
  EXPECT_NE(e.error().message.find("saml.idps[].allow_sha1"), std::string::npos);
  EXPECT_TRUE(verify_redirect_signature(sha1, trusted, true).has_value());
  auto md5 = signed_redirect("http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
                             [](std::string_view) { return std::string("x"); });
  e = verify_redirect_signature(md5, trusted, false);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("xmldsig-more#rsa-md5"), std::string::npos);
  EXPECT_NE(e.error().message.find(xml::alg::kRsaPssSha256), std::string::npos);
}

// The AuthnRequest carries 160-bit random IDs and the options asked for.
TEST(BindingsTest, AuthnRequestShape) {
  testing::DeterministicRandom rnd;
  AuthnRequestOptions o;
  o.force_authn = true;
  o.name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
  o.authn_context_class_refs = {
      "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"};
  auto r = build_authn_request(test_sp(), "https://idp/sso", o, rnd, testing::test_now());
  EXPECT_EQ(r.id.size(), 41u);  // '_' + 40 hex digits
  auto doc = xml::Document::parse(r.xml);
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(xml::attr(doc->root(), "ForceAuthn"), "true");
  EXPECT_EQ(xml::attr(doc->root(), "AssertionConsumerServiceURL"), testing::kAcs);
  EXPECT_EQ(xml::attr(doc->root(), "IssueInstant"), "2026-06-01T12:00:00Z");
  EXPECT_NE(r.xml.find("PasswordProtectedTransport"), std::string::npos);
  auto r2 = build_authn_request(test_sp(), "https://idp/sso", o, rnd, testing::test_now());
  EXPECT_NE(r.id, r2.id);
}

// The POST binding carries an enveloped signature our verifier accepts.
TEST(BindingsTest, PostFormCarriesSignedRequest) {
  testing::DeterministicRandom rnd;
  auto req = build_authn_request(test_sp(), "https://idp/sso", {}, rnd, testing::test_now());
  auto html = authn_request_post_form(test_sp(), req, "rs1");
  ASSERT_TRUE(html.has_value());
  size_t v = html->find("name=\"SAMLRequest\" value=\"") + 26;
  auto xml_text = core::base64_decode(html->substr(v, html->find('"', v) - v));
  ASSERT_TRUE(xml_text.has_value());
  auto doc = xml::Document::parse(*xml_text);
  auto sig = xml::find_signature(doc->root());
  ASSERT_TRUE(sig.has_value() && *sig);
  std::vector trusted{testing::sp_keys().cert};
  EXPECT_TRUE(xml::verify_enveloped(*doc, doc->root(), *sig, trusted, {}).has_value());
  EXPECT_NE(html->find("name=\"RelayState\" value=\"rs1\""), std::string::npos);
}

// With an EC SP key, the POST-binding AuthnRequest is signed ECDSA-SHA256 (r||s), not refused.
TEST(BindingsTest, PostFormSignsWithAnEcSpKey) {
  testing::DeterministicRandom rnd;
  SpConfig sp = test_sp();
  sp.current = {testing::idp_ec_keys().key, testing::idp_ec_keys().cert};
  auto req = build_authn_request(sp, "https://idp/sso", {}, rnd, testing::test_now());
  auto html = authn_request_post_form(sp, req, "rs1");
  ASSERT_TRUE(html.has_value()) << html.error().message;
  size_t v = html->find("name=\"SAMLRequest\" value=\"") + 26;
  auto xml_text = core::base64_decode(html->substr(v, html->find('"', v) - v));
  ASSERT_TRUE(xml_text.has_value());
  EXPECT_NE(xml_text->find(xml::alg::kEcdsaSha256), std::string::npos);
  auto doc = xml::Document::parse(*xml_text);
  auto sig = xml::find_signature(doc->root());
  ASSERT_TRUE(sig.has_value() && *sig);
  std::vector trusted{testing::idp_ec_keys().cert};
  EXPECT_TRUE(xml::verify_enveloped(*doc, doc->root(), *sig, trusted, {}).has_value());
}

// Decoding refuses what is not a SAML message and inflates pasted Redirect values.
TEST(BindingsTest, DecodesAndRefusesBadInput) {
  EXPECT_EQ(decode_redirect("https://sp/?foo=bar").error().name, "response.decode");
  EXPECT_EQ(decode_redirect("SAMLRequest=%%%").error().name, "response.decode");
  EXPECT_EQ(decode_redirect("SAMLRequest=" + core::base64_encode(std::string_view("not deflate")))
                .error()
                .name,
            "response.decode");
  std::string deflated = core::base64_encode(core::deflate_raw("<a/>"));
  EXPECT_EQ(*decode_post_message(deflated, "SAMLResponse"), "<a/>");
  EXPECT_FALSE(
      decode_post_message(core::base64_encode(std::string_view("plain text")), "SAMLResponse")
          .has_value());
}

}  // namespace
}  // namespace cg::saml
