#include "audit/log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "audit/checkpoint_key.h"
#include "audit/errors.h"
#include "audit/verify.h"
#include "core/encoding.h"
#include "support/deterministic_random.h"
#include "support/saml_fixture.h"

namespace cg::audit {
namespace {

using cg::testing::DeterministicRandom;
using cg::testing::test_now;
namespace fs = std::filesystem;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cg-audit-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.jsonl").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  LogOptions options() {
    LogOptions o;
    o.path = path_;
    o.instance = "gw-test";
    o.checkpoint_every = 10;
    return o;
  }
  std::unique_ptr<AuditLog> open(LogOptions o) {
    auto log = AuditLog::open(std::move(o), ckey_, clock_);
    EXPECT_TRUE(log) << (log ? "" : log.error().message);
    return log ? std::move(*log) : nullptr;
  }
  void write_events(AuditLog& log, int n, const std::string& subject = "alice") {
    for (int i = 0; i < n; ++i) {
      Event ev(type::kAuthzAllow, clock_.now(), "req-" + std::to_string(i));
      ev.str("subject", subject).str("path", "/api/x/" + std::to_string(i));
      log.append(std::move(ev), i % 3 == 0 ? Durability::kDurable : Durability::kBatched);
    }
  }
  std::vector<std::string> lines(const std::string& file) {
    std::ifstream in(file);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  void rewrite(const std::string& file, const std::vector<std::string>& ls) {
    std::ofstream out(file, std::ios::trunc);
    for (const auto& l : ls) out << l << "\n";
  }
  VerifyKeys pinned() {
    VerifyKeys k;
    k.pinned = {ckey_.sha256};
    k.keyring = &keys_;
    return k;
  }
  VerifyReport verify() {
    auto k = pinned();
    return verify_files(log_files(path_), &k);
  }

  fs::path dir_;
  std::string path_;
  DeterministicRandom random_;
  core::ManualClock clock_{test_now()};
  crypto::Keyring keys_ = crypto::Keyring::generate(test_now(), random_);
  CheckpointKey ckey_ = *CheckpointKey::generate();
};

// Records written and closed form one chain whose checkpoints verify with the keyring.
TEST_F(AuditLogTest, WritesAVerifiableChain) {
  auto log = open(options());
  write_events(*log, 25);
  log->close();
  auto rep = verify();
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  // start checkpoint + 25 events + a checkpoint after each 10 records + shutdown checkpoint.
  EXPECT_EQ(rep.first_seq, 1u);
  EXPECT_EQ(rep.last_seq, rep.records);
  EXPECT_GE(rep.checkpoints, 4u);
  EXPECT_EQ(rep.last_checkpoint_seq, rep.last_seq);  // ends with the shutdown checkpoint
  auto ls = lines(path_);
  EXPECT_NE(ls.back().find("\"reason\":\"shutdown\""), std::string::npos);
  EXPECT_NE(ls[1].find("\"subject\":\"alice\""), std::string::npos);
}

// A durable event is on disk (synced) when wait_durable returns true.
TEST_F(AuditLogTest, DurableEventIsOnDiskBeforeTheWaitEnds) {
  auto log = open(options());
  Event ev(type::kAuthzDeny, clock_.now(), "r1");
  ev.str("subject", "mallory");
  auto t = log->append(std::move(ev), Durability::kDurable);
  ASSERT_TRUE(log->wait_durable(t));
  std::ifstream in(path_);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("\"subject\":\"mallory\""), std::string::npos);
  EXPECT_GE(log->stats().syncs, 2u);
}

// Editing any field of a record breaks the link from the next record.
TEST_F(AuditLogTest, VerifyFindsAnEditedRecord) {
  auto log = open(options());
  write_events(*log, 5);
  log->close();
  auto ls = lines(path_);
  auto at = ls[3].find("alice");
  ASSERT_NE(at, std::string::npos);
  ls[3].replace(at, 5, "alicf");
  rewrite(path_, ls);
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kChain));
  EXPECT_EQ(rep.error_line, 5u);  // the record after the edited one no longer links
}

