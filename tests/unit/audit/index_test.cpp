#include "audit/index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "audit/log.h"
#include "audit/report.h"
#include "audit/sinks.h"
#include "audit/verify.h"
#include "core/time.h"
#include "support/deterministic_random.h"
#include "support/saml_fixture.h"

namespace cg::audit {
namespace {

using cg::testing::DeterministicRandom;
using cg::testing::test_now;
namespace fs = std::filesystem;

class AuditIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cg-audit-index-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    opt_.path = (dir_ / "audit.jsonl").string();
    opt_.instance = "gw-1";
    opt_.rotate_bytes = 4096;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A small scripted history: alice signs in and is denied a deployment, bob deploys, a
  // sign-in fails twice with one code.
  void scenario(AuditLog& log) {
    Event in(type::kLoginSuccess, clock_.now(), "r1");
    in.str("subject", "alice")
        .str("idp", "corp")
        .json("claims", R"({"groups":["ml-vision-ds"]})")
        .json(
            "role_grants",
            R"([{"project":"vision","role":"data-scientist","claim":"groups","value":"ml-vision-ds","binding":"bindings[0]"}])");
    log.append(std::move(in), Durability::kDurable);
    Event created(type::kSessionCreated, clock_.now(), "r1");
    created.str("subject", "alice");
    log.append(std::move(created), Durability::kDurable);
    clock_.advance(std::chrono::hours(25));
    Event deny(type::kAuthzDeny, clock_.now(), "r2", "4bf92f3577b34da6a3ce929d0e0e4736");
    deny.str("subject", "alice")
        .str("method", "POST")
        .str("path", "/api/projects/vision/deployments")
        .str("reason", "permission")
        .str("rule", "rules[3]")
        .str("project", "vision")
        .str("permission", "models:deploy");
    log.append(std::move(deny), Durability::kDurable);
    Event allow(type::kAuthzAllow, clock_.now(), "r3");
    allow.str("subject", "=bob,cmd")
        .str("method", "POST")
        .str("path", "/api/projects/vision/deployments")
        .str("project", "vision")
        .str("permission", "models:deploy");
    log.append(std::move(allow), Durability::kBatched);
    for (int i = 0; i < 2; ++i) {
      Event f(type::kLoginFailure, clock_.now(), "r4");
      f.str("code", "conditions.audience")
          .str("message", "<audience> mismatch")
          .str("issuer", "idp");
      log.append(std::move(f), Durability::kDurable);
    }
    for (int i = 0; i < 60; ++i) {  // enough to rotate
      Event a(type::kAuthzAllow, clock_.now(), "bulk");
      a.str("subject", "carol").str("method", "GET").str("path", "/api/projects/vision/jobs");
      log.append(std::move(a), Durability::kBatched);
    }
  }

  fs::path dir_;
  LogOptions opt_;
  DeterministicRandom random_;
  core::ManualClock clock_{test_now()};
  crypto::Keyring keys_ = crypto::Keyring::generate(test_now(), random_);
  CheckpointKey ckey_ = *CheckpointKey::generate();
  VerifyKeys vkeys_{{ckey_.sha256}, &keys_, false};
};

// The index reads each record once, recognises a rotated file under its new name, and
// searches by subject, type prefix and time.
TEST_F(AuditIndexTest, IndexesIncrementallyAndSearches) {
  auto log = AuditLog::open(opt_, ckey_, clock_);
  ASSERT_TRUE(log);
  scenario(**log);
  (*log)->wait_durable((*log)->append(Event(type::kAuthzDeny, clock_.now()), Durability::kDurable));
  auto idx = Index::open((dir_ / "index.db").string());
  ASSERT_TRUE(idx);
  auto first = (*idx)->update(log_files(opt_.path));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_GT(first->new_records, 60u);
  // More records and a rotation later, only the new ones are added.
  for (int i = 0; i < 40; ++i) {
    Event a(type::kAuthzAllow, clock_.now(), "more");
    a.str("subject", "dave");
    (*log)->append(std::move(a), Durability::kBatched);
  }
  (*log)->close();
  auto second = (*idx)->update(log_files(opt_.path));
  ASSERT_TRUE(second);
  auto total = (*idx)->rows("SELECT COUNT(*), COUNT(DISTINCT seq) FROM events");
  ASSERT_TRUE(total);
  EXPECT_EQ((*total)[0][0], (*total)[0][1]);  // nothing twice
  auto rep = verify_files(log_files(opt_.path), &vkeys_);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(std::to_string(rep.records), (*total)[0][0]);  // nothing missing
  auto third = (*idx)->update(log_files(opt_.path));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->new_records, 0u);

