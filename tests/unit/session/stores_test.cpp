#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "crypto/keyring.h"
#include "session/cookie.h"
#include "session/memory_store.h"
#include "session/sqlite_store.h"
#ifdef CG_TEST_REDIS
#include "session/redis_store.h"
#include "support/redis_server.h"
#endif
#include "support/deterministic_random.h"
#include "support/saml_fixture.h"

namespace cg::session {
namespace {

using cg::testing::test_now;
using namespace std::chrono_literals;

Session make_session(const std::string& id, const std::string& subject,
                     const std::string& idx = "s1") {
  Session s;
  s.id = id;
  s.subject = subject;
  s.idp = "corp";
  s.idp_entity_id = "https://idp.example.org";
  s.session_index = idx;
  s.claims = {{"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "groups", {}}};
  for (int i = 0; i < 300; ++i) s.claims[0].values.push_back("group-" + std::to_string(i));
  s.roles = {"data-scientist"};
  s.created = test_now();
  s.expires = test_now() + 8h;
  s.idle_timeout = 1h;
  return s;
}

// Reset in declaration order (TearDown): the stores before what they use.
struct Stores {
  std::unique_ptr<SessionStore> sessions;
  std::unique_ptr<TicketStore> tickets;
  std::unique_ptr<TokenStore> tokens;
  std::string path;
#ifdef CG_TEST_REDIS
  std::shared_ptr<RedisBackend> backend;
  std::unique_ptr<core::ManualClock> clock;
  std::unique_ptr<cg::testing::RedisServer> redis;
#endif
};

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      s_.sessions = std::make_unique<MemorySessionStore>();
      s_.tickets = std::make_unique<MemoryTicketStore>();
      s_.tokens = std::make_unique<MemoryTokenStore>();
#ifdef CG_TEST_REDIS
    } else if (GetParam() == "redis") {
      // A real redis-server of its own; the stores' clock stands at test_now() as the others'.
      s_.redis = std::make_unique<cg::testing::RedisServer>();
      std::string why = s_.redis->start();
      ASSERT_EQ(why, "");
      s_.clock = std::make_unique<core::ManualClock>(test_now());
      RedisStoreOptions o;
      o.redis.port = s_.redis->port();
      auto opened = open_redis_stores(o, *s_.clock);
      ASSERT_TRUE(opened.has_value()) << opened.error().message;
      s_.backend = opened->backend;
      s_.sessions = std::move(opened->sessions);
      s_.tickets = std::move(opened->tickets);
      s_.tokens = std::move(opened->tokens);
#endif
    } else {
      std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
      for (char& ch : name) {
        if (ch == '/') ch = '_';
      }
      s_.path = (std::filesystem::temp_directory_path() /
                 ("cg-store-" + std::to_string(::getpid()) + "-" + name + ".db"))
                    .string();
      std::filesystem::remove(s_.path);
      auto db = open_sqlite(s_.path);
      ASSERT_TRUE(db.has_value()) << db.error().message;
      s_.sessions = std::make_unique<SqliteSessionStore>(*db);
      s_.tickets = std::make_unique<SqliteTicketStore>(*db);
      s_.tokens = std::make_unique<SqliteTokenStore>(*db);
    }
  }
  void TearDown() override {
    std::string path = s_.path;
    s_ = {};
    for (const char* suffix : {"", "-wal", "-shm"}) {
      if (!path.empty()) std::filesystem::remove(path + suffix);
    }
  }
  Stores s_;
};

// A stored session comes back whole (hundreds of groups included); removal takes effect at once.
TEST_P(StoreTest, StoresAndRemovesSessions) {
  ASSERT_TRUE(s_.sessions->put(make_session("a", "alice")).has_value());
  auto got = s_.sessions->get("a");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->session->claims[0].values.size(), 300u);
  EXPECT_EQ((*got)->session->values("groups")[299], "group-299");
  EXPECT_EQ((*got)->last_seen, test_now());
  EXPECT_FALSE(s_.sessions->get("b")->has_value());
  EXPECT_TRUE(*s_.sessions->remove("a"));
  EXPECT_FALSE(s_.sessions->get("a")->has_value());
  EXPECT_FALSE(*s_.sessions->remove("a"));
}

