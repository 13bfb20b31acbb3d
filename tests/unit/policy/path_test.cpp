#include "policy/path.h"

#include <gtest/gtest.h>

#include "policy/errors.h"

namespace cg::policy {
namespace {

struct PathCase {
  const char* raw;
  const char* normalised;  // nullptr: refused
  int code = 0;
};

// Every trick a client could use to reach a rule it would not reach in plain form ends either
// at the plain form or at a refusal.
TEST(NormalizePathTest, Table) {
  const PathCase cases[] = {
      {"/", "/"},
      {"/api/projects/a/jobs", "/api/projects/a/jobs"},
      {"/api/projects/a/../b/jobs", "/api/projects/b/jobs"},
      {"/api/projects/a/./jobs", "/api/projects/a/jobs"},
      {"/api//projects///a/jobs", "/api/projects/a/jobs"},
      {"//api/projects/a/jobs", "/api/projects/a/jobs"},
      {"/api/projects/a/jobs/", "/api/projects/a/jobs/"},
      {"/api/projects/a/jobs/.", "/api/projects/a/jobs/"},
      {"/api/projects/a/jobs/x/..", "/api/projects/a/jobs/"},
      {"/api/projects/a/%2e%2e/b/jobs", "/api/projects/b/jobs"},
      {"/api/projects/a/%2E%2E/b/jobs", "/api/projects/b/jobs"},
      {"/api/projects/a/.%2e/b/jobs", "/api/projects/b/jobs"},
      {"/api/projects/%61/jobs", "/api/projects/a/jobs"},  // %61 is 'a'
      {"/api/projects/a/jobs%7e1", "/api/projects/a/jobs~1"},
      {"/files/na%c3%afve", "/files/na%C3%AFve"},  // kept, upper-case hex
      {"/files/a%20b", "/files/a%20b"},
      {"/files/100%25", "/files/100%25"},                // an encoded '%' stays encoded
      {"/files/%25zz", "/files/%25zz"},                  // '%' then no escape: kept
      {"/API/Projects/A/jobs", "/API/Projects/A/jobs"},  // case is kept
      {"/api/projects/a%2Fb/jobs", nullptr, 7001},
      {"/api/projects/a%2fb/jobs", nullptr, 7001},
      {"/api/projects/a%5cb/jobs", nullptr, 7001},
      {"/api/projects/a\\b/jobs", nullptr, 7001},
      {"/api/%00/jobs", nullptr, 7001},
      {"/api/\x01/jobs", nullptr, 7001},
      {"/..", nullptr, 7002},
      {"/a/../../etc/passwd", nullptr, 7002},
      {"/%2e%2e/x", nullptr, 7002},
      {"api/projects", nullptr, 7003},
      {"", nullptr, 7003},
      {"/a%", nullptr, 7003},
      {"/a%2", nullptr, 7003},
      {"/a%zz", nullptr, 7003},
  };
  for (const auto& c : cases) {
    auto r = normalize_path(c.raw);
    if (c.normalised) {
      ASSERT_TRUE(r.has_value()) << c.raw << ": " << r.error().message;
      EXPECT_EQ(*r, c.normalised) << c.raw;
      // Normalising is idempotent: the upstream's path normalises to itself.
      auto again = normalize_path(*r);
      ASSERT_TRUE(again.has_value());
      EXPECT_EQ(*again, *r);
    } else {
      ASSERT_FALSE(r.has_value()) << c.raw << " -> " << *r;
      EXPECT_EQ(r.error().code, c.code) << c.raw << ": " << r.error().message;
    }
  }
}

// Path parameters (';', raw or %3B): Tomcat, Spring and Jetty resolve "/static/..;/api/audit/x"
// to "/api/audit/x", which a rule for "/static/" would never have seen.
TEST(NormalizePathTest, RefusesPathParameters) {
  for (const char* p : {"/static/..;/api/audit/x", "/static/..;foo=1/api", "/a;jsessionid=1",
                        "/a/b;", "/static/..%3b/api/audit/x", "/static/..%3B/api"}) {
    auto r = normalize_path(p);
    ASSERT_FALSE(r.has_value()) << p << " -> " << *r;
    EXPECT_EQ(r.error().code, static_cast<int>(Code::kPathEncoding)) << p;
    EXPECT_NE(r.error().message.find("';'"), std::string::npos) << r.error().message;
  }
}

// A double-encoded escape would be read as another path by an upstream that decodes twice.
TEST(NormalizePathTest, RefusesDoubleEncodedEscapes) {
  for (const char* p : {"/files/%252e%252e/x", "/a/%252f/b", "/a/%255c", "/a%2500"}) {
    auto r = normalize_path(p);
    ASSERT_FALSE(r.has_value()) << p << " -> " << *r;
    EXPECT_EQ(r.error().code, static_cast<int>(Code::kPathEncoding)) << p;
  }
}

// Overlong or broken UTF-8 ("%C0%AE" is '.' to some decoders) is refused; well-formed kept.
TEST(NormalizePathTest, RefusesMalformedUtf8) {
  for (const char* p : {"/a/%c0%ae%c0%ae/x", "/a/%C0%AF", "/a/%e0%80%ae", "/a/%f0%80%80%ae",
                        "/a/%ed%a0%80", "/a/%f4%90%80%80", "/a/%ff", "/a/%c3", "/a/%c3x",
                        "/a/%80"}) {
    auto r = normalize_path(p);
    ASSERT_FALSE(r.has_value()) << p << " -> " << *r;
    EXPECT_EQ(r.error().code, static_cast<int>(Code::kPathEncoding)) << p;
  }
  EXPECT_EQ(*normalize_path("/a/%e2%82%ac/%f0%9f%98%80"), "/a/%E2%82%AC/%F0%9F%98%80");
}

TEST(NormalizePathTest, SegmentLimit) {
  std::string p;
  for (size_t i = 0; i < kMaxPathSegments; ++i) p += "/a";
  EXPECT_TRUE(normalize_path(p).has_value());
  EXPECT_EQ(normalize_path(p + "/a").error().code, static_cast<int>(Code::kPathMalformed));
}

TEST(NormalizePathTest, Segments) {
  std::vector<std::string> got;
  for_each_segment("/a/b/c/", [&](std::string_view s) { got.emplace_back(s); });
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace cg::policy
