// Files the jobs part writes for one reader only (job tokens, renewal secrets, exit status).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace cg::jobs {

// Writes `data` to `path` with mode 0600, through a temporary file beside it, fsync and a
// rename: a reader sees the old content or the new, never a part.
Status write_private_file(const std::string& path, std::string_view data);

}  // namespace cg::jobs
