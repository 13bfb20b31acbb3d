// What only the Redis stores do: several gateways sharing one Redis (each with its local view
// kept current by pub/sub), an outage and the recovery after it, AUTH, TLS and prefixes.
// Each test starts a real redis-server of its own on 127.0.0.1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "session/errors.h"
#include "session/redis_store.h"
#include "support/redis_server.h"
#include "support/saml_fixture.h"

namespace cg::session {
namespace {

using cg::testing::RedisServer;
using cg::testing::test_now;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

Session session(const std::string& id, const std::string& subject) {
  Session s;
  s.id = id;
  s.subject = subject;
  s.idp = "corp";
  s.session_index = "i-" + id;
  s.claims = {{"groups", "groups", {"data-scientists"}}};
  s.created = test_now();
  s.expires = test_now() + 8h;
  return s;
}

TokenGrant grant(const std::string& id, const std::string& subject) {
  TokenGrant g;
  g.id = id;
  g.kind = "agent";
  g.subject = subject;
  g.agent = "bot";
  g.scope = {"jobs:read"};
  g.identity = std::make_shared<const Session>(session("s-" + id, subject));
  g.created = test_now();
  g.expires = test_now() + 24h;
  return g;
}

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(server_.start(), ""); }

  // One "gateway": its own pool, subscriber and view, on the shared Redis.
  RedisStores open(RedisStoreOptions o = {}) {
    if (o.redis.port == 6379) o.redis.port = server_.port();
    auto s = open_redis_stores(o, clock_);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    if (s) {
      EXPECT_TRUE(redis_wait_subscribed(*s->backend, 5s));
    }
    return s ? std::move(*s) : RedisStores{};
  }

  // Polls `done` for up to `limit`; returns how long it took (or limit + 1 ms).
  template <class F>
  static std::chrono::milliseconds until(F&& done, std::chrono::milliseconds limit = 5000ms) {
    auto start = Steady::now();
    while (Steady::now() - start < limit) {
      if (done()) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start);
      }
      std::this_thread::sleep_for(1ms);
    }
    return limit + 1ms;
  }

  RedisServer server_;
  core::ManualClock clock_{test_now()};
};

// One gateway signs alice in, the other serves her; the second read comes from the local
// view (no Redis round trip); a logout at one reaches the other's view within a second.
TEST_F(RedisTest, GatewaysShareSessionsAndLogoutReachesEveryView) {
  RedisStores a = open(), b = open();
  ASSERT_TRUE(a.sessions->put(session("s1", "alice")).has_value());
  auto got = b.sessions->get("s1");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->session->values("groups"), std::vector<std::string>{"data-scientists"});
  auto before = redis_status(*b.backend);
  ASSERT_TRUE(b.sessions->get("s1")->has_value());
  auto after = redis_status(*b.backend);
  EXPECT_EQ(after.view_hits, before.view_hits + 1);
  EXPECT_EQ(after.view_misses, before.view_misses);

  ASSERT_TRUE(*a.sessions->remove("s1"));
  auto took = until([&] { return !b.sessions->get("s1")->has_value(); });
  EXPECT_LT(took, 1000ms);
  EXPECT_GE(redis_status(*b.backend).invalidations, 1u);
}

