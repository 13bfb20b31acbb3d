#include "gateway/routes.h"

#include <gtest/gtest.h>

#include <string>

namespace cg::gateway {
namespace {

using http::bhttp::verb;

// Each endpoint answers its own methods; GET includes HEAD.
TEST(RoutesTest, EachPathFindsItsHandler) {
  EXPECT_EQ(find_endpoint("/saml/acs", verb::post).endpoint->handler, Handler::kAcs);
  EXPECT_EQ(find_endpoint("/saml/login", verb::get).endpoint->handler, Handler::kLogin);
  EXPECT_EQ(find_endpoint("/saml/login", verb::head).endpoint->handler, Handler::kLogin);
  EXPECT_EQ(find_endpoint("/saml/logout", verb::post).endpoint->handler, Handler::kLogout);
  EXPECT_EQ(find_endpoint("/.claimgate/device", verb::get).endpoint->handler, Handler::kDevicePage);
  EXPECT_EQ(find_endpoint("/.claimgate/device", verb::post).endpoint->handler,
            Handler::kDeviceSubmit);
  EXPECT_EQ(find_endpoint("/.claimgate/tokens/abc", verb::delete_).endpoint->handler,
            Handler::kTokens);
  EXPECT_EQ(find_endpoint("/.claimgate/jobs/check", verb::post).endpoint->handler,
            Handler::kJobsNode);
  EXPECT_EQ(find_endpoint("/.well-known/jwks.json", verb::get).endpoint->handler, Handler::kJwks);
}

// A known path asked with another method is 405, and the match says which methods it answers;
// a path the table lacks is unknown (404).
TEST(RoutesTest, WrongMethodIsKnownPathWithoutEndpoint) {
  auto m = find_endpoint("/saml/acs", verb::get);
  EXPECT_TRUE(m.known_path);
  EXPECT_EQ(m.endpoint, nullptr);
  EXPECT_EQ(allow_header(m.allowed), "POST");
  auto d = find_endpoint("/.claimgate/device", verb::put);
  EXPECT_EQ(allow_header(d.allowed), "GET, HEAD, POST");
  auto none = find_endpoint("/saml/nothing", verb::get);
  EXPECT_FALSE(none.known_path);
  EXPECT_FALSE(none.tokens);
  // A prefix endpoint needs something under it.
  EXPECT_FALSE(find_endpoint("/.claimgate/tokens/", verb::delete_).endpoint);
  EXPECT_FALSE(find_endpoint("/.claimgate/whoami/x", verb::get).known_path);
}

// Token endpoints are marked (off while tokens.enabled is false); others are not.
TEST(RoutesTest, TokenEndpointsAreMarked) {
  EXPECT_TRUE(find_endpoint("/.claimgate/cli/token", verb::get).tokens);
  EXPECT_TRUE(find_endpoint("/.claimgate/admin/revoke", verb::post).tokens);
  EXPECT_FALSE(find_endpoint("/.claimgate/whoami", verb::get).tokens);
  EXPECT_FALSE(find_endpoint("/.claimgate/jobs/renew", verb::post).tokens);
}

// Every endpoint is under the gateway's own paths (never a route's), and the table has no path
// twice with overlapping methods (the first would hide the second).
TEST(RoutesTest, TableIsConsistent) {
  for (const Endpoint& e : endpoints()) {
    EXPECT_TRUE(is_gateway_path(std::string(e.path) + (e.prefix ? "x" : ""))) << e.path;
    for (const Endpoint& o : endpoints()) {
      if (&o == &e || o.path != e.path) continue;
      EXPECT_EQ(o.methods & e.methods, 0) << e.path;
    }
  }
  EXPECT_FALSE(is_gateway_path("/app/saml/acs"));
  EXPECT_FALSE(is_gateway_path("/healthz/x"));
}

}  // namespace
}  // namespace cg::gateway
