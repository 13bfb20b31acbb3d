#include "gateway/state_files.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "jobs/local_executor.h"

namespace cg::gateway {
namespace {

std::string octal(unsigned mode) {
  char b[8];
  std::snprintf(b, sizeof b, "%04o", mode & 07777);
  return b;
}

std::string dir_of(const std::string& path) {
  if (path.empty()) return "";
  auto d = std::filesystem::path(path).parent_path().string();
  return d.empty() ? "." : d;
}

// One path: `want` is the most it may allow (0600, 0700, 0711).
void check(const std::string& path, unsigned want, const char* what,
           std::vector<FileProblem>& out, bool strict_dir = false) {
  if (path.empty()) return;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // not there yet: created private
  unsigned mode = st.st_mode & 07777;
  unsigned extra = mode & ~want & 0777;
  if (!extra) return;
  bool dir = S_ISDIR(st.st_mode);
  // A directory's place taken by something else: opening it fails with its own error.
  if ((want & 0100) != 0 && !dir) return;
  // Files others can read or write, directories others can write, and a keyring directory
  // others can enter are refused; another directory others can list is worth a warning (its
  // files are checked one by one).
  bool fatal = !dir || (extra & 0022) != 0 || strict_dir;
  if (!dir && (extra & 0022) == 0) {
    // A file others could read behind a directory they cannot enter is out of their reach:
    // worth the warning, not a refusal (an `audit` command run with umask 022 made it).
    struct stat parent {};
    if (::stat(dir_of(path).c_str(), &parent) == 0 && (parent.st_mode & 0011) == 0) fatal = false;
  }
  out.push_back({std::string(what) + " " + path + " has mode " + octal(mode) +
                     ", which lets other users " +
                     ((extra & 0022) ? "change" : !dir ? "read" : (extra & 0044) ? "list" : "enter") +
                     " it; it must be the gateway's alone: chmod " + octal(want) + " " + path,
                 fatal});
}

}  // namespace

std::vector<FileProblem> state_file_problems(const GatewayConfig& c) {
  std::vector<FileProblem> out;
  if (!c.keys_dir.empty()) {
    check(c.keys_dir, 0700, "the keyring directory", out, true);
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(c.keys_dir, ec)) {
      if (e.is_symlink(ec)) continue;
      if (e.is_directory(ec)) {
        check(e.path().string(), 0700, "the keyring directory", out, true);
      } else {
        check(e.path().string(), 0600, "the key file", out);
      }
    }
  }
  if (c.store_kind == "sqlite" && !c.store_path.empty()) {
    check(dir_of(c.store_path), 0700, "the state directory", out);
    for (const char* sfx : {"", "-wal", "-shm", "-journal"}) {
      check(c.store_path + sfx, 0600, "the state database", out);
    }
  }
  if (c.jobs.enabled) {
    check(c.jobs.state_dir, 0711, "the jobs directory", out);
    for (const char* sfx : {"", "-wal", "-shm", "-journal"}) {
      check(c.jobs.state_dir + "/jobs.db" + sfx, 0600, "the jobs database", out);
    }
  }
  if (c.audit.enabled && !c.audit.log.path.empty()) {
    check(dir_of(c.audit.log.path), 0700, "the audit directory", out);
    check(c.audit.log.path, 0600, "the audit log", out);
    if (!c.audit.index_path.empty()) check(c.audit.index_path, 0600, "the audit index", out);
  }
  return out;
}

bool log_state_file_problems(const GatewayConfig& c, const core::Logger& log) {
  bool refused = false;
  for (const auto& f : state_file_problems(c)) {
    f.fatal ? log.error(f.message) : log.warn(f.message);
    refused = refused || f.fatal;
  }
  return refused;
}

Result<jobs::AccountPolicy> job_accounts(const GatewayConfig& c,
                                         std::vector<std::string>& warnings) {
  const JobsConfig& j = c.jobs;
  auto p = jobs::make_account_policy(j.run_as, j.run_as_map, j.insecure_same_user);
  if (!p) return p;
  if (j.insecure_same_user && (j.run_as.empty() || !j.run_as_map.empty())) {
    warnings.push_back(
        "jobs.insecure_same_user is true: jobs " +
        std::string(j.run_as_map.empty() ? "" : "of people not in jobs.run_as_map ") +
        "run as the gateway's own user and can read its keyring, state and audit log, and "
        "sign in as anyone; for development only (set jobs.run_as to an unprivileged account)");
  }
  return p;
}

Result<std::string> job_isolation(const GatewayConfig& c, std::vector<std::string>& warnings) {
  CG_TRY(auto accounts, job_accounts(c, warnings));
  if (c.jobs.executor == "slurm") {
    return "Slurm jobs run " + accounts.describe() +
           " on the nodes, separated as Slurm separates its jobs (no claimgate sandbox)";
  }
  jobs::LocalOptions lo;
  lo.accounts = std::move(accounts);
  lo.sandbox = c.jobs.sandbox;
  lo.bwrap = c.jobs.bwrap;
  jobs::LocalExecutor probe(core::SystemClock::instance(), std::move(lo));
  CG_CHECK(probe.init());
  return probe.isolation();
}

jobs::SandboxPaths job_hidden_paths(const GatewayConfig& c) {
  jobs::SandboxPaths h;
  auto dir = [&](const std::string& d) {
    if (!d.empty()) h.dirs.push_back(std::filesystem::absolute(d).lexically_normal().string());
  };
  auto file = [&](const std::string& f) {
    if (!f.empty()) h.files.push_back(std::filesystem::absolute(f).lexically_normal().string());
  };
  dir(c.keys_dir);
  dir(c.jobs.state_dir);
  dir(dir_of(c.config_path));
  file(c.config_path);
  file(c.policy_file);
  file(c.server.tls_key_file);
  if (c.store_kind == "sqlite") {
    dir(dir_of(c.store_path));
    for (const char* sfx : {"", "-wal", "-shm", "-journal"}) file(c.store_path + sfx);
  }
  if (c.audit.enabled) {
    dir(dir_of(c.audit.log.path));
    file(c.audit.log.path);
    dir(dir_of(c.audit.index_path));
    file(c.audit.index_path);
  }
  return h;
}

std::vector<std::string> job_protected_dirs(const GatewayConfig& c) {
  std::vector<std::string> d{c.jobs.state_dir};
  if (!c.keys_dir.empty()) d.push_back(c.keys_dir);
  if (c.audit.enabled && !c.audit.log.path.empty()) {
    // The audit log's own directory, when it has one (not the config's directory).
    auto a = dir_of(c.audit.log.path);
    if (a != dir_of(c.config_path) && a != c.base_dir) d.push_back(a);
  }
  return d;
}

}  // namespace cg::gateway
