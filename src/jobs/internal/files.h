// Files the jobs part writes for one reader only (job tokens, renewal secrets, exit status),
// and reads from job directories, which belong to the jobs' accounts (so never through a link
// a job may have put there).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/result.h"

namespace cg::jobs {

// Writes `data` to `path` with mode 0600, through a temporary file beside it, fsync and a
// rename: a reader sees the old content or the new, never a part.
Status write_private_file(const std::string& path, std::string_view data);

// Opens a file in a job's directory for reading: no symbolic link followed, a regular file
// with one link only (a job cannot make the gateway read another file for it); -1 otherwise.
int open_job_file(const std::string& path);
// Reads at most `max` bytes of such a file.
Result<std::string> read_job_file(const std::string& path, size_t max);

// Hands a job's directory and the files the gateway wrote in it to uid:gid (0700 / 0600).
Status hand_over(const std::string& dir, uid_t uid, gid_t gid);

}  // namespace cg::jobs
