#include "core/config.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cg::core
