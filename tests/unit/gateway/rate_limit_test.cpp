#include "gateway/rate_limit.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "core/time.h"

namespace cg::gateway {
namespace {

using namespace std::chrono_literals;

core::WallTime start() { return *core::parse_datetime("2026-12-04T10:00:00Z"); }

// A bucket gives its burst at once, then refuses with the time until the next token, and
// refills at its rate (the manual clock moves; nothing sleeps).
TEST(RateLimiterTest, BurstThenRefillAtTheRate) {
  core::ManualClock clock(start());
  RateLimiter rl({1.0, 3, 100}, clock);  // 1 a second, bursts of 3
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl.take("a").allowed) << i;
  auto no = rl.take("a");
  EXPECT_FALSE(no.allowed);
  EXPECT_EQ(no.retry_after, 1s);
  clock.advance(500ms);
  EXPECT_FALSE(rl.take("a").allowed);
  clock.advance(500ms);
  EXPECT_TRUE(rl.take("a").allowed);
  EXPECT_FALSE(rl.take("a").allowed);
  // Never more than the burst, however long it rested.
  clock.advance(1h);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl.take("a").allowed) << i;
  EXPECT_FALSE(rl.take("a").allowed);
}

// Keys are independent: one client's empty bucket leaves another's full.
TEST(RateLimiterTest, KeysAreIndependent) {
  core::ManualClock clock(start());
  RateLimiter rl({1.0 / 60, 2, 100}, clock);
  EXPECT_TRUE(rl.take("10.0.0.1").allowed);
  EXPECT_TRUE(rl.take("10.0.0.1").allowed);
  auto no = rl.take("10.0.0.1");
  EXPECT_FALSE(no.allowed);
  EXPECT_EQ(no.retry_after, 60s);
  EXPECT_TRUE(rl.take("10.0.0.2").allowed);
}

// check() takes nothing; give_back() returns a token, never above the burst.
TEST(RateLimiterTest, CheckAndGiveBack) {
  core::ManualClock clock(start());
  RateLimiter rl({0.001, 2, 100}, clock);
  EXPECT_TRUE(rl.check("k").allowed);
  EXPECT_TRUE(rl.check("k").allowed);
  EXPECT_TRUE(rl.take("k").allowed);
  EXPECT_TRUE(rl.take("k").allowed);
  EXPECT_FALSE(rl.check("k").allowed);
  rl.give_back("k");
  EXPECT_TRUE(rl.take("k").allowed);
  rl.give_back("k", 10);
  EXPECT_TRUE(rl.take("k").allowed);
  EXPECT_TRUE(rl.take("k").allowed);
  EXPECT_FALSE(rl.take("k").allowed);
}

// The table is bounded: a flood of new keys evicts the ones touched longest ago, and the
// table never holds more than max_keys.
TEST(RateLimiterTest, TableIsBoundedAndEvictsTheOldest) {
  core::ManualClock clock(start());
  RateLimiter rl({0.0001, 1, 3}, clock);
  EXPECT_TRUE(rl.take("a").allowed);
  EXPECT_TRUE(rl.take("b").allowed);
  EXPECT_TRUE(rl.take("c").allowed);
  EXPECT_FALSE(rl.take("a").allowed);  // touches a: b is now the oldest
  EXPECT_TRUE(rl.take("d").allowed);   // evicts b
  EXPECT_EQ(rl.size(), 3u);
  EXPECT_FALSE(rl.take("a").allowed);  // a was kept (recently touched)
  EXPECT_TRUE(rl.take("b").allowed);   // b was forgotten: full again (evicts c)
  for (int i = 0; i < 10'000; ++i) (void)rl.take("flood-" + std::to_string(i));
  EXPECT_EQ(rl.size(), 3u);
}

// Several threads taking from one bucket get exactly the burst between them.
TEST(RateLimiterTest, ThreadSafe) {
  core::ManualClock clock(start());
  RateLimiter rl({0, 1000, 100}, clock);
  std::atomic<int> allowed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 500; ++i) allowed += rl.take("shared").allowed ? 1 : 0;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(allowed.load(), 1000);
}

