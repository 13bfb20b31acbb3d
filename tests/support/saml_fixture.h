// Shared fixture for SAML tests: an IdP and an SP with keys generated at test time (once per
// process; none committed), a pinned clock, and helpers that build and sign Responses.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/clock.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "saml/replay_cache.h"
#include "saml/response_builder.h"
#include "saml/response_validator.h"
#include "support/deterministic_random.h"

namespace cg::testing {

struct KeyPair {
  crypto::PrivateKey key;
  crypto::Certificate cert;
};

// RSA-2048 pairs valid around kNow, generated once per process.
const KeyPair& idp_keys();
const KeyPair& idp_next_keys();  // a second IdP key (rollover)
const KeyPair& sp_keys();
const KeyPair& attacker_keys();
const KeyPair& idp_ec_keys();     // P-256
const KeyPair& idp_ec384_keys();  // P-384

inline constexpr const char* kIdpEntity = "https://idp.example.org/metadata";
inline constexpr const char* kSpEntity = "https://ml.example.org/saml/metadata";
inline constexpr const char* kAcs = "https://ml.example.org/saml/acs";
inline constexpr const char* kRequestId = "_req0123456789abcdef0123456789abcdef01";

core::WallTime test_now();  // 2026-06-01T12:00:00Z

class SamlTest : public ::testing::Test {
 protected:
  SamlTest();

  // A spec for a Response to kRequestId, issued at test_now(), signed assertion only.
  saml::ResponseSpec spec() const;
  // Builds and signs with the IdP key (or another).
  std::string build(const saml::ResponseSpec& s, const KeyPair* signer = nullptr);
  saml::ValidationReport validate(const std::string& xml,
                                  std::optional<std::string> request_id = kRequestId);
  // The code name of a rejection, or "ok".
  std::string outcome(const std::string& xml, std::optional<std::string> request_id = kRequestId);

  saml::SpSettings sp_;
  saml::IdpSettings idp_;
  core::ManualClock clock_;
  saml::MemoryReplayCache replay_;
  DeterministicRandom random_;
};

// RSA-OAEP encryption with SHA-256 and MGF1-SHA-256 to `recipient` (what xmlsec 1.2.37 cannot do).
std::string rsa_oaep_encrypt_sha256(const crypto::Certificate& recipient,
                                    const std::vector<uint8_t>& data);

// Replaces the first occurrence of `from` with `to`; fails the test when absent.
// Minimal IdP metadata (entity "https://idp", idp_keys() signing, a Redirect SSO endpoint).
std::string idp_metadata_xml();

std::string replace_once(std::string s, const std::string& from, const std::string& to);

// Signatures made with OpenSSL's EVP API directly (not through src/crypto), so that the
// verifier is checked against another signer:
// RSASSA-PSS with `md`, MGF1 with `mgf1_md` and `salt_len` bytes of salt (RSA_PSS_SALTLEN_* too).
std::string openssl_pss_sign(const crypto::PrivateKey& key, const char* md, const char* mgf1_md,
                             int salt_len, std::string_view data);
// ECDSA, as OpenSSL makes it (DER), and the same value as r||s of `field_bytes` halves.
std::string openssl_ecdsa_sign_der(const crypto::PrivateKey& key, const char* md,
                                   std::string_view data);
std::string ecdsa_der_to_raw(std::string_view der, int field_bytes);
// The ds:KeyValue of `key` as XML DSig writes it (ds:RSAKeyValue, or dsig11:ECKeyValue with its
// NamedCurve), built from OpenSSL's own parameters; the ds and dsig11 prefixes are declared.
std::string key_value_xml(const crypto::PublicKey& key);

}  // namespace cg::testing
