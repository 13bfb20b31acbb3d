// One test per check of the SAML response checklist (DESIGN.md), plus what is read out.
#include "saml/response_validator.h"

#include <gtest/gtest.h>

#include "core/encoding.h"
#include "support/saml_fixture.h"

namespace cg::saml {
namespace {

using namespace std::chrono_literals;
using testing::replace_once;

class ResponseValidatorTest : public testing::SamlTest {};

// A signed assertion answering our request is accepted; identity and attributes are read.
TEST_F(ResponseValidatorTest, AcceptsSignedAssertion) {
  auto r = validate(build(spec()));
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(r.identity->name_id, "alice@example.org");
  EXPECT_EQ(r.identity->idp_entity_id, testing::kIdpEntity);
  EXPECT_EQ(r.identity->session_index, "_session1");
  EXPECT_EQ(r.identity->in_response_to, testing::kRequestId);
  EXPECT_EQ(r.identity->values("groups"), (std::vector<std::string>{"ml-vision-ds", "all-staff"}));
  EXPECT_TRUE(r.identity->assertion_signed);
  EXPECT_FALSE(r.identity->response_signed);
  EXPECT_EQ(r.checks.back().name, "assertion.replay");
  for (const auto& c : r.checks) EXPECT_NE(c.outcome, Check::Outcome::kFail) << c.name;
}

// Okta signs both; some IdPs sign only the Response.
TEST_F(ResponseValidatorTest, AcceptsSignedResponseAndBoth) {
  auto s = spec();
  s.sign_response = true;
  EXPECT_EQ(outcome(build(s)), "ok");
  s.sign_assertion = false;
  auto r = validate(build(s));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.identity->response_signed);
  EXPECT_FALSE(r.identity->assertion_signed);
}

// Nothing signed: refused.
TEST_F(ResponseValidatorTest, RejectsUnsignedResponse) {
  auto s = spec();
  s.sign_assertion = false;
  EXPECT_EQ(outcome(build(s)), "signature.missing");
}

// An encrypted assertion (AES-GCM and AES-CBC) is decrypted, then its signature verified.
TEST_F(ResponseValidatorTest, AcceptsEncryptedAssertion) {
  for (auto a : {xml::DataAlgorithm::kAes256Gcm, xml::DataAlgorithm::kAes128Cbc}) {
    auto s = spec();
    s.encrypt_for = testing::sp_keys().cert;
    s.encryption = a;
    s.sign_response = true;
    auto r = validate(build(s));
    ASSERT_TRUE(r.ok()) << r.error->message;
    EXPECT_TRUE(r.identity->encrypted);
    EXPECT_TRUE(r.identity->assertion_signed);
    EXPECT_EQ(r.identity->name_id, "alice@example.org");
  }
}

// Encrypted for a key we do not hold: a clear decryption error.
TEST_F(ResponseValidatorTest, RejectsAssertionEncryptedForAnotherKey) {
  auto s = spec();
  s.encrypt_for = testing::attacker_keys().cert;
  EXPECT_EQ(outcome(build(s)), "encryption.decrypt_failed");
  sp_.decryption_keys.clear();
  EXPECT_EQ(outcome(build(s)), "encryption.no_key");
}

// Audience must name our entity id; the message says what arrived and what was expected.
TEST_F(ResponseValidatorTest, RejectsAudienceMismatch) {
  auto s = spec();
  s.audience = "https://other.example.org";
  auto r = validate(build(s));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "conditions.audience");
  EXPECT_EQ(r.error->message,
            "Audience 'https://other.example.org' does not match this SP's entity id '" +
                std::string(testing::kSpEntity) + "'");
}

// No AudienceRestriction: refused unless configured.
TEST_F(ResponseValidatorTest, RejectsMissingAudienceUnlessAllowed) {
  auto s = spec();
  std::string x = testing::replace_once(saml::response_xml(s, random_).xml,
                                        "<saml:AudienceRestriction><saml:Audience>" +
                                            std::string(testing::kSpEntity) +
                                            "</saml:Audience></saml:AudienceRestriction>",
                                        "");
  auto signed_xml = sign_response_xml(x, s, testing::idp_keys().key, testing::idp_keys().cert);
  ASSERT_TRUE(signed_xml.has_value());
  EXPECT_EQ(outcome(*signed_xml), "conditions.audience");
  sp_.allow_missing_audience = true;
  EXPECT_EQ(outcome(*signed_xml), "ok");
}

// Destination must be our ACS URL.
TEST_F(ResponseValidatorTest, RejectsDestinationMismatch) {
  auto s = spec();
  s.destination = "https://evil.example.org/acs";
  EXPECT_EQ(outcome(build(s)), "response.destination");
}

// The bearer confirmation's Recipient must be our ACS URL.
TEST_F(ResponseValidatorTest, RejectsRecipientMismatch) {
  auto s = spec();
  s.recipient = "https://evil.example.org/acs";
  auto r = validate(build(s));
  EXPECT_EQ(r.error->name, "subject.recipient");
  EXPECT_NE(r.error->message.find("recipient mismatch"), std::string::npos);
}