// Clients are limited by address; IPv6 by its /64, IPv4-mapped IPv6 as the IPv4 address.
TEST(RateLimiterTest, ClientKeys) {
  EXPECT_EQ(client_key("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(client_key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
  EXPECT_EQ(client_key("[2001:db8:1:3::9]"), "2001:db8:1:3::/64");
  EXPECT_EQ(client_key("::ffff:10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(client_key("fe80::1%eth0"), "fe80::/64");
}

AbuseLimitsConfig small_limits() {
  AbuseLimitsConfig c;
  c.signins_per_minute = 60;
  c.signin_burst = 5;
  c.pending_signins_per_client = 8;
  c.device_code_failures = 3;
  c.device_code_window = 600s;
  return c;
}

// /saml/login: a burst, then 429 with Retry-After, counted by endpoint and limit; another
// client is unaffected; tokens come back at the configured rate.
TEST(AbuseLimitsTest, SigninsPerMinute) {
  core::ManualClock clock(start());
  core::MetricsRegistry metrics;
  AbuseLimits limits(small_limits(), clock, metrics);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limits.start_signin("10.0.0.1").refused) << i;
  auto no = limits.start_signin("10.0.0.1");
  ASSERT_TRUE(no.refused);
  EXPECT_EQ(no.limit, "signins_per_minute");
  EXPECT_EQ(no.retry_after, 1s);
  EXPECT_NE(no.message.find("60 a minute"), std::string::npos) << no.message;
  EXPECT_FALSE(limits.start_signin("10.0.0.2").refused);
  clock.advance(1s);
  EXPECT_FALSE(limits.start_signin("10.0.0.1").refused);
  std::string text = metrics.render();
  EXPECT_NE(text.find("claimgate_rate_limited_total{endpoint=\"/saml/login\",limit=\"signins_per_"
                      "minute\"} 1"),
            std::string::npos)
      << text;
}

// Outstanding pending sign-ins per client: capped, and a sign-in that comes back to /saml/acs
// frees its slot; so people who finish their sign-ins are never capped.
TEST(AbuseLimitsTest, PendingSigninsPerClient) {
  core::ManualClock clock(start());
  core::MetricsRegistry metrics;
  AbuseLimitsConfig cfg = small_limits();
  cfg.signins_per_minute = 0;  // only the pending cap here
  AbuseLimits limits(cfg, clock, metrics);
  for (int i = 0; i < 8; ++i) EXPECT_FALSE(limits.start_signin("10.0.0.1").refused) << i;
  auto no = limits.start_signin("10.0.0.1");
  ASSERT_TRUE(no.refused);
  EXPECT_EQ(no.limit, "pending_signins_per_client");
  EXPECT_GE(no.retry_after, 30s);  // 8 per 5 minutes come back: one in 37.5 s
  limits.signin_returned("10.0.0.1");
  EXPECT_FALSE(limits.start_signin("10.0.0.1").refused);
  // Finished sign-ins never use up the cap.
  for (int i = 0; i < 100; ++i) {
    limits.signin_returned("10.0.0.1");
    EXPECT_FALSE(limits.start_signin("10.0.0.1").refused) << i;
  }
  // An IPv6 client cannot escape by changing the low 64 bits.
  for (int i = 0; i < 8; ++i) (void)limits.start_signin("2001:db8::" + std::to_string(i + 1));
  EXPECT_TRUE(limits.start_signin("2001:db8::ffff").refused);
}

// Wrong device codes: per session and per client; checking never counts, only wrong codes do.
TEST(AbuseLimitsTest, DeviceCodeFailures) {
  core::ManualClock clock(start());
  core::MetricsRegistry metrics;
  AbuseLimits limits(small_limits(), clock, metrics);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(limits.device_code_allowed("s1", "10.0.0.1").refused);
  for (int i = 0; i < 3; ++i) limits.device_code_wrong("s1", "10.0.0.1");
  auto no = limits.device_code_allowed("s1", "10.0.0.1");
  ASSERT_TRUE(no.refused);
  EXPECT_EQ(no.limit, "device_code_failures");
  EXPECT_EQ(no.retry_after, 200s);  // 3 per 600 s: one back in 200 s
  // The same session from another address, and another session from this address: refused.
  EXPECT_TRUE(limits.device_code_allowed("s1", "10.9.9.9").refused);
  EXPECT_TRUE(limits.device_code_allowed("s2", "10.0.0.1").refused);
  EXPECT_FALSE(limits.device_code_allowed("s2", "10.9.9.9").refused);
  clock.advance(200s);
  EXPECT_FALSE(limits.device_code_allowed("s1", "10.0.0.1").refused);
}

// 0 turns a limit off.
TEST(AbuseLimitsTest, ZeroTurnsALimitOff) {
  core::ManualClock clock(start());
  core::MetricsRegistry metrics;
  AbuseLimitsConfig cfg;
  cfg.signins_per_minute = 0;
  cfg.pending_signins_per_client = 0;
  cfg.device_code_failures = 0;
  AbuseLimits limits(cfg, clock, metrics);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(limits.start_signin("10.0.0.1").refused);
    limits.device_code_wrong("s", "10.0.0.1");
  }
  EXPECT_FALSE(limits.device_code_allowed("s", "10.0.0.1").refused);
}

}  // namespace
}  // namespace cg::gateway
