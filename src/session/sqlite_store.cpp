#include "session/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>

#include "core/time.h"
#include "session/errors.h"

namespace cg::session {
namespace {

constexpr size_t kParsedCacheLimit = 100'000;

int64_t to_unix_ms(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
core::WallTime from_unix_ms(int64_t ms) { return core::from_unix_millis(ms); }

using storage::bind_text;
using storage::column_text;
using storage::Reset;

Error store_error(std::string message) { return make_error(Code::kStore, std::move(message)); }

// Version 1 is the schema from before the version table (IF NOT EXISTS: such files pass).
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  subject TEXT NOT NULL,
  idp TEXT NOT NULL,
  session_index TEXT NOT NULL,
  data TEXT NOT NULL,
  expires_ms INTEGER NOT NULL,
  idle_s INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_subject ON sessions(subject);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires_ms);
CREATE TABLE IF NOT EXISTS tickets (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_expires ON tickets(expires_ms);
CREATE TABLE IF NOT EXISTS token_grants (
  id TEXT PRIMARY KEY,
  subject TEXT NOT NULL,
  data TEXT NOT NULL,
  generation INTEGER NOT NULL,
  last_used_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  revoked_ms INTEGER NOT NULL,
  revoked_reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS token_grants_subject ON token_grants(subject);
CREATE INDEX IF NOT EXISTS token_grants_expires ON token_grants(expires_ms);
)sql";

// Version 2: idle_until_ms (last_seen_ms + idle_s * 1000, kept by put and touch so that the
// purge finds idle sessions by an index instead of reading every row), filled from the rows;
// then the index. Files that gained the column before the version table skip it.
constexpr const char* kSchemaV2 =
    "ALTER TABLE sessions ADD COLUMN idle_until_ms INTEGER NOT NULL DEFAULT 0;"
    "UPDATE sessions SET idle_until_ms = last_seen_ms + idle_s * 1000;"
    "CREATE INDEX IF NOT EXISTS sessions_idle ON sessions(idle_until_ms);";

}  // namespace

Result<std::shared_ptr<Database>> open_sqlite(const std::string& path) {
  static const storage::Schema kSchema{
      "session", {{1, kSchemaV1}, {2, kSchemaV2, "SELECT idle_until_ms FROM sessions LIMIT 0"}}};
  CG_TRY(auto db, Database::open(path, store_error));
  // Per connection: a 64 MiB page cache, temporary tables in memory, reads through a 256 MiB
  // memory map, a checkpoint every 8192 WAL pages.
  CG_CHECK(db->exec("PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY; "
                    "PRAGMA mmap_size=268435456; PRAGMA wal_autocheckpoint=8192;",
                    "set up"));
  CG_CHECK(db->migrate(kSchema));
  return db;
}

Status SqliteSessionStore::put(const Session& s) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st,
         db_->statement("INSERT OR REPLACE INTO sessions(id, subject, idp, session_index, data, "
                        "expires_ms, idle_s, last_seen_ms, idle_until_ms) "
                        "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8 + ?7 * 1000)"));
  Reset r{st};
  bind_text(st, 1, s.id);
  bind_text(st, 2, s.subject);
  bind_text(st, 3, s.idp);
  bind_text(st, 4, s.session_index);
  std::string data = s.to_json();
  bind_text(st, 5, data);
  sqlite3_bind_int64(st, 6, to_unix_ms(s.expires));
  sqlite3_bind_int64(st, 7, s.idle_timeout.count());
  sqlite3_bind_int64(st, 8, to_unix_ms(s.created));
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("insert session"));
  return {};
}

Result<std::optional<StoredSession>> SqliteSessionStore::get(std::string_view id) {
  std::lock_guard lock(db_->mutex());
  auto cached = parsed_.find(std::string(id));
  const char* sql = cached != parsed_.end()
                        ? "SELECT last_seen_ms FROM sessions WHERE id = ?"
                        : "SELECT last_seen_ms, data FROM sessions WHERE id = ?";
  CG_TRY(sqlite3_stmt * st, db_->statement(sql));
  Reset r{st};
  bind_text(st, 1, id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    if (cached != parsed_.end()) parsed_.erase(cached);
    return std::optional<StoredSession>();
  }
  if (rc != SQLITE_ROW) return fail(db_->error("read session"));
  StoredSession out;
  out.last_seen = from_unix_ms(sqlite3_column_int64(st, 0));
  if (cached != parsed_.end()) {
    out.session = cached->second;
  } else {
    CG_TRY(Session s, Session::from_json(column_text(st, 1)));
    auto p = std::make_shared<const Session>(std::move(s));
    if (parsed_.size() >= kParsedCacheLimit) parsed_.clear();
    parsed_.emplace(std::string(id), p);
    out.session = std::move(p);
  }
  return std::optional<StoredSession>(std::move(out));
}

