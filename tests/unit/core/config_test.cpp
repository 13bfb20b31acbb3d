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

// ${VAR} expansion: defined, default, undefined (named, never the value), escape, once only.
TEST(ConfigTest, ExpandsEnvironmentReferences) {
  ::setenv("CG_TEST_HOST", "redis.internal", 1);
  ::setenv("CG_TEST_LOOP", "${CG_TEST_HOST}", 1);
  ::setenv("CG_TEST_EMPTY", "", 1);
  ::unsetenv("CG_TEST_UNSET");
  Problems p;
  EXPECT_EQ(*expand_env("${CG_TEST_HOST}:6379", "store.address", p), "redis.internal:6379");
  EXPECT_EQ(*expand_env("a-${CG_TEST_UNSET:-b}-${CG_TEST_EMPTY:-c}", "x", p), "a-b-c");
  EXPECT_EQ(*expand_env("${CG_TEST_EMPTY}", "x", p), "");
  EXPECT_EQ(*expand_env("$${CG_TEST_HOST} costs $5", "x", p), "${CG_TEST_HOST} costs $5");
  // What a variable holds is taken as it is: no second round.
  EXPECT_EQ(*expand_env("${CG_TEST_LOOP}", "x", p), "${CG_TEST_HOST}");
  EXPECT_TRUE(p.empty()) << p.to_string();
  EXPECT_FALSE(expand_env("${CG_TEST_UNSET}", "store.address", p).has_value());
  EXPECT_FALSE(expand_env("${CG_TEST_HOST", "a", p).has_value());
  EXPECT_FALSE(expand_env("${1BAD}", "b", p).has_value());
  ASSERT_EQ(p.list().size(), 3u);
  EXPECT_EQ(p.list()[0].to_string(),
            "store.address: found '${CG_TEST_UNSET}'; the environment variable CG_TEST_UNSET is "
            "not set (set it, or write ${CG_TEST_UNSET:-default})");
  EXPECT_EQ(p.list()[1].path, "a");
  EXPECT_EQ(p.list()[2].path, "b");
}

// load_yaml expands every scalar value, at its YAML path, but never a key.
TEST(ConfigTest, LoadYamlExpandsValuesNotKeys) {
  ::setenv("CG_TEST_IDLE", "15m", 1);
  ::unsetenv("CG_TEST_UNSET");
  std::string path = ::testing::TempDir() + "/env.yaml";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(
      "session: {idle: '${CG_TEST_IDLE}'}\n${CG_TEST_IDLE}: 1\n"
      "saml:\n  idps: [{name: a}, {name: '${CG_TEST_UNSET}'}]\n",
      f);
  std::fclose(f);
  Problems p;
  auto n = load_yaml(path, p);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(get_duration((*n)["session"], "idle", "session", p, std::chrono::seconds(1)),
            std::chrono::minutes(15));
  EXPECT_TRUE((*n)["${CG_TEST_IDLE}"]);
  ASSERT_EQ(p.list().size(), 1u) << p.to_string();
  EXPECT_EQ(p.list()[0].path, "saml.idps[1].name");
}

// The one secret reader: <key>_file, <key>_env, the legacy variable; never inline, never shown.
TEST(ConfigTest, ReadsSecretsFromAFileOrTheEnvironment) {
  std::string dir = ::testing::TempDir();
  FILE* f = std::fopen((dir + "/pw").c_str(), "w");
  std::fputs("s3cret \r\nsecond line\n", f);
  std::fclose(f);
  ::setenv("CG_TEST_SECRET", "from-env", 1);
  ::unsetenv("CG_TEST_UNSET");
  Problems p;
  YAML::Node file = YAML::Load("password_file: pw\n");
  EXPECT_EQ(get_secret(file, "password", "store", p, dir, false), "s3cret");
  YAML::Node env = YAML::Load("password_env: CG_TEST_SECRET\n");
  EXPECT_EQ(get_secret(env, "password", "store", p, dir, false), "from-env");
  YAML::Node none = YAML::Load("other: 1\n");
  EXPECT_EQ(get_secret(none, "password", "store", p, dir, false, "CG_TEST_SECRET"), "from-env");
  EXPECT_EQ(get_secret(none, "password", "store", p, dir, false, "CG_TEST_UNSET"), "");
  EXPECT_TRUE(p.empty()) << p.to_string();

  YAML::Node inline_secret = YAML::Load("client_secret: hunter2\n");
  EXPECT_EQ(get_secret(inline_secret, "client_secret", "graph", p, dir, true), "");
  YAML::Node missing = YAML::Load("password_file: nope\n");
  EXPECT_EQ(get_secret(missing, "password", "store", p, dir, false), "");
  YAML::Node unset = YAML::Load("password_env: CG_TEST_UNSET\n");
  EXPECT_EQ(get_secret(unset, "password", "store", p, dir, false), "");
  EXPECT_EQ(get_secret(none, "client_secret", "graph", p, dir, true, "CG_TEST_UNSET"), "");
  ASSERT_EQ(p.list().size(), 4u) << p.to_string();
  EXPECT_EQ(p.list()[0].path, "graph.client_secret");
  EXPECT_EQ(p.list()[1].path, "store.password_file");
  EXPECT_NE(p.list()[1].found.find("/nope"), std::string::npos);
  EXPECT_EQ(p.list()[2].to_string(),
            "store.password_env: found 'CG_TEST_UNSET'; the name of an environment variable that "
            "is set and not empty");
  EXPECT_EQ(p.list()[3].path, "graph.client_secret_file");
  EXPECT_NE(p.list()[3].allowed.find("$CG_TEST_UNSET"), std::string::npos);
  EXPECT_EQ(p.to_string().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace cg::core
