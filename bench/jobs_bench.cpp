// Job tokens on a node: what `claimgate exec` spends verifying a job token (signature, use,
// times, pool, job, project, command digest), beside the bare ES256 signature check of the same
// token measured in the same run; and the start-up time exec adds to a command, beside spawning
// /bin/true (and a static program that returns 0) directly:
//   - `claimgate-exec --version` and `claimgate --version`: loading and initialising alone;
//   - `... --offline -- /bin/true`: read the token and JWKS, verify, fork and exec, wait;
//   - `... --gateway URL -- /bin/true`: the same with the online revocation check at start and
//     the exit report, both to a stand-in for the gateway's node endpoints (a thread of the
//     bench answering 200 as the jobs service does for an active token; the real gateway's
//     cost of answering is not what a node waits for on its own side).
// Each process run reports wall time and the child's CPU time (wait4): on a shared, busy
// machine read the CPU time.
//
//   taskset -c 0 build/bench/bench/jobs_bench
//   build/dev/bench/jobs_bench --benchmark_filter='Run|Version'   # the start-up rows only
//   CG_BENCH_KEEP=1 ...: keeps the token and JWKS for profiling a run by hand
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "bench/bench_support.h"
#include "bench/summary_reporter.h"
#include "core/clock.h"
#include "core/encoding.h"
#include "core/random.h"
#include "crypto/jwt.h"
#include "crypto/keyring.h"
#include "jobs/job_token.h"

#ifndef CG_CLAIMGATE_BIN
#define CG_CLAIMGATE_BIN ""
#endif
#ifndef CG_CLAIMGATE_EXEC_BIN
#define CG_CLAIMGATE_EXEC_BIN ""
#endif
#ifndef CG_STATIC_TRUE_BIN
#define CG_STATIC_TRUE_BIN ""
#endif

extern char** environ;