// Issuer of the assertion and of the response must be the IdP.
TEST_F(ResponseValidatorTest, RejectsIssuerMismatch) {
  auto s = spec();
  s.issuer = "https://evil.example.org";
  EXPECT_EQ(outcome(build(s)), "response.issuer");
  std::string x = saml::response_xml(spec(), random_).xml;
  x = replace_once(x, "<saml:Issuer>https://idp.example.org/metadata</saml:Issuer><samlp:Status>",
                   "<samlp:Status>");
  x = replace_once(x, testing::kIdpEntity, "https://evil.example.org");
  auto sx = sign_response_xml(x, spec(), testing::idp_keys().key, testing::idp_keys().cert);
  EXPECT_EQ(outcome(*sx), "assertion.issuer");
}

// InResponseTo must be the pending request; an unsolicited one needs the IdP to allow it.
TEST_F(ResponseValidatorTest, ChecksInResponseTo) {
  std::string x = build(spec());
  EXPECT_EQ(outcome(x, "_someOtherRequest"), "response.in_response_to");
  EXPECT_EQ(outcome(x, std::nullopt), "response.in_response_to");
  auto s = spec();
  s.in_response_to.clear();
  std::string unsolicited = build(s);
  EXPECT_EQ(outcome(unsolicited, std::nullopt), "response.unsolicited");
  EXPECT_EQ(outcome(unsolicited, testing::kRequestId), "subject.in_response_to");
  idp_.allow_unsolicited = true;
  EXPECT_EQ(outcome(unsolicited, std::nullopt), "ok");
}

// The subject confirmation's InResponseTo is checked too (the Response attribute is optional).
TEST_F(ResponseValidatorTest, ChecksSubjectInResponseTo) {
  auto s = spec();
  std::string x = saml::response_xml(s, random_).xml;
  x = replace_once(x, " InResponseTo=\"" + std::string(testing::kRequestId) + "\">", ">");
  x = replace_once(x, "InResponseTo=\"" + std::string(testing::kRequestId) + "\"",
                   "InResponseTo=\"_forged\"");
  auto sx = sign_response_xml(x, s, testing::idp_keys().key, testing::idp_keys().cert);
  EXPECT_EQ(outcome(*sx), "subject.in_response_to");
}

// Time: expired, not yet valid, too old, issued in the future; skew is honoured.
TEST_F(ResponseValidatorTest, ChecksTimes) {
  sp_.max_assertion_age = 3600s;  // so that expiry, not age, decides the first cases
  std::string x = build(spec());  // issued 5 s before now, valid 300 s
  clock_.advance(300s + 180s + 1s);
  EXPECT_EQ(outcome(x), "subject.expired");
  clock_.set(testing::test_now() + 300s + 170s);  // within skew: accepted
  EXPECT_EQ(outcome(x), "ok");

  clock_.set(testing::test_now() - 30s - 180s - 10s);
  EXPECT_EQ(outcome(build(spec())), "assertion.issued_in_future");

  sp_.max_assertion_age = 300s;
  auto s = spec();
  s.lifetime = 3600s;
  s.issue_instant = testing::test_now() - 600s;  // older than max age 300 s + skew 180 s
  clock_.set(testing::test_now());
  auto r = validate(build(s));
  EXPECT_EQ(r.error->name, "assertion.too_old");
  EXPECT_NE(r.error->message.find("2026-06-01T11:50:00Z"), std::string::npos);
}

// Conditions NotBefore in the future and NotOnOrAfter in the past are refused.
TEST_F(ResponseValidatorTest, ChecksConditionsWindow) {
  auto s = spec();
  s.lifetime = 3600s;
  std::string x = saml::response_xml(s, random_).xml;
  std::string nb = "NotBefore=\"" + core::format_datetime(s.issue_instant - 30s) + "\"";
  std::string future = replace_once(x, nb, "NotBefore=\"2026-06-01T13:00:00Z\"");
  EXPECT_EQ(
      outcome(*sign_response_xml(future, s, testing::idp_keys().key, testing::idp_keys().cert)),
      "conditions.not_yet_valid");
  std::string cond_end = "<saml:Conditions " + nb + " NotOnOrAfter=\"" +
                         core::format_datetime(s.issue_instant + 3600s);
  std::string past =
      replace_once(x, cond_end, "<saml:Conditions " + nb + " NotOnOrAfter=\"2026-06-01T11:00:00Z");
  EXPECT_EQ(outcome(*sign_response_xml(past, s, testing::idp_keys().key, testing::idp_keys().cert)),
            "conditions.expired");
}

// An assertion is accepted once; the second time it is a replay.
TEST_F(ResponseValidatorTest, RejectsReplay) {
  std::string x = build(spec());
  EXPECT_EQ(outcome(x), "ok");
  EXPECT_EQ(outcome(x), "assertion.replayed");
}

