#include "xml/signature.h"

#include <gtest/gtest.h>
#include <libxml/tree.h>
#include <openssl/rsa.h>

#include <functional>

#include "core/encoding.h"
#include "support/saml_fixture.h"
#include "xml/c14n.h"
#include "xml/document.h"
#include "xml/names.h"
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

// `text` (signed by xmlsec with RSA-SHA256) signed again: its SignatureMethod set to `method`, its
// SignedInfo canonicalized by libxml2 (exc_c14n_reference, not our c14n) and signed by `sign`
// (OpenSSL's API directly, not src/crypto). What an IdP with PSS support sends.
std::string resign(const std::string& text, const char* method,
                   const std::function<std::string(std::string_view)>& sign) {
  std::string t = replace_once(text, alg::kRsaSha256, method);
  auto d = Document::parse(t);
  EXPECT_TRUE(d.has_value());
  xmlNode* sig = *find_signature(d->root());
  auto c14n = exc_c14n_reference(first_child(sig, ns::kDs, "SignedInfo"), nullptr, {});
  EXPECT_TRUE(c14n.has_value());
  std::string value = core::base64_encode(sign(*c14n));
  xmlNodeSetContent(first_child(sig, ns::kDs, "SignatureValue"),
                    reinterpret_cast<const xmlChar*>(value.c_str()));
  return to_string(d->root());
}

// The message's KeyInfo replaced by `key_info` (its whole content).
std::string with_key_info(const std::string& text, const std::string& key_info) {
  size_t b = text.find("<ds:KeyInfo>"), e = text.find("</ds:KeyInfo>");
  EXPECT_NE(b, std::string::npos);
  return text.substr(0, b) + key_info + text.substr(e + 13);
}

// RSA-PSS (xmldsig-more#sha256-rsa-MGF1, sha384, sha512) made by OpenSSL verifies, with MGF1 over
// the same hash and a salt as long as it; other parameters do not.
TEST(SignatureTest, VerifiesRsaPssMadeByOpenSsl) {
  const auto& kp = idp_keys();
  struct P {
    const char* uri;
    const char* md;
  };
  for (P p : {P{alg::kRsaPssSha256, "SHA256"}, P{alg::kRsaPssSha384, "SHA384"},
              P{alg::kRsaPssSha512, "SHA512"}}) {
    SCOPED_TRACE(p.uri);
    auto pss = [&](const char* mgf1, int salt) {
      return [&, mgf1, salt](std::string_view data) {
        return testing::openssl_pss_sign(kp.key, p.md, mgf1, salt, data);
      };
    };
    std::string good = resign(signed_doc(), p.uri, pss(p.md, RSA_PSS_SALTLEN_DIGEST));
    EXPECT_EQ(verify(good), "ok");
    auto d = Document::parse(good);
    auto v = verify_enveloped(*d, d->root(), *find_signature(d->root()),
                              std::vector{idp_keys().cert}, {});
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->signature_method, p.uri);
    EXPECT_EQ(verify(replace_once(good, "value ", "valuE ")), "signature.digest_mismatch");
    EXPECT_EQ(verify(resign(signed_doc(), p.uri, pss("SHA1", RSA_PSS_SALTLEN_DIGEST))),
              "signature.invalid");
    EXPECT_EQ(verify(resign(signed_doc(), p.uri, pss(p.md, 0))), "signature.invalid");
    EXPECT_EQ(verify(resign(signed_doc(), p.uri, pss(p.md, RSA_PSS_SALTLEN_MAX))),
              "signature.invalid");
    // A PKCS#1 v1.5 value under the PSS URI (and the reverse) is not a signature.
    EXPECT_EQ(
        verify(resign(signed_doc(), p.uri,
                      [&](std::string_view data) {
                        auto sig = kp.key.sign(
                            std::string_view(p.md) == "SHA256"   ? crypto::HashAlg::kSha256
                            : std::string_view(p.md) == "SHA384" ? crypto::HashAlg::kSha384
                                                                 : crypto::HashAlg::kSha512,
                            std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
                        return std::string(sig->begin(), sig->end());
                      })),
        "signature.invalid");
    EXPECT_EQ(verify(resign(signed_doc(), p.uri, pss(p.md, RSA_PSS_SALTLEN_DIGEST)),
                     {testing::attacker_keys().cert}),
              "signature.untrusted_key");
  }
  EXPECT_EQ(verify(resign(signed_doc(), alg::kRsaSha256,
                          [&](std::string_view data) {
                            return testing::openssl_pss_sign(kp.key, "SHA256", "SHA256",
                                                             RSA_PSS_SALTLEN_DIGEST, data);
                          })),
            "signature.invalid");
}

