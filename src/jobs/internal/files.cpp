#include "jobs/internal/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/encoding.h"
#include "jobs/errors.h"

namespace cg::jobs {

Status write_private_file(const std::string& path, std::string_view data) {
  if (auto st = core::replace_file(path, data, 0600); !st) {
    return fail(Code::kExecutor, st.error().message);
  }
  return {};
}

int open_job_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return -1;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    ::close(fd);
    errno = EPERM;
    return -1;
  }
  return fd;
}

Result<std::string> read_job_file(const std::string& path, size_t max) {
  int fd = open_job_file(path);
  if (fd < 0) {
    return fail(Code::kExecutor, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while (out.size() < max && (n = ::read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (out.size() > max) out.resize(max);
  return out;
}

Status hand_over(const std::string& dir, uid_t uid, gid_t gid) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    return fail(Code::kExecutor, "cannot open the job's directory " + dir + ": " +
                                     std::strerror(errno));
  }
  DIR* d = ::fdopendir(::dup(dfd));
  Status out;
  if (!d) {
    out = fail(Code::kExecutor, "cannot list " + dir + ": " + std::strerror(errno));
  } else {
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n == "." || n == ".." || e->d_type == DT_LNK) continue;
      if (::fchownat(dfd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 ||
          ::fchmodat(dfd, e->d_name, 0600, 0) != 0) {
        out = fail(Code::kExecutor, "cannot give " + dir + "/" + std::string(n) +
                                        " to uid " + std::to_string(uid) + ": " +
                                        std::strerror(errno));
        break;
      }
    }
    ::closedir(d);
  }
  if (out && (::fchown(dfd, uid, gid) != 0 || ::fchmod(dfd, 0700) != 0)) {
    out = fail(Code::kExecutor, "cannot give the job's directory " + dir + " to uid " +
                                    std::to_string(uid) + ": " + std::strerror(errno));
  }
  ::close(dfd);
  return out;
}

}  // namespace cg::jobs