// Removing, inserting or reordering records breaks the sequence.
TEST_F(AuditLogTest, VerifyFindsRemovedInsertedAndReorderedRecords) {
  auto log = open(options());
  write_events(*log, 6);
  log->close();
  auto orig = lines(path_);

  auto removed = orig;
  removed.erase(removed.begin() + 3);
  rewrite(path_, removed);
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kSequence));
  EXPECT_NE(rep.error->message.find("missing"), std::string::npos);
  EXPECT_EQ(rep.error_line, 4u);

  auto inserted = orig;
  inserted.insert(inserted.begin() + 3, orig[2]);
  rewrite(path_, inserted);
  rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kSequence));

  auto swapped = orig;
  std::swap(swapped[2], swapped[3]);
  rewrite(path_, swapped);
  rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kSequence));
  EXPECT_EQ(rep.error_line, 3u);
}

// A chain rewritten from an edit onwards (every prev recomputed) fails at the next
// checkpoint: its signature covers the chain hash.
TEST_F(AuditLogTest, VerifyFindsARewrittenChainAtTheCheckpoint) {
  auto log = open(options());
  write_events(*log, 5);
  log->close();
  auto ls = lines(path_);
  auto at = ls[2].find("alice");
  ls[2].replace(at, 5, "eve!!");
  for (size_t i = 3; i < ls.size(); ++i) {
    std::string prev = to_hex(hash_line(ls[i - 1]));
    ls[i].replace(ls[i].size() - 66, 64, prev);
  }
  rewrite(path_, ls);
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_EQ(rep.error_line, ls.size());
  // Without keys the rewritten chain is not caught: the note says signatures were not checked.
  auto unsigned_rep = verify_files(log_files(path_), static_cast<const VerifyKeys*>(nullptr));
  EXPECT_TRUE(unsigned_rep.ok());
  EXPECT_NE(unsigned_rep.notes.back().find("not checked"), std::string::npos);
}

// A checkpoint signed by a checkpoint key other than the pinned one is refused.
TEST_F(AuditLogTest, VerifyRefusesACheckpointOfAnotherKey) {
  auto log = open(options());
  write_events(*log, 3);
  log->close();
  auto other = *CheckpointKey::generate();
  VerifyKeys k;
  k.pinned = {other.sha256};
  k.keyring = &keys_;
  auto rep = verify_files(log_files(path_), &k);
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_EQ(rep.error_line, 1u);
}

// Records removed at the start are found (the first record is not record 1).
TEST_F(AuditLogTest, VerifyFindsRecordsRemovedAtTheStart) {
  auto log = open(options());
  write_events(*log, 3);
  log->close();
  auto ls = lines(path_);
  ls.erase(ls.begin(), ls.begin() + 2);
  rewrite(path_, ls);
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kStart));
}

// A cut in the middle of the last line is reported; once the writer restarts, the torn record
// is declared by audit.recovered, the chain goes on past it, and the whole log verifies.
TEST_F(AuditLogTest, TornRecordIsReportedThenDeclaredOnRestart) {
  auto log = open(options());
  write_events(*log, 4);
  log->close();
  log.reset();
  auto size = fs::file_size(path_);
  fs::resize_file(path_, size - 40);
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kTruncated));
  EXPECT_NE(rep.error->message.find("Every whole record before it verifies"), std::string::npos);
  uint64_t whole = rep.last_seq;

  auto again = open(options());
  ASSERT_FALSE(again->notes().empty());
  write_events(*again, 2, "bob");
  again->close();
  rep = verify();
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  bool declared = false;
  for (const auto& n : rep.notes)
    declared = declared || n.find("torn by a crash") != std::string::npos;
  EXPECT_TRUE(declared);
  auto ls = lines(path_);
  EXPECT_NE(ls[whole + 1].find("\"type\":\"audit.recovered\""), std::string::npos);
  EXPECT_NE(ls[whole + 1].find("\"seq\":" + std::to_string(whole + 1)), std::string::npos);
}