Status SqliteSessionStore::touch(std::string_view id, core::WallTime last_seen) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st,
         db_->statement("UPDATE sessions SET last_seen_ms = max(last_seen_ms, ?1), "
                        "idle_until_ms = max(last_seen_ms, ?1) + idle_s * 1000 WHERE id = ?2"));
  Reset r{st};
  sqlite3_bind_int64(st, 1, to_unix_ms(last_seen));
  bind_text(st, 2, id);
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("update session"));
  return {};
}

Result<bool> SqliteSessionStore::remove(std::string_view id) {
  std::lock_guard lock(db_->mutex());
  parsed_.erase(std::string(id));
  CG_TRY(sqlite3_stmt * st, db_->statement("DELETE FROM sessions WHERE id = ?"));
  Reset r{st};
  bind_text(st, 1, id);
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("delete session"));
  return sqlite3_changes(db_->handle()) > 0;
}

Result<std::vector<std::string>> SqliteSessionStore::remove_subject(
    std::string_view subject, std::string_view idp,
    const std::vector<std::string>& session_indexes) {
  std::lock_guard lock(db_->mutex());
  std::vector<std::string> ids;
  {
    CG_TRY(sqlite3_stmt * st,
           db_->statement("SELECT id, idp, session_index FROM sessions WHERE subject = ?"));
    Reset r{st};
    bind_text(st, 1, subject);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::string sid = column_text(st, 0), sidp = column_text(st, 1), idx = column_text(st, 2);
      if (!idp.empty() && sidp != idp) continue;
      if (!session_indexes.empty() &&
          std::find(session_indexes.begin(), session_indexes.end(), idx) == session_indexes.end()) {
        continue;
      }
      ids.push_back(std::move(sid));
    }
    if (rc != SQLITE_DONE) return fail(db_->error("find sessions"));
  }
  CG_TRY(sqlite3_stmt * del, db_->statement("DELETE FROM sessions WHERE id = ?"));
  for (const auto& sid : ids) {
    Reset r{del};
    bind_text(del, 1, sid);
    if (sqlite3_step(del) != SQLITE_DONE) return fail(db_->error("delete session"));
    parsed_.erase(sid);
  }
  return ids;
}

Result<size_t> SqliteSessionStore::count_active(core::WallTime now) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st, db_->statement("SELECT count(*) FROM sessions WHERE expires_ms > ?"));
  Reset r{st};
  sqlite3_bind_int64(st, 1, to_unix_ms(now));
  if (sqlite3_step(st) != SQLITE_ROW) return fail(db_->error("count sessions"));
  return static_cast<size_t>(sqlite3_column_int64(st, 0));
}

Result<size_t> SqliteSessionStore::purge_expired(core::WallTime now) {
  std::lock_guard lock(db_->mutex());
  // Past the absolute expiry, then idle too long: each by its index (a million sessions are not
  // read to find the few that ended).
  size_t removed = 0;
  for (const char* sql : {"DELETE FROM sessions WHERE expires_ms <= ?1",
                          "DELETE FROM sessions WHERE idle_until_ms <= ?1"}) {
    CG_TRY(sqlite3_stmt * st, db_->statement(sql));
    Reset r{st};
    sqlite3_bind_int64(st, 1, to_unix_ms(now));
    if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("purge sessions"));
    removed += static_cast<size_t>(sqlite3_changes(db_->handle()));
  }
  if (removed > 0) parsed_.clear();
  return removed;
}

Status SqliteTicketStore::put(std::string_view key, std::string_view value,
                              core::WallTime expires) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st,
         db_->statement("INSERT OR REPLACE INTO tickets(key, value, expires_ms) VALUES (?,?,?)"));
  Reset r{st};
  bind_text(st, 1, key);
  bind_text(st, 2, value);
  sqlite3_bind_int64(st, 3, to_unix_ms(expires));
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("insert ticket"));
  return {};
}

Result<std::optional<std::string>> SqliteTicketStore::peek(std::string_view key,
                                                           core::WallTime now) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st,
         db_->statement("SELECT value FROM tickets WHERE key = ? AND expires_ms > ?"));
  Reset r{st};
  bind_text(st, 1, key);
  sqlite3_bind_int64(st, 2, to_unix_ms(now));
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return fail(db_->error("read ticket"));
  return std::optional<std::string>(column_text(st, 0));
}

