// The Slurm executor, for clusters: the job becomes an sbatch batch script whose one line
// runs `srun claimgate exec ... -- <command>`, one task a node, so that every node verifies
// the job's token before it runs anything. squeue says whether it is still there, sacct (or,
// without accounting, the exit status file exec writes in the job's directory) how it ended;
// cancel is scancel. The job's directory must be on storage the nodes share.
#pragma once

#include <string>
#include <vector>

#include "jobs/executor.h"
#include "jobs/run_as.h"

namespace cg::jobs {

struct SlurmOptions {
  std::string bin_dir = "/usr/bin";
  std::string partition;
  std::vector<std::string> extra_args;
  // Who jobs run as on the nodes (sbatch --uid/--gid; the accounts must exist there too).
  AccountPolicy accounts;
  // The gateway's variables sbatch exports to the job (besides every SLURM_* one): sbatch
  // exports its whole environment by default, which would hand the gateway's secrets
  // (CLAIMGATE_REDIS_PASSWORD, ...) to code running as another account.
  std::vector<std::string> pass_env{"PATH", "LANG", "LC_ALL", "TZ", "TMPDIR"};
};

class SlurmExecutor final : public Executor {
 public:
  explicit SlurmExecutor(SlurmOptions o) : o_(std::move(o)) {}
  std::string name() const override { return "slurm"; }
  bool runs_at_once() const override { return false; }
  Result<std::string> start(const Launch& l) override;
  Status cancel(const Job& job, std::chrono::seconds grace) override;
  Probe probe(const Job& job, const std::string& dir) override;
  std::string isolation() const override {
    return "Slurm jobs run " + o_.accounts.describe() +
           " on the nodes, separated as Slurm separates its jobs (no claimgate sandbox)";
  }

 private:
  SlurmOptions o_;
};

// The batch script for a job (exposed for tests).
std::string slurm_script(const Launch& l, const SlurmOptions& o);
// Single-quotes `s` for /bin/sh.
std::string shell_quote(std::string_view s);

// Runs a program (no shell), returns its exit status and standard output (stderr appended
// when it fails); gives up after `timeout`. With `env`, the program gets that environment
// ("NAME=value" each) rather than this process's.
struct Captured {
  int status = -1;
  std::string out;
};
Captured run_program(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                     const std::vector<std::string>* env = nullptr);

// The environment sbatch runs with, and so the job's: the SLURM_* variables and those of
// `o.pass_env` from this process's; with an account, its HOME (the job's directory when it
// has none of its own), USER and LOGNAME rather than the gateway's.
std::vector<std::string> sbatch_environment(const SlurmOptions& o, const Account* account,
                                            const std::string& job_dir);

}  // namespace cg::jobs
