// `claimgate audit verify`: walks the chain through one log's files, oldest first, and finds
// the first record that was edited, inserted, reordered, removed or cut.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "crypto/keyring.h"

namespace cg::audit {

struct VerifyReport {
  uint64_t files = 0;
  uint64_t records = 0;
  uint64_t checkpoints = 0;  // checkpoints whose signature verified (or seen, without keys)
  uint64_t first_seq = 0, last_seq = 0;
  uint64_t last_checkpoint_seq = 0;
  std::string last_hash;  // hex hash of the last whole record
  uint64_t bytes = 0;
  std::optional<Error> error;  // the first problem; none: intact
  std::string error_file;
  uint64_t error_line = 0;         // 1-based line in error_file
  std::vector<std::string> notes;  // not problems: torn records declared, unsigned tail, ...
  std::map<uint64_t, std::string> captured;  // seq -> hex hash, for the seqs asked for
  std::string instance;                      // as the last checkpoint names it
  double seconds = 0;                        // time spent
  bool ok() const { return !error; }
};

// `keys` null: checkpoint signatures are not checked (a note says so). `capture`: the hashes
// of these records go to `captured` (to compare with what the index saw), in the same pass.
VerifyReport verify_files(const std::vector<std::string>& files, const crypto::Keyring* keys,
                          const std::vector<uint64_t>& capture = {});

}  // namespace cg::audit