// Non-success status: the IdP's codes and message are shown.
TEST_F(ResponseValidatorTest, ReportsIdpStatus) {
  std::string x = replace_once(
      build(spec()), "<samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/>",
      "<samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Responder\"><samlp:StatusCode "
      "Value=\"urn:oasis:names:tc:SAML:2.0:status:RequestDenied\"/></samlp:StatusCode>"
      "<samlp:StatusMessage>User not assigned to the app</samlp:StatusMessage>");
  auto r = validate(x);
  EXPECT_EQ(r.error->name, "response.status");
  EXPECT_NE(r.error->message.find("RequestDenied"), std::string::npos);
  EXPECT_NE(r.error->message.find("User not assigned"), std::string::npos);
}

// An IdP's error response has no assertion: its status, not the missing assertion, is reported.
TEST_F(ResponseValidatorTest, ReportsStatusOfErrorResponseWithoutAssertion) {
  std::string x =
      "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_e\" "
      "Version=\"2.0\" IssueInstant=\"2026-06-01T12:00:00Z\"><samlp:Status><samlp:StatusCode "
      "Value=\"urn:oasis:names:tc:SAML:2.0:status:Requester\"><samlp:StatusCode "
      "Value=\"urn:oasis:names:tc:SAML:2.0:status:NoPassive\"/></samlp:StatusCode></samlp:Status>"
      "</samlp:Response>";
  auto r = validate(x);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "response.status");
  EXPECT_NE(r.error->message.find("NoPassive"), std::string::npos);
}

// Wrong versions and a non-Response root are refused.
TEST_F(ResponseValidatorTest, RejectsWrongMessageShape) {
  std::string x = build(spec());
  EXPECT_EQ(outcome(replace_once(x, "Version=\"2.0\"", "Version=\"1.1\"")), "response.version");
  EXPECT_EQ(outcome("<samlp:LogoutRequest xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>"),
            "response.not_response");
  EXPECT_EQ(outcome("not xml"), "xml.malformed");
}

// SessionNotOnOrAfter in the past ends the sign-in; in the future it is reported.
TEST_F(ResponseValidatorTest, HonoursSessionNotOnOrAfter) {
  auto s = spec();
  std::string x = saml::response_xml(s, random_).xml;
  std::string future = replace_once(
      x, "SessionIndex=", "SessionNotOnOrAfter=\"2026-06-01T20:00:00Z\" SessionIndex=");
  auto r =
      validate(*sign_response_xml(future, s, testing::idp_keys().key, testing::idp_keys().cert));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(core::format_datetime(*r.identity->session_not_on_or_after), "2026-06-01T20:00:00Z");
  std::string past = replace_once(
      x, "SessionIndex=", "SessionNotOnOrAfter=\"2026-06-01T11:00:00Z\" SessionIndex=");
  EXPECT_EQ(outcome(*sign_response_xml(past, s, testing::idp_keys().key, testing::idp_keys().cert)),
            "authn.session_expired");
}

// Duplicate attributes are merged; Entra ID claim URIs get aliases; overage is reported.
TEST_F(ResponseValidatorTest, ReadsEntraIdClaims) {
  auto s = spec();
  s.attributes = {
      {"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
       {"0b1d-guid", "77aa-guid"}},
      {"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
       {"77aa-guid", "99ff-guid"}},
      {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", {"a@corp.example"}},
      {"http://schemas.microsoft.com/claims/groups.link",
       {"https://graph.microsoft.com/v1.0/users/abc/getMemberObjects"}}};
  auto r = validate(build(s));
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(r.identity->values("groups"),
            (std::vector<std::string>{"0b1d-guid", "77aa-guid", "99ff-guid"}));
  EXPECT_EQ(r.identity->values("email"), std::vector<std::string>{"a@corp.example"});
  ASSERT_TRUE(r.identity->groups_overage_link.has_value());
  EXPECT_NE(r.identity->groups_overage_link->find("getMemberObjects"), std::string::npos);
}

// The posted forms: base64, a form body, raw XML; bad base64 is a decode error.
TEST_F(ResponseValidatorTest, DecodesPostedForms) {
  ResponseValidator v(sp_, idp_, nullptr, clock_);
  std::string x = build(spec());
  EXPECT_TRUE(v.validate_posted(core::base64_encode(x), testing::kRequestId).ok());
  EXPECT_TRUE(v.validate_posted(
                   "SAMLResponse=" + core::url_encode(core::base64_encode(x)) + "&RelayState=abc",
                   testing::kRequestId)
                  .ok());
  EXPECT_TRUE(v.validate_posted(x, testing::kRequestId).ok());
  auto bad = v.validate_posted("%%%not base64", testing::kRequestId);
  EXPECT_EQ(bad.error->name, "response.decode");
  EXPECT_EQ(bad.checks.front().name, "decode");
}

}  // namespace
}  // namespace cg::saml