namespace {

using namespace cg;
namespace fs = std::filesystem;

const crypto::Keyring& keys() { return cg::bench::run_keys(); }

fs::path bench_dir() {
  static fs::path d = cg::bench::scratch_dir("jobs");
  return d;
}

jobs::Job bench_job() {
  jobs::Job j;
  auto now = core::SystemClock::instance().now();
  j.id = "jbench";
  j.project = "vision";
  j.submitter = "alice";
  j.spec.command = {"/bin/true"};
  j.spec.workdir = bench_dir().string();
  j.spec.pool = "default";
  j.created = now;
  j.deadline = now + std::chrono::hours(1);
  return j;
}

const std::string& token() {
  static const std::string t = *jobs::mint_job_token(
      keys().current_signing(), "https://gw", bench_job(), core::SystemClock::instance().now(),
      std::chrono::minutes(15), "jbench.0");
  return t;
}

void BM_JobTokenVerify(benchmark::State& st) {
  crypto::JwtVerifier v(keys());
  jobs::JobExpectations e;
  e.pool = "default";
  e.job_id = "jbench";
  e.project = "vision";
  auto now = core::SystemClock::instance().now();
  for (auto _ : st) {
    // What a node does: the digest of what it is about to run, then the whole check.
    e.digest = jobs::command_digest({"/bin/true"}, bench_dir().string());
    auto c = jobs::verify_job_token(v, token(), now, e);
    if (!c) st.SkipWithError(c.error().message.c_str());
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_JobTokenVerify);

// Reference: only the ECDSA P-256 verification of the token's signature.
void BM_Es256SignatureOnly(benchmark::State& st) {
  const std::string& t = token();
  size_t dot = t.rfind('.');
  auto sig = *core::base64url_decode(std::string_view(t).substr(dot + 1));
  std::string_view input(t.data(), dot);
  const auto& pub = keys().current_signing().public_key;
  for (auto _ : st) {
    bool ok = pub.verify(crypto::HashAlg::kSha256,
                         {reinterpret_cast<const uint8_t*>(input.data()), input.size()},
                         {reinterpret_cast<const uint8_t*>(sig.data()), sig.size()}, true);
    if (!ok) st.SkipWithError("signature does not verify");
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_Es256SignatureOnly);

// One child run: its exit status and the CPU time it used (user + system, from wait4), which
// the machine's other load does not change as it changes the wall time.
struct ChildRun {
  int exit_code = -1;
  double cpu_us = 0;
};

ChildRun spawn_wait(std::vector<std::string> argv) {
  std::vector<char*> a;
  for (auto& s : argv) a.push_back(s.data());
  a.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = ::posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return {};
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  auto us = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
  // The children exec itself waited for (the command) are not in exec's own rusage: wait4
  // reports the process and what it reaped, so this is exec plus /bin/true.
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, us(ru.ru_utime) + us(ru.ru_stime)};
}

// Runs argv once per iteration; child_cpu_us = the child's CPU time per run.
void run_child(benchmark::State& st, const std::vector<std::string>& argv, int want = 0) {
  if (argv[0].empty() || !fs::exists(argv[0])) {
    st.SkipWithError("binary not built");
    return;
  }
  double cpu = 0;
  for (auto _ : st) {
    auto r = spawn_wait(argv);
    if (r.exit_code != want) {
      st.SkipWithError((argv[0] + " exited with " + std::to_string(r.exit_code)).c_str());
      break;
    }
    cpu += r.cpu_us;
  }
  st.counters["child_cpu_us"] = benchmark::Counter(cpu, benchmark::Counter::kAvgIterations);
}

// References: fork+exec of /bin/true (dynamically linked: the loader, libc), and of a static
// program that returns 0 (no loader at all): the floor of starting any process here.
void BM_RunDirectly(benchmark::State& st) { run_child(st, {"/bin/true"}); }
BENCHMARK(BM_RunDirectly)->Unit(benchmark::kMicrosecond)->UseRealTime();
void BM_RunStaticTrue(benchmark::State& st) { run_child(st, {CG_STATIC_TRUE_BIN}); }
BENCHMARK(BM_RunStaticTrue)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Start-up alone: `--version` loads, initialises and exits without a token.
void BM_Version(benchmark::State& st, bool lean) {
  run_child(st, {lean ? CG_CLAIMGATE_EXEC_BIN : CG_CLAIMGATE_BIN, "--version"});
}
BENCHMARK_CAPTURE(BM_Version, claimgate, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Version, lean, true)->Unit(benchmark::kMicrosecond)->UseRealTime();

// A stand-in for the gateway's node endpoints on 127.0.0.1 (a thread of this process): answers
// every POST (/.claimgate/jobs/check, /.claimgate/jobs/report) 200 with the body the jobs
// service sends for an active token. Connection: close, as exec's client asks.
class StandInGateway {
 public:
  StandInGateway() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::perror("stand-in gateway");
      std::exit(1);
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~StandInGateway() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void serve() {
    static const std::string body =
        R"({"active":true,"deadline":"2030-01-01T00:00:00Z","job":"jbench","state":"running"})";
    static const std::string reply =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    while (true) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string in;
      char buf[8192];
      size_t want = std::string::npos;
      while (in.size() < want) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        auto end = in.find("\r\n\r\n");
        if (want == std::string::npos && end != std::string::npos) {
          size_t length = 0;
          auto cl = in.find("Content-Length: ");
          if (cl == std::string::npos) cl = in.find("content-length: ");
          if (cl != std::string::npos && cl < end) length = std::strtoul(&in[cl + 16], nullptr, 10);
          want = end + 4 + length;
        }
      }
      (void)!::write(c, reply.data(), reply.size());
      ::close(c);
      ++requests_;
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// `lean`: claimgate-exec (the node verifier alone); else `claimgate exec`. `online`: the
// revocation check at start and the exit report go to the stand-in gateway (two HTTP
// exchanges); else --offline.
void BM_RunThroughExec(benchmark::State& st, bool lean, bool online) {
  std::string tok = (bench_dir() / "token").string(), jwks = (bench_dir() / "jwks.json").string();
  std::ofstream(tok) << token() << "\n";
  std::ofstream(jwks) << crypto::jwks_of(keys()).dump();
  // exec computes the digest over its working directory: run from the job's.
  fs::current_path(bench_dir());
  std::optional<StandInGateway> gw;
  std::vector<std::string> argv{lean ? CG_CLAIMGATE_EXEC_BIN : CG_CLAIMGATE_BIN};
  if (!lean) argv.push_back("exec");
  if (online) {
    gw.emplace();
    argv.insert(argv.end(), {"--gateway", gw->url()});
  } else {
    argv.push_back("--offline");
  }
  for (const char* a : {"--token-file", tok.c_str(), "--jwks", jwks.c_str(), "--node-pool",
                        "default", "--job-id", "jbench", "--", "/bin/true"})
    argv.emplace_back(a);
  run_child(st, argv);
  if (gw && gw->requests() < 2 * static_cast<int>(st.iterations()))
    st.SkipWithError("exec did not call the stand-in gateway (check and report)");
}
BENCHMARK_CAPTURE(BM_RunThroughExec, claimgate_offline, false, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RunThroughExec, lean_offline, true, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RunThroughExec, claimgate_online, false, true)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RunThroughExec, lean_online, true, true)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  cg::bench::SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  double verify = rep.ns("BM_JobTokenVerify"), sig = rep.ns("BM_Es256SignatureOnly");
  std::printf("\nSummary:\n");
  if (verify > 0 && sig > 0) {
    std::printf(
        "  job token check (all bindings)        %8.1f us  %9.0f checks/s  (target < 100 us)\n",
        verify / 1e3, 1e9 / verify);
    std::printf(
        "  ES256 signature alone (reference)     %8.1f us  -> the check is %.2fx the signature\n",
        sig / 1e3, verify / sig);
  }
  // Process runs: wall time (real_time, in us) and the child's CPU time; "adds" is against
  // /bin/true run directly in the same run. CPU time is the figure to read on a busy machine.
  struct Row {
    const char* name;
    const char* label;
  };
  const Row rows[] = {
      {"BM_RunDirectly/real_time", "/bin/true directly (reference)"},
      {"BM_RunStaticTrue/real_time", "static true directly (reference)"},
      {"BM_Version/claimgate/real_time", "claimgate --version"},
      {"BM_Version/lean/real_time", "claimgate-exec --version"},
      {"BM_RunThroughExec/claimgate_offline/real_time", "claimgate exec --offline -- /bin/true"},
      {"BM_RunThroughExec/lean_offline/real_time", "claimgate-exec --offline -- /bin/true"},
      {"BM_RunThroughExec/claimgate_online/real_time", "claimgate exec (check+report) /bin/true"},
      {"BM_RunThroughExec/lean_online/real_time", "claimgate-exec (check+report) /bin/true"},
  };
  double base_wall = rep.ns(rows[0].name), base_cpu = rep.counter(rows[0].name, "child_cpu_us");
  std::printf("  %-42s %10s %10s %12s %12s\n", "process run", "wall ms", "cpu ms", "adds wall",
              "adds cpu");
  for (const auto& r : rows) {
    double wall = rep.ns(r.name) / 1e3, cpu = rep.counter(r.name, "child_cpu_us") / 1e3;
    if (wall <= 0) continue;
    std::printf("  %-42s %10.2f %10.2f %9.2f ms %9.2f ms\n", r.label, wall, cpu,
                wall - base_wall / 1e3, cpu - base_cpu / 1e3);
  }
  std::printf("  (target: claimgate-exec and claimgate exec each add < 5 ms)\n");
  // CG_BENCH_KEEP=1 keeps the token and JWKS, to profile one run by hand (strace, perf).
  if (std::getenv("CG_BENCH_KEEP")) {
    std::printf("  kept %s (token, jwks.json; run exec from there)\n", bench_dir().c_str());
  } else {
    fs::remove_all(bench_dir());
  }
  benchmark::Shutdown();
  return 0;
}
