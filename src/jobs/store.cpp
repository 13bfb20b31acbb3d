#include "jobs/store.h"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "core/time.h"
#include "jobs/errors.h"
#include "storage/sqlite.h"

namespace cg::jobs {
namespace {

using nlohmann::json;

// Version 1: the table as first made (IF NOT EXISTS: files from before the version table
// pass); version 2: versioned records (every row at version 0), skipped where a file from
// before the version table has the column already.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  project TEXT NOT NULL,
  submitter TEXT NOT NULL,
  state TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  token_live INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_project ON jobs(project, created_ms);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_submitter ON jobs(submitter, token_live);
)sql";
constexpr const char* kSchemaV2 = "ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 0";

using storage::Reset;

Error store_error(std::string message) { return make_error(Code::kStore, std::move(message)); }

int64_t ms(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

json time_or_null(core::WallTime t) {
  if (t == core::WallTime{}) return nullptr;
  return core::format_datetime(t, true);
}
core::WallTime time_from(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || !it->is_string()) return {};
  auto t = core::parse_datetime(it->get<std::string>());
  return t ? *t : core::WallTime{};
}

}  // namespace

std::string job_json(const Job& j) {
  json nodes = json::array();
  for (const auto& n : j.nodes) {
    nodes.push_back({{"node", n.node}, {"exit_code", n.exit_code}, {"time", time_or_null(n.time)}});
  }
  json out = {{"id", j.id},
              {"project", j.project},
              {"submitter", j.submitter},
              {"actor", j.actor},
              {"spec", json::parse(j.spec.to_json())},
              {"state", state_name(j.state)},
              {"message", j.message},
              {"created", time_or_null(j.created)},
              {"started", time_or_null(j.started)},
              {"ended", time_or_null(j.ended)},
              {"deadline", time_or_null(j.deadline)},
              {"exit_code", j.exit_code ? json(*j.exit_code) : json(nullptr)},
              {"executor", j.executor},
              {"owner", j.owner},
              {"ref", j.ref},
              {"nodes", nodes},
              {"token_revoked", time_or_null(j.token_revoked)},
              {"revoked_reason", j.revoked_reason},
              {"renewals", j.renewals},
              {"cancel_requested", time_or_null(j.cancel_requested)},
              {"cancelled_by", j.cancelled_by}};
  return out.dump();
}

Result<Job> job_from_json(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(Code::kStore, "a stored job is not JSON");
  try {
    Job out;
    out.id = j.at("id").get<std::string>();
    out.project = j.at("project").get<std::string>();
    out.submitter = j.at("submitter").get<std::string>();
    out.actor = j.value("actor", "");
    CG_TRY(out.spec, spec_from_json(j.at("spec").dump()));
    auto st = parse_state(j.at("state").get<std::string>());
    if (!st) return fail(Code::kStore, "stored job " + out.id + " has an unknown state");
    out.state = *st;
    out.message = j.value("message", "");
    out.created = time_from(j, "created");
    out.started = time_from(j, "started");
    out.ended = time_from(j, "ended");
    out.deadline = time_from(j, "deadline");
    if (j.contains("exit_code") && j["exit_code"].is_number_integer())
      out.exit_code = j["exit_code"].get<int>();
    out.executor = j.value("executor", "");
    out.owner = j.value("owner", "");
    out.ref = j.value("ref", "");
    for (const auto& n : j.value("nodes", json::array())) {
      out.nodes.push_back({n.value("node", ""), n.value("exit_code", 0), time_from(n, "time")});
    }
    out.renewal_hash = j.value("renewal_hash", "");
    out.token_revoked = time_from(j, "token_revoked");
    out.revoked_reason = j.value("revoked_reason", "");
    out.renewals = j.value("renewals", uint64_t{0});
    out.cancel_requested = time_from(j, "cancel_requested");
    out.cancelled_by = j.value("cancelled_by", "");
    return out;
  } catch (const json::exception& e) {
    return fail(Code::kStore, std::string("a stored job does not read: ") + e.what());
  }
}

Result<std::optional<Job>> JobStore::get(std::string_view id) {
  CG_TRY(auto v, read(id));
  if (!v) return std::optional<Job>();
  return std::optional<Job>(std::move(v->job));
}

Result<std::optional<Job>> JobStore::update(std::string_view id,
                                            const std::function<bool(Job&)>& change) {
  // Conflicts need another service writing the same job within a round trip: a handful of
  // attempts is plenty; running out means something keeps writing it, which is reported.
  for (int attempt = 0; attempt < 16; ++attempt) {
    CG_TRY(auto v, read(id));
    if (!v) return std::optional<Job>();
    if (!change(v->job)) return std::optional<Job>(std::move(v->job));
    CG_TRY(bool written, replace(v->job, v->version));
    if (written) return std::optional<Job>(std::move(v->job));
  }
  return fail(Code::kStore,
              "job " + std::string(id) + " changed 16 times while this service tried to update it");
}

std::string stored_job_json(const Job& job) {
  // The stored form carries the renewal secret's hash, which the API form leaves out.
  auto j = json::parse(job_json(job));
  j["renewal_hash"] = job.renewal_hash;
  return j.dump();
}

namespace {

class SqliteJobStore final : public JobStore {
 public:
  explicit SqliteJobStore(std::shared_ptr<storage::Database> db) : db_(std::move(db)) {}