// Use is recorded; idle and absolute expiry are judged from it; purge drops both kinds.
TEST_P(StoreTest, TracksUseAndExpiry) {
  ASSERT_TRUE(s_.sessions->put(make_session("a", "alice")).has_value());
  ASSERT_TRUE(s_.sessions->put(make_session("b", "bob")).has_value());
  ASSERT_TRUE(s_.sessions->touch("a", test_now() + 50min).has_value());
  auto a = **s_.sessions->get("a");
  EXPECT_EQ(a.last_seen, test_now() + 50min);
  EXPECT_FALSE(expiry_at(a, test_now() + 100min).has_value());
  EXPECT_EQ(expiry_at(a, test_now() + 111min), Expiry::kIdle);
  EXPECT_EQ(expiry_at(a, test_now() + 9h), Expiry::kAbsolute);
  EXPECT_EQ(*s_.sessions->count_active(test_now()), 2u);
  EXPECT_EQ(*s_.sessions->purge_expired(test_now() + 70min), 1u);  // bob idled out
  EXPECT_TRUE(s_.sessions->get("a")->has_value());
  EXPECT_FALSE(s_.sessions->get("b")->has_value());
}

// Revocation ends every session of a subject; Single Logout only those it names.
TEST_P(StoreTest, RemovesBySubjectAndSessionIndex) {
  ASSERT_TRUE(s_.sessions->put(make_session("a1", "alice", "i1")).has_value());
  ASSERT_TRUE(s_.sessions->put(make_session("a2", "alice", "i2")).has_value());
  ASSERT_TRUE(s_.sessions->put(make_session("b1", "bob", "i1")).has_value());
  auto one = s_.sessions->remove_subject("alice", "corp", {"i2"});
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(*one, std::vector<std::string>{"a2"});
  EXPECT_EQ(s_.sessions->remove_subject("alice", "other-idp", {})->size(), 0u);
  EXPECT_EQ(s_.sessions->remove_subject("alice")->size(), 1u);
  EXPECT_TRUE(s_.sessions->get("b1")->has_value());
}

// A pending sign-in is taken exactly once, even by racing threads; an expired one is gone.
TEST_P(StoreTest, TicketsAreTakenOnce) {
  ASSERT_TRUE(
      s_.tickets->put("pending:r1", "{\"request_id\":\"_1\"}", test_now() + 5min).has_value());
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto v = s_.tickets->take("pending:r1", test_now());
      if (v && *v) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
  ASSERT_TRUE(s_.tickets->put("pending:r2", "x", test_now() + 5min).has_value());
  EXPECT_FALSE(s_.tickets->take("pending:r2", test_now() + 6min)->has_value());
}

// The replay cache: an id is accepted once until it expires, then may be recorded again.
TEST_P(StoreTest, InsertOnceRefusesRepeatsUntilExpiry) {
  EXPECT_TRUE(*s_.tickets->insert_once("assertion:x", test_now() + 5min, test_now()));
  EXPECT_FALSE(*s_.tickets->insert_once("assertion:x", test_now() + 5min, test_now() + 1min));
  EXPECT_TRUE(*s_.tickets->insert_once("assertion:x", test_now() + 20min, test_now() + 6min));
  EXPECT_EQ(*s_.tickets->purge_expired(test_now() + 21min), 1u);
}

// peek reads without consuming; an expired value is absent.
TEST_P(StoreTest, PeekLeavesTheTicket) {
  ASSERT_TRUE(s_.tickets->put("device:d1", "v", test_now() + 5min).has_value());
  EXPECT_EQ(**s_.tickets->peek("device:d1", test_now()), "v");
  EXPECT_EQ(**s_.tickets->take("device:d1", test_now()), "v");
  EXPECT_FALSE(s_.tickets->peek("device:d1", test_now())->has_value());
  ASSERT_TRUE(s_.tickets->put("device:d2", "v", test_now() + 5min).has_value());
  EXPECT_FALSE(s_.tickets->peek("device:d2", test_now() + 6min)->has_value());
}

TokenGrant make_grant(const std::string& id, const std::string& subject) {
  TokenGrant g;
  g.id = id;
  g.kind = "cli";
  g.subject = subject;
  g.client = "claimgate login (loopback)";
  g.secret = "sealed";
  g.identity = std::make_shared<const Session>(make_session("s-" + id, subject));
  g.created = test_now();
  g.expires = test_now() + 24h;
  return g;
}

