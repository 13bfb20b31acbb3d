#include "policy/access.h"

#include <gtest/gtest.h>

namespace cg::policy {
namespace {

session::Session with_groups(std::vector<std::string> groups) {
  session::Session s;
  s.subject = "alice";
  s.claims = {{"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "groups",
               std::move(groups)}};
  return s;
}

// Deny by default: an unknown route, no session, or no listed group; each with its reason.
TEST(RouteAuthorizerTest, DecidesByRouteRequirement) {
  RouteAuthorizer a;
  a.set("app", {});
  a.set("ops", {false, {"devops-engineers", "admins"}, "groups"});
  a.set("docs", {true, {}, "groups"});
  auto ds = with_groups({"data-scientists"});
  auto ops = with_groups({"devops-engineers"});

  EXPECT_EQ(reason_name(a.decide({"GET", "h", "/x", "nope", &ds}).reason), "no-matching-rule");
  EXPECT_EQ(reason_name(a.decide({"GET", "h", "/x", "app", nullptr}).reason), "unauthenticated");
  EXPECT_TRUE(a.decide({"GET", "h", "/x", "app", &ds}).allowed());
  EXPECT_TRUE(a.decide({"GET", "h", "/x", "docs", nullptr}).allowed());
  auto denied = a.decide({"POST", "h", "/x", "ops", &ds});
  EXPECT_FALSE(denied.allowed());
  EXPECT_EQ(reason_name(denied.reason), "group-missing");
  EXPECT_NE(denied.detail.find("devops-engineers"), std::string::npos);
  EXPECT_EQ(denied.rule, "route:ops");
  auto allowed = a.decide({"POST", "h", "/x", "ops", &ops});
  EXPECT_TRUE(allowed.allowed());
  EXPECT_EQ(reason_name(allowed.reason), "group");
}

}  // namespace
}  // namespace cg::policy
