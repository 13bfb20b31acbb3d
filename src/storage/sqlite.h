// SQLite, one way for every part (sessions and tokens, jobs, the audit index): a connection
// opened in WAL mode with a busy timeout, each part's tables made by its own list of
// migrations (recorded in one `schema_version` table, a row per part), statements prepared
// once and owned by the connection, and RAII for every handle.
//
// A Database is one connection: callers hold mutex() around each use (SQLite serialises
// writers anyway). Work that may wait on it runs off the event loops (storage/work_pool.h).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cg::storage {

// The owning part's error for a failure (its own code: 5001 session.store, 7xxx jobs.store,
// audit.index ...), given SQLite's words and the file.
using ErrorMaker = Error (*)(std::string message);

// One step of a part's schema. `version`s count up from 1 within the part. `present`, when
// set, is a statement that prepares only once the step's effect is there: databases made
// before the version table skip the step instead of failing on it (an ADD COLUMN done then).
struct Migration {
  int version;
  const char* sql;
  const char* present = nullptr;
};

struct Schema {
  const char* part;  // its row in schema_version: "session", "jobs", "audit_index"
  std::vector<Migration> migrations;
};

class Database {
 public:
  // Opens (creating) the file: WAL journal, synchronous=NORMAL, busy timeout 5 s, the
  // schema_version table.
  static Result<std::shared_ptr<Database>> open(const std::string& path, ErrorMaker error);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs the migrations of `s` past the version recorded for its part, each in its own
  // transaction with the new version. A database newer than the code is refused.
  Status migrate(const Schema& s);
  // The version recorded for `part` (0: none yet).
  Result<int> version(const char* part);

  sqlite3* handle() const { return db_; }
  std::mutex& mutex() { return mu_; }
  // A statement prepared once and kept (call with mutex() held; use it with a Reset).
  Result<sqlite3_stmt*> statement(const char* sql);
  // Runs statements that return no rows (schema, pragmas, BEGIN/COMMIT).
  Status exec(const char* sql, std::string_view what);
  // The part's error for `what`, with SQLite's last message and the file.
  Error error(std::string_view what) const;
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path, ErrorMaker error)
      : db_(db), path_(std::move(path)), error_(error) {}
  struct Finalize {
    void operator()(sqlite3_stmt* s) const;
  };
  sqlite3* db_;
  std::string path_;
  ErrorMaker error_;
  std::mutex mu_;
  std::unordered_map<const char*, std::unique_ptr<sqlite3_stmt, Finalize>> statements_;
};

// A statement prepared for one use (queries built at run time), finalized when it goes.
class Statement {
 public:
  static Result<Statement> prepare(Database& db, const std::string& sql);
  Statement(Statement&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Statement& operator=(Statement&&) = delete;
  ~Statement();
  sqlite3_stmt* get() const { return s_; }

 private:
  explicit Statement(sqlite3_stmt* s) : s_(s) {}
  sqlite3_stmt* s_;
};

// Resets a kept statement and clears its bindings when it goes out of scope, whatever the
// path out.
struct Reset {
  sqlite3_stmt* s;
  ~Reset();
};

void bind_text(sqlite3_stmt* s, int i, std::string_view v);
std::string column_text(sqlite3_stmt* s, int i);

}  // namespace cg::storage
