#include "audit/verify.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "audit/chain.h"
#include "audit/errors.h"
#include "audit/event.h"
#include "core/encoding.h"

namespace cg::audit {
namespace {

using json = nlohmann::json;

// The event type without a full parse: records start {"seq":N,"time":"...","type":"...".
std::string_view type_of(std::string_view line) {
  size_t at = line.find(",\"type\":\"");
  if (at == std::string_view::npos || at > 80) return {};
  at += 9;
  size_t end = line.find('"', at);
  if (end == std::string_view::npos) return {};
  return line.substr(at, end - at);
}

std::string short_fp(const std::string& hex) { return "sha256:" + hex; }

struct Walker {
  const VerifyKeys* keys;
  const std::vector<uint64_t>& capture;
  VerifyReport rep;
  std::optional<std::string> prev;  // hex hash of the last record, once known
  std::optional<uint64_t> next_seq;
  std::string last_type;
  std::string last_reason;
  uint64_t checkpoint_key_seq = 0;  // the first checkpoint signed by a checkpoint key
  uint64_t shutdown_seq = 0;  // the last checkpoint was a shutdown one, at this record

  // The writer signs a checkpoint when it starts a file; logs written before the checkpoint
  // key (accepted with legacy_keyring) did not at rotation.
  bool strict() const { return keys && (!keys->legacy_keyring || keys->refuse_keyring); }

  // Empty: the checkpoint verifies with a key the operator pinned (or, for an older log, with
  // the keyring); otherwise why not.
  std::string checkpoint_check(const json& rec, std::string_view line, uint64_t seq) {
    std::string cls = rec.value("key_class", "keyring");
    std::string key_id = rec.value("key_id", "");
    if (cls == "checkpoint") {
      auto der = core::base64url_decode(rec.value("public_key", ""));
      if (!der) return "its public_key is not base64url";
      auto key = CheckpointKey::from_spki_der(*der);
      if (!key) return "its public_key: " + key.error().message;
      if (key->sha256 != rec.value("key_sha256", "") || key->id != key_id) {
        return "it names key " + key_id + " (" + short_fp(rec.value("key_sha256", "")) +
               ") but carries the public key " + key->id + " (" + short_fp(key->sha256) + ")";
      }
      std::string who = "checkpoint key " + key->id + " (" + short_fp(key->sha256) + ")";
      if (keys->pinned.empty()) {
        return "it is signed with " + who +
               ", and no checkpoint key is pinned: give the key this gateway printed at start "
               "with --checkpoint-key FILE|sha256:HEX (or --config)";
      }
      if (std::find(keys->pinned.begin(), keys->pinned.end(), key->sha256) == keys->pinned.end()) {
        std::string pins;
        for (const auto& p : keys->pinned) pins += (pins.empty() ? "" : ", ") + short_fp(p);
        return "it is signed with " + who + ", which is not the pinned checkpoint key (" + pins +
               "): the chain was re-signed by another key. If that key is this log's own, pin "
               "it with --checkpoint-key";
      }
      std::string why = checkpoint_problem(*key, line);
      if (!why.empty()) return why;
      if (!checkpoint_key_seq) checkpoint_key_seq = seq;
      ++rep.signers[who];
      return "";
    }
    if (cls != "keyring") return "its key_class '" + cls + "' is neither checkpoint nor keyring";
    std::string who = "keyring key " + key_id;
    if (checkpoint_key_seq) {
      return "it is signed with " + who + " (the cookie and JWT signing keyring), but the " +
             "checkpoint at record " + std::to_string(checkpoint_key_seq) +
             " was signed with the log's checkpoint key: a log never goes back to keyring "
             "signatures, so the chain from here on was rewritten by someone holding the keyring";
    }
    if (keys->refuse_keyring) {
      return "it is signed with " + who +
             " (the cookie and JWT signing keyring), and --no-keyring-checkpoints refuses those";
    }
    if (!keys->legacy_keyring) {
      return "it is signed with " + who +
             " (the cookie and JWT signing keyring), not with the pinned checkpoint key: "
             "whoever holds the keyring, which every request uses, can re-sign a whole log "
             "that way, so such checkpoints are refused. A log written before the audit "
             "checkpoint key verifies with --legacy-keyring-checkpoints (and --keys DIR)";
    }
    if (!keys->keyring) {
      return "it is signed with " + who +
             " (a log written before the checkpoint key): give the keyring with --keys DIR or "
             "--config to verify it";
    }
    std::string why = checkpoint_problem(*keys->keyring, line, key_id);
    if (!why.empty()) return why;
    ++rep.signers[who];
    ++rep.keyring_signed;
    return "";
  }

