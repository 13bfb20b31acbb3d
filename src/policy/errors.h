// Error codes of src/policy: request paths and the policy file (7000-7999).
#pragma once

#include "core/result.h"

namespace cg::policy {

enum class Code : int {
  kPathEncoding = 7001,   // an encoded '/', '\' or NUL, or a control byte: the path is ambiguous
  kPathAboveRoot = 7002,  // '..' climbs above the root
  kPathMalformed = 7003,  // not absolute, a broken %-escape, or over the segment limit
  kReloadRefused = 7004,  // a changed policy file has problems; the old policy stays
};

const char* code_name(Code c);

}  // namespace cg::policy
