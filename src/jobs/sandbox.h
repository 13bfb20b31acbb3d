// The sandbox of a local job (bubblewrap): the job sees the machine read-only, its working
// directory and its own job directory writable, a private /tmp, its own /proc (a new pid
// namespace: no other process, the gateway's included, is visible), and nothing of the
// gateway's directories (keyring, state, jobs directory, audit log, config), which are covered
// by empty file systems. bwrap runs as the job's account (after the switch), in a user
// namespace of its own, with no_new_privs.
#pragma once

#include <string>
#include <vector>

#include "jobs/run_as.h"

namespace cg::jobs {

struct SandboxPaths {
  // Directories the job must not see: covered with an empty tmpfs, unless one holds the
  // job's working directory (then only `files` in it are covered).
  std::vector<std::string> dirs;
  // Files the job must not see (the store, the audit log, the config): covered with an empty
  // file where their directory cannot be.
  std::vector<std::string> files;
};

// bwrap's arguments, up to and including "--": the command (claimgate exec ...) follows.
// `state_dir` holds every job's directory: it is always covered, then `job_dir` shown again.
std::vector<std::string> bwrap_argv(const std::string& bwrap, const std::string& workdir,
                                    const std::string& job_dir, const std::string& state_dir,
                                    const SandboxPaths& hide);

// Runs `bwrap` as `account` (nullptr: this process's own) with a trivial sandbox; "" when it
// works, else what went wrong, in words.
std::string probe_bwrap(const std::string& bwrap, const Account* account);

// Whether `inner` is `outer` or lies below it (lexically, both absolute and normalised).
bool path_within(std::string_view inner, std::string_view outer);

}  // namespace cg::jobs
