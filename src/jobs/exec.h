// `claimgate exec`: the check every node makes before it runs a job's command, and the
// companion that keeps the job's credential alive while the command runs.
//
//   1. read the job token; verify it offline against the JWKS (a file, or a URL with a cached
//      copy; on an unknown key id the gateway's JWKS is fetched again: key rotation);
//      signature, use, expiry (with skew), audience = the node's pool, the job and project
//      the node was started for, and the digest of COMMAND and the working directory;
//   2. ask the gateway whether the token is revoked (when it cannot be reached: refuse, or
//      with --when-unreachable open, go on with a warning);
//   3. only then run COMMAND in a process group of its own, with CLAIMGATE_JOB_ID,
//      CLAIMGATE_PROJECT, CLAIMGATE_SUBMITTER and CLAIMGATE_TOKEN_FILE set, and the job's own
//      variables (--env-file): they are never in exec's environment, only in the command's;
//      exec's own environment is cleared of loader variables before anything (job.h:
//      is_loader_variable);
//   4. while it runs: renew the token before it expires (renewal secret), check revocation
//      every --check-interval; on revocation stop the process group (SIGTERM, then SIGKILL
//      after --grace); SIGTERM/SIGINT to exec are passed on the same way;
//   5. exit with the command's status (128 + signal when killed).
//
// Every refusal prints one sentence naming the check and exits 126 without running
// anything; refusals and starts are reported to the gateway's audit log.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/clock.h"

namespace cg::jobs {

struct ExecOptions {
  std::string token_file;
  std::string jwks;         // a file, or an http(s) URL
  std::string node_pool;    // "" : not checked
  std::string job_id;       // "" : not checked
  std::string project;      // "" : not checked
  std::string secret_file;  // "" : no renewal (the token must outlive the command)
  std::string gateway;      // base URL for check, renew, report; "" : the token's issuer
  std::string ca_file;
  std::string status_file;                  // written with {"exit_code": n} when the command ends
  std::string env_file;  // the job's variables (a JSON object), for the command only
  std::string node_name;                    // "" : the host name
  std::string cache_dir;                    // "" : $XDG_CACHE_HOME/claimgate or ~/.cache/claimgate
  std::string when_unreachable = "closed";  // closed | open
  bool offline = false;  // no online check at all (revocation then only by expiry)
  std::chrono::seconds check_interval{30};
  std::chrono::seconds grace{10};
  std::chrono::seconds skew{60};
  std::vector<std::string> command;
};

// Exit codes of exec itself (otherwise: the command's).
inline constexpr int kExitRefused = 126;
inline constexpr int kExitNotFound = 127;

// Removes every loader variable (LD_*, GCONV_PATH, ...) from this process's environment; the
// first thing exec's main does. Returns how many it removed.
int scrub_loader_environment();

// Runs the node's side of a job; returns the process's exit code. Messages go to stderr.
int run_exec(const ExecOptions& o, const core::Clock& clock);

}  // namespace cg::jobs
