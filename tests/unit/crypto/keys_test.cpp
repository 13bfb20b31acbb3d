#include "crypto/keys.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

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

std::span<const uint8_t> bytes_of(const std::vector<uint8_t>& v) { return v; }

// RSA-PSS signatures made by OpenSSL (MGF1 with the same hash, salt as long as the hash, as RFC
// 6931 defines sha256-rsa-MGF1 and its siblings) verify; other PSS parameters and PKCS#1 v1.5
// do not, and the reverse holds too.
TEST(KeysTest, VerifiesRsaPssWithTheRfc6931Parameters) {
  const auto& kp = testing::idp_keys();
  const PublicKey& pub = kp.cert.public_key();
  struct H {
    HashAlg hash;
    const char* name;
    const char* other;
  };
  for (H h : {H{HashAlg::kSha256, "SHA256", "SHA384"}, H{HashAlg::kSha384, "SHA384", "SHA256"},
              H{HashAlg::kSha512, "SHA512", "SHA256"}}) {
    SCOPED_TRACE(h.name);
    auto good = testing::openssl_pss_sign(kp.key, h.name, h.name, RSA_PSS_SALTLEN_DIGEST, "hello");
    EXPECT_TRUE(pub.verify_pss(h.hash, bytes("hello"), bytes(good)));
    EXPECT_FALSE(pub.verify_pss(h.hash, bytes("hellO"), bytes(good)));
    EXPECT_FALSE(pub.verify(h.hash, bytes("hello"), bytes(good)));  // not PKCS#1 v1.5
    auto other_mgf =
        testing::openssl_pss_sign(kp.key, h.name, h.other, RSA_PSS_SALTLEN_DIGEST, "hello");
    EXPECT_FALSE(pub.verify_pss(h.hash, bytes("hello"), bytes(other_mgf)));
    auto no_salt = testing::openssl_pss_sign(kp.key, h.name, h.name, 0, "hello");
    EXPECT_FALSE(pub.verify_pss(h.hash, bytes("hello"), bytes(no_salt)));
    auto max_salt = testing::openssl_pss_sign(kp.key, h.name, h.name, RSA_PSS_SALTLEN_MAX, "hello");
    EXPECT_FALSE(pub.verify_pss(h.hash, bytes("hello"), bytes(max_salt)));
    auto pkcs1 = kp.key.sign(h.hash, bytes("hello"));
    EXPECT_FALSE(pub.verify_pss(h.hash, bytes("hello"), bytes_of(*pkcs1)));
    // What we sign is what OpenSSL's parameters verify.
    auto ours = kp.key.sign_pss(h.hash, bytes("hello"));
    ASSERT_TRUE(ours.has_value());
    EXPECT_TRUE(pub.verify_pss(h.hash, bytes("hello"), bytes_of(*ours)));
  }
  // PSS is RSA only.
  EXPECT_FALSE(testing::idp_ec_keys().cert.public_key().verify_pss(HashAlg::kSha256, bytes("x"),
                                                                   bytes("x")));
  EXPECT_FALSE(testing::idp_ec_keys().key.sign_pss(HashAlg::kSha256, bytes("x")).has_value());
}

// ECDSA r||s (XML DSig 1.1) made from OpenSSL's DER verifies for P-256 and P-384; a value that is
// not exactly two field elements long does not, so DER is never read as r||s.
TEST(KeysTest, EcdsaRawSignaturesAreTwoFieldElements) {
  struct C {
    const testing::KeyPair* kp;
    int field;
  };
  for (C c : {C{&testing::idp_ec_keys(), 32}, C{&testing::idp_ec384_keys(), 48}}) {
    SCOPED_TRACE(c.field);
    const PublicKey& pub = c.kp->cert.public_key();
    EXPECT_EQ(pub.ecdsa_field_bytes(), c.field);
    const char* md = c.field == 32 ? "SHA256" : "SHA384";
    HashAlg h = c.field == 32 ? HashAlg::kSha256 : HashAlg::kSha384;
    auto der = testing::openssl_ecdsa_sign_der(c.kp->key, md, "hello");
    auto raw = testing::ecdsa_der_to_raw(der, c.field);
    ASSERT_EQ(raw.size(), static_cast<size_t>(2 * c.field));
    EXPECT_TRUE(pub.verify(h, bytes("hello"), bytes(raw), true));
    EXPECT_TRUE(pub.verify(h, bytes("hello"), bytes(der), false));
    EXPECT_FALSE(pub.verify(h, bytes("hello"), bytes(der), true));
    EXPECT_FALSE(pub.verify(h, bytes("hello"), bytes(raw + std::string(2, '\0')), true));
    EXPECT_FALSE(pub.verify(h, bytes("hello"), bytes("\0" + raw.substr(0, raw.size() - 1)), true));
    // What we sign as r||s has the same length.
    auto ours = c.kp->key.sign(h, bytes("hello"), true);
    ASSERT_TRUE(ours.has_value());
    EXPECT_EQ(ours->size(), static_cast<size_t>(2 * c.field));
  }
}

