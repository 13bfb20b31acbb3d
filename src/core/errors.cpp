#include "core/errors.h"

namespace cg::core {

const char* code_name(Code c) {
  switch (c) {
    case Code::kBase64:
      return "input.base64";
    case Code::kInflate:
      return "input.inflate";
    case Code::kUrlEncoding:
      return "input.url_encoding";
    case Code::kTime:
      return "input.time";
    case Code::kIo:
      return "io";
    case Code::kTooLarge:
      return "input.too_large";
  }
  return "unknown";
}

}  // namespace cg::core
