#include "policy/errors.h"

namespace cg::policy {

const char* code_name(Code c) {
  switch (c) {
    case Code::kPathEncoding:
      return "policy.path_encoding";
    case Code::kPathAboveRoot:
      return "policy.path_above_root";
    case Code::kPathMalformed:
      return "policy.path_malformed";
    case Code::kReloadRefused:
      return "policy.reload_refused";
  }
  return "policy.unknown";
}

}  // namespace cg::policy