// A restarted writer continues the chain where the last one stopped.
TEST_F(AuditLogTest, RestartContinuesTheChain) {
  {
    auto log = open(options());
    write_events(*log, 3);
  }
  {
    auto log = open(options());
    EXPECT_NE(log->notes().at(0).find("continuing the chain"), std::string::npos);
    write_events(*log, 3);
  }
  auto rep = verify();
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  EXPECT_EQ(rep.files, 1u);
}

// Rotation by size: numbered files, each rotated one ends with its checkpoint and the next
// starts with audit.file_start; the chain verifies across them and no record is lost or
// repeated; a rotated file cut at its end is found.
TEST_F(AuditLogTest, RotationKeepsOneChainAcrossFiles) {
  auto o = options();
  o.rotate_bytes = 4096;
  auto log = open(o);
  for (int i = 0; i < 10; ++i) {
    write_events(*log, 10);
    log->wait_durable(log->append(Event(type::kAuthzDeny, clock_.now()), Durability::kDurable));
  }
  log->close();
  auto files = log_files(path_);
  ASSERT_GE(files.size(), 3u);
  EXPECT_EQ(files.back(), path_);
  EXPECT_NE(files.front().find("audit-000000000001.jsonl"), std::string::npos);
  auto rep = verify();
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  // Every event appears exactly once.
  int allows = 0, denies = 0;
  for (const auto& f : files) {
    for (const auto& l : lines(f)) {
      allows += l.find("\"type\":\"authz.allow\"") != std::string::npos;
      denies += l.find("\"type\":\"authz.deny\"") != std::string::npos;
    }
  }
  EXPECT_EQ(allows, 100);
  EXPECT_EQ(denies, 10);
  // Dropping the first files is fine (retention): verification starts at a file_start.
  std::vector<std::string> tail(files.begin() + 1, files.end());
  auto k = pinned();
  auto partial = verify_files(tail, &k);
  ASSERT_TRUE(partial.ok()) << partial.error->message;
  // Cutting the end of a rotated file is not.
  auto first = lines(files[0]);
  first.pop_back();
  rewrite(files[0], first);
  rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kTruncated));
}

// A record is valid JSON whatever bytes a client sent.
TEST(AuditEventTest, EscapesControlBytesAndInvalidUtf8) {
  std::string out;
  append_json_string(out, "a\"b\\c\n\x01 \xC3\xA9 \xFF\xFE end");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001 \xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD end\"");
  Event ev("authz.deny", test_now(), "rid");
  ev.str("path", "/x\x80").num("n", -3).flag("f", true).list("l", {"a", "b"});
  EXPECT_EQ(ev.body().substr(0, 8), "\"time\":\"");
  EXPECT_NE(ev.body().find("\"type\":\"authz.deny\",\"request_id\":\"rid\",\"path\":\"/"
                           "x\xEF\xBF\xBD\",\"n\":-3,\"f\":true,\"l\":[\"a\",\"b\"]"),
            std::string::npos);
  // U+2028 / U+2029 as escapes: a line-oriented reader (Python's splitlines) splits on them.
  out.clear();
  append_json_string(out,
                     "a\xE2\x80\xA8"
                     "b\xE2\x80\xA9"
                     "c\xE2\x80\xA7");
  EXPECT_EQ(out, "\"a\\u2028b\\u2029c\xE2\x80\xA7\"");
  // The request's trace id follows its request id; neither when empty.
  Event traced("authz.deny", test_now(), "rid", "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(traced.body().find(
                "\"request_id\":\"rid\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""),
            std::string::npos);
  EXPECT_EQ(Event("x", test_now()).body().find("trace_id"), std::string::npos);
}

