#include "jobs/service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "jobs/job_token.h"
#include "session/sqlite_store.h"
#include "support/deterministic_random.h"
#include "support/saml_fixture.h"

namespace cg::jobs {
namespace {

using cg::testing::DeterministicRandom;
using cg::testing::test_now;
using nlohmann::json;
using std::chrono::seconds;

// A stand-in for a cluster: records what it was asked and reports what the test says.
class RecordingExecutor final : public Executor {
 public:
  struct State {
    std::vector<std::string> started, cancelled;
    std::map<std::string, Probe> probes;  // by job id; absent: running
  };
  explicit RecordingExecutor(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::string name() const override { return "local"; }
  bool runs_at_once() const override { return true; }
  Result<std::string> start(const Launch& l) override {
    s_->started.push_back(l.job->id);
    return "ref-" + l.job->id;
  }
  Status cancel(const Job& j, seconds) override {
    s_->cancelled.push_back(j.id);
    return {};
  }
  Probe probe(const Job& j, const std::string&) override {
    auto it = s_->probes.find(j.id);
    return it == s_->probes.end() ? Probe{} : it->second;
  }

 private:
  std::shared_ptr<State> s_;
};

Caller person(std::string subject, std::set<std::string> perms) {
  Caller c;
  c.subject = std::move(subject);
  c.permits = [perms](std::string_view p, std::string_view project) {
    return project == "vision" && perms.contains(std::string(p));
  };
  return c;
}

class JobsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() /
        ("cg-jobs-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
         "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(crypto::Keyring::add_keys((dir_ / "keys").string(), test_now(), rnd_));
    keys_ = std::make_unique<crypto::Keyring>(*crypto::Keyring::load((dir_ / "keys").string()));
    open();
  }
  void TearDown() override {
    svc_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open() {
    svc_.reset();
    auto db = session::SqliteDatabase::open((dir_ / "jobs.db").string());
    ASSERT_TRUE(db);
    auto store = JobStore::open(*db);
    ASSERT_TRUE(store);
    ServiceOptions o;
    o.state_dir = (dir_ / "jobs").string();
    o.issuer = "https://gw";
    o.token_ttl = seconds(60);
    svc_ = std::make_unique<JobsService>(
        o, *keys_, clock_, rnd_, std::move(*store), std::make_unique<RecordingExecutor>(exec_),
        [this](audit::Event e) { background_.emplace_back(e.type()); });
    ASSERT_TRUE(svc_->start(/*monitor=*/false));
  }
  std::string submit_ok(const Caller& c) {
    auto r = svc_->submit(c, "vision", R"({"command":["python3","train.py"]})", "req-1");
    EXPECT_EQ(r.status, 201u) << r.body;
    return json::parse(r.body)["id"].get<std::string>();
  }
  std::string file(const std::string& id, const char* name) {
    return *core::read_file(svc_->job_dir(id) + "/" + name);
  }
  std::filesystem::path dir_;
  DeterministicRandom rnd_;
  core::ManualClock clock_{test_now()};
  std::unique_ptr<crypto::Keyring> keys_;
  std::shared_ptr<RecordingExecutor::State> exec_ = std::make_shared<RecordingExecutor::State>();
  std::unique_ptr<JobsService> svc_;
  std::vector<std::string> background_;
  Caller alice_ = person("alice", {"jobs:submit", "jobs:read", "jobs:cancel", "logs:read"});
  Caller bob_ = person("bob", {"jobs:read", "jobs:cancel-any"});
  Caller carol_ = person("carol", {"jobs:read", "jobs:cancel"});
};

// Submission needs jobs:submit in the project; the job gets a token for its nodes only.
TEST_F(JobsServiceTest, SubmitNeedsThePermissionAndMintsABoundToken) {
  auto denied = svc_->submit(bob_, "vision", R"({"command":["x"]})", "r");
  EXPECT_EQ(denied.status, 403u);
  EXPECT_NE(denied.body.find("needs jobs:submit"), std::string::npos);
  EXPECT_EQ(svc_->submit(alice_, "nlp", R"({"command":["x"]})", "r").status, 403u);
  EXPECT_EQ(svc_->submit(alice_, "../etc", R"({"command":["x"]})", "r").status, 400u);
  auto r = svc_->submit(alice_, "vision", R"({"command":["python3","train.py"]})", "req-1");
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.body.find("eyJ"), std::string::npos);  // the token is not in the answer
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].type(), "job.submitted");
  std::string id = json::parse(r.body)["id"];
  EXPECT_EQ(exec_->started, std::vector<std::string>{id});
  auto perms = std::filesystem::status(svc_->job_dir(id) + "/token").permissions();
  EXPECT_EQ(perms & std::filesystem::perms::group_all, std::filesystem::perms::none);
  JobExpectations e;
  e.job_id = id;
  e.digest = command_digest({"python3", "train.py"}, svc_->job_dir(id));
  auto c = verify_job_token(crypto::JwtVerifier(*keys_), file(id, "token"), clock_.now(), e);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->submitter, "alice");
}