  bool problem(Code c, const std::string& file, uint64_t line, std::string msg) {
    rep.error = make_error(c, std::move(msg));
    rep.error_file = file;
    rep.error_line = line;
    return false;
  }

  // One file; false at the first problem.
  bool walk(const std::string& file, bool last_file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return problem(Code::kOpen, file, 0, "cannot read " + file);
    ++rep.files;
    std::string line;
    uint64_t n = 0;
    std::optional<std::pair<uint64_t, std::string>> torn;  // line number, its bytes
    bool first_in_file = true;
    bool declared_torn = false;
    uint64_t file_records = 0, file_checkpoints = 0;
    while (std::getline(in, line)) {
      ++n;
      bool whole = !in.eof();  // getline stopped at a newline
      rep.bytes += line.size() + (whole ? 1 : 0);
      if (!whole) {
        return problem(Code::kTruncated, file, n,
                       "the file ends inside a record (" + std::to_string(line.size()) +
                           " bytes with no newline): the writer stopped mid-write, or the file "
                           "was cut. Every whole record before it verifies" +
                           (rep.records ? " (records " + std::to_string(rep.first_seq) + " to " +
                                              std::to_string(rep.last_seq) + ")"
                                        : std::string()) +
                           "; a restarted gateway declares the torn record and goes on");
      }
      auto fixed = read_fixed(line);
      std::string_view type = fixed ? type_of(line) : std::string_view();
      // The log's own records are read in full (parsed once); others only checked as JSON.
      bool own = type.starts_with("audit.");
      json rec;
      if (own) rec = json::parse(line, nullptr, false);
      if (!fixed || (own ? rec.is_discarded() : !json::accept(line))) {
        if (torn) {
          return problem(Code::kBadRecord, file, torn->first,
                         "line " + std::to_string(torn->first) +
                             " is not an audit record (not JSON, or seq/prev missing)");
        }
        torn = {n, line};
        continue;
      }
      if (torn) {
        bool declared = type == type::kRecovered && rec.is_object() &&
                        rec.value("torn_sha256", "") == to_hex(hash_line(torn->second)) &&
                        rec.value("torn_bytes", -1) == static_cast<int64_t>(torn->second.size());
        if (!declared) {
          return problem(Code::kBadRecord, file, torn->first,
                         "line " + std::to_string(torn->first) +
                             " is not an audit record (not JSON, or seq/prev missing), and no "
                             "audit.recovered record declares it");
        }
        rep.notes.push_back(file + ":" + std::to_string(torn->first) + ": a record torn by a " +
                            "crash (" + std::to_string(torn->second.size()) +
                            " bytes), declared by audit.recovered at record " +
                            std::to_string(fixed->seq));
        torn.reset();
        declared_torn = true;
      }
      if (next_seq && fixed->seq != *next_seq) {
        std::string what =
            fixed->seq > *next_seq
                ? std::to_string(fixed->seq - *next_seq) + " record(s) are missing (removed)"
                : "a record is repeated, inserted or out of order";
        return problem(Code::kSequence, file, n,
                       "record " + std::to_string(fixed->seq) + " follows record " +
                           std::to_string(*next_seq - 1) + ": " + what);
      }
      if (!next_seq) {
        rep.first_seq = fixed->seq;
        if (fixed->seq == 1) {
          if (fixed->prev != kGenesis) {
            return problem(Code::kChain, file, n,
                           "record 1 links to " + std::string(fixed->prev) +
                               " instead of the chain's start (64 zeros)");
          }
        } else if (type != type::kFileStart) {
          return problem(Code::kStart, file, n,
                         "the chain starts at record " + std::to_string(fixed->seq) +
                             ", which is not the start of a rotated file: records before it "
                             "were removed (or give the earlier files too)");
        } else {
          rep.notes.push_back("verified from record " + std::to_string(fixed->seq) +
                              " (the start of " + file + "); earlier files were not given");
        }
      } else if (fixed->prev != *prev) {
        return problem(Code::kChain, file, n,
                       "record " + std::to_string(fixed->seq) + " links to " +
                           std::string(fixed->prev.substr(0, 16)) + "..., but record " +
                           std::to_string(fixed->seq - 1) + " hashes to " + prev->substr(0, 16) +
                           "...: the record before this line was edited, or this one inserted");
      }
      // A file after the first starts with audit.file_start (or, when the writer stopped while
      // writing that very record, with the audit.recovered that declares it).
      if (first_in_file && rep.files > 1 && type != type::kFileStart && !declared_torn) {
        return problem(Code::kStart, file, n,
                       "this file does not start with audit.file_start: it is not the file "
                       "that follows the previous one, or its start was removed");
      }
      // Records no signed checkpoint may precede (see verify.h).
      bool preamble = type == type::kRecovered || type == type::kFileStart;
      if (keys && type != type::kCheckpoint && !preamble) {
        if (shutdown_seq) {
          return problem(Code::kCheckpoint, file, n,
                         "record " + std::to_string(fixed->seq) +
                             " follows the shutdown checkpoint at record " +
                             std::to_string(shutdown_seq) +
                             " without the signed start checkpoint a restarted gateway writes "
                             "first: records were added after the gateway stopped");
        }
        if (strict() && file_checkpoints == 0) {
          return problem(Code::kCheckpoint, file, n,
                         "record " + std::to_string(fixed->seq) +
                             " comes before any signed checkpoint in this file, but the writer "
                             "signs one when it starts a file (right after audit.file_start): "
                             "the file was written or rewritten without the checkpoint key, or "
                             "its start checkpoint was removed");
        }
      }
      if (type == type::kCheckpoint) {
        if (!rec.is_object()) {
          return problem(Code::kBadRecord, file, n, "a checkpoint that is not a JSON object");
        }
        if (keys) {
          std::string why = checkpoint_check(rec, line, fixed->seq);
          if (!why.empty()) {
            return problem(Code::kCheckpoint, file, n,
                           "checkpoint at record " + std::to_string(fixed->seq) + ": " + why);
          }
        }
        ++rep.checkpoints;
        ++file_checkpoints;
        rep.last_checkpoint_seq = fixed->seq;
        last_reason = rec.value("reason", "");
        if (keys && shutdown_seq && last_reason != "start") {
          return problem(Code::kCheckpoint, file, n,
                         "checkpoint at record " + std::to_string(fixed->seq) + " (" +
                             last_reason + ") follows the shutdown checkpoint at record " +
                             std::to_string(shutdown_seq) +
                             ", but a restarted gateway signs a start checkpoint first");
        }
        shutdown_seq = last_reason == "shutdown" ? fixed->seq : 0;
        rep.instance = rec.value("instance", "");
      }
      last_type = std::string(type);
      prev = to_hex(hash_line(line));
      if (std::find(capture.begin(), capture.end(), fixed->seq) != capture.end())
        rep.captured[fixed->seq] = *prev;
      next_seq = fixed->seq + 1;
      rep.last_seq = fixed->seq;
      rep.last_hash = *prev;
      ++rep.records;
      ++file_records;
      first_in_file = false;
    }
    if (torn) {
      return problem(Code::kBadRecord, file, torn->first,
                     "line " + std::to_string(torn->first) +
                         " is not an audit record (not JSON, or seq/prev missing)");
    }
    if (strict() && file_records > 0 && file_checkpoints == 0) {
      return problem(Code::kCheckpoint, file, n,
                     "no signed checkpoint in this file covers its " +
                         std::to_string(file_records) +
                         " record(s), but the writer signs one when it starts a file");
    }
    if (!last_file && !(last_type == type::kCheckpoint && last_reason == "rotate")) {
      return problem(Code::kTruncated, file, n,
                     "a rotated file must end with its rotation checkpoint; this one ends at "
                     "record " +
                         std::to_string(rep.last_seq) +
                         ": records were removed from "
                         "its end");
    }
    return true;
  }
};

}  // namespace

VerifyReport verify_files(const std::vector<std::string>& files, const crypto::Keyring* keyring,
                          const std::vector<uint64_t>& capture) {
  if (!keyring) return verify_files(files, static_cast<const VerifyKeys*>(nullptr), capture);
  VerifyKeys k;
  k.keyring = keyring;
  k.legacy_keyring = true;
  return verify_files(files, &k, capture);
}

VerifyReport verify_files(const std::vector<std::string>& files, const VerifyKeys* keys,
                          const std::vector<uint64_t>& capture) {
  auto started = std::chrono::steady_clock::now();
  Walker w{keys, capture, {}, {}, {}, {}, {}, 0, 0};
  for (size_t i = 0; i < files.size(); ++i) {
    if (!w.walk(files[i], i + 1 == files.size())) break;
  }
  if (w.rep.ok()) {
    const uint64_t tail = w.rep.last_checkpoint_seq ? w.rep.last_seq - w.rep.last_checkpoint_seq
                                                    : w.rep.records;
    auto fail_end = [&](Code c, std::string msg) {
      w.rep.error = make_error(c, std::move(msg));
      w.rep.error_file = files.empty() ? std::string() : files.back();
    };
    if (w.rep.records == 0) {
      w.rep.error = make_error(Code::kTruncated, "no records at all");
    } else if (keys) {
      w.rep.unsigned_tail = tail;
      std::string after = w.rep.last_checkpoint_seq
                              ? "after the last signed checkpoint (record " +
                                    std::to_string(w.rep.last_checkpoint_seq) + ")"
                              : "and no checkpoint at all";
      std::string n_recs = std::to_string(tail) + " record(s) " + after;
      if (!w.rep.last_checkpoint_seq) {
        fail_end(Code::kCheckpoint,
                 "no signed checkpoint covers any of the " + std::to_string(tail) +
                     " record(s): the writer signs one when it starts, so this log was written "
                     "or rewritten without the checkpoint key");
      } else if (tail > 0 && w.shutdown_seq) {
        fail_end(Code::kCheckpoint,
                 n_recs + " follow its shutdown checkpoint without the signed start checkpoint "
                          "a restarted gateway writes first");
      } else if (tail > 0 && keys->closed) {
        fail_end(Code::kTruncated,
                 n_recs + " are not signed, but a stopped gateway's log ends with its signed "
                          "shutdown checkpoint (--closed): the checkpoint was removed and "
                          "records edited or added after it, or the gateway crashed");
      } else if (keys->max_unsigned && tail > keys->max_unsigned) {
        fail_end(Code::kCheckpoint,
                 n_recs + " are not signed, more than the " +
                     std::to_string(keys->max_unsigned) +
                     " a running writer leaves unsigned (it signs every checkpoint_every "
                     "records): checkpoints were removed and the records after them rewritten");
      } else if (tail > 0) {
        w.rep.notes.push_back(
            "unsigned tail: " + n_recs +
            " are chained but not yet signed: the live tail of a running gateway (at most " +
            (keys->max_unsigned ? std::to_string(keys->max_unsigned) : std::string("any")) +
            " accepted; give --closed when the gateway is stopped)");
      }
    } else if (w.rep.last_checkpoint_seq < w.rep.last_seq) {
      w.rep.notes.push_back(
          std::to_string(w.rep.last_seq - w.rep.last_checkpoint_seq) +
          " record(s) after the last checkpoint (record " +
          std::to_string(w.rep.last_checkpoint_seq) +
          ") are chained but not yet signed: the gateway is running, or stopped without its "
          "shutdown checkpoint");
    }
    if (!keys) {
      w.rep.notes.push_back(
          "checkpoint signatures were not checked (no checkpoint key or keyring given)");
    } else if (w.rep.keyring_signed) {
      w.rep.notes.push_back(
          std::to_string(w.rep.keyring_signed) +
          " checkpoint(s) are signed with keyring keys (a log written before the audit "
          "checkpoint key): whoever holds the keyring, which every request uses, could have "
          "re-signed them");
    }
  }
  w.rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::move(w.rep);
}

}  // namespace cg::audit