// The checkpoint key: its own signing key, apart from the keyring (docs/audit.md).
class CheckpointKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() /
        ("cg-ckey-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
         "-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.jsonl").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A log of a few records signed by `ckey_`, as the gateway writes it.
  void write_log() {
    LogOptions o;
    o.path = path_;
    o.instance = "gw-test";
    o.checkpoint_every = 4;
    auto log = AuditLog::open(o, ckey_, clock_);
    ASSERT_TRUE(log) << log.error().message;
    for (int i = 0; i < 10; ++i) {
      Event ev(type::kAuthzDeny, clock_.now(), "req-" + std::to_string(i));
      ev.str("subject", "alice").str("path", "/api/x/" + std::to_string(i));
      (*log)->append(std::move(ev), Durability::kDurable);
    }
    (*log)->close();
  }
  std::vector<std::string> lines() {
    std::ifstream in(path_);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  void rewrite(const std::vector<std::string>& ls) {
    std::ofstream out(path_, std::ios::trunc);
    for (const auto& l : ls) out << l << "\n";
  }
  static bool is_checkpoint(const std::string& l) {
    return l.find("\"type\":\"audit.checkpoint\"") != std::string::npos;
  }
  // A checkpoint's own members (time, type, reason, records), without key and signature.
  static std::string checkpoint_body(const std::string& l) {
    size_t from = l.find(',') + 1;
    size_t to = l.find(",\"key_");
    return l.substr(from, to - from);
  }
  // What an attacker does: edits record `edit` (0-based line), recomputes every later prev,
  // and re-signs every checkpoint from line `resign_from` on with `sign`.
  template <class Sign>
  std::vector<std::string> forge(size_t edit, size_t resign_from, Sign sign) {
    auto ls = lines();
    auto at = ls[edit].find("alice");
    EXPECT_NE(at, std::string::npos);
    ls[edit].replace(at, 5, "eve!!");
    for (size_t i = 0; i < ls.size(); ++i) {
      std::string prev = i == 0 ? std::string(kGenesis) : to_hex(hash_line(ls[i - 1]));
      if (i >= resign_from && is_checkpoint(ls[i])) {
        auto line = sign(i + 1, checkpoint_body(ls[i]), prev);
        EXPECT_TRUE(line) << line.error().message;
        ls[i] = *line;
      } else {
        ls[i].replace(ls[i].size() - 66, 64, prev);
      }
    }
    return ls;
  }
  VerifyKeys keys_for(std::vector<std::string> pins) {
    VerifyKeys k;
    k.pinned = std::move(pins);
    k.keyring = &keys_;
    return k;
  }
  VerifyReport verify(std::vector<std::string> pins, bool refuse_keyring = false,
                      bool legacy = false) {
    auto k = keys_for(std::move(pins));
    k.refuse_keyring = refuse_keyring;
    k.legacy_keyring = legacy;
    return verify_files(log_files(path_), &k);
  }
  VerifyReport verify_with(const VerifyKeys& k) { return verify_files(log_files(path_), &k); }
  // `n` ordinary records chained after `ls` (as whoever can write the file adds them).
  static std::vector<std::string> append_forged(std::vector<std::string> ls, int n) {
    for (int i = 0; i < n; ++i) {
      std::string prev = ls.empty() ? std::string(kGenesis) : to_hex(hash_line(ls.back()));
      uint64_t seq = ls.empty() ? 1 : read_fixed(ls.back())->seq + 1;
      Event ev(type::kAuthzAllow, test_now(), "forged-" + std::to_string(i));
      ev.str("subject", "mallory").str("path", "/api/forged");
      ls.push_back(format_record(seq, ev.body(), "gw-test", prev));
    }
    return ls;
  }
  static std::vector<std::string> read_lines(const std::string& file) {
    std::ifstream in(file);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  static void write_lines(const std::string& file, const std::vector<std::string>& ls) {
    std::ofstream out(file, std::ios::trunc);
    for (const auto& l : ls) out << l << "\n";
  }

  fs::path dir_;
  std::string path_;
  DeterministicRandom random_;
  core::ManualClock clock_{test_now()};
  crypto::Keyring keys_ = crypto::Keyring::generate(test_now(), random_);
  CheckpointKey ckey_ = *CheckpointKey::generate();
};

// A chain the gateway signed with its checkpoint key verifies with that key pinned, and the
// report says which key class signed it.
TEST_F(CheckpointKeyTest, ChainSignedWithTheCheckpointKeyVerifies) {
  write_log();
  auto rep = verify({ckey_.sha256});
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  EXPECT_GE(rep.checkpoints, 3u);
  EXPECT_EQ(rep.keyring_signed, 0u);
  ASSERT_EQ(rep.signers.size(), 1u);
  EXPECT_EQ(rep.signers.begin()->first,
            "checkpoint key " + ckey_.id + " (sha256:" + ckey_.sha256 + ")");
  // Every checkpoint names the key and carries its public key.
  auto ls = lines();
  EXPECT_NE(ls[0].find("\"key_class\":\"checkpoint\",\"key_id\":\"" + ckey_.id + "\""),
            std::string::npos);
  EXPECT_NE(ls[0].find("\"public_key\":\"" + ckey_.spki_base64url() + "\""), std::string::npos);
}

// The same chain rewritten and re-signed with the keyring's signing key (what a stolen
// cookie/JWT key allows) fails at the first re-signed checkpoint, whichever form it takes.
TEST_F(CheckpointKeyTest, ChainResignedWithTheKeyringKeyFails) {
  write_log();
  auto orig = lines();
  // As an old log's checkpoint (keyring key id, /1 signature): the log went back to keyring
  // signatures after its start checkpoint, which the writer never does.
  auto as_keyring =
      forge(2, 2, [&](uint64_t seq, const std::string& body, const std::string& prev) {
        return checkpoint_line(keys_, seq, body, "gw-test", prev);
      });
  rewrite(as_keyring);
  auto rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_NE(rep.error->message.find("keyring key " + keys_.current_signing().id), std::string::npos)
      << rep.error->message;
  EXPECT_NE(rep.error->message.find("rewritten by someone holding the keyring"), std::string::npos);
  // As a checkpoint-key checkpoint made with the keyring's key: not the pinned key.
  auto keyring_as_ckey = *CheckpointKey::from_private(keys_.current_signing().key);
  rewrite(orig);
  auto as_ckey = forge(2, 2, [&](uint64_t seq, const std::string& body, const std::string& prev) {
    return checkpoint_line(keyring_as_ckey, seq, body, "gw-test", prev);
  });
  rewrite(as_ckey);
  rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_NE(rep.error->message.find("not the pinned checkpoint key"), std::string::npos);
  // Every checkpoint re-signed, the start one too: it reads as an old log, which
  // --no-keyring-checkpoints refuses.
  rewrite(orig);
  auto all = forge(2, 0, [&](uint64_t seq, const std::string& body, const std::string& prev) {
    return checkpoint_line(keys_, seq, body, "gw-test", prev);
  });
  rewrite(all);
  rep = verify({ckey_.sha256}, /*refuse_keyring=*/true);
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_EQ(rep.error_line, 1u);
  EXPECT_NE(rep.error->message.find("--no-keyring-checkpoints"), std::string::npos);
}

// A chain re-signed with another checkpoint key fails, unless the operator pinned that key.
TEST_F(CheckpointKeyTest, ChainResignedWithAnotherCheckpointKeyFailsUnlessPinned) {
  write_log();
  auto other = *CheckpointKey::generate();
  rewrite(forge(2, 0, [&](uint64_t seq, const std::string& body, const std::string& prev) {
    return checkpoint_line(other, seq, body, "gw-test", prev);
  }));
  auto rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_EQ(rep.error_line, 1u);
  EXPECT_NE(rep.error->message.find(other.id), std::string::npos);
  EXPECT_NE(rep.error->message.find("not the pinned checkpoint key (sha256:" + ckey_.sha256),
            std::string::npos)
      << rep.error->message;
  rep = verify({other.sha256});
  EXPECT_TRUE(rep.ok()) << rep.error->message;
  // No key pinned at all: refused, saying how to pin one.
  rep = verify({});
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.error->message.find("no checkpoint key is pinned"), std::string::npos);
}