// A key published without a certificate is a trust entry of its own: no X.509, no dates, a
// fingerprint of its SubjectPublicKeyInfo, a PUBLIC KEY PEM, and it knows its private key.
TEST(KeysTest, KeyOnlyTrustEntry) {
  const auto& kp = testing::idp_keys();
  Certificate k = Certificate::from_key(kp.cert.public_key());
  EXPECT_TRUE(k.key_only());
  EXPECT_FALSE(kp.cert.key_only());
  EXPECT_TRUE(static_cast<bool>(k));
  EXPECT_EQ(k.get(), nullptr);
  EXPECT_TRUE(k.der().empty());
  EXPECT_EQ(k.subject(), "RSA-2048 key without certificate");
  EXPECT_EQ(Certificate::from_key(testing::idp_ec_keys().cert.public_key()).subject(),
            "EC P-256 key without certificate");
  EXPECT_EQ(Certificate::from_key(testing::idp_ec384_keys().cert.public_key()).subject(),
            "EC P-384 key without certificate");
  EXPECT_EQ(k.sha256_fingerprint().size(), 95u);
  EXPECT_NE(k.sha256_fingerprint(), kp.cert.sha256_fingerprint());
  EXPECT_EQ(k.sha256_fingerprint(),
            Certificate::from_key(kp.key.public_key()).sha256_fingerprint());
  EXPECT_NE(k.to_pem().find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
  EXPECT_TRUE(k.matches(kp.key));
  EXPECT_FALSE(k.matches(testing::attacker_keys().key));
  EXPECT_TRUE(k.not_before() <= testing::test_now() - std::chrono::hours(24 * 365 * 50));
  EXPECT_TRUE(k.not_after() >= testing::test_now() + std::chrono::hours(24 * 365 * 200));
}

// ds:KeyValue parts (RSA modulus and exponent, EC named curve and point) make the same key as
// OpenSSL holds; parts that are not a key are refused.
TEST(KeysTest, BuildsKeysFromKeyValueParts) {
  const PublicKey& rsa = testing::idp_keys().cert.public_key();
  auto bn = [&](const char* name) {
    BIGNUM* b = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(rsa.get(), name, &b), 1);
    std::vector<uint8_t> out(static_cast<size_t>(BN_num_bytes(b)));
    BN_bn2bin(b, out.data());
    BN_free(b);
    return out;
  };
  auto n = bn(OSSL_PKEY_PARAM_RSA_N), e = bn(OSSL_PKEY_PARAM_RSA_E);
  auto again = PublicKey::from_rsa(n, e);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_TRUE(again->equals(rsa));
  EXPECT_FALSE(again->equals(testing::attacker_keys().cert.public_key()));
  auto even = n;
  even.back() &= 0xFE;
  EXPECT_EQ(PublicKey::from_rsa(even, e).error().name, "crypto.bad_key");
  EXPECT_EQ(PublicKey::from_rsa({}, e).error().name, "crypto.bad_key");
  std::vector<uint8_t> one{1};
  EXPECT_EQ(PublicKey::from_rsa(n, one).error().name, "crypto.bad_key");

  for (const auto* kp : {&testing::idp_ec_keys(), &testing::idp_ec384_keys()}) {
    const PublicKey& ec = kp->cert.public_key();
    std::vector<uint8_t> point(200);
    size_t len = 0;
    ASSERT_EQ(EVP_PKEY_get_octet_string_param(ec.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                              point.data(), point.size(), &len),
              1);
    point.resize(len);
    const char* curve = ec.bits() == 256 ? "P-256" : "P-384";
    auto k = PublicKey::from_ec_point(curve, point);
    ASSERT_TRUE(k.has_value()) << k.error().message;
    EXPECT_TRUE(k->equals(ec));
    EXPECT_FALSE(PublicKey::from_ec_point(ec.bits() == 256 ? "P-384" : "P-256", point));
    auto off = point;
    off.back() ^= 1;  // y no longer on the curve
    EXPECT_EQ(PublicKey::from_ec_point(curve, off).error().name, "crypto.bad_key");
    EXPECT_EQ(PublicKey::from_ec_point("secp256k1", point).error().name, "crypto.unsupported");
    auto spki = PublicKey::from_spki_der(ec.spki_der());
    ASSERT_TRUE(spki.has_value());
    EXPECT_TRUE(spki->equals(ec));
  }
  auto der = rsa.spki_der();
  der.push_back(0);  // trailing bytes
  EXPECT_EQ(PublicKey::from_spki_der(der).error().name, "crypto.bad_key");
}

}  // namespace
}  // namespace cg::crypto
