// The stores behind sessions and one-time tickets. Memory (the default) and SQLite (survives
// restarts; the embedded default for production) implement them here; Redis joins later with
// the same interfaces. Every method may fail (a store that cannot answer); callers fail closed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "session/session.h"
#include "session/token.h"

namespace cg::session {

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // Stores a new session (last seen = its creation).
  virtual Status put(const Session& s) = 0;
  // The session with this id, or nullopt (never existed, removed, or purged).
  virtual Result<std::optional<StoredSession>> get(std::string_view id) = 0;
  // Records use; callers rate-limit this (a write per request would be wasteful).
  virtual Status touch(std::string_view id, core::WallTime last_seen) = 0;
  // Ends one session (logout). Returns whether it existed.
  virtual Result<bool> remove(std::string_view id) = 0;
  // Ends every session of `subject` (revocation), or only those from `idp` with one of
  // `session_indexes` when given (IdP-initiated Single Logout). Returns the ids removed.
  virtual Result<std::vector<std::string>> remove_subject(
      std::string_view subject, std::string_view idp = {},
      const std::vector<std::string>& session_indexes = {}) = 0;
  // Sessions not yet expired at `now` (absolute expiry only; idle is judged on use).
  virtual Result<size_t> count_active(core::WallTime now) = 0;
  // Drops sessions expired at `now`; returns how many.
  virtual Result<size_t> purge_expired(core::WallTime now) = 0;
};

// Short-lived one-time records: pending sign-in requests (consumed exactly once) and seen
// assertion ids (the replay cache).
class TicketStore {
 public:
  virtual ~TicketStore() = default;
  virtual Status put(std::string_view key, std::string_view value, core::WallTime expires) = 0;
  // The value, left in place (nullopt: absent or expired).
  virtual Result<std::optional<std::string>> peek(std::string_view key, core::WallTime now) = 0;
  // Removes and returns the value, atomically: of two concurrent takes, one gets it.
  virtual Result<std::optional<std::string>> take(std::string_view key, core::WallTime now) = 0;
  // Records `key` until `expires`; false when it was already recorded and not expired.
  virtual Result<bool> insert_once(std::string_view key, core::WallTime expires,
                                   core::WallTime now) = 0;
  virtual Result<size_t> purge_expired(core::WallTime now) = 0;
};

// CLI refresh-token families and agent tokens (session/token.h).
class TokenStore {
 public:
  virtual ~TokenStore() = default;
  virtual Status put(const TokenGrant& g) = 0;
  // The grant with this id (revoked ones too, until they expire), or nullopt.
  virtual Result<std::optional<TokenGrant>> get(std::string_view id) = 0;
  enum class Advance {
    kAdvanced,  // refresh token `generation` was the current one: the next is issued
    kReused,    // an older one came back: the family is revoked now ("refresh token reused")
    kGone,      // no such grant, or revoked, or expired
  };
  // Spends refresh token number `generation` of a cli grant, atomically: of two concurrent
  // uses of one token, one advances and the other is a reuse.
  virtual Result<Advance> advance(std::string_view id, uint64_t generation,
                                  core::WallTime now) = 0;
  // Revokes one grant; false when it did not exist or was revoked already.
  virtual Result<bool> revoke(std::string_view id, core::WallTime now,
                              std::string_view reason) = 0;
  // Revokes every live grant of `subject`; returns their ids.
  virtual Result<std::vector<std::string>> revoke_subject(std::string_view subject,
                                                          core::WallTime now,
                                                          std::string_view reason) = 0;
  // The live grants (neither revoked nor expired) of `subject`, oldest first.
  virtual Result<std::vector<TokenGrant>> list(std::string_view subject, core::WallTime now) = 0;
  // Drops grants past their absolute expiry; returns how many.
  virtual Result<size_t> purge_expired(core::WallTime now) = 0;
};

}  // namespace cg::session