// A log written before the checkpoint key (checkpoints signed by keyring keys) still verifies
// with the keyring, and says so; without the keyring it is refused.
TEST_F(CheckpointKeyTest, OldLogSignedByTheKeyringStillVerifies) {
  std::vector<std::string> ls;
  std::string prev(kGenesis);
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    Event ev(seq % 2 ? type::kCheckpoint : type::kAuthzDeny, test_now());
    std::string line;
    if (seq % 2) {
      ev.str("reason", "count").num("records", static_cast<int64_t>(seq - 1));
      line = *checkpoint_line(keys_, seq, ev.body(), "gw-old", prev);
    } else {
      ev.str("subject", "alice");
      line = format_record(seq, ev.body(), "gw-old", prev);
    }
    prev = to_hex(hash_line(line));
    ls.push_back(line);
  }
  rewrite(ls);
  // Refused unless the operator asks for the legacy reading: whoever holds the keyring could
  // have re-signed it.
  auto rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_NE(rep.error->message.find("--legacy-keyring-checkpoints"), std::string::npos);
  rep = verify({ckey_.sha256}, false, /*legacy=*/true);
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  EXPECT_EQ(rep.keyring_signed, 3u);
  EXPECT_EQ(rep.signers.at("keyring key " + keys_.current_signing().id), 3u);
  EXPECT_NE(rep.notes.back().find("signed with keyring keys"), std::string::npos);
  // The legacy overload (a keyring only) reads it too.
  EXPECT_TRUE(verify_files(log_files(path_), &keys_).ok());
  VerifyKeys no_ring;
  no_ring.pinned = {ckey_.sha256};
  no_ring.legacy_keyring = true;
  rep = verify_files(log_files(path_), &no_ring);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.error->message.find("--keys"), std::string::npos);
}

