#include "core/config.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace cg::core {
namespace {

// Every problem is reported with its path, the value found and what is allowed.
TEST(ConfigTest, CollectsEveryProblem) {
  YAML::Node n = YAML::Load("a: [1]\nb: maybe\nc: 5 minutes\nzzz: 1\n");
  Problems p;
  get_string(n, "a", "root", p, true);
  get_bool(n, "b", "root", p, false);
  get_duration(n, "c", "root", p, std::chrono::seconds(1));
  get_string(n, "missing", "root", p, true);
  reject_unknown_keys(n, "root", {"a", "b", "c"}, p);
  ASSERT_EQ(p.list().size(), 5u);
  EXPECT_EQ(p.list()[0].path, "root.a");
  EXPECT_EQ(p.list()[1].found, "maybe");
  EXPECT_EQ(p.list()[2].allowed, "a duration such as 250ms, 180s, 5m, 8h or 30d");
  EXPECT_EQ(p.list()[3].to_string(), "root.missing: missing; required");
  EXPECT_EQ(p.list()[4].path, "root.zzz");
}

// A YAML syntax error names the line.
TEST(ConfigTest, ReportsYamlSyntaxErrors) {
  std::string path = ::testing::TempDir() + "/bad.yaml";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("a: 1\nb: [unclosed\n", f);
  std::fclose(f);
  Problems p;
  EXPECT_FALSE(load_yaml(path, p).has_value());
  ASSERT_EQ(p.list().size(), 1u);
  EXPECT_NE(p.list()[0].allowed.find("line"), std::string::npos);
}

// Every duration field needs a unit: a bare number is a problem that suggests one.
TEST(ConfigTest, ADurationNeedsAUnit) {
  YAML::Node n = YAML::Load("idle: 5\nttl: 8h\nzero: 0\nflush: 250\n");
  Problems p;
  EXPECT_EQ(get_duration(n, "idle", "session", p, std::chrono::seconds(1)),
            std::chrono::seconds(1));
  EXPECT_EQ(get_duration(n, "ttl", "session", p, std::chrono::seconds(1)), std::chrono::hours(8));
  EXPECT_EQ(get_duration(n, "zero", "session", p, std::chrono::seconds(1)),
            std::chrono::seconds(0));
  get_duration_ms(n, "flush", "audit", p, std::chrono::milliseconds(1));
  ASSERT_EQ(p.list().size(), 2u) << p.to_string();
  EXPECT_EQ(p.list()[0].to_string(),
            "session.idle: found '5'; a duration needs a unit; write 5s, 5m or 5h (e.g. 5m)");
  EXPECT_EQ(p.list()[1].path, "audit.flush");
  EXPECT_NE(p.list()[1].allowed.find("250s"), std::string::npos);
}

// The one path resolver: relative against the config's directory, absolute kept, normalised.
TEST(ConfigTest, ResolvesPathsAgainstTheConfigDirectory) {
  EXPECT_EQ(resolve_path("/etc/claimgate", "keys"), "/etc/claimgate/keys");
  EXPECT_EQ(resolve_path("/etc/claimgate", "./state/../jobs/"), "/etc/claimgate/jobs");
  EXPECT_EQ(resolve_path("/etc/claimgate", "/var/lib/cg/x.db"), "/var/lib/cg/x.db");
  EXPECT_EQ(resolve_path("/etc/claimgate", ""), "");
  // A config named without a directory is in the working directory, never at "/".
  std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(config_dir("claimgate.yaml"), cwd);
  EXPECT_EQ(config_dir("./conf/../claimgate.yaml"), cwd);
  EXPECT_EQ(config_dir("/etc/claimgate/claimgate.yaml"), "/etc/claimgate");
  EXPECT_EQ(resolve_path(config_dir("claimgate.yaml"), "jobs"), cwd + "/jobs");
}

// get_path resolves and notes each path setting (with its fallback) for `check`.
TEST(ConfigTest, NotesEveryResolvedPath) {
  YAML::Node n = YAML::Load("keys: keyring\nca: /etc/ssl/ca.pem\n");
  Problems p;
  EXPECT_EQ(get_path(n, "keys", "", p, "/srv/cg", true), "/srv/cg/keyring");
  EXPECT_EQ(get_path(n, "ca", "jobs", p, "/srv/cg", false), "/etc/ssl/ca.pem");
  EXPECT_EQ(get_path(n, "state_dir", "jobs", p, "/srv/cg", false, "jobs"), "/srv/cg/jobs");
  EXPECT_EQ(get_path(n, "absent", "jobs", p, "/srv/cg", false), "");
  EXPECT_EQ(get_path(n, "needed", "jobs", p, "/srv/cg", true), "");
  ASSERT_EQ(p.paths().size(), 3u);
  EXPECT_EQ(p.paths()[0].path, "keys");
  EXPECT_EQ(p.paths()[1].path, "jobs.ca");
  EXPECT_EQ(p.paths()[2].path, "jobs.state_dir");
  EXPECT_EQ(p.paths()[2].resolved, "/srv/cg/jobs");
  ASSERT_EQ(p.list().size(), 1u);
  EXPECT_EQ(p.list()[0].path, "jobs.needed");
}

}  // namespace
}  // namespace cg::core
