#include "audit/errors.h"

namespace cg::audit {

const char* code_name(Code c) {
  switch (c) {
    case Code::kWrite:
      return "audit.write";
    case Code::kUnavailable:
      return "audit.unavailable";
    case Code::kOpen:
      return "audit.open";
    case Code::kBadRecord:
      return "audit.bad_record";
    case Code::kChain:
      return "audit.chain";
    case Code::kSequence:
      return "audit.sequence";
    case Code::kCheckpoint:
      return "audit.checkpoint";
    case Code::kTruncated:
      return "audit.truncated";
    case Code::kStart:
      return "audit.start";
    case Code::kIndex:
      return "audit.index";
    case Code::kQuery:
      return "audit.query";
  }
  return "audit.unknown";
}

}  // namespace cg::audit
