// Credentials issued to a person outside the browser: the refresh-token family of one
// `claimgate login` (kind "cli"), and agent tokens (kind "agent") that act for a person with
// a listed subset of their permissions. Access tokens (JWTs, gateway/tokens.h) name the grant
// ("sid"), so revoking the grant stops them on their next use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "session/session.h"

namespace cg::session {

struct TokenGrant {
  std::string id;       // 128 random bits, hex: what `token list` shows and `revoke` takes
  std::string kind;     // "cli" or "agent"
  std::string subject;  // the person
  std::string agent;    // agent: its name
  std::vector<std::string> scope;  // agent: the permissions it may use (never more than the
                                   // person holds at the moment of use)
  std::string project;             // agent: the one project it may act in ("": any)
  std::string client;              // what asked for it ("claimgate login (device)", address)
  std::string created_by;          // "session:<ref>" or "token:<id>"
  std::string secret;              // cli: the family secret, sealed by the keyring
  std::shared_ptr<const Session> identity;  // the person's sign-in: the claims policy reads
  core::WallTime created{};
  core::WallTime expires{};  // absolute

  // Kept by the store, changed over the grant's life.
  uint64_t generation = 0;  // cli: refresh tokens spent so far
  core::WallTime last_used{};
  core::WallTime revoked_at{};  // epoch: not revoked
  std::string revoked_reason;

  bool revoked() const { return revoked_at != core::WallTime{}; }
  // The immutable content (not generation, last_used or the revocation).
  std::string to_json() const;
  static Result<TokenGrant> from_json(std::string_view json);
};

}  // namespace cg::session
