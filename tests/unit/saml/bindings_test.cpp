#include "saml/bindings.h"

#include <gtest/gtest.h>

#include "core/encoding.h"
#include "saml/authn_request.h"
#include "support/saml_fixture.h"
#include "xml/document.h"
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
