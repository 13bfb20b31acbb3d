#include "saml/replay_cache.h"

#include <gtest/gtest.h>

#include "support/saml_fixture.h"

namespace cg::saml {
namespace {

using namespace std::chrono_literals;

// An id is refused while its assertion lives, and forgotten (purged) once it has expired.
TEST(ReplayCacheTest, RefusesUntilExpiryThenForgets) {
  MemoryReplayCache cache;
  auto now = testing::test_now();
  EXPECT_TRUE(*cache.insert_if_absent("idp|_a", now + 300s, now));
  EXPECT_FALSE(*cache.insert_if_absent("idp|_a", now + 300s, now + 299s));
  EXPECT_TRUE(*cache.insert_if_absent("idp|_b", now + 10s, now));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(*cache.insert_if_absent("idp|_c", now + 900s, now + 301s));  // purges _a and _b
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(*cache.insert_if_absent("idp|_a", now + 900s, now + 301s));
}

// Full: it refuses (fails closed) instead of dropping an id that could then be replayed.
TEST(ReplayCacheTest, FailsClosedWhenFull) {
  MemoryReplayCache cache(2);
  auto now = testing::test_now();
  EXPECT_TRUE(*cache.insert_if_absent("1", now + 60s, now));
  EXPECT_TRUE(*cache.insert_if_absent("2", now + 60s, now));
  auto third = cache.insert_if_absent("3", now + 60s, now);
  ASSERT_FALSE(third.has_value());
  EXPECT_EQ(third.error().name, "replay_cache.unavailable");
  EXPECT_FALSE(*cache.insert_if_absent("1", now + 60s, now));  // still a replay, not an error
}

// Through the validator: a cache that cannot answer refuses the sign-in.
class FullCacheTest : public testing::SamlTest {};
TEST_F(FullCacheTest, ValidatorRefusesWhenCacheCannotAnswer) {
  MemoryReplayCache full(0);
  ResponseValidator v(sp_, idp_, &full, clock_);
  auto r = v.validate(build(spec()), testing::kRequestId);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->name, "replay_cache.unavailable");
}

}  // namespace
}  // namespace cg::saml
