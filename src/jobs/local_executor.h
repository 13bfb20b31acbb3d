// The local executor (the embedded default): each job is a child process of this service,
// `claimgate exec ... -- <command>` in a process group of its own, stdout and stderr to the
// job's log file. Exit codes come from waitpid; after a restart of the service (the processes
// are no longer its children) from the status file `claimgate exec` writes when its command
// ends, and a job whose process is gone without one is reported lost.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "jobs/executor.h"

namespace cg::jobs {

class LocalExecutor final : public Executor {
 public:
  // `pass_env`: variables of this process the job's environment inherits (PATH, HOME, ...).
  LocalExecutor(const core::Clock& clock, std::vector<std::string> pass_env);
  std::string name() const override { return "local"; }
  bool runs_at_once() const override { return true; }
  Result<std::string> start(const Launch& l) override;
  Status cancel(const Job& job, std::chrono::seconds grace) override;
  Probe probe(const Job& job, const std::string& dir) override;

 private:
  const core::Clock& clock_;
  std::vector<std::string> pass_env_;
  std::mutex mu_;
  std::map<int, core::MonoTime> kill_at_;  // process group -> SIGKILL after the grace
};

// The exit status `claimgate exec` left in `dir` (exec.h: --status-file), if any.
std::optional<int> read_exit_status(const std::string& dir);
constexpr const char* kStatusFileName = "exit-status.json";

}  // namespace cg::jobs
