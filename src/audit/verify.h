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
  // Records after the last signed checkpoint of the last file: the live tail a running
  // gateway has not signed yet (checked only when signatures are).
  uint64_t unsigned_tail = 0;
  std::string last_hash;  // hex hash of the last whole record
  uint64_t bytes = 0;
  std::optional<Error> error;  // the first problem; none: intact
  std::string error_file;
  uint64_t error_line = 0;         // 1-based line in error_file
  std::vector<std::string> notes;  // not problems: torn records declared, unsigned tail, ...
  std::map<uint64_t, std::string> captured;  // seq -> hex hash, for the seqs asked for
  std::string instance;                      // as the last checkpoint names it
  // Who signed the checkpoints: "checkpoint key cp-... (sha256:...)" or "keyring key <id>"
  // (logs written before the checkpoint key), with how many each.
  std::map<std::string, uint64_t> signers;
  uint64_t keyring_signed = 0;               // checkpoints signed by keyring keys
  double seconds = 0;                        // time spent
  bool ok() const { return !error; }
};

// What checkpoints are verified with.
struct VerifyKeys {
  // The checkpoint keys the operator pinned (hex SHA-256 of their SPKI DER). A checkpoint
  // signed by any other checkpoint key fails (8007), and so does one when none is pinned.
  std::vector<std::string> pinned;
  // Logs written before the checkpoint key: their checkpoints name a keyring key (retired
  // ones included). They are refused unless legacy_keyring is set (whoever holds the keyring,
  // which every request uses, could have re-signed them); with it, they verify against this
  // keyring (null: such a checkpoint fails). A keyring-signed checkpoint after a
  // checkpoint-key one always fails.
  const crypto::Keyring* keyring = nullptr;
  bool refuse_keyring = false;  // --no-keyring-checkpoints: refuse them even with the flag
  bool legacy_keyring = false;  // --legacy-keyring-checkpoints: accept them (older logs)
  // The most records the live tail may hold (the writer signs a checkpoint every
  // checkpoint_every records: audit.checkpoint_every, 1000 by default); 0: no bound.
  uint64_t max_unsigned = 1000;
  // The gateway is stopped (--closed): the log must end with a signed checkpoint.
  bool closed = false;
};

// What `audit verify` requires of a log when signatures are checked (the writer guarantees
// it: a signed checkpoint when it starts a file, right after audit.file_start, at every
// rotation, at least every checkpoint_every records, and at a clean stop):
//   - every file holds a signed checkpoint, and before a file's first checkpoint there are
//     only the records the writer puts there when it starts (audit.recovered,
//     audit.file_start); a log with no signed checkpoint fails;
//   - a rotated file ends with its signed rotation checkpoint;
//   - after a shutdown checkpoint, the next records are a restart's: audit.recovered /
//     audit.file_start and then a signed start checkpoint;
//   - only the current (last) file may end with records no checkpoint signs (the live tail
//     of a running gateway): at most max_unsigned of them, and none with `closed`.
// With legacy_keyring (logs written before the checkpoint key, whose writer did not sign at
// file start) only the last three hold. Breaking a rule fails with 8007 audit.checkpoint
// (8008 audit.truncated for a closed log with an unsigned end).

// `keys` null: checkpoint signatures are not checked (a note says so). `capture`: the hashes
// of these records go to `captured` (to compare with what the index saw), in the same pass.
VerifyReport verify_files(const std::vector<std::string>& files, const VerifyKeys* keys,
                          const std::vector<uint64_t>& capture = {});
// Only a keyring (null: not checked): verifies logs written before the checkpoint key; a
// checkpoint signed by a checkpoint key fails, since none is pinned.
VerifyReport verify_files(const std::vector<std::string>& files, const crypto::Keyring* keyring,
                          const std::vector<uint64_t>& capture = {});

}  // namespace cg::audit
