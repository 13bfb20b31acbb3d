#include "jobs/slurm_executor.h"

#include <algorithm>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "core/encoding.h"
#include "jobs/errors.h"
#include "jobs/internal/files.h"
#include "jobs/local_executor.h"

extern char** environ;

namespace cg::jobs {

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

Captured run_program(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                     const std::vector<std::string>* env) {
  Captured c;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    c.out = std::string("pipe: ") + std::strerror(errno);
    return c;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> a;
  std::vector<std::string> copy = argv;
  for (auto& s : copy) a.push_back(s.data());
  a.push_back(nullptr);
  std::vector<std::string> env_copy;
  std::vector<char*> e;
  if (env) {
    env_copy = *env;
    for (auto& s : env_copy) e.push_back(s.data());
    e.push_back(nullptr);
  }
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, a[0], &fa, nullptr, a.data(), env ? e.data() : environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    c.out = "cannot run " + argv[0] + ": " + std::strerror(rc);
    return c;
  }
  auto end = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    end - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      c.out += "\n(" + argv[0] + " did not finish in " + std::to_string(timeout.count()) + "s)";
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    if (c.out.size() < (1 << 20)) c.out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  c.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return c;
}

std::string slurm_script(const Launch& l, const SlurmOptions& o) {
  const Job& j = *l.job;
  auto minutes = std::max<int64_t>(1, (j.spec.max_runtime.count() + 59) / 60);
  std::string s = "#!/bin/sh\n";
  s += "# claimgate job " + j.id + " (project " + j.project + ", submitted by " + j.submitter +
       ")\n";
  s += "#SBATCH --job-name=claimgate-" + j.id + "\n";
  s += "#SBATCH --nodes=" + std::to_string(j.spec.nodes) + "\n";
  s += "#SBATCH --ntasks-per-node=1\n";
  s += "#SBATCH --cpus-per-task=" + std::to_string(j.spec.procs_per_node) + "\n";
  s += "#SBATCH --time=" + std::to_string(minutes) + "\n";
  s += "#SBATCH --output=" + l.log_file + "\n";
  s += "#SBATCH --chdir=" + j.spec.workdir + "\n";
  if (j.spec.gpus > 0) s += "#SBATCH --gres=gpu:" + std::to_string(j.spec.gpus) + "\n";
  if (!o.partition.empty()) s += "#SBATCH --partition=" + o.partition + "\n";
  // The spec's env is not exported here: srun and exec would run with it. exec reads it from
  // the env file and gives it to the command alone, once the token is verified.
  // Every node runs exec: srun starts one task a node, each verifies before it runs.
  s += "exec " + shell_quote(o.bin_dir + "/srun") + " --kill-on-bad-exit=1";
  for (const auto& a : exec_argv(l)) s += " " + shell_quote(a);
  s += "\n";
  return s;
}

std::vector<std::string> sbatch_environment(const SlurmOptions& o, const Account* account,
                                            const std::string& job_dir) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view v = *e;
    std::string_view name = v.substr(0, v.find('='));
    if (name.size() == v.size()) continue;
    bool pass = name.starts_with("SLURM_");
    for (const auto& n : o.pass_env) pass = pass || name == n;
    if (account && (name == "HOME" || name == "USER" || name == "LOGNAME")) pass = false;
    if (pass) env.emplace_back(v);
  }
  if (account) {
    struct stat home {};
    bool home_ok = !account->home.empty() && ::stat(account->home.c_str(), &home) == 0 &&
                   S_ISDIR(home.st_mode) && home.st_uid == account->uid;
    env.push_back("HOME=" + (home_ok ? account->home : job_dir));
    env.push_back("USER=" + account->name);
    env.push_back("LOGNAME=" + account->name);
  }
  return env;
}