// Revocation of every session and grant of a person at one gateway reaches the other.
TEST_F(RedisTest, RevocationReachesTheOtherGatewayWithinASecond) {
  RedisStores a = open(), b = open();
  ASSERT_TRUE(a.sessions->put(session("s1", "alice")).has_value());
  ASSERT_TRUE(a.sessions->put(session("s2", "alice")).has_value());
  ASSERT_TRUE(a.sessions->put(session("s3", "bob")).has_value());
  ASSERT_TRUE(a.tokens->put(grant("g1", "alice")).has_value());
  for (const char* id : {"s1", "s2", "s3"}) ASSERT_TRUE(b.sessions->get(id)->has_value());
  ASSERT_FALSE((*b.tokens->get("g1"))->revoked());

  auto removed = a.sessions->remove_subject("alice");
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(*removed, (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(*a.tokens->revoke_subject("alice", test_now(), "left the company"),
            std::vector<std::string>{"g1"});
  auto took = until([&] {
    return !b.sessions->get("s1")->has_value() && !b.sessions->get("s2")->has_value() &&
           (*b.tokens->get("g1"))->revoked();
  });
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ((*b.tokens->get("g1"))->revoked_reason, "left the company");
  EXPECT_TRUE(b.sessions->get("s3")->has_value());
}

// A pending sign-in posted to two gateways at once is consumed by exactly one.
TEST_F(RedisTest, PendingRequestIsTakenOnceAcrossGateways) {
  RedisStores a = open(), b = open();
  for (int round = 0; round < 20; ++round) {
    std::string key = "pending:r" + std::to_string(round);
    ASSERT_TRUE(a.tickets->put(key, "req", test_now() + 5min).has_value());
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        auto& store = i % 2 ? *a.tickets : *b.tickets;
        auto v = store.take(key, test_now());
        if (v && *v) ++winners;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(winners.load(), 1) << key;
  }
  // The replay cache: an assertion id recorded at one gateway is refused at the other.
  EXPECT_TRUE(*a.tickets->insert_once("assertion:_x", test_now() + 5min, test_now()));
  EXPECT_FALSE(*b.tickets->insert_once("assertion:_x", test_now() + 5min, test_now()));
}

// Redis hung (SIGSTOP: connections open, no answer; the port stays taken so no other test's
// server can answer in its place): a session this gateway had read keeps working (within the
// grace time); an unknown one, the replay cache and new sessions fail with session.redis;
// calls fail fast instead of each waiting for a timeout. Redis back: the gateway recovers by
// itself, with a fresh view.
TEST_F(RedisTest, OutageServesCachedSessionsFailsClosedAndRecovers) {
  RedisStoreOptions o;
  o.redis.connect_timeout = 200ms;
  o.redis.command_timeout = 200ms;
  o.redis.retry_interval = 1000ms;
  RedisStores a = open(o);
  ASSERT_TRUE(a.sessions->put(session("s1", "alice")).has_value());
  ASSERT_TRUE(a.sessions->put(session("s2", "bob")).has_value());
  ASSERT_TRUE(a.sessions->get("s1")->has_value());  // now in the view
  uint64_t resyncs = redis_status(*a.backend).resyncs;

  server_.pause();
  // The subscriber notices within its ping interval; until then the view is still trusted.
  EXPECT_LT(until([&] { return !redis_status(*a.backend).subscribed; }), 5000ms);
  auto cached = a.sessions->get("s1");
  ASSERT_TRUE(cached.has_value()) << cached.error().message;
  EXPECT_TRUE(cached->has_value());
  EXPECT_GE(redis_status(*a.backend).grace_hits, 1u);
  auto unknown = a.sessions->get("s2");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().name, "session.redis");
  EXPECT_NE(unknown.error().message.find("127.0.0.1:" + std::to_string(server_.port())),
            std::string::npos)
      << unknown.error().message;
  auto replay = a.tickets->insert_once("assertion:_y", test_now() + 5min, test_now());
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().name, "session.redis");
  EXPECT_FALSE(a.sessions->put(session("s3", "carol")).has_value());
  EXPECT_TRUE(redis_status(*a.backend).down_for.has_value());
  // Failing fast: while down, a call does not wait for a timeout.
  auto t0 = Steady::now();
  for (int i = 0; i < 50; ++i) (void)a.sessions->get("s2");
  EXPECT_LT(Steady::now() - t0, 900ms);

  server_.resume();
  auto back = until([&] {
    return a.tickets->insert_once("assertion:_z", test_now() + 5min, test_now()).has_value() &&
           redis_status(*a.backend).resyncs > resyncs;
  });
  EXPECT_LT(back, 5000ms);
  EXPECT_FALSE(redis_status(*a.backend).down_for.has_value());
  EXPECT_TRUE(a.sessions->get("s2")->has_value());
  ASSERT_TRUE(a.sessions->put(session("s4", "alice")).has_value());
  EXPECT_TRUE(a.sessions->get("s4")->has_value());
}

// Redis killed and started again (empty, no persistence) on the same port: after the
// reconnect every copy is read again, so a session Redis no longer has is not served.
TEST_F(RedisTest, ResynchronisesAfterARestart) {
  RedisStoreOptions o;
  o.redis.retry_interval = 20ms;
  RedisStores a = open(o);
  ASSERT_TRUE(a.sessions->put(session("s1", "alice")).has_value());
  ASSERT_TRUE(a.sessions->get("s1")->has_value());
  uint64_t resyncs = redis_status(*a.backend).resyncs;
  server_.stop();
  // Another test's server could take the free port now; the restart retries a few times.
  std::string why;
  for (int i = 0; i < 20 && !(why = server_.start()).empty(); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(why, "");
  EXPECT_LT(until([&] { return redis_status(*a.backend).resyncs > resyncs; }), 5000ms);
  EXPECT_FALSE(a.sessions->get("s1")->has_value());
}

// The grace is bounded: past `outage_grace`, even a session in the view fails closed.
TEST_F(RedisTest, GraceTimeIsBounded) {
  RedisStoreOptions o;
  o.outage_grace = 300ms;
  o.redis.command_timeout = 100ms;
  o.redis.retry_interval = 20ms;
  RedisStores a = open(o);
  ASSERT_TRUE(a.sessions->put(session("s1", "alice")).has_value());
  ASSERT_TRUE(a.sessions->get("s1")->has_value());
  server_.pause();
  EXPECT_LT(until([&] { return !redis_status(*a.backend).subscribed; }), 5000ms);
  EXPECT_TRUE(a.sessions->get("s1").has_value());  // the outage starts: within the grace
  std::this_thread::sleep_for(400ms);
  auto late = a.sessions->get("s1");
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().name, "session.redis");
  server_.resume();
}

