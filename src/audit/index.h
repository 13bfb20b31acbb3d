// The embedded SQLite index of one or more audit logs, built from the files incrementally:
// each file is remembered by the hash of its first line (so a rotated file is recognised under
// its new name) and the byte offset read so far; records are keyed by (instance, seq), so
// reading a record twice adds nothing. Reports and searches read the index, never the files.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

struct sqlite3;

namespace cg::storage {
class Database;
}

namespace cg::audit {

struct IndexStats {
  uint64_t files = 0;        // files looked at
  uint64_t new_records = 0;  // records added by this update
  uint64_t skipped = 0;      // lines that are not records (torn by a crash)
};

struct Query {
  std::string subject;  // exact
  std::string type;     // exact, or a prefix ending in '.' or '*' ("authz.", "login.*")
  std::string project;
  std::optional<core::WallTime> since, until;
  size_t limit = 1000;
};

class Index {
 public:
  static Result<std::unique_ptr<Index>> open(const std::string& path);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // Reads what is new in `files` (oldest first).
  Result<IndexStats> update(const std::vector<std::string>& files);
  // Matching records (the JSON lines as written), oldest first.
  Result<std::vector<std::string>> search(const Query& q);
  // The highest record the index has seen for each instance: (instance, seq, hash).
  struct Head {
    std::string instance;
    uint64_t seq = 0;
    std::string hash;
  };
  Result<std::vector<Head>> heads();
  // Runs a read-only SQL query with text parameters; every row as strings (report queries).
  Result<std::vector<std::vector<std::string>>> rows(const std::string& sql,
                                                     const std::vector<std::string>& params = {});
  const std::string& path() const { return path_; }

 private:
  explicit Index(std::shared_ptr<storage::Database> db);
  std::shared_ptr<storage::Database> store_;  // opened and migrated by storage/sqlite.h
  sqlite3* db_;
  std::string path_;
};

// "30d", "12h", "2026-11-01" or an RFC 3339 time -> the instant it names (relative to `now`).
Result<core::WallTime> parse_since(std::string_view text, core::WallTime now);

}  // namespace cg::audit
