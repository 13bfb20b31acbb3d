#include "jobs/local_executor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "jobs/errors.h"
#include "jobs/internal/files.h"

namespace cg::jobs {

std::vector<std::string> exec_argv(const Launch& l, std::string_view node_name) {
  const Job& j = *l.job;
  // claimgate-exec (the node verifier alone, quicker to start) takes exec's options directly.
  std::vector<std::string> a{l.claimgate};
  if (!l.claimgate.ends_with("claimgate-exec")) a.push_back("exec");
  a.insert(a.end(), {"--token-file",
                     l.token_file,
                     "--jwks",
                     l.jwks_file,
                     "--node-pool",
                     j.spec.pool,
                     "--job-id",
                     j.id,
                     "--project",
                     j.project,
                     "--renewal-secret-file",
                     l.secret_file,
                     "--gateway",
                     l.gateway_url,
                     "--when-unreachable",
                     l.when_unreachable,
                     "--check-interval",
                     std::to_string(l.check_interval.count()) + "s",
                     "--status-file",
                     l.dir + "/" + kStatusFileName});
  if (!l.env_file.empty()) {
    a.push_back("--env-file");
    a.push_back(l.env_file);
  }
  if (!l.ca_file.empty()) {
    a.push_back("--ca-file");
    a.push_back(l.ca_file);
  }
  if (!node_name.empty()) {
    a.push_back("--node-name");
    a.push_back(std::string(node_name));
  }
  a.push_back("--");
  a.insert(a.end(), j.spec.command.begin(), j.spec.command.end());
  return a;
}

std::optional<int> read_exit_status(const std::string& dir) {
  auto text = read_job_file(dir + "/" + kStatusFileName, 4096);
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("exit_code") ||
      !j["exit_code"].is_number_integer()) {
    return std::nullopt;
  }
  return j["exit_code"].get<int>();
}

namespace {

bool leader_alive(int pid, const std::string& job_id) {
  std::string proc = "/proc/" + std::to_string(pid);
  auto stat = core::read_file(proc + "/stat", 4096);
  if (!stat) return false;
  size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size()) return false;
  char state = (*stat)[close + 2];
  if (state == 'Z' || state == 'X') return false;
  auto cmdline = core::read_file(proc + "/cmdline", 1 << 16);
  return cmdline && cmdline->find(job_id) != std::string::npos;
}

}  // namespace

LocalExecutor::LocalExecutor(const core::Clock& clock, LocalOptions o)
    : clock_(clock), o_(std::move(o)) {}

Status LocalExecutor::init() {
  std::string who = o_.accounts.describe();
  if (o_.sandbox == "none") {
    isolation_ = "local jobs run " + who +
                 ", without a sandbox (jobs.sandbox: none): jobs of the same account can read "
                 "each other's files and see each other's processes";
    return {};
  }
  // Probed as the account jobs run as (bwrap then runs unprivileged, in a user namespace).
  const Account* probe_as = nullptr;
  if (o_.accounts.run_as) {
    probe_as = &*o_.accounts.run_as;
  } else if (!o_.accounts.by_subject.empty()) {
    probe_as = &o_.accounts.by_subject.begin()->second;
  }
  std::string why = probe_bwrap(o_.bwrap, probe_as);
  if (why.empty()) {
    sandboxed_ = true;
    isolation_ = "local jobs run " + who + ", each in a bubblewrap sandbox (" + o_.bwrap +
                 "): read-only system, its own job directory and working directory, private "
                 "/tmp and /proc, the gateway's directories hidden";
    return {};
  }
  if (o_.sandbox == "bwrap") {
    return fail(Code::kExecutor, "jobs.sandbox is bwrap, and " + why +
                                     "; install bubblewrap (apt-get install bubblewrap), allow "
                                     "unprivileged user namespaces, or set jobs.sandbox: none");
  }
  if (o_.accounts.run_as) {
    // One account for everyone: without a sandbox, one person's job could read another
    // person's job token and log. That is never a silent fallback.
    return fail(Code::kExecutor,
                "jobs of different people share the account of jobs.run_as, so each needs a "
                "sandbox, and " +
                    why +
                    "; install bubblewrap (apt-get install bubblewrap), give each person their "
                    "own account (jobs.run_as_map), or accept it with jobs.sandbox: none");
  }
  isolation_ = "local jobs run " + who + " WITHOUT a sandbox, because " + why +
               ": jobs of the same account can read each other's files and see each other's "
               "processes (install bubblewrap, or give each person their own account with "
               "jobs.run_as_map)";
  return {};
}