  Query q;
  q.subject = "alice";
  q.type = "authz.";
  auto found = (*idx)->search(q);
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_NE((*found)[0].find("models:deploy"), std::string::npos);
  q = Query{};
  q.type = "login.*";
  q.since = test_now() + std::chrono::hours(24);
  found = (*idx)->search(q);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->size(), 2u);  // the failures; the success is a day earlier
  auto heads = (*idx)->heads();
  ASSERT_TRUE(heads);
  ASSERT_EQ(heads->size(), 1u);
  EXPECT_EQ((*heads)[0].seq, rep.last_seq);
  EXPECT_EQ((*heads)[0].hash, rep.last_hash);
}

// The report holds what a reviewer asks for, and its CSV and HTML forms are safe to open.
TEST_F(AuditIndexTest, ReportListsRolesDenialsFailuresAndPrivilegedActions) {
  auto log = AuditLog::open(opt_, ckey_, clock_);
  ASSERT_TRUE(log);
  scenario(**log);
  (*log)->close();
  auto idx = Index::open((dir_ / "index.db").string());
  ASSERT_TRUE(idx);
  ASSERT_TRUE((*idx)->update(log_files(opt_.path)));
  auto files = log_files(opt_.path);
  auto chain = verify_files(files, &vkeys_);
  auto r = build_report(**idx, test_now() - std::chrono::hours(1),
                        clock_.now() + std::chrono::hours(1), chain, files);
  ASSERT_TRUE(r) << r.error().message;
  const auto& j = *r;
  EXPECT_TRUE(j["chain"]["intact"].get<bool>());
  ASSERT_EQ(j["users"].size(), 1u);
  EXPECT_EQ(j["users"][0]["subject"], "alice");
  EXPECT_EQ(j["users"][0]["roles"], "data-scientist@vision");
  ASSERT_EQ(j["role_grants"].size(), 1u);
  EXPECT_EQ(j["role_grants"][0]["claim"], "groups");
  EXPECT_EQ(j["role_grants"][0]["value"], "ml-vision-ds");
  ASSERT_EQ(j["denials"].size(), 1u);
  EXPECT_EQ(j["denials"][0]["permission"], "models:deploy");
  // The request's trace id, for finding its operator log lines.
  EXPECT_EQ(j["denials"][0]["request_id"], "r2");
  EXPECT_EQ(j["denials"][0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  ASSERT_EQ(j["privileged_actions"].size(), 1u);
  EXPECT_EQ(j["privileged_actions"][0]["subject"], "=bob,cmd");
  ASSERT_EQ(j["failed_sign_ins"].size(), 1u);
  EXPECT_EQ(j["failed_sign_ins"][0]["count"], 2);
  EXPECT_EQ(j["sessions"][0]["created"], 1);
  ASSERT_EQ(j["per_day"].size(), 2u);
  EXPECT_EQ(j["per_day"][1]["denials"], 1);
  EXPECT_EQ(j["per_day"][1]["allows"], 61);

  std::string csv = report_csv(j);
  EXPECT_NE(csv.find("\"'=bob,cmd\""), std::string::npos);  // no formula, comma quoted
  EXPECT_NE(csv.find("section,denials"), std::string::npos);
  std::string html = report_html(j);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("&lt;audience&gt; mismatch"), std::string::npos);
  EXPECT_EQ(html.find("<audience>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("Chain intact"), std::string::npos);
}

// Syslog copies are RFC 5424: PRI (facility*8 + severity), version 1, the record's time,
// host, app, procid, the event type as MSGID, no structured data, then the JSON record.
TEST(AuditSyslogTest, FormatsRfc5424) {
  SyslogOptions o;
  o.address = "udp://127.0.0.1:9";  // discard; nothing needs to listen
  o.facility = syslog_facility("authpriv");
  o.hostname = "gw1";
  auto s = SyslogSink::open(o);
  ASSERT_TRUE(s) << s.error().message;
  std::string line =
      R"({"seq":7,"time":"2026-11-23T10:00:00.000001Z","type":"authz.deny","subject":"a","instance":"x","prev":"00"})";
  std::string m = (*s)->format(line);
  EXPECT_EQ(m.substr(0, m.find(" - ")), "<84>1 2026-11-23T10:00:00.000001Z gw1 claimgate " +
                                            std::to_string(::getpid()) + " authz.deny");
  EXPECT_EQ(m.substr(m.find(" - ") + 3), line);
  EXPECT_EQ(syslog_facility("local3"), 19);
  EXPECT_EQ(syslog_facility("kern"), -1);
}

// Relative and absolute times for --since.
TEST(AuditIndexTimeTest, ParsesSince) {
  auto now = test_now();
  EXPECT_EQ(*parse_since("2d", now), now - std::chrono::hours(48));
  auto d = parse_since("2026-11-01", now);
  ASSERT_TRUE(d);
  EXPECT_EQ(core::format_datetime(*d), "2026-11-01T00:00:00Z");
  EXPECT_FALSE(parse_since("yesterday", now));
}

}  // namespace
}  // namespace cg::audit
