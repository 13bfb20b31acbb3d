#include "gateway/replies.h"

#include <gtest/gtest.h>

#include "gateway/forward_auth.h"

namespace cg::gateway {
namespace {

namespace bhttp = http::bhttp;

// No control byte but HTAB passes as a header value.
TEST(RepliesTest, HeaderValuesRefuseControlBytes) {
  EXPECT_TRUE(header_value_ok("Bearer realm=\"claimgate\"\tx"));
  EXPECT_TRUE(header_value_ok("caf\xc3\xa9"));
  for (const char* bad : {"a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x7f", "a\x1b[31m"}) {
    EXPECT_FALSE(header_value_ok(bad)) << bad;
  }
  EXPECT_FALSE(header_value_ok(std::string_view("a\0b", 3)));
  bhttp::fields f;
  f.set("Location", "/ok");
  EXPECT_FALSE(bad_header(f));
  f.set("WWW-Authenticate", "Bearer error_description=\"kid x\r\nSet-Cookie: s=1\"");
  EXPECT_EQ(bad_header(f).value_or(""), "WWW-Authenticate");
  EXPECT_EQ(header_quotable("a\"b\\c\r\nd"), "a?b?c??d");
}

// RFC 8252 loopback redirects: parsed, then written anew from their parts.
TEST(RepliesTest, LoopbackRedirectsAreParsedNeverPasted) {
  auto ok = parse_loopback_redirect("http://127.0.0.1:49152/callback");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->to_string(), "http://127.0.0.1:49152/callback");
  auto v6 = parse_loopback_redirect("http://[::1]:8000/a/b%20c");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->to_string(), "http://[::1]:8000/a/b%20c");
  EXPECT_EQ(parse_loopback_redirect("http://127.0.0.1:9")->path, "/");
  for (const char* bad :
       {"http://127.0.0.1:49152/cb\r\nSet-Cookie: cg_session=x",  // response splitting
        "http://127.0.0.1:49152/cb%0d%0aSet-Cookie:x\r",          // raw CR at the end
        "http://127.0.0.1:49152/cb?x=1",                          // query
        "http://127.0.0.1:49152/cb#f",                            // fragment
        "http://127.0.0.1/cb",                                    // no port
        "http://127.0.0.1:0/cb", "http://127.0.0.1:65536/cb", "http://127.0.0.1:+80/cb",
        "http://localhost:49152/cb",            // may resolve elsewhere
        "http://127.0.0.1.evil.example:80/cb",  // a name that starts like one
        "http://127.0.0.1@evil.example:80/cb",  // user info
        "http://127.0.0.1:80@evil.example/cb",  // user info after the port
        "https://127.0.0.1:49152/cb", "http://evil.example/cb", "http://127.0.0.1:49152/a b",
        "http://127.0.0.1:49152/a\"><script>", "http://127.0.0.1:49152/%zz", "//127.0.0.1:49152/cb",
        ""}) {
    EXPECT_FALSE(parse_loopback_redirect(bad)) << bad;
  }
}