Result<std::string> LocalExecutor::start(const Launch& l) {
  const Job& j = *l.job;
  CG_TRY(auto account, o_.accounts.for_subject(j.submitter));
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv = exec_argv(l);
  std::string workdir = j.spec.workdir;
  CG_CHECK(check_workdir(j.spec));
  if (sandboxed_) {
    auto box =
        bwrap_argv(o_.bwrap, workdir, l.dir, l.state_dir.empty() ? l.dir : l.state_dir, o_.hide);
    argv.insert(argv.begin(), box.begin(), box.end());
  }
  // The environment: what the service passes on; the spec's env goes to the command only,
  // through the env file exec reads after it has verified the token.
  std::vector<std::string> env;
  for (const auto& name : o_.pass_env) {
    if (account && (name == "HOME" || name == "USER" || name == "LOGNAME")) continue;
    if (const char* v = std::getenv(name.c_str())) env.push_back(name + "=" + v);
  }
  if (account) {
    struct stat home {};
    bool home_ok = !account->home.empty() && ::stat(account->home.c_str(), &home) == 0 &&
                   S_ISDIR(home.st_mode) && home.st_uid == account->uid;
    env.push_back("HOME=" + (home_ok ? account->home : l.dir));
    env.push_back("USER=" + account->name);
    env.push_back("LOGNAME=" + account->name);
  }
  env.push_back("PWD=" + workdir);
  std::vector<char*> cargv, cenv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  for (auto& s : env) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  int log =
      ::open(l.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (log < 0) {
    return fail(Code::kExecutor,
                "cannot open the job's log file " + l.log_file + ": " + std::strerror(errno));
  }
  if (account) {
    // The job's directory (token, renewal secret, JWKS, env, log) becomes the account's: exec
    // rewrites the token there as it renews. Nothing of another job's is in it.
    if (auto st = hand_over(l.dir, account->uid, account->gid); !st) {
      ::close(log);
      return fail(st.error());
    }
  }
  Account as = account ? *account : Account{};
  bool switch_user = account.has_value();
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(log);
    if (devnull >= 0) ::close(devnull);
    return fail(Code::kExecutor, std::string("cannot fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // A session of its own (no controlling terminal of ours), which is its process group.
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::close_range(3, ~0U, 0);
    if (switch_user) {
      if (const char* why = become(as)) {
        const char msg[] = "claimgate: cannot switch to the job's account: ";
        (void)!::write(2, msg, sizeof msg - 1);
        (void)!::write(2, why, std::strlen(why));
        (void)!::write(2, "; nothing was run\n", 18);
        ::_exit(126);
      }
    }
    // No setuid program (sudo, su) can give the job more than its account has.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(126);
    if (sandboxed_) {
      // bwrap would die of the gateway's SIGTERM at once and take the sandbox with it: it
      // ignores it, and exec (which resets it) stops the command within the grace.
      ::signal(SIGTERM, SIG_IGN);
      ::signal(SIGINT, SIG_IGN);
      ::signal(SIGHUP, SIG_IGN);
    }
    if (::chdir(workdir.c_str()) != 0) {
      const char msg[] = "claimgate: cannot enter the job's working directory\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    ::execve(cargv[0], cargv.data(), cenv.data());
    const char msg[] = "claimgate: cannot execute claimgate exec\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  // (The child makes its own session and group: setting it from here too could beat its
  // setsid and make that fail. A cancel before the child got that far signals the pid.)
  ::close(log);
  if (devnull >= 0) ::close(devnull);
  {
    std::lock_guard lock(mu_);
    children_.insert(pid);
  }
  return std::to_string(pid);
}

bool LocalExecutor::ours_locked(int pid, const std::string& job_id) const {
  return children_.contains(pid) || leader_alive(pid, job_id);
}

Status LocalExecutor::cancel(const Job& job, std::chrono::seconds grace) {
  int pid = std::atoi(job.ref.c_str());
  if (pid <= 1) return fail(Code::kExecutor, "job " + job.id + " has no process to stop");
  std::lock_guard lock(mu_);
  // A job whose process has already ended (reaped here, or gone while the service was not
  // running) has nothing to stop: its pid may be another process's by now.
  if (!ours_locked(pid, job.id)) return {};
  if (::kill(-pid, SIGTERM) != 0 &&
      (errno != ESRCH || (::kill(pid, SIGTERM) != 0 && errno != ESRCH))) {
    return fail(Code::kExecutor, "cannot signal job " + job.id + ": " + std::strerror(errno));
  }
  kill_at_[pid] = clock_.monotonic() + grace;
  return {};
}

Probe LocalExecutor::probe(const Job& job, const std::string& dir) {
  int pid = std::atoi(job.ref.c_str());
  Probe p;
  if (pid <= 1) {
    p.what = Probe::What::kGone;
    p.message = "the job has no process";
    return p;
  }
  std::lock_guard lock(mu_);
  if (auto it = kill_at_.find(pid); it != kill_at_.end() && clock_.monotonic() >= it->second) {
    if (ours_locked(pid, job.id)) ::kill(-pid, SIGKILL);  // the grace is over
    kill_at_.erase(it);
  }
  if (children_.contains(pid)) {
    // Our child: look without reaping first, so that its process group (which may still hold
    // the command's children) is killed while the zombie leader still holds the number.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != pid) {
      return p;  // running
    }
    ::kill(-pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    children_.erase(pid);
    kill_at_.erase(pid);
    p.what = Probe::What::kEnded;
    if (WIFEXITED(status)) {
      p.exit_code = WEXITSTATUS(status);
      p.message = "exit code " + std::to_string(p.exit_code);
    } else if (WIFSIGNALED(status)) {
      p.exit_code = 128 + WTERMSIG(status);
      p.message = std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
    }
    return p;
  }
  // Not our child (the service restarted): alive while its `claimgate exec` for this job is
  // (a zombie, or a process that reused the pid, is not).
  if (leader_alive(pid, job.id)) return p;
  kill_at_.erase(pid);
  if (auto code = read_exit_status(dir)) {
    p.what = Probe::What::kEnded;
    p.exit_code = *code;
    p.message = "exit code " + std::to_string(*code);
    return p;
  }
  p.what = Probe::What::kGone;
  p.message = "its process ended while the service was not running and left no exit status";
  return p;
}

}  // namespace cg::jobs
