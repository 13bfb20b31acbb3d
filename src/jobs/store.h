// Where jobs are kept: a SQLite table (`<jobs.state_dir>/jobs.db`, one jobs service) or Redis
// (`store: {kind: redis}`: every jobs service of the deployment shares the records, so any of
// them answers the API and the nodes' check, renew and report). Each record carries a version;
// a change is read, applied and written back only if nobody wrote in between (else applied
// again to the newer record), so two services never lose each other's changes (a renewal
// counted at one, the end of the job recorded at the other). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "jobs/job.h"

namespace cg::session {
class RedisBackend;
}  // namespace cg::session

namespace cg::jobs {

struct JobFilter {
  std::string project;    // required by the API; "" here: every project
  std::string submitter;  // ""
  std::optional<State> state;
  size_t limit = 100;
};

// A job as read, with the version a conditional write names.
struct Versioned {
  Job job;
  uint64_t version = 0;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Adds a new job (refused when the id is taken).
  virtual Status insert(const Job& job) = 0;
  virtual Result<std::optional<Versioned>> read(std::string_view id) = 0;
  // Writes `job` if the stored version is still `version`; false: another writer came first.
  virtual Result<bool> replace(const Job& job, uint64_t version) = 0;
  // Newest first.
  virtual Result<std::vector<Job>> list(const JobFilter& f) = 0;
  // Jobs queued or running (those a restart must re-attach), oldest first.
  virtual Result<std::vector<Job>> unfinished() = 0;
  // Jobs of `submitter` whose token is not revoked yet, finished or not.
  virtual Result<std::vector<Job>> with_live_token(std::string_view submitter) = 0;
  // "SQLite /var/lib/claimgate/jobs/jobs.db", "Redis redis://10.0.0.5:6379" (for the log).
  virtual std::string describe() const = 0;

  Result<std::optional<Job>> get(std::string_view id);
  // Reads the job, lets `change` edit it (returning false: nothing to write) and writes it
  // back conditionally, starting again from a fresh read when another writer came first.
  // `change` may run more than once: it must only edit the job (and its own locals). Returns
  // the job as stored afterwards; nullopt for an unknown id.
  Result<std::optional<Job>> update(std::string_view id, const std::function<bool(Job&)>& change);
};

// The SQLite store: the jobs table in the database file at `path`, opened and migrated the one
// way (storage/sqlite.h; files from before the version column are given it).
Result<std::unique_ptr<JobStore>> open_sqlite_job_store(const std::string& path);

// The Redis store, on the gateway's Redis connection pool and key prefix
// (docs/deployment.md#training-jobs has the keys).
Result<std::unique_ptr<JobStore>> open_redis_job_store(
    std::shared_ptr<session::RedisBackend> backend);

// The job as the API shows it (and as stored): times in RFC 3339, exit code null until known.
std::string job_json(const Job& j);
Result<Job> job_from_json(std::string_view text);
// The stored form: job_json and the renewal secret's hash.
std::string stored_job_json(const Job& j);

}  // namespace cg::jobs
