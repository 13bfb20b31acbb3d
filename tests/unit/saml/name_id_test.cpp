// The NameID as an IdP may send it: plain or as an EncryptedID (ADFS, Entra ID), with or
// without an SPNameQualifier; in a Response's Subject and in a LogoutRequest. One reader
// (saml/name_id.h) serves both, with the EncryptedAssertion's algorithm rules.
#include "saml/name_id.h"

#include <gtest/gtest.h>

#include "saml/logout.h"
#include "support/saml_fixture.h"
#include "xml/encryption.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::saml {
namespace {

using namespace std::chrono_literals;

class NameIdTest : public testing::SamlTest {
 protected:
  ResponseSpec encrypted_name_id(xml::DataAlgorithm a = xml::DataAlgorithm::kAes256Cbc) {
    auto s = spec();
    s.encrypt_for = testing::sp_keys().cert;
    s.encrypt_assertion = false;
    s.encrypt_name_id = true;
    s.encryption = a;
    return s;
  }
};

// ADFS / Entra ID: an EncryptedID inside a signed, plain assertion is decrypted with the SP
// key and then read as a NameID (format and qualifiers kept).
TEST_F(NameIdTest, DecryptsAnEncryptedIdInThePlainAssertion) {
  auto s = encrypted_name_id();
  s.name_qualifier = "http://adfs.corp.example/adfs/services/trust";
  s.sp_name_qualifier = testing::kSpEntity;
  std::string xml = build(s);
  ASSERT_NE(xml.find("EncryptedID"), std::string::npos);
  ASSERT_EQ(xml.find("<saml:NameID"), std::string::npos);  // only the EncryptedID
  auto r = validate(xml);
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(r.identity->name_id, "alice@example.org");
  EXPECT_EQ(r.identity->name_id_format, s.name_id_format);
  EXPECT_EQ(r.identity->name_qualifier, s.name_qualifier);
  EXPECT_EQ(r.identity->sp_name_qualifier, testing::kSpEntity);
  EXPECT_FALSE(r.identity->encrypted);  // the assertion itself was not
  bool noted = false;
  for (const auto& c : r.checks) {
    if (c.name == "subject.name_id") {
      noted = c.detail.find("EncryptedID decrypted") != std::string::npos;
    }
  }
  EXPECT_TRUE(noted);
}

// An EncryptedID inside an EncryptedAssertion (both layers), with AES-GCM.
TEST_F(NameIdTest, DecryptsAnEncryptedIdInsideAnEncryptedAssertion) {
  auto s = encrypted_name_id(xml::DataAlgorithm::kAes128Gcm);
  s.encrypt_assertion = true;
  auto r = validate(build(s));
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(r.identity->name_id, "alice@example.org");
  EXPECT_TRUE(r.identity->encrypted);
}

// Every SP key is tried (a rollover: the IdP still encrypts to the previous certificate).
TEST_F(NameIdTest, TriesEverySpDecryptionKey) {
  sp_.decryption_keys = {testing::idp_next_keys().key, testing::sp_keys().key};
  EXPECT_EQ(outcome(build(encrypted_name_id())), "ok");
  sp_.decryption_keys = {testing::idp_next_keys().key};
  auto r = validate(build(encrypted_name_id()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "encryption.decrypt_failed");
  EXPECT_NE(r.error->message.find("the NameID's key"), std::string::npos) << r.error->message;
  sp_.decryption_keys = {};
  EXPECT_EQ(outcome(build(encrypted_name_id())), "encryption.no_key");
}

// The same algorithm rules as an EncryptedAssertion: RSA PKCS#1 v1.5 and 3DES refused unless
// allowed (3DES only for the IdP with the switch).
TEST_F(NameIdTest, AppliesTheAssertionAlgorithmRules) {
  auto s = encrypted_name_id();
  s.key_transport = xml::KeyTransport::kRsa15;
  EXPECT_EQ(outcome(build(s)), "encryption.weak_key_transport");
  sp_.allow_rsa15 = true;
  EXPECT_EQ(outcome(build(s)), "ok");

  auto r = validate(build(encrypted_name_id(xml::DataAlgorithm::kTripleDesCbc)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->code, 3201);
  EXPECT_NE(r.error->message.find("saml.idps[].allow_tripledes"), std::string::npos);
  idp_.allow_tripledes = true;
  EXPECT_EQ(outcome(build(encrypted_name_id(xml::DataAlgorithm::kTripleDesCbc))), "ok");
}

// An EncryptedID that holds something other than a NameID, or two identifiers, is refused.
TEST_F(NameIdTest, RefusesAnEncryptedIdThatIsNotOneNameId) {
  auto s = spec();
  std::string xml = saml::response_xml(s, random_).xml;
  // The SubjectConfirmation, encrypted, in an EncryptedID beside the NameID.
  auto doc = xml::Document::parse(xml);
  ASSERT_TRUE(doc.has_value());
  xmlNode* assertion = xml::first_child(doc->root(), xml::ns::kSaml, "Assertion");
  xmlNode* subject = xml::first_child(assertion, xml::ns::kSaml, "Subject");
  xmlNode* conf = xml::first_child(subject, xml::ns::kSaml, "SubjectConfirmation");
  auto enc = xml::encrypt(conf, testing::sp_keys().cert, xml::DataAlgorithm::kAes128Gcm);
  ASSERT_TRUE(enc.has_value());
  ASSERT_TRUE(xml::wrap_in(*enc, xml::ns::kSaml, "saml", "EncryptedID").has_value());
  std::string edited = xml::to_string(doc->root());
  // Two identifiers: NameID and EncryptedID.
  auto signed_two =
      saml::sign_response_xml(edited, s, testing::idp_keys().key, testing::idp_keys().cert);
  ASSERT_TRUE(signed_two.has_value());
  auto r = validate(*signed_two);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "subject.missing");
  EXPECT_NE(r.error->message.find("expected exactly one"), std::string::npos) << r.error->message;
  // Only the EncryptedID, which decrypts to a SubjectConfirmation.
  std::string start = "<saml:NameID";
  size_t a = edited.find(start), b = edited.find("</saml:NameID>") + 14;
  edited.erase(a, b - a);
  auto signed_one =
      saml::sign_response_xml(edited, s, testing::idp_keys().key, testing::idp_keys().cert);
  ASSERT_TRUE(signed_one.has_value());
  r = validate(*signed_one);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "subject.missing");
  EXPECT_NE(r.error->message.find("does not hold a plain <saml:NameID>"), std::string::npos)
      << r.error->message;
}

// python3-saml's rule: a NameID whose SPNameQualifier names another SP is refused, saying
// which SP was expected and which arrived; no SPNameQualifier, or ours, is fine.
TEST_F(NameIdTest, RefusesAnSpNameQualifierOfAnotherSp) {
  auto s = spec();
  EXPECT_EQ(outcome(build(s)), "ok");
  s.sp_name_qualifier = testing::kSpEntity;
  EXPECT_EQ(outcome(build(s)), "ok");
  s.sp_name_qualifier = "https://wiki.example.org/shibboleth";
  auto r = validate(build(s));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->code, 4040);
  EXPECT_EQ(r.error->name, "subject.sp_name_qualifier");
  EXPECT_NE(r.error->message.find("'https://wiki.example.org/shibboleth'"), std::string::npos);
  EXPECT_NE(r.error->message.find(std::string("expected this SP's entity id '") +
                                  testing::kSpEntity + "'"),
            std::string::npos)
      << r.error->message;
  // Inside an EncryptedID too.
  auto e = encrypted_name_id();
  e.sp_name_qualifier = "https://wiki.example.org/shibboleth";
  EXPECT_EQ(outcome(build(e)), "subject.sp_name_qualifier");
}