// A grant comes back whole (its person's claims included); agent fields survive.
TEST_P(StoreTest, StoresTokenGrants) {
  TokenGrant a = make_grant("g1", "alice");
  a.kind = "agent";
  a.agent = "review-bot";
  a.scope = {"jobs:read", "logs:read"};
  a.project = "vision";
  ASSERT_TRUE(s_.tokens->put(a).has_value());
  auto got = s_.tokens->get("g1");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->agent, "review-bot");
  EXPECT_EQ((*got)->scope, (std::vector<std::string>{"jobs:read", "logs:read"}));
  EXPECT_EQ((*got)->project, "vision");
  EXPECT_EQ((*got)->expires, test_now() + 24h);
  ASSERT_TRUE((*got)->identity);
  EXPECT_EQ((*got)->identity->values("groups").size(), 300u);
  EXPECT_FALSE((*got)->revoked());
  EXPECT_FALSE(s_.tokens->get("nope")->has_value());
}

// Refresh rotation: the current generation advances once (racing threads: one winner, the
// others are reuses that revoke the family); an older generation revokes the family.
TEST_P(StoreTest, RefreshGenerationsAdvanceOnceAndReuseRevokes) {
  ASSERT_TRUE(s_.tokens->put(make_grant("g1", "alice")).has_value());
  EXPECT_EQ(*s_.tokens->advance("g1", 0, test_now()), TokenStore::Advance::kAdvanced);
  EXPECT_EQ(*s_.tokens->advance("g1", 1, test_now() + 1min), TokenStore::Advance::kAdvanced);
  EXPECT_EQ((*s_.tokens->get("g1"))->generation, 2u);
  EXPECT_EQ((*s_.tokens->get("g1"))->last_used, test_now() + 1min);
  EXPECT_EQ(*s_.tokens->advance("g1", 7, test_now()), TokenStore::Advance::kGone);  // never issued
  EXPECT_EQ(*s_.tokens->advance("g1", 0, test_now()), TokenStore::Advance::kReused);
  auto g = **s_.tokens->get("g1");
  EXPECT_TRUE(g.revoked());
  EXPECT_EQ(g.revoked_reason, "refresh token reused");
  EXPECT_EQ(*s_.tokens->advance("g1", 2, test_now()), TokenStore::Advance::kGone);

  ASSERT_TRUE(s_.tokens->put(make_grant("g2", "alice")).has_value());
  std::atomic<int> advanced{0}, reused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = s_.tokens->advance("g2", 0, test_now());
      if (r && *r == TokenStore::Advance::kAdvanced) ++advanced;
      if (r && *r == TokenStore::Advance::kReused) ++reused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(advanced.load(), 1);
  EXPECT_LE(reused.load(), 1);  // the first reuse revokes; later ones find the family gone
  EXPECT_EQ(*s_.tokens->advance("g2", 5, test_now() + 25h), TokenStore::Advance::kGone);
}

// Revocation one by one and by subject; list shows only live grants; purge drops expired ones.
TEST_P(StoreTest, RevokesListsAndPurgesTokenGrants) {
  ASSERT_TRUE(s_.tokens->put(make_grant("a1", "alice")).has_value());
  TokenGrant a2 = make_grant("a2", "alice");
  a2.created = test_now() + 1s;
  a2.expires = test_now() + 1h;
  ASSERT_TRUE(s_.tokens->put(a2).has_value());
  ASSERT_TRUE(s_.tokens->put(make_grant("b1", "bob")).has_value());
  auto live = *s_.tokens->list("alice", test_now());
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].id, "a1");
  EXPECT_EQ(s_.tokens->list("alice", test_now() + 2h)->size(), 1u);
  EXPECT_TRUE(*s_.tokens->revoke("a1", test_now(), "revoked by alice"));
  EXPECT_FALSE(*s_.tokens->revoke("a1", test_now(), "again"));
  EXPECT_EQ((*s_.tokens->get("a1"))->revoked_reason, "revoked by alice");
  EXPECT_EQ(s_.tokens->list("alice", test_now())->size(), 1u);
  EXPECT_EQ(*s_.tokens->revoke_subject("alice", test_now(), "admin"),
            std::vector<std::string>{"a2"});
  EXPECT_TRUE(s_.tokens->list("alice", test_now())->empty());
  EXPECT_EQ(s_.tokens->list("bob", test_now())->size(), 1u);
  EXPECT_EQ(*s_.tokens->purge_expired(test_now() + 2h), 1u);
  EXPECT_FALSE(s_.tokens->get("a2")->has_value());
  EXPECT_TRUE(s_.tokens->get("a1")->has_value());
}

