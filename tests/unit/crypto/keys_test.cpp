#include "crypto/keys.h"

#include <gtest/gtest.h>

#include "support/saml_fixture.h"

namespace cg::crypto {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// RSA and ECDSA signatures verify with the matching key only, and not over other data.
TEST(KeysTest, SignsAndVerifies) {
  for (const auto* kp : {&testing::idp_keys(), &testing::idp_ec_keys()}) {
    for (bool raw : {false, true}) {
      auto sig = kp->key.sign(HashAlg::kSha256, bytes("hello"), raw);
      ASSERT_TRUE(sig.has_value());
      EXPECT_TRUE(kp->cert.public_key().verify(HashAlg::kSha256, bytes("hello"), *sig, raw));
      EXPECT_FALSE(kp->cert.public_key().verify(HashAlg::kSha256, bytes("hellO"), *sig, raw));
      EXPECT_FALSE(
          testing::sp_keys().cert.public_key().verify(HashAlg::kSha256, bytes("hello"), *sig, raw));
    }
  }
}

// A certificate survives PEM and base64 round trips and knows its key.
TEST(KeysTest, CertificateRoundTripsAndMatchesKey) {
  const auto& kp = testing::idp_keys();
  auto again = Certificate::from_pem(kp.cert.to_pem());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->der(), kp.cert.der());
  EXPECT_EQ(Certificate::from_base64(kp.cert.base64_der())->sha256_fingerprint(),
            kp.cert.sha256_fingerprint());
  EXPECT_TRUE(kp.cert.matches(kp.key));
  EXPECT_FALSE(kp.cert.matches(testing::sp_keys().key));
  EXPECT_EQ(kp.cert.subject(), "/CN=idp.example.org");
  EXPECT_EQ(kp.cert.not_after() - kp.cert.not_before(), std::chrono::hours(24 * 365));
}

// Garbage is an error with the library's reason, not a crash.
TEST(KeysTest, RejectsGarbage) {
  EXPECT_EQ(Certificate::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .error()
                .name,
            "crypto.bad_certificate");
  EXPECT_EQ(PrivateKey::from_pem("nope").error().name, "crypto.bad_key");
  EXPECT_FALSE(Certificate::from_base64("!!!").has_value());
}

}  // namespace
}  // namespace cg::crypto
