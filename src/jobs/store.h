// Where jobs are kept: a SQLite table (in the gateway's state database, or an in-memory
// database for `store: {kind: memory}`), so that jobs survive a restart of the service.
// One row a job: filter columns (project, submitter, state, created) and the whole job as
// JSON. Thread-safe (the database's mutex).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "jobs/job.h"

namespace cg::session {
class SqliteDatabase;
}

namespace cg::jobs {

struct JobFilter {
  std::string project;    // required by the API; "" here: every project
  std::string submitter;  // ""
  std::optional<State> state;
  size_t limit = 100;
};

class JobStore {
 public:
  explicit JobStore(std::shared_ptr<session::SqliteDatabase> db);
  // Opens (creating) the table in `db`.
  static Result<std::unique_ptr<JobStore>> open(std::shared_ptr<session::SqliteDatabase> db);

  Status put(const Job& job);  // insert or replace
  Result<std::optional<Job>> get(std::string_view id);
  // Newest first.
  Result<std::vector<Job>> list(const JobFilter& f);
  // Jobs queued or running (those a restart must re-attach), oldest first.
  Result<std::vector<Job>> unfinished();
  // Jobs of `submitter` whose token is not revoked yet, finished or not.
  Result<std::vector<Job>> with_live_token(std::string_view submitter);

 private:
  Result<std::vector<Job>> query(const char* sql, const std::vector<std::string>& args,
                                 int64_t limit);
  std::shared_ptr<session::SqliteDatabase> db_;
};

// The job as the API shows it (and as stored): times in RFC 3339, exit code null until known.
std::string job_json(const Job& j);
Result<Job> job_from_json(std::string_view text);

}  // namespace cg::jobs
