// Error codes of src/audit: the audit log, its verification and its index (8000-8999).
#pragma once

#include "core/result.h"

namespace cg::audit {

enum class Code : int {
  kWrite = 8001,        // the log cannot be written or synced (disk full, read-only, I/O error)
  kUnavailable = 8002,  // the log is failing, so an action that must be audited is refused
  kOpen = 8003,         // the log file or its directory cannot be opened or read
  kBadRecord = 8004,    // verify: a line is not a whole record (not JSON, or fields missing)
  kChain = 8005,        // verify: a record's `prev` is not the hash of the record before it
  kSequence = 8006,     // verify: sequence numbers skip or repeat (records removed or inserted)
  kCheckpoint = 8007,   // verify: a checkpoint does not verify, or its key is not pinned / unknown
  kTruncated = 8008,    // verify: the file ends inside a record, or records are missing at its end
  kStart = 8009,        // verify: the first file starts in the middle of the chain
  kIndex = 8010,        // the SQLite index cannot be opened, read or updated
  kQuery = 8011,        // a report or search argument is not understood
};

const char* code_name(Code c);

}  // namespace cg::audit
