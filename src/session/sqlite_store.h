// SQLite stores: sessions and tickets in one database file that survives restarts (the
// embedded default for a single production gateway). WAL journal; one connection guarded by
// a mutex (SQLite serialises writers anyway); statements prepared once.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "session/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cg::session {

class SqliteDatabase {
 public:
  // Opens (creating) the database file and its tables.
  static Result<std::shared_ptr<SqliteDatabase>> open(const std::string& path);
  ~SqliteDatabase();
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  sqlite3* handle() const { return db_; }
  std::mutex& mutex() { return mu_; }
  // A statement prepared once and reset for each use (call with mutex() held).
  Result<sqlite3_stmt*> statement(const char* sql);
  Error error(std::string_view what) const;
  const std::string& path() const { return path_; }

 private:
  explicit SqliteDatabase(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::mutex mu_;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

class SqliteSessionStore final : public SessionStore {
 public:
  explicit SqliteSessionStore(std::shared_ptr<SqliteDatabase> db) : db_(std::move(db)) {}
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
  std::shared_ptr<SqliteDatabase> db_;
  // Parsed session content by id (content never changes for an id); the row is still read
  // on every get, so a removal takes effect on the next request.
  std::unordered_map<std::string, std::shared_ptr<const Session>> parsed_;
};

class SqliteTicketStore final : public TicketStore {
 public:
  explicit SqliteTicketStore(std::shared_ptr<SqliteDatabase> db) : db_(std::move(db)) {}
  Status put(std::string_view key, std::string_view value, core::WallTime expires) override;
  Result<std::optional<std::string>> peek(std::string_view key, core::WallTime now) override;
  Result<std::optional<std::string>> take(std::string_view key, core::WallTime now) override;
  Result<bool> insert_once(std::string_view key, core::WallTime expires,
                           core::WallTime now) override;
  Result<size_t> purge_expired(core::WallTime now) override;

 private:
  std::shared_ptr<SqliteDatabase> db_;
};

class SqliteTokenStore final : public TokenStore {
 public:
  explicit SqliteTokenStore(std::shared_ptr<SqliteDatabase> db) : db_(std::move(db)) {}
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
  std::shared_ptr<SqliteDatabase> db_;
  std::unordered_map<std::string, std::shared_ptr<const TokenGrant>> parsed_;
};

}  // namespace cg::session
