// JSON Web Tokens signed with ES256 (RFC 7515/7519), and the JWKS that publishes the keys.
// The gateway signs identity assertions for upstreams; upstreams (and `claimgate jobs serve`)
// verify them with the keys from /.well-known/jwks.json.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"
#include "crypto/keyring.h"

namespace cg::crypto {

// header {"alg":"ES256","typ":"JWT","kid":<key id>} . claims . signature (r||s).
Result<std::string> jwt_sign_es256(const SigningKey& key, const nlohmann::json& claims);

// {"keys":[{"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":...,"x":...,"y":...}]}
nlohmann::json jwks_of(const Keyring& ring);

struct JwtExpectations {
  std::string issuer;    // required "iss" (empty: not checked)
  std::string audience;  // must be "aud" or one of its entries (empty: not checked)
  std::chrono::seconds leeway{30};
};

// Verifies ES256 tokens against a set of public keys (a keyring's, or a fetched JWKS).
class JwtVerifier {
 public:
  JwtVerifier() = default;
  explicit JwtVerifier(const Keyring& ring);
  static Result<JwtVerifier> from_jwks(std::string_view jwks_json);

  void add(std::string kid, PublicKey key) { keys_[std::move(kid)] = std::move(key); }
  size_t size() const { return keys_.size(); }

  // The claims when the signature verifies under the key named by "kid", "exp" is in the
  // future and "nbf"/"iat" are not (both with leeway), and iss/aud match.
  Result<nlohmann::json> verify(std::string_view token, core::WallTime now,
                                const JwtExpectations& expect) const;

 private:
  std::map<std::string, PublicKey, std::less<>> keys_;
};

}  // namespace cg::crypto
