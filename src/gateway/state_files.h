// The gateway's private files and what its jobs may see of them (docs/jobs.md, "Isolation";
// docs/security.md). The keyring, the state databases and the audit log are the gateway's
// alone: 0600 files in 0700 directories (the jobs directory 0711: each job's account passes
// through to its own directory, named at random, but cannot list it). `serve`, `jobs serve`
// and `claimgate check` say so, one sentence a path, with the fix.
#pragma once

#include <string>
#include <vector>

#include "core/log.h"
#include "core/result.h"
#include "gateway/config.h"
#include "jobs/run_as.h"
#include "jobs/sandbox.h"

namespace cg::gateway {

struct FileProblem {
  std::string message;  // names the path, its mode, and the chmod that fixes it
  bool fatal = false;   // readable or writable by others: serve refuses to start
};

// Checks the modes of the keyring (directory and key files), the SQLite store, the jobs
// directory and database, and the audit log and index, with their directories. Paths that do
// not exist yet are skipped (the gateway creates them private: umask 077).
std::vector<FileProblem> state_file_problems(const GatewayConfig& c);
// Logs every state_file_problems() entry to `log` (errors for fatal ones); returns whether a
// start must be refused (`serve`, `jobs serve`).
bool log_state_file_problems(const GatewayConfig& c, const core::Logger& log);

// Who the config's jobs run as (jobs/run_as.h); refuses a config whose jobs would run as the
// gateway's user or as root. Adds a warning for jobs.insecure_same_user.
Result<jobs::AccountPolicy> job_accounts(const GatewayConfig& c,
                                         std::vector<std::string>& warnings);

// What separates the config's jobs from the gateway and from each other, in words (the
// executor's own sentence, the bwrap probe included); an error when the config is refused.
Result<std::string> job_isolation(const GatewayConfig& c, std::vector<std::string>& warnings);

// What the sandbox of a local job covers, and where a job's working directory may not be.
jobs::SandboxPaths job_hidden_paths(const GatewayConfig& c);
std::vector<std::string> job_protected_dirs(const GatewayConfig& c);

}  // namespace cg::gateway
