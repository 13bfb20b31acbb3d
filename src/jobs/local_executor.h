// The local executor (the embedded default): each job is a child process of this service,
// `claimgate exec ... -- <command>` in a session and process group of its own, stdout and
// stderr to the job's log file. Exit codes come from waitpid; after a restart of the service
// (the processes are no longer its children) from the status file `claimgate exec` writes
// when its command ends, and a job whose process is gone without one is reported lost.
//
// Isolation (docs/jobs.md, "Isolation"): the child switches to the job's account (run_as.h)
// before it executes anything, with no_new_privs; the job's directory is handed to that
// account; and, where bubblewrap works, the job runs in a sandbox (sandbox.h) that shows it
// neither the gateway's directories, nor other jobs' directories, nor any other process.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "jobs/executor.h"
#include "jobs/run_as.h"
#include "jobs/sandbox.h"

namespace cg::jobs {

struct LocalOptions {
  // Variables of this process the job's environment inherits (PATH, LANG, ...); HOME, USER
  // and LOGNAME are the job's account's when it runs as one.
  std::vector<std::string> pass_env;
  AccountPolicy accounts;        // who jobs run as (make_account_policy)
  std::string sandbox = "auto";  // auto (bwrap when it works) | bwrap (required) | none
  std::string bwrap = "/usr/bin/bwrap";
  SandboxPaths hide;  // the gateway's directories and files
};

class LocalExecutor final : public Executor {
 public:
  LocalExecutor(const core::Clock& clock, LocalOptions o);
  // Decides the sandbox (probes bwrap as the jobs' account); refuses sandbox: bwrap when it
  // does not work. Call once before start().
  Status init();
  std::string name() const override { return "local"; }
  bool runs_at_once() const override { return true; }
  Result<std::string> start(const Launch& l) override;
  Status cancel(const Job& job, std::chrono::seconds grace) override;
  Probe probe(const Job& job, const std::string& dir) override;
  std::string isolation() const override { return isolation_; }
  bool sandboxed() const { return sandboxed_; }

 private:
  const core::Clock& clock_;
  LocalOptions o_;
  bool sandboxed_ = false;
  std::string isolation_;
  // A pid is signalled only while it is known to be the job's: our own child not yet reaped
  // (its pid, and so its process group's number, cannot be reused before we reap it), or, for
  // a job a previous run started, a living process whose command line names the job. A pid
  // read from a record is otherwise a number that any process may have taken since.
  bool ours_locked(int pid, const std::string& job_id) const;
  std::mutex mu_;
  std::set<int> children_;                 // started here, not yet reaped
  std::map<int, core::MonoTime> kill_at_;  // process group -> SIGKILL after the grace
};

// The exit status `claimgate exec` left in `dir` (exec.h: --status-file), if any.
std::optional<int> read_exit_status(const std::string& dir);
constexpr const char* kStatusFileName = "exit-status.json";

}  // namespace cg::jobs