  Status insert(const Job& job) override {
    auto written = write(job,
                         "INSERT INTO jobs(project, submitter, state, created_ms, token_live, "
                         "data, version, id) VALUES (?,?,?,?,?,?,1,?)",
                         std::nullopt);
    if (!written) return fail(written.take_error());
    return {};
  }

  Result<std::optional<Versioned>> read(std::string_view id) override {
    std::string data;
    int64_t version = 0;
    {
      std::lock_guard lock(db_->mutex());
      auto st = db_->statement("SELECT data, version FROM jobs WHERE id = ?");
      if (!st) return fail(Code::kStore, st.error().message);
      Reset r{*st};
      sqlite3_bind_text(*st, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
      int rc = sqlite3_step(*st);
      if (rc == SQLITE_DONE) return std::optional<Versioned>();
      if (rc != SQLITE_ROW) return fail(Code::kStore, db_->error("read job").message);
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(*st, 0));
      data.assign(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(*st, 0)));
      version = sqlite3_column_int64(*st, 1);
    }
    CG_TRY(Job j, job_from_json(data));
    return std::optional<Versioned>(Versioned{std::move(j), static_cast<uint64_t>(version)});
  }

  Result<bool> replace(const Job& job, uint64_t version) override {
    CG_TRY(int changed,
           write(job,
                 "UPDATE jobs SET project = ?, submitter = ?, state = ?, created_ms = ?, "
                 "token_live = ?, data = ?, version = version + 1 WHERE id = ? AND version = ?",
                 version));
    return changed == 1;
  }

  Result<std::vector<Job>> list(const JobFilter& f) override {
    // Empty filters match everything ('' = '' short-circuits), so one statement serves all.
    std::string state = f.state ? state_name(*f.state) : "";
    return query(
        "SELECT data FROM jobs WHERE (?1 = '' OR project = ?1) AND (?2 = '' OR submitter = ?2) "
        "AND (?3 = '' OR state = ?3) ORDER BY created_ms DESC, id DESC LIMIT ?4",
        {f.project, f.submitter, state}, static_cast<int64_t>(f.limit));
  }

  Result<std::vector<Job>> unfinished() override {
    return query(
        "SELECT data FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_ms ASC", {},
        -1);
  }

  Result<std::vector<Job>> with_live_token(std::string_view submitter) override {
    return query("SELECT data FROM jobs WHERE submitter = ? AND token_live = 1",
                 {std::string(submitter)}, -1);
  }

  std::string describe() const override { return "SQLite " + db_->path(); }

 private:
  // One INSERT or conditional UPDATE whose parameters are, in order: project, submitter,
  // state, created, token_live, data, id (and the expected version). Returns the rows it
  // changed (read under the same lock as the statement ran).
  Result<int> write(const Job& job, const char* sql, std::optional<uint64_t> version) {
    std::string data = stored_job_json(job);
    std::lock_guard lock(db_->mutex());
    auto st = db_->statement(sql);
    if (!st) return fail(Code::kStore, st.error().message);
    Reset r{*st};
    auto bind = [&](int i, std::string_view v) {
      sqlite3_bind_text(*st, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    };
    bind(1, job.project);
    bind(2, job.submitter);
    bind(3, state_name(job.state));
    sqlite3_bind_int64(*st, 4, ms(job.created));
    sqlite3_bind_int(*st, 5, job.token_is_revoked() ? 0 : 1);
    bind(6, data);
    bind(7, job.id);
    if (version) sqlite3_bind_int64(*st, 8, static_cast<int64_t>(*version));
    if (sqlite3_step(*st) != SQLITE_DONE) {
      return fail(Code::kStore, db_->error("write job " + job.id).message);
    }
    return sqlite3_changes(db_->handle());
  }

  Result<std::vector<Job>> query(const char* sql, const std::vector<std::string>& args,
                                 int64_t limit) {
    std::vector<Job> out;
    std::vector<std::string> rows;
    {
      std::lock_guard lock(db_->mutex());
      auto st = db_->statement(sql);
      if (!st) return fail(Code::kStore, st.error().message);
      Reset r{*st};
      int i = 1;
      for (const auto& a : args) {
        sqlite3_bind_text(*st, i++, a.data(), static_cast<int>(a.size()), SQLITE_TRANSIENT);
      }
      if (limit >= 0) sqlite3_bind_int64(*st, i, limit);
      int rc;
      while ((rc = sqlite3_step(*st)) == SQLITE_ROW) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(*st, 0));
        rows.emplace_back(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(*st, 0)));
      }
      if (rc != SQLITE_DONE) return fail(Code::kStore, db_->error("read jobs").message);
    }
    for (const auto& row : rows) {
      CG_TRY(Job j, job_from_json(row));
      out.push_back(std::move(j));
    }
    return out;
  }

  std::shared_ptr<storage::Database> db_;
};

}  // namespace

Result<std::unique_ptr<JobStore>> open_sqlite_job_store(const std::string& path) {
  static const storage::Schema kSchema{
      "jobs", {{1, kSchemaV1}, {2, kSchemaV2, "SELECT version FROM jobs LIMIT 0"}}};
  CG_TRY(auto db, storage::Database::open(path, store_error));
  CG_CHECK(db->migrate(kSchema));
  return std::unique_ptr<JobStore>(std::make_unique<SqliteJobStore>(std::move(db)));
}

}  // namespace cg::jobs
