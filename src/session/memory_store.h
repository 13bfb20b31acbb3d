// In-memory stores: the default for one gateway that may sign everyone out on restart.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "session/store.h"

namespace cg::session {

class MemorySessionStore final : public SessionStore {
 public:
  explicit MemorySessionStore(size_t max_sessions = 1'000'000) : max_(max_sessions) {}
  Status put(const Session& s) override;
  Result<std::optional<StoredSession>> get(std::string_view id) override;
  Status touch(std::string_view id, core::WallTime last_seen) override;
  Result<bool> remove(std::string_view id) override;
  Result<std::vector<std::string>> remove_subject(
      std::string_view subject, std::string_view idp,
      const std::vector<std::string>& session_indexes) override;
  Result<size_t> count_active(core::WallTime now) override;
  Result<size_t> purge_expired(core::WallTime now) override;

 private:
  std::shared_mutex mu_;
  std::unordered_map<std::string, StoredSession> sessions_;
  size_t max_;
};

class MemoryTicketStore final : public TicketStore {
 public:
  explicit MemoryTicketStore(size_t max_entries = 1'000'000) : max_(max_entries) {}
  Status put(std::string_view key, std::string_view value, core::WallTime expires) override;
  Result<std::optional<std::string>> peek(std::string_view key, core::WallTime now) override;
  Result<std::optional<std::string>> take(std::string_view key, core::WallTime now) override;
  Result<bool> insert_once(std::string_view key, core::WallTime expires,
                           core::WallTime now) override;
  Result<size_t> purge_expired(core::WallTime now) override;

 private:
  struct Entry {
    std::string value;
    core::WallTime expires;
  };
  size_t purge_locked(core::WallTime now);
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  size_t max_;
};

class MemoryTokenStore final : public TokenStore {
 public:
  Status put(const TokenGrant& g) override;
  Result<std::optional<TokenGrant>> get(std::string_view id) override;
  Result<Advance> advance(std::string_view id, uint64_t generation, core::WallTime now) override;
  Result<bool> revoke(std::string_view id, core::WallTime now, std::string_view reason) override;
  Result<std::vector<std::string>> revoke_subject(std::string_view subject, core::WallTime now,
                                                  std::string_view reason) override;
  Result<std::vector<TokenGrant>> list(std::string_view subject, core::WallTime now) override;
  Result<size_t> purge_expired(core::WallTime now) override;

 private:
  std::mutex mu_;
  std::unordered_map<std::string, TokenGrant> grants_;
};

}  // namespace cg::session
