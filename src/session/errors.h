// Error codes of src/session: sessions and the stores behind them (5000-5999).
#pragma once

#include "core/result.h"

namespace cg::session {

// 5005 session.redis is src/storage's (storage/errors.h), where the Redis client lives.
enum class Code : int {
  kStore = 5001,    // the store cannot be read or written (SQLite's message is kept)
  kCorrupt = 5002,  // a stored record does not parse
  kCookie = 5003,   // a session cookie does not open (tampered, foreign, or a retired key)
  kFull = 5004,     // an in-memory store reached its size limit
};

const char* code_name(Code c);

}  // namespace cg::session
