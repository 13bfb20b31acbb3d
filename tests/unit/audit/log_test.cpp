#include "audit/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "audit/errors.h"
#include "audit/verify.h"
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
    auto log = AuditLog::open(std::move(o), keys_, clock_);
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
  VerifyReport verify() { return verify_files(log_files(path_), &keys_); }

  fs::path dir_;
  std::string path_;
  DeterministicRandom random_;
  core::ManualClock clock_{test_now()};
  crypto::Keyring keys_ = crypto::Keyring::generate(test_now(), random_);
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
  auto unsigned_rep = verify_files(log_files(path_), nullptr);
  EXPECT_TRUE(unsigned_rep.ok());
  EXPECT_NE(unsigned_rep.notes.back().find("not checked"), std::string::npos);
}

// A checkpoint signed by a key the keyring does not hold is refused.
TEST_F(AuditLogTest, VerifyRefusesACheckpointOfAnotherKey) {
  auto log = open(options());
  write_events(*log, 3);
  log->close();
  DeterministicRandom other_random(7);
  auto other = crypto::Keyring::generate(test_now(), other_random);
  auto rep = verify_files(log_files(path_), &other);
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
  auto partial = verify_files(tail, &keys_);
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
}

}  // namespace
}  // namespace cg::audit