// ECDSA SignatureValues are r||s (XML DSig 1.1): xmlsec writes 64 bytes for P-256, OpenSSL's
// DER converted to r||s verifies, and DER itself is not accepted in an XML signature.
TEST(SignatureTest, EcdsaSignatureValueIsRawRs) {
  SignOptions o;
  o.signature = SignatureAlgorithm::kEcdsaSha256;
  const auto& kp = testing::idp_ec_keys();
  std::string s = signed_doc(o, kp);
  size_t b = s.find("<ds:SignatureValue>") + 19;
  auto value = core::base64_decode(s.substr(b, s.find("</ds:SignatureValue>") - b));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->size(), 64u);
  auto rs = [&](std::string_view data) {
    return testing::ecdsa_der_to_raw(testing::openssl_ecdsa_sign_der(kp.key, "SHA256", data), 32);
  };
  auto der = [&](std::string_view data) {
    return testing::openssl_ecdsa_sign_der(kp.key, "SHA256", data);
  };
  std::string as_rsa = replace_once(s, alg::kEcdsaSha256, alg::kRsaSha256);  // for resign()
  EXPECT_EQ(verify(resign(as_rsa, alg::kEcdsaSha256, rs), {kp.cert}), "ok");
  EXPECT_EQ(verify(resign(as_rsa, alg::kEcdsaSha256, der), {kp.cert}), "signature.invalid");
  // P-384 with ecdsa-sha384: 96 bytes.
  const auto& k384 = testing::idp_ec384_keys();
  EXPECT_EQ(verify(resign(as_rsa, alg::kEcdsaSha384,
                          [&](std::string_view data) {
                            return testing::ecdsa_der_to_raw(
                                testing::openssl_ecdsa_sign_der(k384.key, "SHA384", data), 48);
                          }),
                   {k384.cert}),
            "ok");
}

// A trust entry that is a bare key (metadata's ds:KeyValue) verifies signatures whatever the
// message's KeyInfo holds: the IdP's certificate, nothing, or the IdP's own KeyValue.
TEST(SignatureTest, VerifiesWithAKeyOnlyTrustEntry) {
  std::vector trusted{crypto::Certificate::from_key(idp_keys().cert.public_key())};
  std::string s = signed_doc();
  EXPECT_EQ(verify(s, trusted), "ok");
  SignOptions no_cert;
  no_cert.include_certificate = false;
  EXPECT_EQ(verify(signed_doc(no_cert), trusted), "ok");
  EXPECT_EQ(verify(with_key_info(s, "<ds:KeyInfo>" +
                                        testing::key_value_xml(idp_keys().cert.public_key()) +
                                        "</ds:KeyInfo>"),
                   trusted),
            "ok");
  auto d = Document::parse(s);
  auto v = verify_enveloped(*d, d->root(), *find_signature(d->root()), trusted, {});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->certificate_fingerprint, trusted.front().sha256_fingerprint());
  std::vector ec{crypto::Certificate::from_key(testing::idp_ec_keys().cert.public_key())};
  SignOptions eo;
  eo.signature = SignatureAlgorithm::kEcdsaSha256;
  EXPECT_EQ(verify(signed_doc(eo, testing::idp_ec_keys()), ec), "ok");
}

