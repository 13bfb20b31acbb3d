#include "gateway/signing.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "core/time.h"
#include "crypto/jwt.h"
#include "gateway/errors.h"
#include "gateway/internal/expiring_cache.h"
#include "support/deterministic_random.h"

namespace cg::gateway {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

core::WallTime start() { return *core::parse_datetime("2026-12-06T10:00:00Z"); }

session::Session person() {
  session::Session s;
  s.id = "s1";
  s.subject = "alice";
  s.idp = "okta";
  s.idp_entity_id = "https://idp.example.org";
  s.expires = start() + 8h;
  return s;
}

JwtSigner failing_signer(int* calls = nullptr) {
  return [calls](const json&) -> Result<std::string> {
    if (calls) ++*calls;
    return fail(99, "test.sign", "the signing key is unusable");
  };
}

JwtSigner counting_signer(int* calls) {
  return [calls](const json& claims) -> Result<std::string> {
    ++*calls;
    return "jwt-" + std::to_string(*calls) + "-" + claims["aud"].get<std::string>();
  };
}

const std::vector<std::string> kRoles = {"data-scientist@vision"};

// A signer that fails: no JWT, and the error is 6540 naming the audience, so the proxy answers
// 500 instead of sending the request upstream without its identity.
TEST(IdentityJwtsTest, FailsClosedWhenTheSignerFails) {
  core::ManualClock clock(start());
  IdentityJwts jwts({"https://gw.example.org", 300s}, clock, "k1", failing_signer());
  auto s = person();
  auto jwt = jwts.issue({s, "mlflow", kRoles, 1});
  ASSERT_FALSE(jwt);
  EXPECT_EQ(jwt.error().code, static_cast<int>(Code::kIdentityUnsigned));
  EXPECT_NE(jwt.error().message.find("mlflow"), std::string::npos);
  EXPECT_NE(jwt.error().message.find("the signing key is unusable"), std::string::npos);
  EXPECT_EQ(jwts.cached(), 0u);
}

// A signer that answers an empty string is a failure too, never an empty header value.
TEST(IdentityJwtsTest, AnEmptySignatureIsAFailure) {
  core::ManualClock clock(start());
  IdentityJwts jwts({"https://gw.example.org", 300s}, clock, "k1",
                    [](const json&) -> Result<std::string> { return std::string(); });
  auto s = person();
  auto jwt = jwts.issue({s, "mlflow", kRoles, 1});
  ASSERT_FALSE(jwt);
  EXPECT_EQ(jwt.error().code, static_cast<int>(Code::kIdentityUnsigned));
}

// A token is signed once and reused for the first half of its life; then signed anew. Another
// audience, policy generation or agent token is another token.
TEST(IdentityJwtsTest, ReusesATokenForHalfItsLife) {
  core::ManualClock clock(start());
  int calls = 0;
  IdentityJwts jwts({"https://gw.example.org", 300s}, clock, "k1", counting_signer(&calls));
  auto s = person();
  auto a = jwts.issue({s, "mlflow", kRoles, 1});
  auto b = jwts.issue({s, "mlflow", kRoles, 1});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(jwts.issue({s, "jupyter", kRoles, 1}));
  ASSERT_TRUE(jwts.issue({s, "mlflow", kRoles, 2}));
  session::TokenGrant agent;
  agent.id = "t1";
  agent.agent = "ci";
  ASSERT_TRUE(jwts.issue({s, "mlflow", kRoles, 1, &agent}));
  EXPECT_EQ(calls, 4);
  clock.advance(151s);
  auto c = jwts.issue({s, "mlflow", kRoles, 1});
  ASSERT_TRUE(c);
  EXPECT_NE(*c, *a);
  EXPECT_EQ(calls, 5);
}

// Two gateways in one process keep their own tokens: the second never answers the first's.
TEST(IdentityJwtsTest, InstancesDoNotShareTokens) {
  core::ManualClock clock(start());
  int calls = 0;
  IdentityJwts one({"https://one.example.org", 300s}, clock, "k1", counting_signer(&calls));
  IdentityJwts two({"https://two.example.org", 300s}, clock, "k1", failing_signer());
  auto s = person();
  ASSERT_TRUE(one.issue({s, "mlflow", kRoles, 1}));
  EXPECT_FALSE(two.issue({s, "mlflow", kRoles, 1}));
}

// With the keyring's signer the JWT verifies under the keyring's public keys, for its audience,
// and carries the person, their roles and the agent acting for them.
TEST(IdentityJwtsTest, KeyringSignerMakesAVerifiableToken) {
  core::ManualClock clock(start());
  testing::DeterministicRandom random;
  auto ring = crypto::Keyring::generate(start(), random);
  IdentityJwts jwts({"https://gw.example.org", 300s}, clock, ring.current_signing().id,
                    keyring_signer(ring));
  auto s = person();
  session::TokenGrant agent;
  agent.id = "t1";
  agent.agent = "ci";
  agent.scope = {"jobs:submit"};
  auto jwt = jwts.issue({s, "mlflow", kRoles, 1, &agent});
  ASSERT_TRUE(jwt) << jwt.error().message;
  crypto::JwtVerifier verifier(ring);
  auto claims = verifier.verify(*jwt, start(), {"https://gw.example.org", "mlflow"});
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ((*claims)["sub"], "alice");
  EXPECT_EQ((*claims)["roles"], json(kRoles));
  EXPECT_EQ((*claims)["act"]["sub"], "agent:ci");
  EXPECT_EQ((*claims)["exp"], core::unix_seconds(start() + 300s));
}

session::TokenGrant cli_grant(const crypto::Keyring& ring, core::Random& random) {
  session::TokenGrant g;
  g.id = "g1";
  g.kind = "cli";
  g.subject = "alice";
  g.secret = ring.seal("family-secret", "token-family:g1", random);
  g.expires = start() + 24h;
  return g;
}

// The token endpoint's signer fails: no access token, no token JSON (6541), never "".
TEST(TokenMinterTest, AccessTokenFailsClosed) {
  testing::DeterministicRandom random;
  auto ring = crypto::Keyring::generate(start(), random);
  TokenMinter minter({"https://gw.example.org", 900s}, ring, random, failing_signer());
  auto g = cli_grant(ring, random);
  auto at = minter.access_token(g, start());
  ASSERT_FALSE(at);
  EXPECT_EQ(at.error().code, static_cast<int>(Code::kTokenUnminted));
  auto body = minter.token_json(g, start(), 0);
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, static_cast<int>(Code::kTokenUnminted));
}

