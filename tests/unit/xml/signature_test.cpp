#include "xml/signature.h"

#include <gtest/gtest.h>

#include "support/saml_fixture.h"
#include "xml/document.h"
#include "xml/node.h"
#include "xml/signer.h"

namespace cg::xml {
namespace {

using testing::idp_keys;
using testing::replace_once;

constexpr const char* kDoc =
    "<r:Root xmlns:r='urn:test' xmlns:saml='urn:oasis:names:tc:SAML:2.0:assertion' ID='_root'>"
    "<saml:Issuer>me</saml:Issuer><r:Data a='1'>value <!-- c --> here</r:Data></r:Root>";

// Signs kDoc with xmlsec and returns the text.
std::string signed_doc(const SignOptions& o = {}, const testing::KeyPair& k = idp_keys()) {
  auto d = Document::parse(kDoc);
  EXPECT_TRUE(d.has_value());
  EXPECT_TRUE(sign_enveloped(d->root(), k.key, k.cert, o).has_value());
  return to_string(d->root());
}

std::string verify(const std::string& text,
                   std::vector<crypto::Certificate> trusted = {idp_keys().cert},
                   SignaturePolicy policy = {}) {
  auto d = Document::parse(text);
  if (!d) return d.error().name;
  auto sig = find_signature(d->root());
  if (!sig) return sig.error().name;
  if (!*sig) return "unsigned";
  auto v = verify_enveloped(*d, d->root(), *sig, trusted, policy);
  return v ? "ok" : v.error().name;
}

// A document signed by xmlsec verifies; the verified element is the signed one.
TEST(SignatureTest, VerifiesXmlsecSignature) {
  std::string s = signed_doc();
  EXPECT_EQ(verify(s), "ok");
  auto d = Document::parse(s);
  auto v =
      verify_enveloped(*d, d->root(), *find_signature(d->root()), std::vector{idp_keys().cert}, {});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->element, d->root());
  EXPECT_EQ(v->certificate_fingerprint, idp_keys().cert.sha256_fingerprint());
}

// ECDSA-SHA256 signatures (r||s encoding) verify too.
TEST(SignatureTest, VerifiesEcdsa) {
  SignOptions o;
  o.signature = SignatureAlgorithm::kEcdsaSha256;
  EXPECT_EQ(verify(signed_doc(o, testing::idp_ec_keys()), {testing::idp_ec_keys().cert}), "ok");
}

// Changing signed content, even inside a comment-split text, breaks the digest.
TEST(SignatureTest, DetectsTampering) {
  std::string s = signed_doc();
  EXPECT_EQ(verify(replace_once(s, "value ", "valuE ")), "signature.digest_mismatch");
  EXPECT_EQ(verify(replace_once(s, "a=\"1\"", "a=\"2\"")), "signature.digest_mismatch");
  // Comments are not signed (exclusive c14n without comments): adding one changes nothing.
  EXPECT_EQ(verify(replace_once(s, "value ", "val<!-- x -->ue ")), "ok");
}

// A signature by a key not in the trust list fails; KeyInfo naming it is reported as such.
TEST(SignatureTest, RefusesUntrustedKeys) {
  std::string s = signed_doc({}, testing::attacker_keys());
  EXPECT_EQ(verify(s), "signature.untrusted_key");
  SignOptions no_cert;
  no_cert.include_certificate = false;
  EXPECT_EQ(verify(signed_doc(no_cert, testing::attacker_keys())), "signature.invalid");
  EXPECT_EQ(verify(signed_doc(), {}), "signature.no_trusted_keys");
}

// Several trusted certificates (a rollover): any one of them verifies.
TEST(SignatureTest, TrustsEveryConfiguredCertificate) {
  EXPECT_EQ(verify(signed_doc(), {testing::idp_next_keys().cert, idp_keys().cert}), "ok");
}

// The IdP's certificate in KeyInfo swapped for the attacker's changes nothing: the key never
// comes from the message.
TEST(SignatureTest, IgnoresKeyInfoForTrust) {
  std::string s = signed_doc({}, testing::attacker_keys());
  std::string good_cert = idp_keys().cert.base64_der();
  size_t b = s.find("<ds:X509Certificate>") + 20, e = s.find("</ds:X509Certificate>");
  s.replace(b, e - b, good_cert);
  EXPECT_EQ(verify(s), "signature.invalid");
}

// SHA-1 is refused unless allowed.
TEST(SignatureTest, RefusesSha1UnlessAllowed) {
  SignOptions o;
  o.signature = SignatureAlgorithm::kRsaSha1;
  o.digest = DigestAlgorithm::kSha1;
  std::string s = signed_doc(o);
  EXPECT_EQ(verify(s), "signature.weak_algorithm");
  EXPECT_EQ(verify(s, {idp_keys().cert}, {true}), "ok");
  SignOptions digest_only;
  digest_only.digest = DigestAlgorithm::kSha1;
  EXPECT_EQ(verify(signed_doc(digest_only)), "signature.weak_algorithm");
}

// Structural rules: one Reference to '#' + own ID, two transforms only, no Object.
TEST(SignatureTest, EnforcesStructure) {
  std::string s = signed_doc();
  EXPECT_EQ(verify(replace_once(s, "URI=\"#_root\"", "URI=\"\"")), "signature.reference");
  EXPECT_EQ(verify(replace_once(s, "URI=\"#_root\"", "URI=\"#_other\"")), "signature.reference");
  std::string ref =
      s.substr(s.find("<ds:Reference"), s.find("</ds:Reference>") + 15 - s.find("<ds:Reference"));
  EXPECT_EQ(verify(replace_once(s, "</ds:Reference>", "</ds:Reference>" + ref)),
            "signature.reference");
  EXPECT_EQ(verify(replace_once(
                s, "</ds:Transforms>",
                "<ds:Transform "
                "Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/></ds:Transforms>")),
            "signature.transform");
  EXPECT_EQ(
      verify(replace_once(s, "</ds:KeyInfo>",
                          "</ds:KeyInfo><ds:Object><r:Data xmlns:r='urn:test'/></ds:Object>")),
      "signature.object");
  EXPECT_EQ(verify(replace_once(
                s, "http://www.w3.org/2001/10/xml-exc-c14n#\"/>\n<ds:SignatureMethod",
                "http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>\n<ds:SignatureMethod")),
            "signature.algorithm");
  EXPECT_EQ(verify(replace_once(s, "<ds:SignedInfo>", "<ds:SignedInfo><ds:Junk/>")),
            "signature.structure");
  std::string sig =
      s.substr(s.find("<ds:Signature"), s.find("</ds:Signature>") + 15 - s.find("<ds:Signature"));
  EXPECT_EQ(verify(replace_once(s, "</r:Root>", sig + "</r:Root>")), "signature.multiple");
}

}  // namespace
}  // namespace cg::xml
