// Keys and X.509 certificates (OpenSSL), reference-counted and immutable once loaded.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;

namespace cg::crypto {

enum class HashAlg { kSha1, kSha256, kSha384, kSha512 };
enum class KeyType { kRsa, kEc, kOther };

std::vector<uint8_t> digest(HashAlg h, std::span<const uint8_t> data);
std::vector<uint8_t> digest(HashAlg h, std::string_view data);
// SHA-256 into a fixed array (no allocation: hash chains call it per record).
std::array<uint8_t, 32> sha256(std::string_view data);
// HMAC-SHA-256 (RFC 2104): derived secrets (refresh tokens of one family).
std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data);
// Equality in time independent of where the inputs differ (secrets compared to what came in).
bool constant_time_equals(std::string_view a, std::string_view b);

class PublicKey {
 public:
  PublicKey() = default;
  explicit PublicKey(std::shared_ptr<EVP_PKEY> k) : key_(std::move(k)) {}
  EVP_PKEY* get() const { return key_.get(); }
  explicit operator bool() const { return key_ != nullptr; }
  KeyType type() const;
  int bits() const;
  // Verifies a PKCS#1 v1.5 (RSA) or ECDSA signature. For ECDSA, `raw_ecdsa` says the
  // signature is r||s (XML DSig 1.1, JWS) rather than DER; r||s must be exactly twice the
  // curve's field size. false means "does not verify".
  bool verify(HashAlg h, std::span<const uint8_t> data, std::span<const uint8_t> sig,
              bool raw_ecdsa = false) const;
  // Verifies an RSASSA-PSS signature with MGF1 over the same hash and a salt as long as the
  // hash (RFC 6931 2.3.10, xmldsig-more#sha256-rsa-MGF1 and its siblings). RSA keys only.
  bool verify_pss(HashAlg h, std::span<const uint8_t> data, std::span<const uint8_t> sig) const;
  // An ECDSA key's field size in bytes (32 for P-256, 48 for P-384, 66 for P-521); 0 otherwise.
  int ecdsa_field_bytes() const;
  // "RSA-2048", "EC P-256": what the key is, for messages.
  std::string describe() const;
  // The DER SubjectPublicKeyInfo (what a pin or a fingerprint of a bare key is taken over).
  std::vector<uint8_t> spki_der() const;
  bool equals(const PublicKey& other) const;
  // Keys as XML DSig publishes them without a certificate (ds:KeyValue):
  // RSA from its big-endian modulus and exponent (ds:RSAKeyValue);
  static Result<PublicKey> from_rsa(std::span<const uint8_t> modulus,
                                    std::span<const uint8_t> exponent);
  // EC from a named curve ("P-256", "P-384", "P-521") and its uncompressed point 04||x||y
  // (dsig11:ECKeyValue);
  static Result<PublicKey> from_ec_point(std::string_view curve, std::span<const uint8_t> point);
  // any key from a DER SubjectPublicKeyInfo (dsig11:DEREncodedKeyValue).
  static Result<PublicKey> from_spki_der(std::span<const uint8_t> der);
  // A P-256 key's affine coordinates, 32 bytes each (a JWK's x and y).
  Result<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> ec_p256_xy() const;
  static Result<PublicKey> from_ec_p256_xy(std::span<const uint8_t> x, std::span<const uint8_t> y);

 private:
  std::shared_ptr<EVP_PKEY> key_;
};

class PrivateKey {
 public:
  PrivateKey() = default;
  explicit PrivateKey(std::shared_ptr<EVP_PKEY> k) : key_(std::move(k)) {}
  static Result<PrivateKey> from_pem(std::string_view pem);
  static Result<PrivateKey> load(const std::string& path);
  static Result<PrivateKey> generate_rsa(int bits = 2048);
  static Result<PrivateKey> generate_ec_p256();

  EVP_PKEY* get() const { return key_.get(); }
  explicit operator bool() const { return key_ != nullptr; }
  KeyType type() const;
  PublicKey public_key() const;
  std::string to_pem() const;
  // PKCS#1 v1.5 (RSA) or ECDSA (DER, or r||s when `raw_ecdsa`).
  Result<std::vector<uint8_t>> sign(HashAlg h, std::span<const uint8_t> data,
                                    bool raw_ecdsa = false) const;
  // RSASSA-PSS, MGF1 with the same hash, salt as long as the hash (see verify_pss).
  Result<std::vector<uint8_t>> sign_pss(HashAlg h, std::span<const uint8_t> data) const;
  // RSA key transport (XML Encryption): OAEP with the given digest and MGF1 digest, or
  // PKCS#1 v1.5 (only where a deployment explicitly allows it).
  Result<std::vector<uint8_t>> rsa_decrypt_oaep(std::span<const uint8_t> ciphertext, HashAlg md,
                                                HashAlg mgf1, std::span<const uint8_t> label) const;
  Result<std::vector<uint8_t>> rsa_decrypt_pkcs1(std::span<const uint8_t> ciphertext) const;

 private:
  std::shared_ptr<EVP_PKEY> key_;
};

// A certificate, or a trusted key that an IdP's metadata publishes without one (ds:KeyValue).
// The trust lists (IdP signing keys, metadata signers) hold both kinds, so that every place that
// pins, compares and verifies treats them alike. A key-only entry has no X.509: get() is null,
// der() and base64_der() are empty, to_pem() is a PUBLIC KEY block, subject() describes the key,
// the fingerprint is the SHA-256 of its SubjectPublicKeyInfo, and it has no validity dates
// (not_before() is the earliest time, not_after() the latest: check key_only() before printing
// or counting down either).
class Certificate {
 public:
  Certificate() = default;
  static Certificate from_key(PublicKey key);
  static Result<Certificate> from_pem(std::string_view pem);
  static Result<Certificate> from_der(std::span<const uint8_t> der);
  // Base64 DER as it appears in ds:X509Certificate (whitespace ignored).
  static Result<Certificate> from_base64(std::string_view b64);
  static Result<Certificate> load(const std::string& path);
  // A self-signed certificate for `key`, valid from `not_before` for `days`.
  static Result<Certificate> self_signed(const PrivateKey& key, const std::string& common_name,
                                         core::WallTime not_before, int days);

  X509* get() const { return cert_.get(); }
  explicit operator bool() const { return cert_ != nullptr || pub_; }
  bool key_only() const { return cert_ == nullptr && pub_; }
  const std::vector<uint8_t>& der() const { return der_; }
  const std::string& base64_der() const {
    return base64_;
  }  // as in ds:X509Certificate, no line breaks
  std::string to_pem() const;
  PublicKey public_key() const { return pub_; }
  std::string subject() const;
  // "AB:CD:..." as `openssl x509 -fingerprint -sha256` prints it; computed once, at load.
  const std::string& sha256_fingerprint() const { return fingerprint_; }
  core::WallTime not_before() const { return not_before_; }
  core::WallTime not_after() const { return not_after_; }
  bool matches(const PrivateKey& key) const;

 private:
  std::shared_ptr<X509> cert_;
  std::vector<uint8_t> der_;
  PublicKey pub_;
  core::WallTime not_before_{}, not_after_{};
  std::string fingerprint_;
  std::string base64_;
};

// Every PEM certificate in a file or string (a chain, or a current + next pair).
Result<std::vector<Certificate>> certificates_from_pem(std::string_view pem);

}  // namespace cg::crypto
