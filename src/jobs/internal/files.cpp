#include "jobs/internal/files.h"

#include "core/encoding.h"
#include "jobs/errors.h"

namespace cg::jobs {

Status write_private_file(const std::string& path, std::string_view data) {
  if (auto st = core::replace_file(path, data, 0600); !st) {
    return fail(Code::kExecutor, st.error().message);
  }
  return {};
}

}  // namespace cg::jobs