// (a) A log with no checkpoint at all, rewritten from record 1 with a recomputed chain, fails:
// the writer signs a checkpoint when it starts, so no record may go unsigned before one.
TEST_F(CheckpointKeyTest, LogWithoutAnySignedCheckpointFails) {
  write_log();
  rewrite(append_forged({}, 6));
  // The chain itself is whole.
  ASSERT_TRUE(verify_files(log_files(path_), static_cast<const VerifyKeys*>(nullptr)).ok());
  auto rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_EQ(rep.error_line, 1u);
  EXPECT_NE(rep.error->message.find("before any signed checkpoint"), std::string::npos)
      << rep.error->message;
  // The legacy reading (older writers did not sign at file start) refuses it too.
  rep = verify({ckey_.sha256}, false, /*legacy=*/true);
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_NE(rep.error->message.find("no signed checkpoint covers any of the 6"), std::string::npos)
      << rep.error->message;
}

// (b) Records kept up to a signed checkpoint, a later shutdown checkpoint dropped, records
// edited or added after it: added after the shutdown checkpoint fails at once; with it dropped
// the rest reads as a live tail, which is reported, bounded by checkpoint_every, and refused
// for a stopped gateway (closed).
TEST_F(CheckpointKeyTest, RecordsAfterTheLastSignedCheckpointAreBounded) {
  write_log();
  auto orig = lines();
  ASSERT_TRUE(is_checkpoint(orig.back()));
  ASSERT_NE(orig.back().find("\"reason\":\"shutdown\""), std::string::npos);
  ASSERT_TRUE(verify({ckey_.sha256}).ok());
  EXPECT_EQ(verify({ckey_.sha256}).unsigned_tail, 0u);
  // Added after the shutdown checkpoint: a restarted writer signs a start checkpoint first.
  rewrite(append_forged(orig, 2));
  auto rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_EQ(rep.error_line, orig.size() + 1);
  EXPECT_NE(rep.error->message.find("follows the shutdown checkpoint"), std::string::npos)
      << rep.error->message;
  // The shutdown checkpoint dropped, the last record edited and two added.
  auto cut = orig;
  cut.pop_back();
  auto at = cut.back().find("alice");
  ASSERT_NE(at, std::string::npos);
  cut.back().replace(at, 5, "eve!!");
  size_t last_cp = 0;
  for (size_t i = 0; i < cut.size(); ++i)
    if (is_checkpoint(cut[i])) last_cp = i;
  uint64_t tail = cut.size() - 1 - last_cp + 2;
  rewrite(append_forged(cut, 2));
  // As a running gateway's log: accepted, its unsigned tail reported.
  rep = verify({ckey_.sha256});
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  EXPECT_EQ(rep.unsigned_tail, tail);
  EXPECT_NE(rep.notes.back().find("unsigned tail: " + std::to_string(tail)), std::string::npos)
      << rep.notes.back();
  // The gateway is stopped: its log must end signed.
  auto k = keys_for({ckey_.sha256});
  k.closed = true;
  rep = verify_with(k);
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kTruncated));
  EXPECT_NE(rep.error->message.find(std::to_string(tail) + " record(s) after the last signed "
                                                           "checkpoint"),
            std::string::npos)
      << rep.error->message;
  // More unsigned records than the writer leaves (it signs every checkpoint_every = 4).
  rewrite(append_forged(cut, 5));
  k = keys_for({ckey_.sha256});
  k.max_unsigned = 4;
  rep = verify_with(k);
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_NE(rep.error->message.find("more than the 4"), std::string::npos) << rep.error->message;
  // ... and the default bound (1000) is the writer's default checkpoint_every.
  rewrite(append_forged(cut, 1001));
  rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
}

