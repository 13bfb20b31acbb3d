// A job: what was asked (JobSpec, checked by parse_spec) and what became of it (Job, kept in
// the JobStore). Specs come from clients as JSON (docs/jobs.md has the format):
//
//   {"name": "resnet", "command": ["torchrun", "--nproc-per-node=2", "train.py"],
//    "env": {"EPOCHS": "3"}, "workdir": "/data/vision", "nodes": 1, "procs_per_node": 2,
//    "gpus": 0, "max_runtime": "2h", "pool": "default"}
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace cg::jobs {

// What the submission may ask for (from the config's `jobs:` section).
struct SpecLimits {
  int max_nodes = 16;
  int max_procs_per_node = 64;
  int max_gpus = 16;                                // per node
  std::chrono::seconds max_runtime{7 * 86400};      // the longest a job may ask for
  std::chrono::seconds default_runtime{24 * 3600};  // when it asks for none
  std::vector<std::string> pools{"default"};        // node pools jobs may name
  std::string default_pool = "default";
};

struct JobSpec {
  std::string name;
  std::vector<std::string> command;  // argv; [0] is looked up in PATH on the node
  std::map<std::string, std::string> env;
  // Absolute; empty: the job's own directory. At submission it is resolved (no symbolic link
  // left: the token binds the directory, not a name that could be pointed elsewhere) and its
  // identity recorded; the start refuses a directory that is no longer the same one.
  std::string workdir;
  std::string workdir_id;  // "<device>:<inode>" of workdir at submission ("": not recorded)
  int nodes = 1;
  int procs_per_node = 1;
  int gpus = 0;
  std::chrono::seconds max_runtime{0};
  std::string pool;

  std::string to_json() const;
};

// Reads a client's spec; every problem at once ("command: required; nodes: 5000 is more than
// the 16 allowed"), unknown fields refused.
Result<JobSpec> parse_spec(std::string_view json, const SpecLimits& limits);
// Whether a variable is one the dynamic loader, glibc or the C library's allocator read at a
// program's start (LD_*, GCONV_PATH, GLIBC_TUNABLES, MALLOC_*, ...; docs/jobs.md lists them):
// refused in specs, and cleared by `claimgate exec` from its own environment.
bool is_loader_variable(std::string_view name);

// A working directory made definite: the path with every symbolic link resolved, and the
// directory's identity.
struct ResolvedDir {
  std::string path;
  std::string identity;  // "<device>:<inode>"
};
Result<ResolvedDir> resolve_workdir(const std::string& path);
// Refuses a job whose working directory is no longer the one resolved at submission (a link
// on the way now leads elsewhere, or the directory was replaced).
Status check_workdir(const JobSpec& s);

// Reads a spec this service stored (no limits applied again).
Result<JobSpec> spec_from_json(std::string_view json);

// The digest a job token binds: SHA-256 (hex) over the argv and the working directory, each
// length-prefixed, so that no two different commands share an encoding.
std::string command_digest(const std::vector<std::string>& argv, std::string_view workdir);

enum class State { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kLost };
const char* state_name(State s);
std::optional<State> parse_state(std::string_view s);
inline bool finished(State s) { return s != State::kQueued && s != State::kRunning; }

// What one node's `claimgate exec` reported when its command ended.
struct NodeResult {
  std::string node;
  int exit_code = 0;
  core::WallTime time{};
};

struct Job {
  std::string id;
  std::string project;
  std::string submitter;  // the person (subject) the job runs for
  std::string actor;      // who submitted: "" (the person) or "agent:<name>"
  JobSpec spec;
  State state = State::kQueued;
  std::string message;  // why it ended that way ("cancelled by alice", "exit code 3")
  core::WallTime created{}, started{}, ended{};
  core::WallTime deadline{};  // created + max_runtime: no token outlives it
  std::optional<int> exit_code;
  std::string executor;  // "local" | "slurm"
  // The jobs service that started it and watches its processes (ServiceOptions::instance);
  // with a shared (Redis) store, the others answer for it but leave its processes alone.
  std::string owner;
  std::string ref;       // the executor's handle (process group id, Slurm job id)
  std::vector<NodeResult> nodes;
  std::string renewal_hash;        // SHA-256 (hex) of the renewal secret
  core::WallTime token_revoked{};  // epoch: not revoked
  std::string revoked_reason;
  uint64_t renewals = 0;
  core::WallTime cancel_requested{};  // epoch: none; the state follows when the process ends
  std::string cancelled_by;

  bool token_is_revoked() const { return token_revoked != core::WallTime{}; }
  std::string digest() const { return command_digest(spec.command, spec.workdir); }
};

}  // namespace cg::jobs
