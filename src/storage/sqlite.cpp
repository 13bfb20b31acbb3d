#include "storage/sqlite.h"

#include <sqlite3.h>

namespace cg::storage {
namespace {

constexpr const char* kSetup = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS schema_version (
  part TEXT PRIMARY KEY,
  version INTEGER NOT NULL
);
)sql";

}  // namespace

void Database::Finalize::operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }

Result<std::shared_ptr<Database>> Database::open(const std::string& path, ErrorMaker error) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return fail(error("cannot open SQLite database " + path + ": " + msg));
  }
  std::shared_ptr<Database> out(new Database(db, path, error));
  sqlite3_busy_timeout(db, 5000);
  CG_CHECK(out->exec(kSetup, "set up"));
  return out;
}

Database::~Database() {
  statements_.clear();
  sqlite3_close(db_);
}

Status Database::exec(const char* sql, std::string_view what) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return fail(error_("SQLite " + std::string(what) + " failed on " + path_ + ": " + msg));
  }
  return {};
}

Result<int> Database::version(const char* part) {
  CG_TRY(sqlite3_stmt * st, statement("SELECT version FROM schema_version WHERE part = ?"));
  Reset r{st};
  bind_text(st, 1, part);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return 0;
  if (rc != SQLITE_ROW) return fail(error("read the schema version"));
  return static_cast<int>(sqlite3_column_int64(st, 0));
}

Status Database::migrate(const Schema& s) {
  std::lock_guard lock(mu_);
  CG_TRY(int have, version(s.part));
  int newest = s.migrations.empty() ? 0 : s.migrations.back().version;
  if (have > newest) {
    return fail(error_(path_ + " holds " + s.part + " tables of schema version " +
                       std::to_string(have) + ", newer than this claimgate knows (" +
                       std::to_string(newest) + "): run the newer claimgate"));
  }
  for (const auto& m : s.migrations) {
    if (m.version <= have) continue;
    CG_CHECK(exec("BEGIN IMMEDIATE", "begin a migration"));
    bool skip = false;
    if (m.present) {
      sqlite3_stmt* probe = nullptr;
      skip = sqlite3_prepare_v2(db_, m.present, -1, &probe, nullptr) == SQLITE_OK;
      sqlite3_finalize(probe);
    }
    Status st = skip ? Status{}
                     : exec(m.sql, std::string(s.part) + " migration " + std::to_string(m.version));
    if (st) {
      auto up = statement("INSERT OR REPLACE INTO schema_version(part, version) VALUES (?, ?)");
      if (!up) {
        st = fail(up.take_error());
      } else {
        Reset r{*up};
        bind_text(*up, 1, s.part);
        sqlite3_bind_int64(*up, 2, m.version);
        if (sqlite3_step(*up) != SQLITE_DONE) st = fail(error("record the schema version"));
      }
    }
    if (st) st = exec("COMMIT", "commit a migration");
    if (!st) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return st;
    }
  }
  return {};
}

Result<sqlite3_stmt*> Database::statement(const char* sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second.get();
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
    return fail(error("prepare"));
  }
  statements_.emplace(sql, std::unique_ptr<sqlite3_stmt, Finalize>(s));
  return s;
}

Error Database::error(std::string_view what) const {
  return error_("SQLite " + std::string(what) + " failed on " + path_ + ": " + sqlite3_errmsg(db_));
}

Result<Statement> Statement::prepare(Database& db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    sqlite3_finalize(s);
    return fail(db.error("prepare"));
  }
  return Statement(s);
}

Statement::~Statement() { sqlite3_finalize(s_); }

Reset::~Reset() {
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
}

void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

}  // namespace cg::storage
