#include "jobs/local_executor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "jobs/errors.h"

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
  auto text = core::read_file(dir + "/" + kStatusFileName, 4096);
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

LocalExecutor::LocalExecutor(const core::Clock& clock, std::vector<std::string> pass_env)
    : clock_(clock), pass_env_(std::move(pass_env)) {}

Result<std::string> LocalExecutor::start(const Launch& l) {
  const Job& j = *l.job;
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv = exec_argv(l);
  std::vector<std::string> env;
  for (const auto& name : pass_env_) {
    if (j.spec.env.contains(name)) continue;
    if (const char* v = std::getenv(name.c_str())) env.push_back(name + "=" + v);
  }
  for (const auto& [k, v] : j.spec.env) env.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  for (auto& s : env) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  std::string workdir = j.spec.workdir;
  struct stat st {};
  if (::stat(workdir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(Code::kExecutor, "the working directory " + workdir +
                                     " does not exist on this machine (or is not a directory)");
  }
  int log = ::open(l.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) {
    return fail(Code::kExecutor,
                "cannot open the job's log file " + l.log_file + ": " + std::strerror(errno));
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(log);
    if (devnull >= 0) ::close(devnull);
    return fail(Code::kExecutor, std::string("cannot fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::close_range(3, ~0U, 0);
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
  ::setpgid(pid, pid);  // also here, so that a cancel right away finds the group
  ::close(log);
  if (devnull >= 0) ::close(devnull);
  return std::to_string(pid);
}

Status LocalExecutor::cancel(const Job& job, std::chrono::seconds grace) {
  int pid = std::atoi(job.ref.c_str());
  if (pid <= 1) return fail(Code::kExecutor, "job " + job.id + " has no process to stop");
  if (::kill(-pid, SIGTERM) != 0 && errno != ESRCH) {
    return fail(Code::kExecutor, "cannot signal job " + job.id + ": " + std::strerror(errno));
  }
  std::lock_guard lock(mu_);
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
  {
    std::lock_guard lock(mu_);
    auto it = kill_at_.find(pid);
    if (it != kill_at_.end() && clock_.monotonic() >= it->second) {
      ::kill(-pid, SIGKILL);  // the grace is over
      kill_at_.erase(it);
    }
  }
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid) {
    std::lock_guard lock(mu_);
    kill_at_.erase(pid);
    p.what = Probe::What::kEnded;
    if (WIFEXITED(status)) {
      p.exit_code = WEXITSTATUS(status);
      p.message = "exit code " + std::to_string(p.exit_code);
    } else if (WIFSIGNALED(status)) {
      p.exit_code = 128 + WTERMSIG(status);
      p.message = std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
    }
    // The process group may still hold the command's children; they follow their parent.
    ::kill(-pid, SIGKILL);
    return p;
  }
  if (r == 0) return p;  // running, our child
  // Not our child (the service restarted): alive while its `claimgate exec` for this job is
  // (a zombie, or a process that reused the pid, is not).
  if (leader_alive(pid, job.id)) return p;
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