// AUTH: without the password Redis's refusal is reported (and the password never appears in
// a message); with it, the stores work.
TEST_F(RedisTest, AuthenticatesWithoutLeakingThePassword) {
  RedisServer locked;
  ASSERT_EQ(locked.start("--requirepass s3cret-pass"), "");
  RedisStoreOptions o;
  o.redis.port = locked.port();
  auto none = open_redis_stores(o, clock_);
  ASSERT_TRUE(none.has_value());
  auto refused = none->sessions->put(session("s1", "alice"));
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("Redis requires AUTH: set store.password_file"),
            std::string::npos)
      << refused.error().message;

  o.redis.password = "wrong-pass";
  auto wrong = open_redis_stores(o, clock_);
  auto bad = wrong->sessions->put(session("s1", "alice"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("AUTH refused"), std::string::npos) << bad.error().message;
  EXPECT_EQ(bad.error().message.find("wrong-pass"), std::string::npos);

  o.redis.password = "s3cret-pass";
  auto right = open_redis_stores(o, clock_);
  ASSERT_TRUE(right->sessions->put(session("s1", "alice")).has_value());
  EXPECT_TRUE(right->sessions->get("s1")->has_value());
  EXPECT_TRUE(redis_wait_subscribed(*right->backend, 5s));
}

// Two deployments on one Redis with their own prefixes do not see each other.
TEST_F(RedisTest, PrefixesSeparateDeployments) {
  RedisStoreOptions one, two;
  one.prefix = "prod:";
  two.prefix = "staging:";
  RedisStores a = open(one), b = open(two);
  ASSERT_TRUE(a.sessions->put(session("s1", "alice")).has_value());
  EXPECT_TRUE(a.sessions->get("s1")->has_value());
  EXPECT_FALSE(b.sessions->get("s1")->has_value());
  EXPECT_EQ(*b.sessions->count_active(test_now()), 0u);
  EXPECT_EQ(*a.sessions->count_active(test_now()), 1u);
}

// TLS: the server's certificate is verified against the given CA and the host name; a client
// that does not trust the CA is refused with the TLS reason.
TEST_F(RedisTest, SpeaksTlsAndVerifiesTheServer) {
  std::string dir =
      (std::filesystem::temp_directory_path() / ("cg-redis-tls-" + std::to_string(::getpid())))
          .string();
  std::filesystem::create_directories(dir);
  std::string make =
      "cd " + dir +
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
      "-subj /CN=test-ca -keyout ca.key -out ca.pem 2>/dev/null"
      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 "
      "-keyout server.key -out server.csr 2>/dev/null"
      " && printf 'subjectAltName=IP:127.0.0.1' > ext.cnf"
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile ext.cnf -out server.pem 2>/dev/null"
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
      "-subj /CN=other-ca -keyout other.key -out other.pem 2>/dev/null";
  ASSERT_EQ(std::system(make.c_str()), 0);
  RedisServer tls;
  ASSERT_EQ(tls.start("--tls-cert-file " + dir + "/server.pem --tls-key-file " + dir +
                          "/server.key --tls-ca-cert-file " + dir + "/ca.pem --tls-auth-clients no",
                      true),
            "");
  RedisStoreOptions o;
  o.redis.port = tls.port();
  o.redis.tls = true;
  o.redis.ca_file = dir + "/ca.pem";
  auto good = open_redis_stores(o, clock_);
  ASSERT_TRUE(good.has_value()) << good.error().message;
  auto put = good->sessions->put(session("s1", "alice"));
  ASSERT_TRUE(put.has_value()) << put.error().message;
  EXPECT_TRUE(good->sessions->get("s1")->has_value());
  EXPECT_TRUE(redis_wait_subscribed(*good->backend, 5s));

  o.redis.ca_file = dir + "/other.pem";
  auto untrusting = open_redis_stores(o, clock_);
  auto refused = untrusting->sessions->put(session("s2", "alice"));
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("TLS handshake"), std::string::npos)
      << refused.error().message;

  o.redis.ca_file = dir + "/missing.pem";
  auto missing = open_redis_stores(o, clock_);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("TLS files"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cg::session