// An SP in a SAML affiliation (saml.sp.affiliation_id) also accepts NameIDs issued for it.
TEST_F(NameIdTest, AcceptsTheConfiguredAffiliationAsSpNameQualifier) {
  sp_.affiliation_id = "https://ml.example.org/affiliation";
  auto s = spec();
  s.sp_name_qualifier = "https://ml.example.org/affiliation";
  EXPECT_EQ(outcome(build(s)), "ok");
  s.sp_name_qualifier = "https://wiki.example.org/shibboleth";
  auto r = validate(build(s));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "subject.sp_name_qualifier");
  EXPECT_NE(r.error->message.find("or its affiliation's 'https://ml.example.org/affiliation'"),
            std::string::npos)
      << r.error->message;
}

// --- LogoutRequest -------------------------------------------------------------------------

SpConfig idp_as_sender() {
  SpConfig c;
  c.entity_id = testing::kIdpEntity;
  c.current = {testing::idp_keys().key, testing::idp_keys().cert};
  return c;
}

LogoutCheckSettings logout_settings() {
  LogoutCheckSettings s{"https://ml.example.org/saml/slo", 180s, 300s};
  s.sp_entity_id = testing::kSpEntity;
  s.decryption_keys = {testing::sp_keys().key};
  return s;
}

