// Error codes of src/core: input decoding and config problems (1000-1999).
#pragma once

#include "core/result.h"

namespace cg::core {

enum class Code : int {
  kBase64 = 1001,       // text is not valid base64
  kInflate = 1002,      // DEFLATE data is corrupt or too large once inflated
  kUrlEncoding = 1003,  // a %-escape is malformed
  kTime = 1004,         // a timestamp is not xs:dateTime / RFC 3339
  kIo = 1005,           // a file could not be read or written
  kTooLarge = 1007,     // input exceeds a size limit
};

const char* code_name(Code c);

}  // namespace cg::core
