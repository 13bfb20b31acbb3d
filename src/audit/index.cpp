#include "audit/index.h"

#include <sqlite3.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "audit/chain.h"
#include "audit/errors.h"
#include "core/time.h"
#include "storage/sqlite.h"

namespace cg::audit {
namespace {

using json = nlohmann::json;

// Version 1: the tables from before the version table (IF NOT EXISTS: such files pass).
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS files (
  first_line_hash TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  offset INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  instance TEXT NOT NULL,
  seq INTEGER NOT NULL,
  time TEXT NOT NULL,
  day TEXT NOT NULL,
  type TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  project TEXT NOT NULL DEFAULT '',
  permission TEXT NOT NULL DEFAULT '',
  code TEXT NOT NULL DEFAULT '',
  hash TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (instance, seq)
);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_type_time ON events(type, time);
CREATE INDEX IF NOT EXISTS events_subject_time ON events(subject, time);
)sql";

using storage::bind_text;
using storage::Statement;

Error index_error(std::string message) { return make_error(Code::kIndex, std::move(message)); }

Error db_error(sqlite3* db, const std::string& what) {
  return make_error(Code::kIndex, what + ": " + sqlite3_errmsg(db));
}

std::string text(sqlite3_stmt* s, int i) { return storage::column_text(s, i); }

}  // namespace

Result<core::WallTime> parse_since(std::string_view t, core::WallTime now) {
  if (!t.empty() && t.back() >= 'a' && t.back() <= 'z') {
    auto d = core::parse_duration(t);
    if (!d) return fail(Code::kQuery, "'" + std::string(t) + "' is not a duration (30d, 12h)");
    return now - *d;
  }
  std::string s(t);
  if (s.size() == 10) s += "T00:00:00Z";
  auto at = core::parse_datetime(s);
  if (!at) {
    return fail(Code::kQuery,
                "'" + std::string(t) + "' is neither a duration (30d) nor a date (2026-11-01)");
  }
  return *at;
}

Result<std::unique_ptr<Index>> Index::open(const std::string& path) {
  static const storage::Schema kSchema{"audit_index", {{1, kSchemaV1}}};
  auto db = storage::Database::open(path, index_error);
  if (!db) return fail(Code::kIndex, "cannot open the audit index: " + db.error().message);
  if (auto st = (*db)->migrate(kSchema); !st) {
    return fail(Code::kIndex, "cannot create the audit index tables: " + st.error().message);
  }
  return std::unique_ptr<Index>(new Index(std::move(*db)));
}

Index::Index(std::shared_ptr<storage::Database> db)
    : store_(std::move(db)), db_(store_->handle()), path_(store_->path()) {}

Index::~Index() = default;

