#include "saml/logout.h"

#include <gtest/gtest.h>

#include "saml/identity.h"
#include "support/saml_fixture.h"

namespace cg::saml {
namespace {

using namespace std::chrono_literals;

// The IdP side of the exchange: an SpConfig whose "sp" is the IdP, messages to our SLO URL.
SpConfig idp_as_sender() {
  SpConfig c;
  c.entity_id = testing::kIdpEntity;
  c.current = {testing::idp_keys().key, testing::idp_keys().cert};
  return c;
}

const IdpSettings& idp() {
  static IdpSettings s{testing::kIdpEntity, {testing::idp_keys().cert}, false, false, {}};
  return s;
}

LogoutCheckSettings settings() {
  LogoutCheckSettings s{"https://ml.example.org/saml/slo", 180s, 300s};
  s.sp_entity_id = testing::kSpEntity;
  return s;
}

RedirectMessage redirect(const std::string& param, const std::string& xml,
                         const crypto::PrivateKey* key) {
  auto url = redirect_url("https://ml.example.org/saml/slo", param, xml, "rs", key);
  EXPECT_TRUE(url.has_value());
  auto m = decode_redirect(*url);
  EXPECT_TRUE(m.has_value());
  return *m;
}

// An IdP-initiated LogoutRequest, signed, is accepted and names the user and session.
TEST(LogoutTest, AcceptsSignedLogoutRequest) {
  testing::DeterministicRandom rnd;
  auto msg = build_logout_request(
      idp_as_sender(), {"https://ml.example.org/saml/slo", "alice@example.org", "", "_s1"}, rnd,
      testing::test_now());
  auto info = validate_logout_request(redirect("SAMLRequest", msg.xml, &testing::idp_keys().key),
                                      idp(), settings(), testing::test_now());
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->name_id, "alice@example.org");
  EXPECT_EQ(info->session_indexes, std::vector<std::string>{"_s1"});
  EXPECT_EQ(info->relay_state, "rs");
}

// The NameID goes back as the assertion carried it: Format and both qualifiers (Shibboleth
// and ADFS match a LogoutRequest's NameID on all of them).
TEST(LogoutTest, LogoutRequestCarriesTheNameIdQualifiers) {
  testing::DeterministicRandom rnd;
  LogoutRequestSpec spec{"https://ml.example.org/saml/slo", "_4f9d", kNameIdTransient, "_s1"};
  spec.name_qualifier = "https://idp.example.edu/idp/shibboleth";
  spec.sp_name_qualifier = "https://ml.example.org/saml/metadata";
  auto msg = build_logout_request(idp_as_sender(), spec, rnd, testing::test_now());
  EXPECT_NE(msg.xml.find("NameQualifier=\"https://idp.example.edu/idp/shibboleth\""),
            std::string::npos)
      << msg.xml;
  EXPECT_NE(msg.xml.find("SPNameQualifier=\"https://ml.example.org/saml/metadata\""),
            std::string::npos);
  auto info = validate_logout_request(redirect("SAMLRequest", msg.xml, &testing::idp_keys().key),
                                      idp(), settings(), testing::test_now());
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->name_id, "_4f9d");
  EXPECT_EQ(info->name_id_format, kNameIdTransient);
  EXPECT_EQ(info->name_qualifier, "https://idp.example.edu/idp/shibboleth");
  EXPECT_EQ(info->sp_name_qualifier, "https://ml.example.org/saml/metadata");
}

// Unsigned, signed by someone else, wrong destination, too old: refused.
TEST(LogoutTest, RefusesBadLogoutRequests) {
  testing::DeterministicRandom rnd;
  auto msg = build_logout_request(idp_as_sender(),
                                  {"https://ml.example.org/saml/slo", "alice@example.org", "", ""},
                                  rnd, testing::test_now());
  EXPECT_EQ(validate_logout_request(redirect("SAMLRequest", msg.xml, nullptr), idp(), settings(),
                                    testing::test_now())
                .error()
                .name,
            "binding.signature");
  EXPECT_EQ(validate_logout_request(redirect("SAMLRequest", msg.xml, &testing::attacker_keys().key),
                                    idp(), settings(), testing::test_now())
                .error()
                .name,
            "binding.signature");
  auto elsewhere = build_logout_request(idp_as_sender(), {"https://other/slo", "alice", "", ""},
                                        rnd, testing::test_now());
  EXPECT_EQ(
      validate_logout_request(redirect("SAMLRequest", elsewhere.xml, &testing::idp_keys().key),
                              idp(), settings(), testing::test_now())
          .error()
          .name,
      "logout.invalid");
  EXPECT_EQ(validate_logout_request(redirect("SAMLRequest", msg.xml, &testing::idp_keys().key),
                                    idp(), settings(), testing::test_now() + 1h)
                .error()
                .name,
            "assertion.too_old");
}

// Our LogoutRequest answered by the IdP's LogoutResponse: InResponseTo and status checked.
TEST(LogoutTest, ValidatesLogoutResponse) {
  testing::DeterministicRandom rnd;
  auto ok = build_logout_response(idp_as_sender(), "https://ml.example.org/saml/slo", "_ourReq",
                                  true, rnd, testing::test_now());
  auto m = redirect("SAMLResponse", ok.xml, &testing::idp_keys().key);
  EXPECT_TRUE(
      validate_logout_response(m, idp(), settings(), "_ourReq", testing::test_now()).has_value());
  EXPECT_EQ(
      validate_logout_response(m, idp(), settings(), "_otherReq", testing::test_now()).error().name,
      "response.in_response_to");
  auto failed = build_logout_response(idp_as_sender(), "https://ml.example.org/saml/slo", "_ourReq",
                                      false, rnd, testing::test_now());
  EXPECT_EQ(validate_logout_response(redirect("SAMLResponse", failed.xml, &testing::idp_keys().key),
                                     idp(), settings(), "_ourReq", testing::test_now())
                .error()
                .name,
            "response.status");
}

}  // namespace
}  // namespace cg::saml
