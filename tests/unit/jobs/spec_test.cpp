#include <gtest/gtest.h>

#include "jobs/job.h"

namespace cg::jobs {
namespace {

// A complete spec reads field by field; defaults fill what is left out.
TEST(JobSpecTest, ReadsEveryField) {
  SpecLimits lim;
  lim.pools = {"default", "gpu"};
  auto s = parse_spec(R"({"name":"r50","command":["torchrun","train.py"],"env":{"EPOCHS":"3"},
    "workdir":"/data/x","nodes":2,"procs_per_node":4,"gpus":8,"max_runtime":"2h","pool":"gpu"})",
                      lim);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->command, (std::vector<std::string>{"torchrun", "train.py"}));
  EXPECT_EQ(s->env.at("EPOCHS"), "3");
  EXPECT_EQ(s->nodes, 2);
  EXPECT_EQ(s->procs_per_node, 4);
  EXPECT_EQ(s->gpus, 8);
  EXPECT_EQ(s->max_runtime, std::chrono::hours(2));
  EXPECT_EQ(s->pool, "gpu");
  auto d = parse_spec(R"({"command":["python3"]})", lim);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->nodes, 1);
  EXPECT_EQ(d->max_runtime, lim.default_runtime);
  EXPECT_EQ(d->pool, "default");
  // What is stored reads back the same.
  auto back = spec_from_json(s->to_json());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_json(), s->to_json());
}

// Every problem is reported at once, each naming its field and the limit.
TEST(JobSpecTest, RefusesBadSpecsWithEveryProblem) {
  SpecLimits lim;
  auto s = parse_spec(R"({"entrypoint":"x","nodes":5000,"gpus":-1,"max_runtime":"30d",
    "env":{"CLAIMGATE_JOB_ID":"j","1BAD":"x"},"workdir":"relative","pool":"nope"})",
                      lim);
  ASSERT_FALSE(s);
  const std::string& m = s.error().message;
  EXPECT_EQ(s.error().name, "jobs.bad_spec");
  for (const char* want :
       {"'entrypoint' is not a field", "command: required", "nodes: 5000 is outside 1..16",
        "gpus: -1 is outside 0..16", "max_runtime", "CLAIMGATE_JOB_ID is set by claimgate",
        "'1BAD' is not a variable name", "workdir: must be an absolute path", "not a node pool"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " in: " << m;
  }
  EXPECT_FALSE(parse_spec("[1,2]", lim));
  EXPECT_FALSE(parse_spec("{not json", lim));
  EXPECT_FALSE(parse_spec(R"({"command":[]})", lim));
  EXPECT_FALSE(parse_spec(R"({"command":["a",1]})", lim));
  EXPECT_FALSE(parse_spec(R"({"command":[""]})", lim));
  EXPECT_FALSE(parse_spec(R"({"command":["a"],"nodes":"2"})", lim));
  // A line break in the working directory would start a line of the Slurm batch script.
  EXPECT_FALSE(parse_spec(R"({"command":["a"],"workdir":"/tmp/x\n#SBATCH --partition=gpu"})", lim));
  EXPECT_FALSE(parse_spec(R"({"command":["a"],"workdir":"/tmp/x\rcurl"})", lim));
}

// The digest changes with any argument or the directory, and argument boundaries count.
TEST(JobSpecTest, DigestBindsArgumentsAndDirectory) {
  auto d = command_digest({"torchrun", "train.py"}, "/w");
  EXPECT_EQ(d.size(), 64u);
  EXPECT_EQ(d, command_digest({"torchrun", "train.py"}, "/w"));
  EXPECT_NE(d, command_digest({"torchrun", "train.py", "--x"}, "/w"));
  EXPECT_NE(d, command_digest({"torchrun", "train.py"}, "/w2"));
  EXPECT_NE(command_digest({"ab", "c"}, "/"), command_digest({"a", "bc"}, "/"));
  EXPECT_NE(command_digest({"a"}, "b"), command_digest({"a", "b"}, ""));
}

// max_runtime: a JSON number is seconds; a string needs its unit, as durations in the config.
TEST(JobSpecTest, MaxRuntimeNumberIsSecondsStringNeedsAUnit) {
  SpecLimits lim;
  auto n = parse_spec(R"({"command":["x"],"max_runtime":5400})", lim);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->max_runtime, std::chrono::minutes(90));
  auto s = parse_spec(R"({"command":["x"],"max_runtime":"90"})", lim);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find(R"(max_runtime: "90" has no unit; write "90s", "90m" or "90h")"),
            std::string::npos)
      << s.error().message;
}

}  // namespace
}  // namespace cg::jobs
