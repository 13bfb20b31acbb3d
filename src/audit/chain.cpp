#include "audit/chain.h"

#include <cstdio>
#include <cstring>

#include "audit/errors.h"
#include "audit/event.h"
#include "core/encoding.h"
#include "crypto/keys.h"

namespace cg::audit {

Hash hash_line(std::string_view line) { return crypto::sha256(line); }

std::string to_hex(const Hash& h) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < h.size(); ++i) {
    out[2 * i] = kHex[h[i] >> 4];
    out[2 * i + 1] = kHex[h[i] & 15];
  }
  return out;
}

void append_record(std::string& out, uint64_t seq, std::string_view body,
                   std::string_view instance_json, std::string_view prev_hex) {
  char num[24];
  int n = std::snprintf(num, sizeof num, "%llu", static_cast<unsigned long long>(seq));
  out += "{\"seq\":";
  out.append(num, static_cast<size_t>(n));
  out += ',';
  out += body;
  out += ",\"instance\":";
  out += instance_json;
  out += ",\"prev\":\"";
  out += prev_hex;
  out += "\"}";
}

std::string format_record(uint64_t seq, std::string_view body, std::string_view instance,
                          std::string_view prev_hex) {
  std::string inst;
  append_json_string(inst, instance);
  std::string line;
  line.reserve(body.size() + inst.size() + 110);
  append_record(line, seq, body, inst, prev_hex);
  return line;
}

std::optional<Fixed> read_fixed(std::string_view line) {
  constexpr std::string_view kHead = "{\"seq\":";
  constexpr std::string_view kTail = ",\"prev\":\"";
  // ,"prev":"<64>"}
  constexpr size_t kTailLen = kTail.size() + 64 + 2;
  if (!line.starts_with(kHead) || line.size() < kHead.size() + 1 + kTailLen) return std::nullopt;
  Fixed f;
  size_t i = kHead.size();
  size_t digits = 0;
  while (i < line.size() && line[i] >= '0' && line[i] <= '9' && digits < 19) {
    f.seq = f.seq * 10 + static_cast<uint64_t>(line[i] - '0');
    ++i;
    ++digits;
  }
  if (digits == 0 || line[i] != ',') return std::nullopt;
  std::string_view tail = line.substr(line.size() - kTailLen);
  if (!tail.starts_with(kTail) || !tail.ends_with("\"}")) return std::nullopt;
  f.prev = tail.substr(kTail.size(), 64);
  for (char c : f.prev) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return f;
}

namespace {
constexpr std::string_view kSigned = "claimgate-audit-checkpoint/1\n";     // keyring keys
constexpr std::string_view kSignedCp = "claimgate-audit-checkpoint/2\n";   // checkpoint keys
constexpr std::string_view kSigMember = ",\"signature\":\"";

std::span<const uint8_t> bytes(std::string_view s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Lays out the checkpoint line from `members`, signs domain + line with `key` and puts the
// signature member in just before "instance".
Result<std::string> signed_line(const crypto::PrivateKey& key, std::string_view domain,
                                uint64_t seq, const std::string& members,
                                std::string_view instance, std::string_view prev_hex) {
  std::string line = format_record(seq, members, instance, prev_hex);
  std::string payload(domain);
  payload += line;
  auto sig = key.sign(crypto::HashAlg::kSha256, bytes(payload), true);
  if (!sig) return fail(sig.take_error());
  std::string tail = ",\"instance\":";
  append_json_string(tail, instance);
  size_t at = line.size() - tail.size() - (sizeof(",\"prev\":\"") - 1) - prev_hex.size() - 2;
  std::string member(kSigMember);
  member += core::base64url_encode(*sig);
  member += '"';
  line.insert(at, member);
  return line;
}

// Empty: the line's signature verifies with `key` over domain + the line without it.
std::string signature_problem(const crypto::PublicKey& key, std::string_view domain,
                              std::string_view line, std::string_view key_name) {
  size_t at = line.rfind(kSigMember);
  if (at == std::string_view::npos) return "it carries no signature";
  size_t end = line.find('"', at + kSigMember.size());
  if (end == std::string_view::npos) return "its signature member is cut";
  auto sig =
      core::base64url_decode(line.substr(at + kSigMember.size(), end - at - kSigMember.size()));
  if (!sig) return "its signature is not base64url";
  std::string payload(domain);
  payload += line.substr(0, at);
  payload += line.substr(end + 1);
  bool ok = key.verify(crypto::HashAlg::kSha256, bytes(payload), bytes(*sig), true);
  if (!ok) return "its signature does not verify with " + std::string(key_name);
  return "";
}

}  // namespace

Result<std::string> checkpoint_line(const CheckpointKey& key, uint64_t seq, std::string_view body,
                                    std::string_view instance, std::string_view prev_hex) {
  if (!key.key) return fail(Code::kCheckpoint, "the checkpoint key has no private part");
  std::string members(body);
  members += ",\"key_class\":\"checkpoint\",\"key_id\":";
  append_json_string(members, key.id);
  members += ",\"key_sha256\":\"" + key.sha256 + "\",\"public_key\":\"" + key.spki_base64url() +
             "\",\"alg\":\"ES256\"";
  return signed_line(key.key, kSignedCp, seq, members, instance, prev_hex);
}

std::string checkpoint_problem(const CheckpointKey& key, std::string_view line) {
  return signature_problem(key.public_key, kSignedCp, line,
                           "checkpoint key " + key.id + " (sha256:" + key.sha256 + ")");
}

Result<std::string> checkpoint_line(const crypto::Keyring& keys, uint64_t seq,
                                    std::string_view body, std::string_view instance,
                                    std::string_view prev_hex) {
  const auto& key = keys.current_signing();
  std::string members(body);
  members += ",\"key_id\":";
  append_json_string(members, key.id);
  members += ",\"alg\":\"ES256\"";
  return signed_line(key.key, kSigned, seq, members, instance, prev_hex);
}

std::string checkpoint_problem(const crypto::Keyring& keys, std::string_view line,
                               std::string_view key_id) {
  const auto* key = keys.find_signing(key_id);
  if (!key) {
    return "it is signed with keyring key '" + std::string(key_id) +
           "', which the keyring does not hold (a retired key: give its directory with --keys)";
  }
  return signature_problem(key->public_key, kSigned, line,
                           "keyring key '" + std::string(key_id) + "'");
}

}  // namespace cg::audit
