// SQLite stores: sessions, tickets and token grants in one database file that survives
// restarts (the embedded default for a single production gateway), opened and migrated the
// one way (storage/sqlite.h): WAL journal, one connection guarded by its mutex, statements
// prepared once.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "session/store.h"
#include "storage/sqlite.h"

struct sqlite3_stmt;

namespace cg::session {

using storage::Database;

// Opens (creating) the database file and migrates the session, ticket and token tables.
Result<std::shared_ptr<Database>> open_sqlite(const std::string& path);

class SqliteSessionStore final : public SessionStore {
 public:
  explicit SqliteSessionStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}
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
  std::shared_ptr<Database> db_;
  // Parsed session content by id (content never changes for an id); the row is still read
  // on every get, so a removal takes effect on the next request.
  std::unordered_map<std::string, std::shared_ptr<const Session>> parsed_;
};

class SqliteTicketStore final : public TicketStore {
 public:
  explicit SqliteTicketStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}
  Status put(std::string_view key, std::string_view value, core::WallTime expires) override;
  Result<std::optional<std::string>> peek(std::string_view key, core::WallTime now) override;
  Result<std::optional<std::string>> take(std::string_view key, core::WallTime now) override;
  Result<bool> insert_once(std::string_view key, core::WallTime expires,
                           core::WallTime now) override;
  Result<size_t> purge_expired(core::WallTime now) override;

 private:
  std::shared_ptr<Database> db_;
};

class SqliteTokenStore final : public TokenStore {
 public:
  explicit SqliteTokenStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}
  Status put(const TokenGrant& g) override;
  Result<std::optional<TokenGrant>> get(std::string_view id) override;
  Result<Advance> advance(std::string_view id, uint64_t generation, core::WallTime now) override;
  Result<bool> revoke(std::string_view id, core::WallTime now, std::string_view reason) override;
  Result<std::vector<std::string>> revoke_subject(std::string_view subject, core::WallTime now,
                                                  std::string_view reason) override;
  Result<std::vector<TokenGrant>> list(std::string_view subject, core::WallTime now) override;
  Result<size_t> purge_expired(core::WallTime now) override;

 private:
  // The grant of a row (id, data, generation, last_used_ms, revoked_ms, revoked_reason),
  // its immutable part parsed once per id.
  Result<TokenGrant> row(sqlite3_stmt* st);
  std::shared_ptr<Database> db_;
  std::unordered_map<std::string, std::shared_ptr<const TokenGrant>> parsed_;
};

}  // namespace cg::session