// The attacker signs with their own key and puts that key in the message's KeyValue: refused,
// with the key named, whether the metadata holds a certificate or a bare key. The key from the
// message is never used to verify.
TEST(SignatureTest, NeverTrustsAKeyValueFromTheMessage) {
  SignOptions no_cert;
  no_cert.include_certificate = false;
  const auto& evil = testing::attacker_keys();
  std::string s = signed_doc(no_cert, evil);
  std::string attack =
      replace_once(s, "</ds:SignatureValue>",
                   "</ds:SignatureValue><ds:KeyInfo>" +
                       testing::key_value_xml(evil.cert.public_key()) + "</ds:KeyInfo>");
  for (const auto& trusted :
       {std::vector{idp_keys().cert},
        std::vector{crypto::Certificate::from_key(idp_keys().cert.public_key())}}) {
    auto d = Document::parse(attack);
    ASSERT_TRUE(d.has_value());
    auto v = verify_enveloped(*d, d->root(), *find_signature(d->root()), trusted, {});
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().name, "signature.untrusted_key");
    EXPECT_NE(v.error().message.find("RSA-2048 in its own <ds:KeyValue>"), std::string::npos)
        << v.error().message;
    EXPECT_NE(v.error().message.find(
                  crypto::Certificate::from_key(evil.cert.public_key()).sha256_fingerprint()),
              std::string::npos);
  }
  // The IdP's own KeyValue on an attacker's signature changes nothing either.
  std::string lie =
      replace_once(s, "</ds:SignatureValue>",
                   "</ds:SignatureValue><ds:KeyInfo>" +
                       testing::key_value_xml(idp_keys().cert.public_key()) + "</ds:KeyInfo>");
  EXPECT_EQ(verify(lie), "signature.invalid");
  // Nor does an unreadable one.
  EXPECT_EQ(verify(replace_once(s, "</ds:SignatureValue>",
                                "</ds:SignatureValue><ds:KeyInfo><ds:KeyValue><ds:RSAKeyValue>"
                                "<ds:Modulus>!!</ds:Modulus></ds:RSAKeyValue></ds:KeyValue>"
                                "</ds:KeyInfo>")),
            "signature.invalid");
}

// A refused algorithm is named as it arrived, with what is accepted; SHA-1 names the setting.
TEST(SignatureTest, RefusalsNameTheAlgorithmAndTheSetting) {
  std::string s = signed_doc();
  auto message = [](const std::string& text, SignaturePolicy policy = {}) {
    auto d = Document::parse(text);
    auto v = verify_enveloped(*d, d->root(), *find_signature(d->root()),
                              std::vector{idp_keys().cert}, policy);
    return v ? std::string("ok") : v.error().message;
  };
  std::string odd = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5";
  std::string m = message(replace_once(s, alg::kRsaSha256, odd));
  EXPECT_NE(m.find(odd), std::string::npos) << m;
  EXPECT_NE(m.find(alg::kRsaPssSha256), std::string::npos) << m;
  EXPECT_NE(m.find(alg::kEcdsaSha512), std::string::npos) << m;
  m = message(replace_once(s, alg::kSha256, "http://www.w3.org/2001/04/xmldsig-more#md5"));
  EXPECT_NE(m.find("xmldsig-more#md5"), std::string::npos) << m;
  EXPECT_NE(m.find(alg::kSha512), std::string::npos) << m;
  SignOptions o;
  o.signature = SignatureAlgorithm::kRsaSha1;
  std::string sha1 = signed_doc(o);
  m = message(sha1);
  EXPECT_NE(m.find(alg::kRsaSha1), std::string::npos) << m;
  EXPECT_NE(m.find("saml.idps[].allow_sha1"), std::string::npos) << m;
  SignaturePolicy metadata{false, ""};
  m = message(sha1, metadata);
  EXPECT_EQ(m.find("allow_sha1"), std::string::npos) << m;
  SignOptions d1;
  d1.digest = DigestAlgorithm::kSha1;
  m = message(signed_doc(d1));
  EXPECT_NE(m.find(alg::kSha1), std::string::npos) << m;
  EXPECT_NE(m.find("saml.idps[].allow_sha1"), std::string::npos) << m;
}

}  // namespace
}  // namespace cg::xml
