// A job's working directory, made definite at submission and checked again at the start
// (job.h: resolve_workdir, check_workdir).
#include <limits.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "jobs/errors.h"
#include "jobs/job.h"

namespace cg::jobs {
namespace {

std::string identity_of(const struct stat& st) {
  return std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
         std::to_string(static_cast<unsigned long long>(st.st_ino));
}

}  // namespace

Result<ResolvedDir> resolve_workdir(const std::string& path) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) {
    return fail(Code::kWorkdir, "workdir: " + path + " cannot be resolved on the jobs service's " +
                                    "machine (" + std::strerror(errno) + ")");
  }
  struct stat st {};
  if (::stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(Code::kWorkdir, "workdir: " + path + " is not a directory");
  }
  return ResolvedDir{buf, identity_of(st)};
}

Status check_workdir(const JobSpec& s) {
  auto now = resolve_workdir(s.workdir);
  if (!now) {
    return fail(Code::kWorkdir, "the working directory " + s.workdir +
                                    " does not exist on this machine (or is not a directory)");
  }
  if (now->path != s.workdir) {
    return fail(Code::kWorkdir, "the working directory " + s.workdir +
                                    " now leads to " + now->path +
                                    " (a symbolic link on its path changed since the job was "
                                    "submitted); nothing was run");
  }
  if (!s.workdir_id.empty() && now->identity != s.workdir_id) {
    return fail(Code::kWorkdir, "the working directory " + s.workdir +
                                    " is not the directory the job was submitted with (it was "
                                    "replaced since); nothing was run");
  }
  return {};
}

}  // namespace cg::jobs
