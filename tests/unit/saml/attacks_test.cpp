// The attack suite: each forged or malformed response is refused with the right code.
// XSW1-XSW8 follow the catalogue of "On Breaking SAML: Be Whoever You Want to Be" (Somorovsky
// et al., 2012) as SAMLRaider implements them.
#include <gtest/gtest.h>

#include "support/saml_fixture.h"

namespace cg::saml {
namespace {

using testing::replace_once;

struct Span {
  size_t begin, end;
};

// The first element starting with `open` through its `close` tag.
Span find_element(const std::string& x, const std::string& open, const std::string& close,
                  size_t from = 0) {
  size_t b = x.find(open, from);
  size_t e = x.find(close, b);
  EXPECT_NE(b, std::string::npos) << open;
  EXPECT_NE(e, std::string::npos) << close;
  return {b, e + close.size()};
}
std::string cut(const std::string& x, Span s) { return x.substr(s.begin, s.end - s.begin); }
std::string splice(const std::string& x, Span s, const std::string& with) {
  return x.substr(0, s.begin) + with + x.substr(s.end);
}
std::string strip_signature(const std::string& x) {
  return splice(x, find_element(x, "<ds:Signature", "</ds:Signature>"), "");
}

// Gives the first Assertion a fresh ID, as an attacker avoiding the duplicate-ID check would.
std::string rename_assertion(std::string x) {
  size_t a = x.find("<saml:Assertion");
  size_t id = x.find("ID=\"", a) + 4;
  x.replace(id, x.find('"', id) - id, "_renamed");
  return x;
}

class AttackTest : public testing::SamlTest {
 protected:
  // A signed-assertion response, its assertion, and an attacker's edit of that assertion
  // (new ID, NameID admin), signature still inside.
  void SetUp() override {
    response = build(spec());
    Span a = find_element(response, "<saml:Assertion", "</saml:Assertion>");
    assertion = cut(response, a);
    evil_signed = replace_once(assertion, "alice@example.org</saml:NameID>",
                               "admin@example.org</saml:NameID>");
    size_t id = evil_signed.find("ID=\"") + 4;
    evil_signed.replace(id, evil_signed.find('"', id) - id, "_evil");
    evil = strip_signature(evil_signed);
    unsigned_original = strip_signature(assertion);
  }
  std::string with_assertion(const std::string& replacement) {
    return splice(response, find_element(response, "<saml:Assertion", "</saml:Assertion>"),
                  replacement);
  }
  // A Response signed as a whole, and the attacker's copy of it: NameID admin, a new ID.
  std::pair<std::string, std::string> signed_response_and_forgery() {
    auto s = spec();
    s.sign_response = true;
    s.sign_assertion = false;
    std::string orig = build(s);
    std::string forged =
        replace_once(orig, "alice@example.org</saml:NameID>", "admin@example.org</saml:NameID>");
    size_t id = forged.find("ID=\"") + 4;
    forged.replace(id, forged.find('"', id) - id, "_evilResponse");
    return {orig.substr(orig.find("<samlp:Response")), forged};
  }
  std::string response, assertion, evil_signed, evil, unsigned_original;
};

TEST_F(AttackTest, BaselineIsAccepted) { EXPECT_EQ(outcome(response), "ok"); }

// XSW1: a forged Response as root; the original signed Response hidden inside its Signature.
TEST_F(AttackTest, RejectsXsw1) {
  auto [original, forged] = signed_response_and_forgery();
  forged = replace_once(forged, "</ds:Signature>", original + "</ds:Signature>");
  EXPECT_EQ(outcome(forged), "xml.duplicate_id");  // the forged copy kept the assertion's ID
  EXPECT_EQ(outcome(rename_assertion(forged)), "assertion.count");
}

// XSW2: as XSW1, with the original Response as a sibling before the Signature.
TEST_F(AttackTest, RejectsXsw2) {
  auto [original, forged] = signed_response_and_forgery();
  forged = replace_once(forged, "<ds:Signature", original + "<ds:Signature");
  EXPECT_EQ(outcome(forged), "xml.duplicate_id");
  EXPECT_EQ(outcome(rename_assertion(forged)), "assertion.count");
}

// XSW3: an unsigned forged Assertion placed before the signed original.
TEST_F(AttackTest, RejectsXsw3) {
  EXPECT_EQ(outcome(with_assertion(evil + assertion)), "assertion.count");
}

// XSW4: the forged Assertion wraps the signed original.
TEST_F(AttackTest, RejectsXsw4) {
  std::string wrap = replace_once(evil, "</saml:Assertion>", assertion + "</saml:Assertion>");
  EXPECT_EQ(outcome(with_assertion(wrap)), "assertion.count");
}

// XSW5: the forged Assertion carries the original Signature; an unsigned copy of the original
// is appended to the Response.
TEST_F(AttackTest, RejectsXsw5) {
  EXPECT_EQ(outcome(with_assertion(evil_signed + unsigned_original)), "assertion.count");
}

// XSW6: the forged Assertion's Signature holds the (unsigned) original.
TEST_F(AttackTest, RejectsXsw6) {
  std::string x = replace_once(evil_signed, "</ds:Signature>", assertion + "</ds:Signature>");
  EXPECT_EQ(outcome(with_assertion(x)), "assertion.count");
}

// XSW7: the original inside an Extensions element, the forged Assertion beside it.
TEST_F(AttackTest, RejectsXsw7) {
  std::string x = "<samlp:Extensions>" + assertion + "</samlp:Extensions>" + evil;
  EXPECT_EQ(outcome(with_assertion(x)), "assertion.count");
}

// XSW8: the forged Assertion's Signature holds a ds:Object with the original (unsigned).
TEST_F(AttackTest, RejectsXsw8) {
  std::string x = replace_once(evil_signed, "</ds:Signature>",
                               "<ds:Object>" + unsigned_original + "</ds:Object></ds:Signature>");
  EXPECT_EQ(outcome(with_assertion(x)), "assertion.count");
}

// One assertion only, the forged one, with the original's ID and signature: the digest fails.
TEST_F(AttackTest, RejectsEditedSignedAssertion) {
  std::string x =
      replace_once(assertion, "alice@example.org</saml:NameID>", "admin@example.org</saml:NameID>");
  EXPECT_EQ(outcome(with_assertion(x)), "signature.digest_mismatch");
}

// The original, moved into a ds:Object of its own signature, with a forged twin sharing its ID.
TEST_F(AttackTest, RejectsDuplicateIds) {
  std::string twin = replace_once(
      evil_signed, "ID=\"_evil\"",
      "ID=\"" +
          cut(assertion,
              {assertion.find("ID=\"") + 4, assertion.find('"', assertion.find("ID=\"") + 4)}) +
          "\"");
  std::string x = replace_once(twin, "</ds:Signature>",
                               "<ds:Object>" + unsigned_original + "</ds:Object></ds:Signature>");
  EXPECT_EQ(outcome(with_assertion(x)), "xml.duplicate_id");
}

// The signature removed: nothing is signed any more.
TEST_F(AttackTest, RejectsRemovedSignature) {
  EXPECT_EQ(outcome(with_assertion(unsigned_original)), "signature.missing");
}

// Signed by the attacker, whose certificate sits in KeyInfo: the key never comes from there.
TEST_F(AttackTest, RejectsUnknownKeyInKeyInfo) {
  auto r = validate(build(spec(), &testing::attacker_keys()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "signature.untrusted_key");
  EXPECT_NE(r.error->message.find(testing::attacker_keys().cert.sha256_fingerprint()),
            std::string::npos);
}

// Signed by the attacker, who puts their own public key in KeyInfo as a ds:KeyValue (no
// certificate): refused as an untrusted key, whether the IdP's metadata holds a certificate or
// publishes its key as a KeyValue itself. A key from the message is never used.
TEST_F(AttackTest, RejectsAttackersKeyValueInKeyInfo) {
  auto s = spec();
  s.sign_options.include_certificate = false;
  std::string x = build(s, &testing::attacker_keys());
  std::string attack = replace_once(
      x, "</ds:SignatureValue>",
      "</ds:SignatureValue><ds:KeyInfo>" +
          testing::key_value_xml(testing::attacker_keys().cert.public_key()) + "</ds:KeyInfo>");
  for (auto trusted : {testing::idp_keys().cert,
                       crypto::Certificate::from_key(testing::idp_keys().cert.public_key())}) {
    idp_.signing_certs = {trusted};
    auto r = validate(attack);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error->name, "signature.untrusted_key");
    EXPECT_NE(r.error->message.find("never trusted"), std::string::npos) << r.error->message;
  }
  // The IdP's genuine signature verifies against the KeyValue-published key.
  EXPECT_EQ(outcome(build(s)), "ok");
}

// A comment inside NameID cannot truncate the identity: the whole text is read.
TEST_F(AttackTest, ReadsWholeNameIdDespiteComment) {
  auto s = spec();
  s.name_id = "admin@example.org.evil.example";
  std::string x = build(s);
  x = replace_once(x, "admin@example.org.evil.example", "admin@example.org<!---->.evil.example");
  auto r = validate(x);
  ASSERT_TRUE(r.ok()) << r.error->message;  // comments are not signed: the signature still holds
  EXPECT_EQ(r.identity->name_id, "admin@example.org.evil.example");
}

// XXE and billion laughs in a Response: refused before anything is expanded.
TEST_F(AttackTest, RejectsDtds) {
  std::string xxe = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" +
                    replace_once(response, "alice@example.org</saml:NameID>", "&x;</saml:NameID>");
  EXPECT_EQ(outcome(xxe), "xml.dtd_forbidden");
  std::string lol =
      "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
      "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]>" +
      replace_once(response, "alice@example.org</saml:NameID>", "&c;</saml:NameID>");
  EXPECT_EQ(outcome(lol), "xml.dtd_forbidden");
}

// Two plain assertions, each validly signed: refused (which one would we read?).
TEST_F(AttackTest, RejectsTwoAssertions) {
  auto s = spec();
  s.name_id = "admin@example.org";
  std::string other = build(s);
  std::string second = cut(other, find_element(other, "<saml:Assertion", "</saml:Assertion>"));
  EXPECT_EQ(outcome(with_assertion(assertion + second)), "assertion.count");
}

// An assertion nested in Advice is never taken as the assertion.
TEST_F(AttackTest, RejectsAssertionInAdvice) {
  auto s = spec();
  s.sign_response = true;
  s.sign_assertion = false;
  std::string plain = saml::response_xml(s, random_).xml;
  std::string inner = cut(plain, find_element(plain, "<saml:Assertion", "</saml:Assertion>"));
  inner = replace_once(inner, "alice@example.org", "admin@example.org");
  size_t id = inner.find("ID=\"") + 4;
  inner.replace(id, inner.find('"', id) - id, "_advice");
  plain = replace_once(plain, "<saml:AuthnStatement",
                       "<saml:Advice>" + inner + "</saml:Advice><saml:AuthnStatement");
  auto signed_xml = sign_response_xml(plain, s, testing::idp_keys().key, testing::idp_keys().cert);
  ASSERT_TRUE(signed_xml.has_value());
  EXPECT_EQ(outcome(*signed_xml), "assertion.count");
}

// SHA-1 signatures: refused by default, accepted when the IdP is configured for it.
TEST_F(AttackTest, RejectsSha1ByDefault) {
  auto s = spec();
  s.sign_options.signature = xml::SignatureAlgorithm::kRsaSha1;
  s.sign_options.digest = xml::DigestAlgorithm::kSha1;
  std::string x = build(s);
  EXPECT_EQ(outcome(x), "signature.weak_algorithm");
  idp_.allow_sha1 = true;
  EXPECT_EQ(outcome(x), "ok");
}

// A second Reference, or an extra transform, is refused.
TEST_F(AttackTest, RejectsSecondReferenceAndExtraTransforms) {
  std::string ref = cut(response, find_element(response, "<ds:Reference", "</ds:Reference>"));
  EXPECT_EQ(outcome(replace_once(response, "</ds:Reference>", "</ds:Reference>" + ref)),
            "signature.reference");
  std::string xpath =
      "<ds:Transform "
      "Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>1</ds:XPath></"
      "ds:Transform>";
  EXPECT_EQ(outcome(replace_once(response, "</ds:Transforms>", xpath + "</ds:Transforms>")),
            "signature.transform");
}

}  // namespace
}  // namespace cg::saml
