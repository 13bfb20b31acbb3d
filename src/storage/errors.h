// Error codes of src/storage. The Redis client's failures keep the number and name they had
// when the client lived in src/session (a documented contract: docs/error-codes.md). SQLite
// failures carry the code of the part whose database it is (storage/sqlite.h ErrorMaker).
#pragma once

#include "core/result.h"

namespace cg::storage {

enum class Code : int {
  kRedis = 5005,  // Redis cannot be reached, or refused a command (its words are kept)
};

const char* code_name(Code c);

}  // namespace cg::storage