#ifdef CG_TEST_REDIS
#define CG_STORE_KINDS "memory", "sqlite", "redis"
#else
#define CG_STORE_KINDS "memory", "sqlite"
#endif
INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values(CG_STORE_KINDS),
                         [](const auto& info) { return info.param; });

// SQLite sessions survive the process: a second connection to the file sees them.
TEST(SqliteStoreTest, SessionsSurviveReopening) {
  std::string path =
      (std::filesystem::temp_directory_path() / ("cg-reopen-" + std::to_string(::getpid()) + ".db"))
          .string();
  std::filesystem::remove(path);
  {
    auto db = open_sqlite(path);
    ASSERT_TRUE(db.has_value());
    SqliteSessionStore store(*db);
    ASSERT_TRUE(store.put(make_session("a", "alice")).has_value());
  }
  auto db = open_sqlite(path);
  ASSERT_TRUE(db.has_value());
  SqliteSessionStore store(*db);
  auto got = store.get("a");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ((*got)->session->roles, std::vector<std::string>{"data-scientist"});
  std::filesystem::remove(path);
}

// A database made before idle_until_ms gains the column, filled from its rows, so that the
// purge (by index) still finds the sessions that idled out and keeps the others.
TEST(SqliteStoreTest, MigratesOldDatabasesForTheIdlePurge) {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("cg-migrate-" + std::to_string(::getpid()) + ".db"))
                         .string();
  std::filesystem::remove(path);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(test_now().time_since_epoch())
            .count();
    std::string sql =
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, subject TEXT NOT NULL, idp TEXT NOT NULL, "
        "session_index TEXT NOT NULL, data TEXT NOT NULL, expires_ms INTEGER NOT NULL, idle_s "
        "INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);"
        "INSERT INTO sessions VALUES ('old', 'alice', 'corp', 's1', '{}', " +
        std::to_string(now_ms + 8 * 3600 * 1000) + ", 3600, " + std::to_string(now_ms) +
        ");"
        "INSERT INTO sessions VALUES ('recent', 'bob', 'corp', 's1', '{}', " +
        std::to_string(now_ms + 8 * 3600 * 1000) + ", 3600, " +
        std::to_string(now_ms + 50 * 60 * 1000) + ");";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto db = open_sqlite(path);
  ASSERT_TRUE(db.has_value()) << db.error().message;
  SqliteSessionStore store(*db);
  ASSERT_TRUE(store.put(make_session("new", "carol")).has_value());
  ASSERT_TRUE(store.touch("new", test_now() + 30min).has_value());
  // 70 minutes on: 'old' idled out (last seen at 0), 'recent' (50) and 'new' (30) did not.
  EXPECT_EQ(*store.purge_expired(test_now() + 70min), 1u);
  EXPECT_EQ(*store.count_active(test_now()), 2u);
  // 95 minutes on: 'new' idled out too.
  EXPECT_EQ(*store.purge_expired(test_now() + 95min), 1u);
  EXPECT_EQ(*store.count_active(test_now()), 1u);
  std::filesystem::remove(path);
}

// An unopenable database file is an error with SQLite's reason, not a crash.
TEST(SqliteStoreTest, ReportsUnopenableFiles) {
  auto db = open_sqlite("/nonexistent-dir/state.db");
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().name, "session.store");
  EXPECT_NE(db.error().message.find("/nonexistent-dir/state.db"), std::string::npos);
}

// The cookie opens to the session id under its own name only; tampering is refused.
TEST(CookieCodecTest, SealsTheSessionReference) {
  cg::testing::DeterministicRandom rnd;
  auto ring = crypto::Keyring::generate(test_now(), rnd);
  CookieCodec codec(ring, "cg_session"), other(ring, "other_cookie");
  std::string v = codec.seal("0123abcd", rnd);
  EXPECT_EQ(v.find("0123abcd"), std::string::npos);
  EXPECT_EQ(*codec.open(v), "0123abcd");
  EXPECT_EQ(other.open(v).error().name, "session.cookie");
  std::string t = v;
  t.back() = t.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(codec.open(t).has_value());
  EXPECT_FALSE(codec.open(std::string(600, 'a')).has_value());
}

}  // namespace
}  // namespace cg::session
