#include <gtest/gtest.h>

#include "http/cookies.h"
#include "http/url.h"

namespace cg::http {
namespace {

// Cookies are found by exact name, quoted values unquoted; stripping keeps the others in order.
TEST(CookiesTest, FindsAndStrips) {
  std::string h = "a=1; cg_session=\"abc\"; cg_session_pending=xyz;b=2";
  EXPECT_EQ(*find_cookie(h, "cg_session"), "abc");
  EXPECT_EQ(*find_cookie(h, "b"), "2");
  EXPECT_FALSE(find_cookie(h, "cg").has_value());
  EXPECT_EQ(strip_cookies(h, {"cg_session", "cg_session_pending"}), "a=1; b=2");
  EXPECT_EQ(strip_cookies("cg_session=1", {"cg_session"}), "");
}

// Set-Cookie carries every attribute asked for; expiring keeps path and domain.
TEST(CookiesTest, FormatsSetCookie) {
  SetCookie c{"cg", "v", "/", "example.org", std::chrono::seconds(60), true, true, SameSite::kNone};
  EXPECT_EQ(c.to_string(),
            "cg=v; Path=/; Domain=example.org; Max-Age=60; Secure; HttpOnly; SameSite=None");
  EXPECT_EQ(expire_cookie(c),
            "cg=; Path=/; Domain=example.org; Max-Age=0; Secure; HttpOnly; SameSite=None");
}

// Upstream and public URLs: scheme, host, port (default or explicit), path; bad ones refused.
TEST(UrlTest, ParsesAndRefuses) {
  auto u = parse_url("http://127.0.0.1:9000/base");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 9000);
  EXPECT_EQ(u->path, "/base");
  EXPECT_EQ(u->authority(), "127.0.0.1:9000");
  EXPECT_EQ(parse_url("https://ml.example.org")->origin(), "https://ml.example.org");
  EXPECT_EQ(parse_url("http://[::1]:8080")->host, "::1");
  for (const char* bad : {"ftp://x", "http://", "http://h:0", "http://h:70000", "http://u@h/",
                          "http://h/p?q=1", "not a url"}) {
    EXPECT_FALSE(parse_url(bad).has_value()) << bad;
  }
}

// A return path must stay on this origin: anything else becomes "/".
TEST(UrlTest, ReturnPathsStayOnThisOrigin) {
  EXPECT_EQ(safe_return_path("/app/x?y=1"), "/app/x?y=1");
  for (const char* bad : {"https://evil", "//evil/x", "/\\evil", "evil", "", "/a\r\nLocation: x"}) {
    EXPECT_EQ(safe_return_path(bad), "/") << bad;
  }
}

}  // namespace
}  // namespace cg::http