Result<std::optional<std::string>> SqliteTicketStore::take(std::string_view key,
                                                           core::WallTime now) {
  std::lock_guard lock(db_->mutex());
  // DELETE ... RETURNING is one atomic statement: of two takes, only one sees the row.
  CG_TRY(sqlite3_stmt * st,
         db_->statement("DELETE FROM tickets WHERE key = ? RETURNING value, expires_ms"));
  Reset r{st};
  bind_text(st, 1, key);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return fail(db_->error("take ticket"));
  std::string value = column_text(st, 0);
  int64_t expires = sqlite3_column_int64(st, 1);
  while (sqlite3_step(st) == SQLITE_ROW) {
  }
  if (expires <= to_unix_ms(now)) return std::optional<std::string>();
  return std::optional<std::string>(std::move(value));
}

Result<bool> SqliteTicketStore::insert_once(std::string_view key, core::WallTime expires,
                                            core::WallTime now) {
  std::lock_guard lock(db_->mutex());
  // An expired record of the same key does not count: replace it.
  CG_TRY(sqlite3_stmt * st,
         db_->statement("INSERT INTO tickets(key, value, expires_ms) VALUES (?1, '', ?2) "
                        "ON CONFLICT(key) DO UPDATE SET expires_ms = ?2 "
                        "WHERE tickets.expires_ms <= ?3"));
  Reset r{st};
  bind_text(st, 1, key);
  sqlite3_bind_int64(st, 2, to_unix_ms(expires));
  sqlite3_bind_int64(st, 3, to_unix_ms(now));
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("record ticket"));
  return sqlite3_changes(db_->handle()) > 0;
}

Result<size_t> SqliteTicketStore::purge_expired(core::WallTime now) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st, db_->statement("DELETE FROM tickets WHERE expires_ms <= ?"));
  Reset r{st};
  sqlite3_bind_int64(st, 1, to_unix_ms(now));
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("purge tickets"));
  return static_cast<size_t>(sqlite3_changes(db_->handle()));
}

// ---- Token grants ----

Status SqliteTokenStore::put(const TokenGrant& g) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st,
         db_->statement("INSERT OR REPLACE INTO token_grants(id, subject, data, generation, "
                        "last_used_ms, expires_ms, revoked_ms, revoked_reason) "
                        "VALUES (?,?,?,?,?,?,?,?)"));
  Reset r{st};
  bind_text(st, 1, g.id);
  bind_text(st, 2, g.subject);
  std::string data = g.to_json();
  bind_text(st, 3, data);
  sqlite3_bind_int64(st, 4, static_cast<int64_t>(g.generation));
  sqlite3_bind_int64(st, 5, to_unix_ms(g.last_used));
  sqlite3_bind_int64(st, 6, to_unix_ms(g.expires));
  sqlite3_bind_int64(st, 7, g.revoked() ? to_unix_ms(g.revoked_at) : 0);
  bind_text(st, 8, g.revoked_reason);
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("insert token grant"));
  parsed_.erase(g.id);
  return {};
}

Result<TokenGrant> SqliteTokenStore::row(sqlite3_stmt* st) {
  std::string id = column_text(st, 0);
  std::shared_ptr<const TokenGrant> base;
  if (auto it = parsed_.find(id); it != parsed_.end()) {
    base = it->second;
  } else {
    CG_TRY(TokenGrant g, TokenGrant::from_json(column_text(st, 1)));
    base = std::make_shared<const TokenGrant>(std::move(g));
    if (parsed_.size() >= kParsedCacheLimit) parsed_.clear();
    parsed_.emplace(id, base);
  }
  TokenGrant g = *base;
  g.generation = static_cast<uint64_t>(sqlite3_column_int64(st, 2));
  g.last_used = from_unix_ms(sqlite3_column_int64(st, 3));
  int64_t revoked = sqlite3_column_int64(st, 4);
  if (revoked != 0) g.revoked_at = from_unix_ms(revoked);
  g.revoked_reason = column_text(st, 5);
  return g;
}

Result<std::optional<TokenGrant>> SqliteTokenStore::get(std::string_view id) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st,
         db_->statement("SELECT id, data, generation, last_used_ms, revoked_ms, revoked_reason "
                        "FROM token_grants WHERE id = ?"));
  Reset r{st};
  bind_text(st, 1, id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<TokenGrant>();
  if (rc != SQLITE_ROW) return fail(db_->error("read token grant"));
  CG_TRY(TokenGrant g, row(st));
  return std::optional<TokenGrant>(std::move(g));
}

