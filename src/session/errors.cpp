#include "session/errors.h"

namespace cg::session {

const char* code_name(Code c) {
  switch (c) {
    case Code::kStore:
      return "session.store";
    case Code::kCorrupt:
      return "session.corrupt";
    case Code::kCookie:
      return "session.cookie";
    case Code::kFull:
      return "session.full";
  }
  return "session.unknown";
}

}  // namespace cg::session