// A login whose family secret was sealed under keys this gateway does not hold: its refresh
// token cannot be made (6541), so neither can its token JSON.
TEST(TokenMinterTest, RefreshTokenFailsWhenTheSecretDoesNotOpen) {
  testing::DeterministicRandom random;
  auto ring = crypto::Keyring::generate(start(), random);
  auto other = crypto::Keyring::generate(start(), random);
  TokenMinter minter({"https://gw.example.org", 900s}, ring, random, keyring_signer(ring));
  auto g = cli_grant(other, random);
  auto rt = minter.refresh_token(g, 0);
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error().code, static_cast<int>(Code::kTokenUnminted));
  EXPECT_TRUE(minter.access_token(g, start()));
  EXPECT_FALSE(minter.token_json(g, start(), 0));
}

// Both tokens made: the access token verifies for the gateway itself, the refresh token names
// the grant and generation, and each generation is a different token.
TEST(TokenMinterTest, TokenJsonCarriesBothTokens) {
  testing::DeterministicRandom random;
  auto ring = crypto::Keyring::generate(start(), random);
  TokenMinter minter({"https://gw.example.org", 900s}, ring, random, keyring_signer(ring));
  auto g = cli_grant(ring, random);
  auto body = minter.token_json(g, start(), 3);
  ASSERT_TRUE(body) << body.error().message;
  auto j = json::parse(*body);
  crypto::JwtVerifier verifier(ring);
  auto claims = verifier.verify(j["access_token"].get<std::string>(), start(),
                                {"https://gw.example.org", "https://gw.example.org"});
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ((*claims)["cg_use"], "access");
  EXPECT_EQ((*claims)["sid"], "g1");
  EXPECT_EQ(j["expires_in"], 900);
  std::string rt = j["refresh_token"];
  EXPECT_TRUE(rt.starts_with("cgr1.g1.3.")) << rt;
  EXPECT_NE(*minter.refresh_token(g, 3), *minter.refresh_token(g, 4));
}

// The cache is bounded without being cleared wholesale: expired entries go first, then those
// closest to their end; what is left still answers.
TEST(ExpiringCacheTest, BoundedAndDropsTheOldestFirst) {
  internal::ExpiringCache<int> cache(8);
  auto now = start();
  for (int i = 0; i < 8; ++i)
    cache.put("k" + std::to_string(i), i, now + std::chrono::seconds(i + 1), now);
  EXPECT_EQ(cache.size(), 8u);
  cache.put("new", 100, now + 1h, now);
  EXPECT_LE(cache.size(), 8u);
  EXPECT_EQ(cache.get("new", now), 100);
  EXPECT_EQ(cache.get("k7", now), 7);
  EXPECT_FALSE(cache.get("k0", now));
  EXPECT_FALSE(cache.get("k7", now + 8s));  // at its end: gone
  EXPECT_EQ(cache.get("new", now + 8s), 100);
}

}  // namespace
}  // namespace cg::gateway