Result<TokenStore::Advance> SqliteTokenStore::advance(std::string_view id, uint64_t generation,
                                                      core::WallTime now) {
  std::lock_guard lock(db_->mutex());
  // One conditional UPDATE each: the current generation advances (RETURNING tells whether it
  // did); an older one revokes the family. Both are single atomic statements.
  {
    CG_TRY(sqlite3_stmt * st,
           db_->statement("UPDATE token_grants SET generation = generation + 1, last_used_ms = ?3 "
                          "WHERE id = ?1 AND generation = ?2 AND revoked_ms = 0 AND "
                          "expires_ms > ?3 RETURNING generation"));
    Reset r{st};
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, static_cast<int64_t>(generation));
    sqlite3_bind_int64(st, 3, to_unix_ms(now));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      while (sqlite3_step(st) == SQLITE_ROW) {
      }
      return Advance::kAdvanced;
    }
    if (rc != SQLITE_DONE) return fail(db_->error("advance token grant"));
  }
  CG_TRY(sqlite3_stmt * st,
         db_->statement("UPDATE token_grants SET revoked_ms = ?3, revoked_reason = "
                        "'refresh token reused' WHERE id = ?1 AND generation > ?2 AND "
                        "revoked_ms = 0 AND expires_ms > ?3"));
  Reset r{st};
  bind_text(st, 1, id);
  sqlite3_bind_int64(st, 2, static_cast<int64_t>(generation));
  sqlite3_bind_int64(st, 3, to_unix_ms(now));
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("revoke token grant"));
  return sqlite3_changes(db_->handle()) > 0 ? Advance::kReused : Advance::kGone;
}

Result<bool> SqliteTokenStore::revoke(std::string_view id, core::WallTime now,
                                      std::string_view reason) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st,
         db_->statement("UPDATE token_grants SET revoked_ms = ?, revoked_reason = ? "
                        "WHERE id = ? AND revoked_ms = 0"));
  Reset r{st};
  sqlite3_bind_int64(st, 1, to_unix_ms(now));
  bind_text(st, 2, reason);
  bind_text(st, 3, id);
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("revoke token grant"));
  return sqlite3_changes(db_->handle()) > 0;
}

Result<std::vector<std::string>> SqliteTokenStore::revoke_subject(std::string_view subject,
                                                                  core::WallTime now,
                                                                  std::string_view reason) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st,
         db_->statement("UPDATE token_grants SET revoked_ms = ?1, revoked_reason = ?2 "
                        "WHERE subject = ?3 AND revoked_ms = 0 AND expires_ms > ?1 RETURNING id"));
  Reset r{st};
  sqlite3_bind_int64(st, 1, to_unix_ms(now));
  bind_text(st, 2, reason);
  bind_text(st, 3, subject);
  std::vector<std::string> ids;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) ids.push_back(column_text(st, 0));
  if (rc != SQLITE_DONE) return fail(db_->error("revoke token grants"));
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<std::vector<TokenGrant>> SqliteTokenStore::list(std::string_view subject,
                                                       core::WallTime now) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st,
         db_->statement("SELECT id, data, generation, last_used_ms, revoked_ms, revoked_reason "
                        "FROM token_grants WHERE subject = ? AND revoked_ms = 0 AND "
                        "expires_ms > ?"));
  Reset r{st};
  bind_text(st, 1, subject);
  sqlite3_bind_int64(st, 2, to_unix_ms(now));
  std::vector<TokenGrant> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    CG_TRY(TokenGrant g, row(st));
    out.push_back(std::move(g));
  }
  if (rc != SQLITE_DONE) return fail(db_->error("list token grants"));
  std::sort(out.begin(), out.end(), [](const TokenGrant& a, const TokenGrant& b) {
    return a.created != b.created ? a.created < b.created : a.id < b.id;
  });
  return out;
}

Result<size_t> SqliteTokenStore::purge_expired(core::WallTime now) {
  std::lock_guard lock(db_->mutex());
  CG_TRY(sqlite3_stmt * st, db_->statement("DELETE FROM token_grants WHERE expires_ms <= ?"));
  Reset r{st};
  sqlite3_bind_int64(st, 1, to_unix_ms(now));
  if (sqlite3_step(st) != SQLITE_DONE) return fail(db_->error("purge token grants"));
  parsed_.clear();
  return static_cast<size_t>(sqlite3_changes(db_->handle()));
}

}  // namespace cg::session