// Renewal needs the job's secret; it works after the token expired, not past the deadline.
TEST_F(JobsServiceTest, RenewalNeedsTheSecretAndStopsAtTheDeadline) {
  std::string id = submit_ok(alice_);
  std::string token = file(id, "token"), secret = file(id, "renewal-secret");
  auto wrong = svc_->renew(json{{"token", token}, {"secret", "guess"}}.dump(), "c");
  EXPECT_EQ(wrong.status, 403u);
  clock_.advance(seconds(600));  // the token (60 s) has long expired
  auto ok = svc_->renew(json{{"token", token}, {"secret", secret}}.dump(), "c");
  ASSERT_EQ(ok.status, 200u) << ok.body;
  std::string fresh = json::parse(ok.body)["token"];
  EXPECT_EQ(peek_job_claims(fresh).expires, clock_.now() + seconds(60));
  EXPECT_EQ(svc_->check(json{{"token", fresh}}.dump(), "c").status, 200u);
  clock_.advance(std::chrono::hours(24));  // past the default runtime
  auto late = svc_->renew(json{{"token", fresh}, {"secret", secret}}.dump(), "c");
  EXPECT_EQ(late.status, 401u);
  EXPECT_NE(late.body.find("maximum runtime"), std::string::npos);
}

// Cancel: one's own with jobs:cancel, others' only with jobs:cancel-any; it revokes the token.
TEST_F(JobsServiceTest, CancelRulesAndRevocation) {
  std::string id = submit_ok(alice_);
  std::string token = file(id, "token"), secret = file(id, "renewal-secret");
  auto carol = svc_->cancel(carol_, "vision", id, "r");
  EXPECT_EQ(carol.status, 403u);
  EXPECT_NE(carol.body.find("alice's job"), std::string::npos);
  EXPECT_EQ(svc_->cancel(bob_, "nlp", id, "r").status, 403u);  // no rights in that project
  auto bob = svc_->cancel(bob_, "vision", id, "r");
  ASSERT_EQ(bob.status, 202u) << bob.body;
  EXPECT_EQ(exec_->cancelled, std::vector<std::string>{id});
  auto check = svc_->check(json{{"token", token}, {"event", "start"}}.dump(), "c");
  EXPECT_EQ(check.status, 401u);
  EXPECT_NE(check.body.find("cancelled by bob"), std::string::npos);
  ASSERT_EQ(check.events.size(), 1u);
  EXPECT_EQ(check.events[0].type(), "job.refused");
  EXPECT_EQ(svc_->renew(json{{"token", token}, {"secret", secret}}.dump(), "c").status, 401u);
  exec_->probes[id] = Probe{Probe::What::kEnded, 143, "killed"};
  svc_->poll_once();
  auto j = json::parse(svc_->get(alice_, "vision", id).body);
  EXPECT_EQ(j["state"], "cancelled");
  EXPECT_EQ(j["message"], "cancelled by bob");
  EXPECT_EQ(svc_->cancel(alice_, "vision", id, "r").status, 409u);
}

// An ended job is recorded with its exit code and its token revoked.
TEST_F(JobsServiceTest, EndRecordsExitCodeAndRevokes) {
  std::string id = submit_ok(alice_);
  exec_->probes[id] = Probe{Probe::What::kEnded, 3, "exit code 3"};
  svc_->poll_once();
  auto j = json::parse(svc_->get(alice_, "vision", id).body);
  EXPECT_EQ(j["state"], "failed");
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_FALSE(j["token_revoked"].is_null());
  EXPECT_NE(std::find(background_.begin(), background_.end(), "job.finished"), background_.end());
  EXPECT_EQ(svc_->check(json{{"token", file(id, "token")}}.dump(), "c").status, 401u);
}

