// The job boundary's pieces that need no running gateway: which variables a spec may set, the
// working directory bound as a directory (not a name), who jobs may run as, and what the
// sandbox covers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/clock.h"
#include "jobs/errors.h"
#include "jobs/exec.h"
#include "jobs/job.h"
#include "jobs/local_executor.h"
#include "jobs/run_as.h"
#include "jobs/sandbox.h"

namespace cg::jobs {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const char* name) {
  fs::path d = fs::temp_directory_path() /
               (std::string("cg-isolation-") + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return fs::canonical(d);
}

// The loader's and glibc's variables are refused in a spec, each named, with a way out.
TEST(SpecEnvTest, RefusesLoaderAndGlibcVariables) {
  SpecLimits lim;
  for (const char* name :
       {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_DEBUG", "GCONV_PATH", "GLIBC_TUNABLES",
        "MALLOC_CHECK_", "MALLOC_ARENA_MAX", "LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS"}) {
    auto s =
        parse_spec(std::string(R"({"command":["x"],"env":{")") + name + R"(":"/tmp/e.so"}})", lim);
    ASSERT_FALSE(s) << name;
    EXPECT_EQ(s.error().code, static_cast<int>(Code::kBadSpec));
    EXPECT_NE(
        s.error().message.find(std::string("env: ") + name + " is read by the dynamic loader"),
        std::string::npos)
        << s.error().message;
  }
  // Ordinary variables (PYTHONPATH included: it reaches the command only, after verification).
  auto ok =
      parse_spec(R"({"command":["x"],"env":{"EPOCHS":"3","PYTHONPATH":"/p","LDX":"1"}})", lim);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(is_loader_variable("LD_BIND_NOW"));
  EXPECT_FALSE(is_loader_variable("OLD_PRELOAD"));
  EXPECT_FALSE(is_loader_variable("PATH"));
}

// exec clears loader variables from its own environment, and nothing else.
TEST(SpecEnvTest, ExecScrubsLoaderVariablesFromItsOwnEnvironment) {
  ::setenv("LD_PRELOAD", "/nonexistent.so", 1);
  ::setenv("LD_LIBRARY_PATH", "/nonexistent", 1);
  ::setenv("GCONV_PATH", "/nonexistent", 1);
  ::setenv("CG_KEEP_ME", "1", 1);
  EXPECT_GE(scrub_loader_environment(), 3);
  EXPECT_EQ(std::getenv("LD_PRELOAD"), nullptr);
  EXPECT_EQ(std::getenv("LD_LIBRARY_PATH"), nullptr);
  EXPECT_EQ(std::getenv("GCONV_PATH"), nullptr);
  ASSERT_NE(std::getenv("CG_KEEP_ME"), nullptr);
  ::unsetenv("CG_KEEP_ME");
}

// A working directory given through a symbolic link is bound as the directory it led to; once
// the link leads elsewhere, or the directory is replaced, the start is refused.
TEST(WorkdirTest, BindsTheResolvedDirectoryAndRefusesASwap) {
  fs::path d = temp_dir("workdir");
  fs::create_directories(d / "a");
  fs::create_directories(d / "b");
  fs::create_directory_symlink(d / "a", d / "link");
  auto r = resolve_workdir((d / "link").string());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->path, (d / "a").string());
  EXPECT_FALSE(r->identity.empty());
  JobSpec s;
  s.workdir = r->path;
  s.workdir_id = r->identity;
  EXPECT_TRUE(check_workdir(s));
  // Swapped: the name led to a; a is now a link to b.
  fs::rename(d / "a", d / "a-old");
  fs::create_directory_symlink(d / "b", d / "a");
  auto swapped = check_workdir(s);
  ASSERT_FALSE(swapped);
  EXPECT_EQ(swapped.error().code, static_cast<int>(Code::kWorkdir));
  EXPECT_NE(swapped.error().message.find("now leads to"), std::string::npos);
  // Replaced by another directory of the same name.
  fs::remove(d / "a");
  fs::create_directories(d / "a");
  auto replaced = check_workdir(s);
  ASSERT_FALSE(replaced);
  EXPECT_NE(replaced.error().message.find("not the directory the job was submitted with"),
            std::string::npos);
  // The digest binds the resolved path: the link's name is another command.
  EXPECT_NE(command_digest({"x"}, (d / "link").string()), command_digest({"x"}, r->path));
  // The resolved path and identity are stored with the spec.
  auto back = spec_from_json(s.to_json());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->workdir_id, s.workdir_id);
  fs::remove_all(d);
}

// A config whose jobs would run as the gateway's own user, or as root, is refused with a
// sentence that says what to set; the development switch allows it and says so.
TEST(RunAsTest, RefusesTheGatewaysOwnUserAndRoot) {
  auto none = make_account_policy("", {}, false);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, static_cast<int>(Code::kRunAs));
  EXPECT_NE(none.error().message.find("set jobs.run_as"), std::string::npos);
  auto dev = make_account_policy("", {}, true);
  ASSERT_TRUE(dev);
  EXPECT_NE(dev->describe().find("INSECURE"), std::string::npos);
  auto as = dev->for_subject("alice");
  ASSERT_TRUE(as);
  EXPECT_FALSE(as->has_value());  // no switch
  if (!can_switch_accounts()) GTEST_SKIP() << "not root: cannot check the accounts";
  auto root = make_account_policy("root", {}, false);
  ASSERT_FALSE(root);
  EXPECT_NE(root.error().message.find("is root"), std::string::npos) << root.error().message;
  auto self = make_account_policy(std::to_string(::geteuid()), {}, false);
  ASSERT_FALSE(self);
  auto unknown = make_account_policy("no-such-account-here", {}, false);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("useradd"), std::string::npos);
  auto mapped = make_account_policy("nobody", {{"alice@example.org", "root"}}, false);
  ASSERT_FALSE(mapped);
  EXPECT_NE(mapped.error().message.find("jobs.run_as_map.alice@example.org"), std::string::npos);
  auto ok = make_account_policy("nobody", {}, false);
  ASSERT_TRUE(ok) << ok.error().message;
  auto who = ok->for_subject("anyone");
  ASSERT_TRUE(who && who->has_value());
  EXPECT_EQ((*who)->name, "nobody");
}

