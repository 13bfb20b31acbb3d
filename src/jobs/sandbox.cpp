#include "jobs/sandbox.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

namespace cg::jobs {
namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

}  // namespace

bool path_within(std::string_view inner, std::string_view outer) {
  while (outer.size() > 1 && outer.ends_with('/')) outer.remove_suffix(1);
  while (inner.size() > 1 && inner.ends_with('/')) inner.remove_suffix(1);
  if (outer == "/") return inner.starts_with('/');
  return inner == outer || (inner.starts_with(outer) && inner[outer.size()] == '/');
}

std::vector<std::string> bwrap_argv(const std::string& bwrap, const std::string& workdir,
                                    const std::string& job_dir, const std::string& state_dir,
                                    const SandboxPaths& hide) {
  std::vector<std::string> a{bwrap,
                             // Its own pid and IPC namespaces: the job sees no process but its
                             // own (the gateway's /proc neither). Not --die-with-parent: jobs
                             // outlive a restart of the gateway, which re-attaches them.
                             "--unshare-pid", "--unshare-ipc",
                             "--unshare-uts", "--unshare-cgroup-try",
                             // The machine, read-only; devices and /proc of its own; /tmp private.
                             "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs",
                             "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/dev/shm"};
  // The working directory, writable (it may lie under /tmp, now empty: bwrap makes the
  // mount point). In the job's own directory (the default), that directory's bind below
  // does for both.
  bool own = path_within(workdir, job_dir);
  if (!own) a.insert(a.end(), {"--bind", workdir, workdir});
  // The gateway's directories: covered after the working directory is in place, so that one
  // inside the working directory is covered too. A directory that holds the working
  // directory cannot be covered whole: its secret files are.
  std::set<std::string> covered;
  std::vector<std::string> dirs = hide.dirs;
  dirs.push_back(state_dir);
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  for (const auto& d : dirs) {
    if (d.empty() || d == "/" || (!own && path_within(workdir, d)) || !is_dir(d)) continue;
    bool under = false;
    for (const auto& c : covered) under = under || path_within(d, c);
    if (under) continue;
    a.insert(a.end(), {"--tmpfs", d});
    covered.insert(d);
  }
  for (const auto& f : hide.files) {
    bool under = false;
    for (const auto& c : covered) under = under || path_within(f, c);
    if (under || f.empty() || !exists(f) || is_dir(f)) continue;
    a.insert(a.end(), {"--ro-bind", "/dev/null", f});
  }
  // The job's own directory (inside the covered state directory), writable.
  a.insert(a.end(), {"--bind", job_dir, job_dir, "--chdir", workdir, "--"});
  return a;
}

std::string probe_bwrap(const std::string& bwrap, const Account* account) {
  if (::access(bwrap.c_str(), X_OK) != 0) {
    return bwrap + " is not installed (apt-get install bubblewrap)";
  }
  std::vector<std::string> args{bwrap,     "--die-with-parent", "--unshare-pid", "--ro-bind",
                                "/",       "/",                 "--dev",         "/dev",
                                "--proc",  "/proc",             "--tmpfs",       "/tmp",
                                "--",      "/bin/true"};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  char* env[] = {nullptr};
  int errfd[2];
  if (::pipe2(errfd, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  pid_t pid = ::fork();
  if (pid < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
    }
    ::dup2(errfd[1], 2);
    if (account) {
      if (const char* why = become(*account)) {
        (void)!::write(2, why, std::strlen(why));
        ::_exit(126);
      }
    }
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    ::execve(argv[0], argv.data(), env);
    ::_exit(127);
  }
  ::close(errfd[1]);
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = ::read(errfd[0], buf, sizeof buf)) > 0 && err.size() < 2048) {
    err.append(buf, static_cast<size_t>(n));
  }
  ::close(errfd[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return "";
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  return bwrap + " does not work here" +
         (account ? " as " + account->name : std::string()) + " (" +
         (err.empty() ? "exit status " + std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : -1)
                      : err) +
         ")";
}

}  // namespace cg::jobs