// A restart re-attaches running jobs and marks vanished ones lost.
TEST_F(JobsServiceTest, RestartReattachesOrMarksLost) {
  std::string keep = submit_ok(alice_), lose = submit_ok(alice_);
  exec_->probes[lose] = Probe{Probe::What::kGone, 0, "no process"};
  open();  // a new service on the same database
  auto k = json::parse(svc_->get(alice_, "vision", keep).body);
  auto l = json::parse(svc_->get(alice_, "vision", lose).body);
  EXPECT_EQ(k["state"], "running");
  EXPECT_EQ(l["state"], "lost");
  EXPECT_FALSE(l["token_revoked"].is_null());
  EXPECT_EQ(svc_->check(json{{"token", file(keep, "token")}}.dump(), "c").status, 200u);
  exec_->probes[keep] = Probe{Probe::What::kEnded, 0, "exit code 0"};
  svc_->poll_once();
  EXPECT_EQ(json::parse(svc_->get(alice_, "vision", keep).body)["state"], "succeeded");
}

// An administrator's revocation of a person revokes and stops their jobs.
TEST_F(JobsServiceTest, RevokeSubmitterStopsTheirJobs) {
  std::string a = submit_ok(alice_);
  std::vector<audit::Event> events;
  EXPECT_EQ(svc_->revoke_submitter("alice", "left the company", events), 1u);
  EXPECT_EQ(svc_->revoke_submitter("alice", "again", events), 0u);
  EXPECT_EQ(exec_->cancelled, std::vector<std::string>{a});
  auto check = svc_->check(json{{"token", file(a, "token")}}.dump(), "c");
  EXPECT_EQ(check.status, 401u);
  EXPECT_NE(check.body.find("left the company"), std::string::npos);
}

// Refusals with an unverifiable token are recorded, at most 60 a minute per client; refusals
// with a genuine token always are.
TEST_F(JobsServiceTest, UnverifiedRefusalReportsAreLimitedPerClient) {
  std::string forged =
      json{{"token", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}, {"event", "refused"}}.dump();
  for (int i = 0; i < 60; ++i) {
    auto r = svc_->report(forged, "10.0.0.9");
    ASSERT_EQ(r.status, 200u) << i;
    ASSERT_EQ(r.events.size(), 1u);
  }
  auto over = svc_->report(forged, "10.0.0.9");
  EXPECT_EQ(over.status, 429u);
  EXPECT_TRUE(over.events.empty());
  EXPECT_EQ(svc_->report(forged, "10.0.0.10").status, 200u);  // another client
  std::string id = submit_ok(alice_);
  auto genuine = svc_->report(
      json{{"token", file(id, "token")}, {"event", "refused"}, {"code", "jobs.token_pool"}}.dump(),
      "10.0.0.9");
  EXPECT_EQ(genuine.status, 200u);
  ASSERT_EQ(genuine.events.size(), 1u);
  clock_.advance(std::chrono::seconds(61));
  EXPECT_EQ(svc_->report(forged, "10.0.0.9").status, 200u);  // a new minute
}

// Filters: state, submitter, limit; bad ones refused.
TEST_F(JobsServiceTest, ListFilters) {
  std::string a = submit_ok(alice_), b = submit_ok(alice_);
  exec_->probes[a] = Probe{Probe::What::kEnded, 0, "ok"};
  svc_->poll_once();
  auto all = json::parse(svc_->list(carol_, "vision", {}).body)["jobs"];
  EXPECT_EQ(all.size(), 2u);
  auto running = json::parse(svc_->list(carol_, "vision", {{"state", "running", ""}}).body)["jobs"];
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0]["id"], b);
  EXPECT_EQ(json::parse(svc_->list(carol_, "vision", {{"limit", "1", ""}}).body)["jobs"].size(),
            1u);
  EXPECT_EQ(svc_->list(carol_, "vision", {{"state", "sleeping", ""}}).status, 400u);
  EXPECT_EQ(svc_->list(carol_, "vision", {{"color", "red", ""}}).status, 400u);
  EXPECT_EQ(svc_->list(carol_, "nlp", {}).status, 403u);
}

}  // namespace
}  // namespace cg::jobs
