// What the gateway signs for others to read: the identity JWT an upstream receives with each
// request (IdentityJwts, X-Claimgate-Assertion) and the tokens of the token endpoints
// (TokenMinter, docs/tokens.md). Fail closed: every value is a Result; a value that could not be
// made is an error answer (6540 gateway.identity_unsigned, 6541 gateway.token_unminted), never
// an empty string and never a request sent on without it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/result.h"
#include "crypto/keyring.h"
#include "gateway/internal/expiring_cache.h"
#include "session/session.h"
#include "session/token.h"

namespace cg::gateway {

// Signs a claim set as a compact JWS. Tests inject one that fails.
using JwtSigner = std::function<Result<std::string>(const nlohmann::json& claims)>;
// ES256 with the keyring's current signing key (its key id in the header).
JwtSigner keyring_signer(const crypto::Keyring& keyring);

// The identity JWT of a proxied request: the person (or the agent acting for them), their roles
// under the policy in force, for one upstream (aud = the route's name). Signing is the costly
// step of a proxied request, so a token is reused for the first half of its life (per session,
// audience, signing key, policy generation and agent token): this object's own cache, bounded,
// never shared with another gateway in the process. A session's end still stops it at once,
// because the session is looked up on every request.
class IdentityJwts {
 public:
  struct Settings {
    std::string issuer;             // jwt_issuer
    std::chrono::seconds ttl{300};  // jwt_ttl
    size_t cache_entries = 10'000;
  };
  IdentityJwts(Settings settings, const core::Clock& clock, std::string key_id, JwtSigner sign);

  // What the token says that the session does not: the roles under the policy in force.
  struct Subject {
    const session::Session& session;
    std::string_view audience;
    const std::vector<std::string>& roles;
    uint64_t policy_generation = 0;
    const session::TokenGrant* agent = nullptr;  // an agent token acting for the person
  };
  // The JWT, or 6540 gateway.identity_unsigned (the signer's message kept).
  Result<std::string> issue(const Subject& s);
  size_t cached() const { return cache_.size(); }

 private:
  Settings settings_;
  const core::Clock& clock_;
  std::string key_id_;
  JwtSigner sign_;
  internal::ExpiringCache<std::string> cache_;
};

// Access tokens (JWT), refresh tokens (cgr1.<grant>.<generation>.<HMAC>) and the token
// endpoint's JSON answer. Each fails with 6541 gateway.token_unminted when its value cannot be
// made (the signer failed, the grant's family secret does not open under this keyring).
class TokenMinter {
 public:
  struct Settings {
    std::string issuer;                    // jwt_issuer (iss and aud of access tokens)
    std::chrono::seconds access_ttl{900};  // tokens.access_ttl
  };
  TokenMinter(Settings settings, const crypto::Keyring& keyring, core::Random& random,
              JwtSigner sign);

  Result<std::string> access_token(const session::TokenGrant& g, core::WallTime now) const;
  // Any generation of a grant can be recomputed, so a spent one coming back is proof of reuse.
  Result<std::string> refresh_token(const session::TokenGrant& g, uint64_t generation) const;
  // {"access_token", "refresh_token", "expires_in", ...} followed by a newline.
  Result<std::string> token_json(const session::TokenGrant& g, core::WallTime now,
                                 uint64_t generation) const;

 private:
  Settings settings_;
  const crypto::Keyring& keyring_;
  core::Random& random_;
  JwtSigner sign_;
};

}  // namespace cg::gateway
