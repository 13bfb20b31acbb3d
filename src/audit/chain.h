// The hash chain: how a record line is laid out and linked, and what a checkpoint signs.
//
// Every line is one JSON object that starts with "seq" and ends with "prev":
//   {"seq":N,<event members>,"instance":"gw-1","prev":"<hex SHA-256 of line N-1>"}
// The hash of a line is SHA-256 over its bytes without the newline. The first record of a
// chain has prev = 64 zeros. A checkpoint (type audit.checkpoint) signs, with the log's own
// checkpoint key (checkpoint_key.h; logs written before it: a keyring key), the instance, its
// own seq and its prev: so it vouches for every record before it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/checkpoint_key.h"
#include "core/result.h"
#include "crypto/keyring.h"

namespace cg::audit {

using Hash = std::array<uint8_t, 32>;

inline constexpr std::string_view kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

Hash hash_line(std::string_view line);
std::string to_hex(const Hash& h);

// Appends `{"seq":N,` + body + `,"instance":` + instance_json + `,"prev":"` + prev + `"}`
// (instance_json: the instance already as a JSON string).
void append_record(std::string& out, uint64_t seq, std::string_view body,
                   std::string_view instance_json, std::string_view prev_hex);
// The same, as a new string (instance as plain text).
std::string format_record(uint64_t seq, std::string_view body, std::string_view instance,
                          std::string_view prev_hex);

// The members every line has at fixed places, read without a JSON parser.
struct Fixed {
  uint64_t seq = 0;
  std::string_view prev;  // 64 hex digits
};
std::optional<Fixed> read_fixed(std::string_view line);

// A checkpoint line signed with the log's checkpoint key: `body` (an Event's members plus
// reason and records) gets key_class "checkpoint", the key id, its SHA-256 and its public key
// (SPKI DER, base64url) and the algorithm, the line is laid out as any record, and the
// signature (ES256 over "claimgate-audit-checkpoint/2\n" + the line without its signature
// member) goes in just before "instance".
Result<std::string> checkpoint_line(const CheckpointKey& key, uint64_t seq, std::string_view body,
                                    std::string_view instance, std::string_view prev_hex);
// Checks a checkpoint-key signature (the /2 form above) with `key`. Empty: it verifies.
std::string checkpoint_problem(const CheckpointKey& key, std::string_view line);

// The form logs had before the checkpoint key (kept to verify them, and for tests that play
// an attacker holding the keyring): `body` gets the keyring's current signing key id and the
// algorithm, and the signature is over "claimgate-audit-checkpoint/1\n" + the line without
// its signature member. So the signature covers every byte of the checkpoint, including its
// seq and prev, and through prev every record before it.
Result<std::string> checkpoint_line(const crypto::Keyring& keys, uint64_t seq,
                                    std::string_view body, std::string_view instance,
                                    std::string_view prev_hex);
// Checks a checkpoint line's signature with the key it names. Empty: it verifies; otherwise
// why not.
std::string checkpoint_problem(const crypto::Keyring& keys, std::string_view line,
                               std::string_view key_id);

}  // namespace cg::audit
