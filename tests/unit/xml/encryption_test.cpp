#include "xml/encryption.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(round_trip(DataAlgorithm::kAes128Cbc, KeyTransport::kRsa15, keys).error().name,
            "encryption.weak_key_transport");
  EXPECT_TRUE(
      round_trip(DataAlgorithm::kAes128Cbc, KeyTransport::kRsa15, keys, {true}).has_value());
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
}

}  // namespace
}  // namespace cg::xml