// (b) across rotation: the writer signs right after each file's audit.file_start, so a current
// file whose start checkpoint was dropped (and records rewritten after it) fails; so does a
// rotated file that lost its closing rotation checkpoint.
TEST_F(CheckpointKeyTest, EveryFileIsSignedFromItsStart) {
  LogOptions o;
  o.path = path_;
  o.instance = "gw-test";
  o.checkpoint_every = 1000;
  o.rotate_bytes = 2048;
  {
    auto log = AuditLog::open(o, ckey_, clock_);
    ASSERT_TRUE(log) << log.error().message;
    for (int i = 0; i < 40; ++i) {
      Event ev(type::kAuthzDeny, clock_.now(), "req-" + std::to_string(i));
      ev.str("subject", "alice").str("path", "/api/x/" + std::to_string(i));
      (*log)->wait_durable((*log)->append(std::move(ev), Durability::kDurable));
    }
    (*log)->close();
  }
  auto files = log_files(path_);
  ASSERT_GE(files.size(), 3u);
  auto k = keys_for({ckey_.sha256});
  k.closed = true;
  auto rep = verify_with(k);
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  for (size_t i = 1; i < files.size(); ++i) {
    auto ls = read_lines(files[i]);
    ASSERT_GE(ls.size(), 2u);
    EXPECT_NE(ls[0].find("\"type\":\"audit.file_start\""), std::string::npos);
    EXPECT_TRUE(is_checkpoint(ls[1])) << files[i] << ": " << ls[1];
    EXPECT_NE(ls[1].find("\"reason\":\"file_start\""), std::string::npos);
  }
  // The current file: its file_start kept, everything after it rewritten unsigned.
  auto cur = read_lines(path_);
  write_lines(path_, append_forged({cur[0]}, 3));
  rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_EQ(rep.error_file, path_);
  EXPECT_EQ(rep.error_line, 2u);
  EXPECT_NE(rep.error->message.find("before any signed checkpoint"), std::string::npos)
      << rep.error->message;
  // Only the file_start left: no signed checkpoint in the file at all.
  write_lines(path_, {cur[0]});
  rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  write_lines(path_, cur);
  ASSERT_TRUE(verify({ckey_.sha256}).ok());
  // A rotated file without its rotation checkpoint.
  auto first = read_lines(files[0]);
  write_lines(files[0], {first.begin(), first.end() - 1});
  rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error_file, files[0]);
}