// The sandbox covers the jobs directory (every job's), the keyring and the other gateway
// directories, then shows the job its own directory; a directory holding the working
// directory is not covered whole, its secret files are.
TEST(SandboxTest, CoversTheGatewaysDirectoriesAndShowsOnlyTheJobsOwn) {
  fs::path d = temp_dir("sandbox");
  for (const char* sub : {"jobs/j1", "jobs/j2", "keyring", "work"}) fs::create_directories(d / sub);
  for (const char* f : {"claimgate.yaml", "state.db"}) {
    FILE* fp = std::fopen((d / f).c_str(), "w");
    ASSERT_NE(fp, nullptr);
    std::fclose(fp);
  }
  SandboxPaths hide;
  hide.dirs = {(d / "keyring").string(), d.string()};
  hide.files = {(d / "claimgate.yaml").string(), (d / "state.db").string()};
  std::string jobs = (d / "jobs").string(), j1 = (d / "jobs/j1").string();
  auto joined = [](const std::vector<std::string>& a) {
    std::string s;
    for (const auto& x : a) s += x + " ";
    return s;
  };
  // Default: the job's own directory is its working directory; everything of the gateway's
  // (its config directory included) is covered, then the job's directory shown.
  auto a = bwrap_argv("/usr/bin/bwrap", j1, j1, jobs, hide);
  std::string s = joined(a);
  EXPECT_NE(s.find("--unshare-pid"), std::string::npos);
  EXPECT_NE(s.find("--tmpfs /tmp"), std::string::npos);
  EXPECT_NE(s.find("--tmpfs " + d.string() + " "), std::string::npos) << s;
  EXPECT_LT(s.find("--tmpfs " + d.string() + " "), s.find("--bind " + j1 + " " + j1)) << s;
  EXPECT_EQ(a.back(), "--");
  // A working directory inside the config's directory: that directory stays, its secret files
  // and the jobs and keyring directories are covered.
  std::string work = (d / "work").string();
  auto b = bwrap_argv("/usr/bin/bwrap", work, j1, jobs, hide);
  s = joined(b);
  EXPECT_EQ(s.find("--tmpfs " + d.string() + " "), std::string::npos) << s;
  EXPECT_NE(s.find("--tmpfs " + jobs + " "), std::string::npos) << s;
  EXPECT_NE(s.find("--tmpfs " + (d / "keyring").string() + " "), std::string::npos) << s;
  EXPECT_NE(s.find("--ro-bind /dev/null " + (d / "state.db").string()), std::string::npos) << s;
  EXPECT_NE(s.find("--ro-bind /dev/null " + (d / "claimgate.yaml").string()), std::string::npos);
  EXPECT_LT(s.find("--bind " + work + " " + work), s.find("--tmpfs " + jobs + " ")) << s;
  EXPECT_LT(s.find("--tmpfs " + jobs + " "), s.find("--bind " + j1 + " " + j1)) << s;
  EXPECT_TRUE(path_within("/a/b", "/a"));
  EXPECT_FALSE(path_within("/ab", "/a"));
  EXPECT_TRUE(path_within("/a", "/a/"));
  fs::remove_all(d);
}

// A job record's pid is only a number: once the job's process has ended, any process may take
// it (another service started in a session of its own leads a process group of that number).
// Cancelling or probing such a job signals nothing.
TEST(LocalExecutorTest, NeverSignalsAProcessThatIsNotTheJobs) {
  pid_t other = ::fork();
  ASSERT_GE(other, 0);
  if (other == 0) {
    ::setsid();  // a group of its own, as a daemon's
    for (;;) ::pause();
  }
  core::ManualClock clock{core::WallTime{}};
  LocalOptions o;
  o.sandbox = "none";
  LocalExecutor ex(clock, o);
  Job job;
  job.id = "j0123456789abcdef0123";
  job.ref = std::to_string(other);
  // (Wait until the other process has its own group, as the job's process would.)
  for (int i = 0; i < 1000 && ::getpgid(other) != other; ++i) ::usleep(1000);
  EXPECT_TRUE(ex.cancel(job, std::chrono::seconds(0)));
  clock.advance(std::chrono::seconds(5));
  Probe p = ex.probe(job, temp_dir("not-the-jobs").string());
  EXPECT_EQ(p.what, Probe::What::kGone) << p.message;
  EXPECT_TRUE(ex.cancel(job, std::chrono::seconds(0)));
  int status = 0;
  EXPECT_EQ(::waitpid(other, &status, WNOHANG), 0) << "the other process was signalled";
  ::kill(other, SIGKILL);
  ::waitpid(other, &status, 0);
}

}  // namespace
}  // namespace cg::jobs
