#include "xml/encryption.h"

#include <gtest/gtest.h>

#include "core/encoding.h"
#include "support/saml_fixture.h"
#include "xml/document.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::xml {
namespace {

constexpr const char* kDoc =
    "<w xmlns:s='urn:s'><s:Secret ID='_s'>top <s:b>secret</s:b></s:Secret></w>";

Result<Decrypted> round_trip(DataAlgorithm a, KeyTransport t,
                             std::span<const crypto::PrivateKey> keys, DecryptPolicy p = {}) {
  auto d = Document::parse(kDoc);
  EXPECT_TRUE(d.has_value());
  auto enc = encrypt(first_element(d->root()), testing::sp_keys().cert, a, t);
  EXPECT_TRUE(enc.has_value()) << (enc ? "" : enc.error().message);
  if (!enc) return fail(enc.take_error());
  EXPECT_TRUE(is(*enc, ns::kXenc, "EncryptedData"));
  EXPECT_EQ(to_string(d->root()).find("secret"), std::string::npos);
  return decrypt(*enc, keys, p);
}

// Every accepted content algorithm round-trips with RSA-OAEP key transport.
TEST(EncryptionTest, RoundTripsAesGcmAndCbc) {
  std::vector keys{testing::sp_keys().key};
  for (auto a : {DataAlgorithm::kAes128Gcm, DataAlgorithm::kAes256Gcm, DataAlgorithm::kAes128Cbc,
                 DataAlgorithm::kAes256Cbc}) {
    auto r = round_trip(a, KeyTransport::kRsaOaep, keys);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_NE(r->plaintext.find("top <s:b>secret</s:b>"), std::string::npos);
    EXPECT_EQ(r->key_transport, alg::kRsaOaepMgf1p);
  }
}

// Next to the current key, a second SP key (rollover) is tried; a foreign key fails clearly.
TEST(EncryptionTest, TriesEverySpKey) {
  std::vector both{testing::idp_keys().key, testing::sp_keys().key};
  EXPECT_TRUE(round_trip(DataAlgorithm::kAes256Gcm, KeyTransport::kRsaOaep, both).has_value());
  std::vector wrong{testing::idp_keys().key};
  EXPECT_EQ(round_trip(DataAlgorithm::kAes256Gcm, KeyTransport::kRsaOaep, wrong).error().name,
            "encryption.decrypt_failed");
  EXPECT_EQ(round_trip(DataAlgorithm::kAes256Gcm, KeyTransport::kRsaOaep, {}).error().name,
            "encryption.no_key");
}

// RSA PKCS#1 v1.5 key transport is refused unless allowed.
TEST(EncryptionTest, RefusesRsa15UnlessAllowed) {
  std::vector keys{testing::sp_keys().key};
  auto refused = round_trip(DataAlgorithm::kAes128Cbc, KeyTransport::kRsa15, keys);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().name, "encryption.weak_key_transport");
  // The sentence names what arrived, what is accepted and the setting that allows it.
  EXPECT_NE(refused.error().message.find(alg::kRsa15), std::string::npos);
  EXPECT_NE(refused.error().message.find(alg::kRsaOaepMgf1p), std::string::npos);
  EXPECT_NE(refused.error().message.find("saml.allow_rsa15"), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(
      round_trip(DataAlgorithm::kAes128Cbc, KeyTransport::kRsa15, keys, {true}).has_value());
}

// 3DES-CBC (pysaml2's default) is refused with 3201, the sentence naming the per-IdP switch;
// with the switch it decrypts.
TEST(EncryptionTest, RefusesTripleDesUnlessAllowed) {
  std::vector keys{testing::sp_keys().key};
  auto r = round_trip(DataAlgorithm::kTripleDesCbc, KeyTransport::kRsaOaep, keys);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, 3201);
  EXPECT_EQ(r.error().name, "encryption.algorithm");
  EXPECT_NE(r.error().message.find(alg::kTripleDesCbc), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("set saml.idps[].allow_tripledes for this IdP if it cannot be "
                                   "changed"),
            std::string::npos)
      << r.error().message;
  DecryptPolicy allow;
  allow.allow_tripledes = true;
  auto ok = round_trip(DataAlgorithm::kTripleDesCbc, KeyTransport::kRsaOaep, keys, allow);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_NE(ok->plaintext.find("top <s:b>secret</s:b>"), std::string::npos);
  EXPECT_EQ(ok->data_algorithm, alg::kTripleDesCbc);
}