// A signed LogoutRequest, its NameID encrypted (EncryptedID) with `a` when `encrypt`.
RedirectMessage logout_request(const std::string& sp_name_qualifier, bool encrypt,
                               xml::DataAlgorithm a = xml::DataAlgorithm::kAes256Cbc) {
  testing::DeterministicRandom rnd;
  LogoutRequestSpec spec{"https://ml.example.org/saml/slo", "alice@example.org", kNameIdEmail,
                         "_s1"};
  spec.sp_name_qualifier = sp_name_qualifier;
  std::string xml = build_logout_request(idp_as_sender(), spec, rnd, testing::test_now()).xml;
  if (encrypt) {
    auto doc = xml::Document::parse(xml);
    EXPECT_TRUE(doc.has_value());
    xmlNode* nid = xml::first_child(doc->root(), xml::ns::kSaml, "NameID");
    auto enc = xml::encrypt(nid, testing::sp_keys().cert, a);
    EXPECT_TRUE(enc.has_value());
    EXPECT_TRUE(xml::wrap_in(*enc, xml::ns::kSaml, "saml", "EncryptedID").has_value());
    xml = xml::to_string(doc->root());
    EXPECT_EQ(xml.find("alice@example.org"), std::string::npos);
  }
  auto url = redirect_url("https://ml.example.org/saml/slo", "SAMLRequest", xml, "rs",
                          &testing::idp_keys().key);
  EXPECT_TRUE(url.has_value());
  auto m = decode_redirect(*url);
  EXPECT_TRUE(m.has_value());
  return *m;
}

IdpSettings logout_idp(bool allow_tripledes = false) {
  IdpSettings s{testing::kIdpEntity, {testing::idp_keys().cert}, false, false, {}};
  s.allow_tripledes = allow_tripledes;
  return s;
}

// An IdP's LogoutRequest with an EncryptedID names the user once decrypted with the SP key.
TEST(NameIdLogoutTest, DecryptsTheLogoutRequestsEncryptedId) {
  auto info = validate_logout_request(logout_request("", true), logout_idp(), logout_settings(),
                                      testing::test_now());
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->name_id, "alice@example.org");
  EXPECT_EQ(info->name_id_format, kNameIdEmail);
  auto no_key = logout_settings();
  no_key.decryption_keys = {testing::attacker_keys().key};
  EXPECT_EQ(
      validate_logout_request(logout_request("", true), logout_idp(), no_key, testing::test_now())
          .error()
          .name,
      "encryption.decrypt_failed");
  // 3DES only with the IdP's switch.
  auto des = logout_request("", true, xml::DataAlgorithm::kTripleDesCbc);
  EXPECT_EQ(validate_logout_request(des, logout_idp(), logout_settings(), testing::test_now())
                .error()
                .code,
            3201);
  EXPECT_TRUE(
      validate_logout_request(des, logout_idp(true), logout_settings(), testing::test_now()));
}

// A LogoutRequest's SPNameQualifier naming another SP is refused (plain or encrypted).
TEST(NameIdLogoutTest, RefusesALogoutRequestForAnotherSp) {
  for (bool encrypt : {false, true}) {
    EXPECT_TRUE(validate_logout_request(logout_request(testing::kSpEntity, encrypt), logout_idp(),
                                        logout_settings(), testing::test_now()));
    auto r = validate_logout_request(logout_request("https://other.example/sp", encrypt),
                                     logout_idp(), logout_settings(), testing::test_now());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().name, "subject.sp_name_qualifier");
    EXPECT_NE(r.error().message.find("the LogoutRequest"), std::string::npos);
  }
}

}  // namespace
}  // namespace cg::saml