Result<IndexStats> Index::update(const std::vector<std::string>& files) {
  IndexStats st;
  auto find_st = store_->statement("SELECT offset FROM files WHERE first_line_hash=?");
  auto upsert_st = store_->statement(
      "INSERT INTO files(first_line_hash,name,offset) VALUES(?,?,?) "
      "ON CONFLICT(first_line_hash) DO UPDATE SET name=excluded.name, offset=excluded.offset");
  auto insert_st = store_->statement(
      "INSERT OR IGNORE INTO events(instance,seq,time,day,type,subject,project,"
      "permission,code,hash,record) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
  if (!find_st || !upsert_st || !insert_st) {
    return fail(db_error(db_, "cannot prepare the index statements"));
  }
  struct {
    sqlite3_stmt* s;
  } find{*find_st}, upsert{*upsert_st}, insert{*insert_st};
  storage::Reset reset_find{find.s}, reset_upsert{upsert.s}, reset_insert{insert.s};
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return fail(Code::kOpen, "cannot read " + file);
    ++st.files;
    std::string first;
    if (!std::getline(in, first) || in.eof()) continue;  // no whole line yet
    std::string key = to_hex(hash_line(first));
    sqlite3_reset(find.s);
    bind_text(find.s, 1, key);
    int64_t offset = 0;
    if (sqlite3_step(find.s) == SQLITE_ROW) offset = sqlite3_column_int64(find.s, 0);
    in.clear();
    in.seekg(offset);
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail(db_error(db_, "cannot start an index transaction"));
    }
    std::string line;
    int64_t pos = offset;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // a partial last line: read it next time
      pos += static_cast<int64_t>(line.size()) + 1;
      auto fixed = read_fixed(line);
      json rec = json::parse(line, nullptr, false);
      if (!fixed || !rec.is_object()) {
        ++st.skipped;
        continue;
      }
      std::string time = rec.value("time", "");
      sqlite3_reset(insert.s);
      bind_text(insert.s, 1, rec.value("instance", ""));
      sqlite3_bind_int64(insert.s, 2, static_cast<int64_t>(fixed->seq));
      bind_text(insert.s, 3, time);
      bind_text(insert.s, 4, time.substr(0, 10));
      bind_text(insert.s, 5, rec.value("type", ""));
      bind_text(insert.s, 6, rec.value("subject", ""));
      bind_text(insert.s, 7, rec.value("project", ""));
      bind_text(insert.s, 8, rec.value("permission", ""));
      bind_text(insert.s, 9, rec.value("code", ""));
      bind_text(insert.s, 10, to_hex(hash_line(line)));
      bind_text(insert.s, 11, line);
      if (sqlite3_step(insert.s) != SQLITE_DONE) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return fail(db_error(db_, "cannot add a record to the index"));
      }
      st.new_records += static_cast<uint64_t>(sqlite3_changes(db_));
    }
    sqlite3_reset(upsert.s);
    bind_text(upsert.s, 1, key);
    bind_text(upsert.s, 2, file);
    sqlite3_bind_int64(upsert.s, 3, pos);
    if (sqlite3_step(upsert.s) != SQLITE_DONE ||
        sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return fail(db_error(db_, "cannot update the index"));
    }
  }
  return st;
}

Result<std::vector<std::vector<std::string>>> Index::rows(const std::string& sql,
                                                          const std::vector<std::string>& params) {
  auto prepared = Statement::prepare(*store_, sql);
  if (!prepared) return fail(db_error(db_, "cannot prepare a report query"));
  sqlite3_stmt* s = prepared->get();
  for (size_t i = 0; i < params.size(); ++i) bind_text(s, static_cast<int>(i + 1), params[i]);
  std::vector<std::vector<std::string>> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < sqlite3_column_count(s); ++c) row.push_back(text(s, c));
    out.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return fail(db_error(db_, "a report query failed"));
  return out;
}

Result<std::vector<std::string>> Index::search(const Query& q) {
  std::string sql = "SELECT record FROM events WHERE 1=1";
  std::vector<std::string> params;
  if (!q.subject.empty()) {
    sql += " AND subject=?";
    params.push_back(q.subject);
  }
  if (!q.project.empty()) {
    sql += " AND project=?";
    params.push_back(q.project);
  }
  if (!q.type.empty()) {
    std::string t = q.type;
    if (t.ends_with("*")) t.pop_back();
    if (t.ends_with(".")) {
      sql += " AND substr(type,1,?)=?";
      params.push_back(std::to_string(t.size()));
      params.push_back(t);
    } else {
      sql += " AND type=?";
      params.push_back(t);
    }
  }
  if (q.since) {
    sql += " AND time>=?";
    params.push_back(core::format_datetime(*q.since, true));
  }
  if (q.until) {
    sql += " AND time<?";
    params.push_back(core::format_datetime(*q.until, true));
  }
  sql += " ORDER BY time, instance, seq LIMIT " + std::to_string(q.limit);
  CG_TRY(auto r, rows(sql, params));
  std::vector<std::string> out;
  for (auto& row : r) out.push_back(std::move(row[0]));
  return out;
}

Result<std::vector<Index::Head>> Index::heads() {
  CG_TRY(auto r, rows("SELECT e.instance, e.seq, e.hash FROM events e JOIN (SELECT instance, "
                      "MAX(seq) AS m FROM events GROUP BY instance) h ON e.instance=h.instance "
                      "AND e.seq=h.m ORDER BY e.instance"));
  std::vector<Head> out;
  for (auto& row : r) out.push_back(Head{row[0], std::stoull(row[1]), row[2]});
  return out;
}

}  // namespace cg::audit