// The JSON media type is parsed: a substring elsewhere in the header does not count.
TEST(RepliesTest, JsonMediaTypeIsComparedExactly) {
  EXPECT_TRUE(is_json_media_type("application/json"));
  EXPECT_TRUE(is_json_media_type("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(is_json_media_type(" application/json ;charset=utf-8"));
  for (const char* bad :
       {"text/plain; a=application/json", "text/plain;application/json", "application/jsonx",
        "application/json-patch+json", "multipart/form-data; boundary=application/json",
        "application/x-www-form-urlencoded", ""}) {
    EXPECT_FALSE(is_json_media_type(bad)) << bad;
  }
}

// Browsers say where a request comes from; anything but this origin is refused.
TEST(RepliesTest, CrossSiteRequestsAreRecognised) {
  const char* us = "https://ml.example.org";
  EXPECT_FALSE(cross_site_reason("", "", us));
  EXPECT_FALSE(cross_site_reason("https://ml.example.org", "same-origin", us));
  EXPECT_FALSE(cross_site_reason("", "none", us));
  EXPECT_TRUE(cross_site_reason("https://evil.example", "", us));
  EXPECT_TRUE(cross_site_reason("null", "", us));
  EXPECT_TRUE(cross_site_reason("", "cross-site", us));
  EXPECT_TRUE(cross_site_reason("", "same-site", us));
  EXPECT_TRUE(cross_site_reason("https://ml.example.org.evil.example", "", us));
  EXPECT_TRUE(cross_site_reason("http://ml.example.org", "", us));
  // The gateway's own form, as Chromium sends it under Referrer-Policy: no-referrer.
  EXPECT_FALSE(cross_site_reason("null", "same-origin", us));
  EXPECT_TRUE(cross_site_reason("null", "cross-site", us));
}

bhttp::request_header<> auth_request(std::vector<std::pair<std::string, std::string>> headers,
                                     std::string target = "/auth") {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target(target);
  for (auto& [n, v] : headers) h.insert(n, v);
  return h;
}

ForwardAuthConfig from(const char* proxy) {
  ForwardAuthConfig c;
  EXPECT_TRUE(ForwardAuthConfig::preset(proxy, c));
  return c;
}

// Only the configured front proxy's headers are read; the others are the client's.
TEST(ForwardAuthTest, ReadsOnlyTheConfiguredProxysHeaders) {
  auto traefik = from("traefik");
  auto h = auth_request({{"X-Original-URI", "/static/x"},
                         {"X-Original-Method", "GET"},
                         {"X-Forwarded-Uri", "/api/audit/x"},
                         {"X-Forwarded-Method", "POST"},
                         {"X-Forwarded-Host", "admin.example"}});
  auto o = read_original_request(traefik, h);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->target, "/api/audit/x");
  EXPECT_EQ(o->method, "POST");
  EXPECT_EQ(o->host, "admin.example");
  auto nginx = read_original_request(from("nginx"), h);
  ASSERT_TRUE(nginx);
  EXPECT_EQ(nginx->target, "/static/x");
  EXPECT_EQ(nginx->method, "GET");
}

// A missing, repeated or malformed header is refused: never a default such as GET /.
TEST(ForwardAuthTest, RefusesMissingRepeatedOrMalformedHeaders) {
  auto nginx = from("nginx");
  auto full = std::vector<std::pair<std::string, std::string>>{
      {"X-Original-URI", "/a"}, {"X-Original-Method", "GET"}, {"X-Forwarded-Host", "h.example"}};
  EXPECT_TRUE(read_original_request(nginx, auth_request(full)));
  for (size_t drop = 0; drop < full.size(); ++drop) {
    auto some = full;
    some.erase(some.begin() + static_cast<long>(drop));
    auto o = read_original_request(nginx, auth_request(some));
    ASSERT_FALSE(o) << full[drop].first;
    EXPECT_NE(o.error().message.find(full[drop].first), std::string::npos) << o.error().message;
  }
  auto twice = full;
  twice.push_back({"X-Original-URI", "/b"});
  EXPECT_FALSE(read_original_request(nginx, auth_request(twice)));
  for (auto [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"X-Original-URI", "api/x"},
                                                        {"X-Original-URI", "http://evil.example/x"},
                                                        {"X-Original-URI", ""},
                                                        {"X-Original-Method", "GET /x"},
                                                        {"X-Original-Method", "delete"},
                                                        {"X-Original-Method", "G3T"},
                                                        {"X-Original-Method", ""},
                                                        {"X-Forwarded-Host", "a b"},
                                                        {"X-Forwarded-Host", "a/b"}}) {
    auto bad = full;
    for (auto& [n, v] : bad)
      if (n == name) v = value;
    EXPECT_FALSE(read_original_request(nginx, auth_request(bad))) << name << ": " << value;
  }
}

// Envoy's ext_authz keeps the original method, Host and path behind path_prefix.
TEST(ForwardAuthTest, EnvoyRequestsCarryTheOriginalInTheirOwnLine) {
  auto envoy = from("envoy");
  EXPECT_TRUE(envoy.is_auth_path("/auth/api/x"));
  EXPECT_TRUE(envoy.is_auth_path("/auth"));
  EXPECT_FALSE(envoy.is_auth_path("/authx"));
  EXPECT_FALSE(from("nginx").is_auth_path("/auth/x"));
  auto h = auth_request({{"Host", "admin.example"}, {"X-Original-URI", "/static/x"}},
                        "/auth/api/audit/x?y=1");
  h.method(bhttp::verb::post);
  // (Found by fuzz_forward_auth: a NUL in the auth request's own target.)
  auto nul = auth_request({{"Host", "admin.example"}}, std::string("/auth/a\0b", 9));
  EXPECT_FALSE(read_original_request(envoy, nul));
  auto o = read_original_request(envoy, h);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->method, "POST");
  EXPECT_EQ(o->target, "/api/audit/x?y=1");
  EXPECT_EQ(o->host, "admin.example");
}

// The one HTML-vs-JSON rule: a browser's navigation is redirected to sign in, a program gets
// JSON; a form POST (Accept */*) gets an error page, an API POST asking for JSON gets JSON.
TEST(RepliesTest, HtmlAnswerRule) {
  using http::bhttp::verb;
  const char* page = "text/html,application/xhtml+xml,*/*;q=0.8";
  EXPECT_TRUE(html_answer(Answer::kSignIn, verb::get, page));
  EXPECT_FALSE(html_answer(Answer::kSignIn, verb::post, page));
  EXPECT_FALSE(html_answer(Answer::kSignIn, verb::get, "*/*"));
  EXPECT_TRUE(html_answer(Answer::kDenied, verb::post, page));
  EXPECT_FALSE(html_answer(Answer::kDenied, verb::post, "*/*"));
  EXPECT_TRUE(html_answer(Answer::kError, verb::post, "*/*"));
  EXPECT_FALSE(html_answer(Answer::kError, verb::post, "application/json"));
  EXPECT_FALSE(html_answer(Answer::kError, verb::get, "*/*"));
  EXPECT_TRUE(html_answer(Answer::kError, verb::get, page));
}

}  // namespace
}  // namespace cg::gateway