// A running gateway's log verifies: its records after the last checkpoint are the live tail,
// reported; once it stops, the tail is signed and `closed` holds.
TEST_F(CheckpointKeyTest, RunningGatewaysLogVerifiesWithItsTail) {
  LogOptions o;
  o.path = path_;
  o.instance = "gw-test";
  o.checkpoint_every = 100;
  auto log = AuditLog::open(o, ckey_, clock_);
  ASSERT_TRUE(log) << log.error().message;
  AuditLog::Ticket t = 0;
  for (int i = 0; i < 7; ++i) {
    Event ev(type::kAuthzDeny, clock_.now(), "req-" + std::to_string(i));
    ev.str("subject", "alice");
    t = (*log)->append(std::move(ev), Durability::kDurable);
  }
  ASSERT_TRUE((*log)->wait_durable(t));
  auto rep = verify({ckey_.sha256});
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  EXPECT_EQ(rep.unsigned_tail, 7u);
  auto k = keys_for({ckey_.sha256});
  k.closed = true;
  EXPECT_FALSE(verify_with(k).ok());
  (*log)->close();
  rep = verify_with(k);
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  EXPECT_EQ(rep.unsigned_tail, 0u);
  // Restarted: the start checkpoint follows the shutdown one, and the chain goes on.
  auto again = AuditLog::open(o, ckey_, clock_);
  ASSERT_TRUE(again) << again.error().message;
  (*again)->close();
  EXPECT_TRUE(verify_with(k).ok());
}

// (c) Every checkpoint re-signed with the keyring (whoever holds the cookie/JWT key): refused
// by default with the checkpoint key pinned; only the explicit legacy reading accepts it, and
// says that the keyring could have re-signed it.
TEST_F(CheckpointKeyTest, ChainResignedEntirelyWithTheKeyringFailsByDefault) {
  write_log();
  rewrite(forge(2, 0, [&](uint64_t seq, const std::string& body, const std::string& prev) {
    return checkpoint_line(keys_, seq, body, "gw-test", prev);
  }));
  auto rep = verify({ckey_.sha256});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error->code, static_cast<int>(Code::kCheckpoint));
  EXPECT_EQ(rep.error_line, 1u);
  EXPECT_NE(rep.error->message.find("--legacy-keyring-checkpoints"), std::string::npos)
      << rep.error->message;
  rep = verify({ckey_.sha256}, false, /*legacy=*/true);
  ASSERT_TRUE(rep.ok()) << rep.error->message;
  EXPECT_GT(rep.keyring_signed, 0u);
  EXPECT_NE(rep.notes.back().find("could have re-signed"), std::string::npos);
  // --no-keyring-checkpoints wins over the legacy flag.
  rep = verify({ckey_.sha256}, /*refuse_keyring=*/true, /*legacy=*/true);
  EXPECT_FALSE(rep.ok());
}

// The key file is created 0600 (with its public key beside it) on the first open, read back
// the same on the next, and can be pinned by file or by fingerprint.
TEST_F(CheckpointKeyTest, KeyFileIsCreatedPrivateAndPinnable) {
  std::string file = (dir_ / "keys" / "audit-checkpoint.pem").string();
  bool created = false;
  auto k = CheckpointKey::load_or_create(file, &created);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = CheckpointKey::load_or_create(file, &created);
  ASSERT_TRUE(again);
  EXPECT_FALSE(created);
  EXPECT_EQ(again->sha256, k->sha256);
  EXPECT_EQ(*checkpoint_pin(file), k->sha256);
  EXPECT_EQ(*checkpoint_pin(file + ".pub"), k->sha256);
  EXPECT_EQ(*checkpoint_pin("sha256:" + k->sha256), k->sha256);
  EXPECT_FALSE(checkpoint_pin("sha256:abc"));
  EXPECT_EQ(k->id, "cp-" + k->sha256.substr(0, 16));
  EXPECT_EQ(crypto::sha256(k->spki_der), crypto::sha256(*core::base64_decode(k->public_pem().substr(
                                             27, k->public_pem().size() - 27 - 25))));
  // A key file others can read is refused: whoever reads it can re-sign the log.
  ::chmod(file.c_str(), 0640);
  auto loose = CheckpointKey::load_or_create(file);
  ASSERT_FALSE(loose);
  EXPECT_NE(loose.error().message.find("chmod 600"), std::string::npos);
  // The default place: beside the log, not in the keyring.
  EXPECT_EQ(default_checkpoint_key_path("/var/lib/claimgate/audit/audit.jsonl"),
            "/var/lib/claimgate/audit/audit-checkpoint.pem");
}

}  // namespace
}  // namespace cg::audit
