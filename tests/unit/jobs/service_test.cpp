#include "jobs/service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/encoding.h"
#include "jobs/errors.h"
#include "jobs/http_api.h"
#include "jobs/job_token.h"
#include "session/redis_store.h"
#include "session/sqlite_store.h"
#include "support/deterministic_random.h"
#include "support/redis_server.h"
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

// A real redis-server of the test's own, and a connection to it (one per service, as each
// gateway has its own).
struct SharedRedis {
  cg::testing::RedisServer server;
  std::shared_ptr<session::RedisBackend> connect(const core::Clock& clock) {
    session::RedisStoreOptions o;
    o.redis.port = server.port();
    auto opened = session::open_redis_stores(o, clock);
    EXPECT_TRUE(opened) << opened.error().message;
    return opened ? opened->backend : nullptr;
  }
};

std::filesystem::path test_dir() {
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  for (char& ch : name) {
    if (ch == '/') ch = '-';
  }
  return std::filesystem::temp_directory_path() /
         ("cg-jobs-" + name + "-" + std::to_string(::getpid()));
}

// Every test on both stores: SQLite (one service) and Redis (records shared by services).
class JobsServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      redis_ = std::make_unique<SharedRedis>();
      std::string why = redis_->server.start();
      ASSERT_EQ(why, "");
    }
    dir_ = test_dir();
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
    Result<std::unique_ptr<JobStore>> store = fail(Code::kStore, "no store");
    if (redis_) {
      store = open_redis_job_store(redis_->connect(clock_));
    } else {
      store = open_sqlite_job_store((dir_ / "jobs.db").string());
    }
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
  std::unique_ptr<SharedRedis> redis_;
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
TEST_P(JobsServiceTest, SubmitNeedsThePermissionAndMintsABoundToken) {
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

// A log is read from a byte offset, at most `limit` bytes a request (how the CLI follows one);
// anything else in the query is refused with what the endpoint takes.
TEST_P(JobsServiceTest, LogsTakeAnOffsetAndALimit) {
  std::string id = submit_ok(alice_);
  std::string path = "/api/projects/vision/jobs/" + id + "/logs";
  auto routed = route_api(*svc_, alice_, "GET", path, "offset=5&limit=3&follow=1", "", "r");
  ASSERT_TRUE(routed.log) << routed.reply.body;
  EXPECT_EQ(routed.log->job_id, id);
  EXPECT_EQ(routed.offset, 5u);
  EXPECT_EQ(routed.limit, 3u);
  EXPECT_TRUE(routed.follow);
  auto whole = route_api(*svc_, alice_, "GET", path, "", "", "r");
  ASSERT_TRUE(whole.log);
  EXPECT_EQ(whole.offset, 0u);
  EXPECT_EQ(whole.limit, 0u);  // to the end
  for (const char* q : {"limit=0", "limit=-1", "limit=", "offset=x", "offset=-2"}) {
    auto bad = route_api(*svc_, alice_, "GET", path, q, "", "r");
    EXPECT_FALSE(bad.log) << q;
    EXPECT_EQ(bad.reply.status, 400u) << q;
    EXPECT_NE(bad.reply.body.find("not a number of bytes"), std::string::npos) << bad.reply.body;
  }
  auto unknown = route_api(*svc_, alice_, "GET", path, "tail=10", "", "r");
  EXPECT_EQ(unknown.reply.status, 400u);
  EXPECT_NE(unknown.reply.body.find("(follow, offset, limit)"), std::string::npos)
      << unknown.reply.body;
  // bob may read jobs but not logs.
  auto refused = route_api(*svc_, bob_, "GET", path, "limit=3", "", "r");
  EXPECT_FALSE(refused.log);
  EXPECT_EQ(refused.reply.status, 403u);
}

// Renewal needs the job's secret; it works after the token expired, not past the deadline.
TEST_P(JobsServiceTest, RenewalNeedsTheSecretAndStopsAtTheDeadline) {
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
TEST_P(JobsServiceTest, CancelRulesAndRevocation) {
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
TEST_P(JobsServiceTest, EndRecordsExitCodeAndRevokes) {
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
TEST_P(JobsServiceTest, RestartReattachesOrMarksLost) {
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
TEST_P(JobsServiceTest, RevokeSubmitterStopsTheirJobs) {
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
TEST_P(JobsServiceTest, UnverifiedRefusalReportsAreLimitedPerClient) {
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
TEST_P(JobsServiceTest, ListFilters) {
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

INSTANTIATE_TEST_SUITE_P(Stores, JobsServiceTest, ::testing::Values("sqlite", "redis"),
                         [](const auto& info) { return info.param; });

// Two jobs services (two gateways with builtin:jobs, or two `claimgate jobs serve`) sharing a
// Redis store: each watches the jobs it started; either answers the API and the nodes.
class SharedJobsTest : public ::testing::Test {
 protected:
  struct Service {
    std::shared_ptr<RecordingExecutor::State> exec = std::make_shared<RecordingExecutor::State>();
    std::unique_ptr<JobsService> svc;
    std::vector<std::string> background;
  };
  void SetUp() override {
    ASSERT_EQ(redis_.server.start(), "");
    dir_ = test_dir();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(crypto::Keyring::add_keys((dir_ / "keys").string(), test_now(), rnd_));
    keys_ = std::make_unique<crypto::Keyring>(*crypto::Keyring::load((dir_ / "keys").string()));
    open(a_, "gw-a");
    open(b_, "gw-b");
  }
  void TearDown() override {
    a_.svc.reset();
    b_.svc.reset();
    std::filesystem::remove_all(dir_);
  }
  void open(Service& s, const std::string& instance) {
    s.svc.reset();
    auto store = open_redis_job_store(redis_.connect(clock_));
    ASSERT_TRUE(store);
    ServiceOptions o;
    o.state_dir = (dir_ / instance).string();
    o.issuer = "https://gw";
    o.token_ttl = seconds(60);
    o.instance = instance;
    s.svc = std::make_unique<JobsService>(
        o, *keys_, clock_, rnd_, std::move(*store), std::make_unique<RecordingExecutor>(s.exec),
        [&s](audit::Event e) { s.background.emplace_back(e.type()); });
    ASSERT_TRUE(s.svc->start(/*monitor=*/false));
  }
  std::string submit_at(Service& s) {
    auto r = s.svc->submit(alice_, "vision", R"({"command":["python3","train.py"]})", "req-1");
    EXPECT_EQ(r.status, 201u) << r.body;
    return json::parse(r.body)["id"].get<std::string>();
  }
  std::string file(Service& s, const std::string& id, const char* name) {
    return *core::read_file(s.svc->job_dir(id) + "/" + name);
  }
  json job(Service& s, const std::string& id) {
    return json::parse(s.svc->get(alice_, "vision", id).body);
  }
  SharedRedis redis_;
  std::filesystem::path dir_;
  DeterministicRandom rnd_;
  core::ManualClock clock_{test_now()};
  std::unique_ptr<crypto::Keyring> keys_;
  Service a_, b_;
  Caller alice_ = person("alice", {"jobs:submit", "jobs:read", "jobs:cancel", "logs:read"});
  Caller bob_ = person("bob", {"jobs:read", "jobs:cancel-any"});
};

// A job submitted at A is read, checked, renewed and reported at B; B leaves its process
// alone, restart or not.
TEST_F(SharedJobsTest, EitherServiceAnswersForAJob) {
  std::string id = submit_at(a_);
  std::string token = file(a_, id, "token"), secret = file(a_, id, "renewal-secret");
  auto at_b = job(b_, id);
  EXPECT_EQ(at_b["owner"], "gw-a");
  EXPECT_EQ(at_b["state"], "running");
  auto listed = json::parse(b_.svc->list(bob_, "vision", {}).body)["jobs"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["id"], id);
  auto check =
      b_.svc->check(json{{"token", token}, {"event", "start"}, {"node", "n1"}}.dump(), "c");
  EXPECT_EQ(check.status, 200u) << check.body;
  ASSERT_EQ(check.events.size(), 1u);
  EXPECT_EQ(check.events[0].type(), "job.verified");
  std::set<std::string> token_ids;
  for (int i = 0; i < 4; ++i) {
    auto& s = i % 2 ? a_ : b_;
    auto r = s.svc->renew(json{{"token", token}, {"secret", secret}}.dump(), "c");
    ASSERT_EQ(r.status, 200u) << r.body;
    token_ids.insert(peek_job_claims(json::parse(r.body)["token"].get<std::string>()).token_id);
  }
  EXPECT_EQ(token_ids.size(), 4u);  // every renewal its own number, whichever service
  EXPECT_EQ(job(a_, id)["renewals"], 4);
  EXPECT_EQ(b_.svc->renew(json{{"token", token}, {"secret", "guess"}}.dump(), "c").status, 403u);
  auto report = b_.svc->report(
      json{{"token", token}, {"event", "exited"}, {"node", "n1"}, {"exit_code", 0}}.dump(), "c");
  EXPECT_EQ(report.status, 200u);
  EXPECT_EQ(job(a_, id)["nodes"].size(), 1u);
  // B's executor does not know the job: were B to watch it, it would be marked lost.
  b_.exec->probes[id] = Probe{Probe::What::kGone, 0, "no such process"};
  open(b_, "gw-b");
  b_.svc->poll_once();
  EXPECT_EQ(job(b_, id)["state"], "running");
  EXPECT_TRUE(b_.exec->cancelled.empty());
  Reply refusal;
  EXPECT_FALSE(b_.svc->logs(alice_, "vision", id, &refusal));
  EXPECT_EQ(refusal.status, 409u);
  EXPECT_NE(refusal.body.find("gw-a"), std::string::npos) << refusal.body;
  EXPECT_TRUE(a_.svc->logs(alice_, "vision", id, &refusal));
}

// A cancel at B revokes the token at once (the nodes stop at their next check) and reaches
// A's monitor, which stops the processes; the end A records is what B shows.
TEST_F(SharedJobsTest, CancelAtOneServiceStopsTheJobAtItsOwner) {
  std::string id = submit_at(a_);
  std::string token = file(a_, id, "token");
  auto r = b_.svc->cancel(bob_, "vision", id, "r");
  ASSERT_EQ(r.status, 202u) << r.body;
  EXPECT_TRUE(b_.exec->cancelled.empty());
  auto check = a_.svc->check(json{{"token", token}}.dump(), "c");
  EXPECT_EQ(check.status, 401u);
  EXPECT_NE(check.body.find("cancelled by bob"), std::string::npos);
  EXPECT_TRUE(a_.exec->cancelled.empty());
  a_.svc->poll_once();
  EXPECT_EQ(a_.exec->cancelled, std::vector<std::string>{id});
  a_.svc->poll_once();  // asked once only
  EXPECT_EQ(a_.exec->cancelled.size(), 1u);
  a_.exec->probes[id] = Probe{Probe::What::kEnded, 143, "killed"};
  a_.svc->poll_once();
  auto j = job(b_, id);
  EXPECT_EQ(j["state"], "cancelled");
  EXPECT_EQ(j["message"], "cancelled by bob");
  EXPECT_EQ(b_.svc->cancel(bob_, "vision", id, "r").status, 409u);
  // An administrator's revocation at B stops alice's next job at A the same way.
  std::string next = submit_at(a_);
  std::vector<audit::Event> events;
  EXPECT_EQ(b_.svc->revoke_submitter("alice", "left", events), 1u);
  a_.svc->poll_once();
  EXPECT_EQ(a_.exec->cancelled.back(), next);
}

// Renewals and node reports racing at both services: none lost (versioned writes).
TEST_F(SharedJobsTest, ConcurrentChangesAreNotLost) {
  std::string id = submit_at(a_);
  std::string token = file(a_, id, "token"), secret = file(a_, id, "renewal-secret");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto& s = t % 2 ? a_ : b_;
      for (int i = 0; i < 15; ++i) {
        Reply r = t < 2 ? s.svc->renew(json{{"token", token}, {"secret", secret}}.dump(), "c")
                        : s.svc->report(json{{"token", token},
                                             {"event", "exited"},
                                             {"node", "n" + std::to_string(t * 100 + i)},
                                             {"exit_code", 0}}
                                            .dump(),
                                        "c");
        if (r.status != 200) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto j = job(a_, id);
  EXPECT_EQ(j["renewals"], 30);
  EXPECT_EQ(j["nodes"].size(), 30u);
}

}  // namespace
}  // namespace cg::jobs