// A flipped ciphertext byte under GCM fails authentication.
TEST(EncryptionTest, DetectsTamperedCiphertext) {
  auto d = Document::parse(kDoc);
  auto enc = encrypt(first_element(d->root()), testing::sp_keys().cert, DataAlgorithm::kAes256Gcm);
  ASSERT_TRUE(enc.has_value());
  std::string text = to_string(d->root());
  size_t end = text.rfind('<', text.rfind("CipherValue>"));  // the content's CipherValue ends here
  size_t at = end - 12;                                      // inside the base64, before padding
  text[at] = text[at] == 'A' ? 'B' : 'A';
  auto d2 = Document::parse(text);
  ASSERT_TRUE(d2.has_value());
  std::vector keys{testing::sp_keys().key};
  auto r = decrypt(first_element(d2->root()), keys, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().name, "encryption.decrypt_failed");
  // xmlsec's own reason is kept in the message.
  EXPECT_NE(r.error().message.find("xmlSec"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace cg::xml

namespace cg::xml {
namespace {

// Re-wraps the content key of `enc` with RSA-OAEP SHA-256 / MGF1-SHA-256 and the XML Encryption
// 1.1 algorithm URI, as Shibboleth-style IdPs send it (xmlsec 1.2.37 cannot produce this).
std::string rewrap_oaep11(const std::string& original) {
  auto doc = Document::parse(original);
  EXPECT_TRUE(doc.has_value());
  xmlNode* data = first_element(doc->root());
  xmlNode* ek = first_child(first_child(data, ns::kDs, "KeyInfo"), ns::kXenc, "EncryptedKey");
  xmlNode* cv = first_child(first_child(ek, ns::kXenc, "CipherData"), ns::kXenc, "CipherValue");
  auto ct = *core::base64_decode(text(cv));
  auto key = testing::sp_keys().key.rsa_decrypt_oaep(
      std::span(reinterpret_cast<const uint8_t*>(ct.data()), ct.size()), crypto::HashAlg::kSha1,
      crypto::HashAlg::kSha1, {});
  EXPECT_TRUE(key.has_value());
  std::string wrapped = testing::rsa_oaep_encrypt_sha256(testing::sp_keys().cert, *key);
  std::string out = to_string(doc->root());
  std::string old_ct = text(cv);
  out = testing::replace_once(out, old_ct, core::base64_encode(wrapped));
  std::string method_start =
      out.substr(out.find("<EncryptionMethod Algorithm=\"" + std::string(alg::kRsaOaepMgf1p)));
  std::string method = method_start.substr(0, method_start.find("/>") + 2);
  return testing::replace_once(
      out, method,
      std::string("<EncryptionMethod Algorithm=\"") + alg::kRsaOaep11 +
          "\"><DigestMethod xmlns=\"http://www.w3.org/2000/09/xmldsig#\" Algorithm=\"" +
          alg::kSha256 +
          "\"/><MGF xmlns=\"http://www.w3.org/2009/xmlenc11#\" "
          "Algorithm=\"http://www.w3.org/2009/xmlenc11#mgf1sha256\"/></EncryptionMethod>");
}

// XML Encryption 1.1 RSA-OAEP with SHA-256 and MGF1-SHA-256 is unwrapped as sent.
TEST(EncryptionTest, AcceptsXmlEnc11RsaOaepWithSha256) {
  auto d = Document::parse(kDoc);
  auto enc = encrypt(first_element(d->root()), testing::sp_keys().cert, DataAlgorithm::kAes128Gcm);
  ASSERT_TRUE(enc.has_value());
  std::string rewrapped = rewrap_oaep11(to_string(d->root()));
  ASSERT_NE(rewrapped.find("mgf1sha256"), std::string::npos);
  auto d2 = Document::parse(rewrapped);
  ASSERT_TRUE(d2.has_value()) << d2.error().message;
  std::vector keys{testing::sp_keys().key};
  auto r = decrypt(first_element(d2->root()), keys, {});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->key_transport, alg::kRsaOaep11);
  EXPECT_NE(r->plaintext.find("secret"), std::string::npos);
  // The same bytes announced with the SHA-1 defaults do not unwrap: the parameters are honoured.
  std::string wrong = testing::replace_once(rewrapped, "mgf1sha256", "mgf1sha1");
  auto d3 = Document::parse(wrong);
  EXPECT_EQ(decrypt(first_element(d3->root()), keys, {}).error().name, "encryption.decrypt_failed");
}

}  // namespace
}  // namespace cg::xml
