// Executors run jobs somewhere. Each runs the job's command through `claimgate exec` on every
// node, so that no node runs anything before it has verified the job's token (exec.h).
//
//   local  child processes of this service, one process group a job (local_executor.h)
//   slurm  sbatch with a batch script that runs `srun claimgate exec ...` (slurm_executor.h)
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "jobs/job.h"

namespace cg::jobs {

// Everything a node needs, written into the job's directory before the start.
struct Launch {
  const Job* job = nullptr;
  std::string dir;         // the job's directory (token, renewal secret, JWKS, logs)
  std::string token_file;  // the job token (rewritten by exec as it renews)
  std::string secret_file;
  std::string jwks_file;    // the gateway's JWKS at submission (exec fetches again on rotation)
  std::string log_file;     // stdout and stderr of every node
  std::string env_file;     // the spec's env (JSON), given by exec to the command only
  std::string state_dir;    // holds every job's directory (hidden from the job)
  std::string gateway_url;  // where nodes check revocation, renew and report
  std::string ca_file;      // to verify the gateway's certificate ("": the system's)
  std::string claimgate;    // the claimgate binary on the nodes
  std::string when_unreachable = "closed";
  std::chrono::seconds check_interval{30};
};

// The command line every node runs: claimgate exec ... -- <the job's command>.
std::vector<std::string> exec_argv(const Launch& l, std::string_view node_name = "");

// What an executor knows of a job it started.
struct Probe {
  enum class What { kRunning, kEnded, kGone } what = What::kRunning;
  int exit_code = 0;    // kEnded: 0..255, or 128 + signal
  std::string message;  // kEnded / kGone: in words
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string name() const = 0;
  // Whether a started job is running at once (local), or waits in a queue until its first
  // node checks in (slurm: the job is "queued" until then).
  virtual bool runs_at_once() const = 0;
  // Starts the job; returns its handle (kept as Job::ref).
  virtual Result<std::string> start(const Launch& l) = 0;
  // Asks the job to stop: SIGTERM, then SIGKILL after `grace`.
  virtual Status cancel(const Job& job, std::chrono::seconds grace) = 0;
  // Where the job is (after a restart too: the handle is all it needs).
  virtual Probe probe(const Job& job, const std::string& dir) = 0;
  // What separates a job from the gateway and from other jobs, in words (for the log and
  // `claimgate check`).
  virtual std::string isolation() const { return ""; }
};

}  // namespace cg::jobs