// A value written into a line of the batch script: a CR or LF in it would start a line of
// its own (an #SBATCH option of the submitter's, or a shell command run before exec verifies).
bool script_safe(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

Result<std::string> SlurmExecutor::start(const Launch& l) {
  CG_TRY(auto account, o_.accounts.for_subject(l.job->submitter));
  for (const std::string* v : std::initializer_list<const std::string*>{
           &l.job->id, &l.job->project, &l.job->submitter, &l.log_file,
           &l.job->spec.workdir, &o_.partition}) {
    if (!script_safe(*v)) {
      return fail(Code::kExecutor,
                  "a value of this job (its working directory, project or submitter) holds a "
                  "control character, which the Slurm batch script cannot carry; nothing was "
                  "submitted");
    }
  }
  std::string path = l.dir + "/job.sbatch";
  {
    std::ofstream f(path, std::ios::trunc);
    f << slurm_script(l, o_);
    if (!f) return fail(Code::kExecutor, "cannot write the batch script " + path);
  }
  std::vector<std::string> argv{o_.bin_dir + "/sbatch", "--parsable"};
  if (account) {
    // The job runs as its account on every node (sbatch --uid needs root); its directory, on
    // the shared storage, becomes that account's.
    CG_CHECK(hand_over(l.dir, account->uid, account->gid));
    argv.push_back("--uid=" + std::to_string(account->uid));
    argv.push_back("--gid=" + std::to_string(account->gid));
  }
  argv.insert(argv.end(), o_.extra_args.begin(), o_.extra_args.end());
  argv.push_back(path);
  // sbatch exports its environment to the job (--export=ALL): only what the job may see.
  std::vector<std::string> env = sbatch_environment(o_, account ? &*account : nullptr, l.dir);
  Captured c = run_program(argv, std::chrono::seconds(30), &env);
  std::string out = c.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (c.status != 0 || out.empty()) {
    return fail(Code::kExecutor, "sbatch refused the job (exit " + std::to_string(c.status) +
                                     "): " + core::clip(out, 400));
  }
  // --parsable prints "id" or "id;cluster"; the last line is it (warnings may come first).
  if (auto nl = out.rfind('\n'); nl != std::string::npos) out = out.substr(nl + 1);
  return out.substr(0, out.find(';'));
}

Status SlurmExecutor::cancel(const Job& job, std::chrono::seconds) {
  // Slurm sends SIGTERM to every step, then SIGKILL after its KillWait (slurm.conf).
  Captured c = run_program({o_.bin_dir + "/scancel", job.ref}, std::chrono::seconds(30));
  if (c.status != 0) {
    return fail(Code::kExecutor, "scancel " + job.ref + " failed: " + core::clip(c.out, 300));
  }
  return {};
}

Probe SlurmExecutor::probe(const Job& job, const std::string& dir) {
  Probe p;
  Captured q = run_program({o_.bin_dir + "/squeue", "-h", "-j", job.ref, "-o", "%T"},
                           std::chrono::seconds(30));
  std::string state = q.out;
  while (!state.empty() && (state.back() == '\n' || state.back() == ' ')) state.pop_back();
  if (q.status == 0 && !state.empty() && state != "COMPLETED" && state != "FAILED" &&
      state != "CANCELLED" && state != "TIMEOUT" && state != "NODE_FAIL" &&
      state != "OUT_OF_MEMORY") {
    return p;  // PENDING, RUNNING, CONFIGURING, COMPLETING, SUSPENDED
  }
  if (q.status != 0 && q.out.find("Invalid job id") == std::string::npos) {
    return p;  // the controller does not answer: ask again later, do not declare an end
  }
  Captured a =
      run_program({o_.bin_dir + "/sacct", "-n", "-X", "-P", "-j", job.ref, "-o", "State,ExitCode"},
                  std::chrono::seconds(30));
  std::string line = a.out.substr(0, a.out.find('\n'));
  if (a.status == 0 && line.find('|') != std::string::npos) {
    std::string st = line.substr(0, line.find('|'));
    std::string code = line.substr(line.find('|') + 1);
    int exit = std::atoi(code.c_str());
    int sig =
        code.find(':') != std::string::npos ? std::atoi(code.c_str() + code.find(':') + 1) : 0;
    if (st.starts_with("RUNNING") || st.starts_with("PENDING")) return p;
    p.what = Probe::What::kEnded;
    p.exit_code = sig ? 128 + sig : exit;
    p.message = "Slurm job " + job.ref + " " + st + " (exit " + code + ")";
    return p;
  }
  if (auto code = read_exit_status(dir)) {
    p.what = Probe::What::kEnded;
    p.exit_code = *code;
    p.message = "Slurm job " + job.ref + " ended (exit code " + std::to_string(*code) + ")";
    return p;
  }
  p.what = Probe::What::kGone;
  p.message = "Slurm no longer knows job " + job.ref + " and it left no exit status";
  return p;
}

}  // namespace cg::jobs
