// Job tokens on a node: what `claimgate exec` spends verifying a job token (signature, use,
// times, pool, job, project, command digest), beside the bare ES256 signature check of the same
// token measured in the same run; and the start-up time exec adds to a command: spawning
// `claimgate exec --offline ... -- /bin/true` against spawning /bin/true directly.
//
//   taskset -c 0 build/bench/bench/jobs_bench
//
// Offline: the online revocation check is one HTTP round trip to the gateway on top (measured
// separately by tests/integration, not here).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

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

int spawn_wait(std::vector<std::string> argv) {
  std::vector<char*> a;
  for (auto& s : argv) a.push_back(s.data());
  a.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = ::posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void BM_RunDirectly(benchmark::State& st) {
  for (auto _ : st) {
    if (spawn_wait({"/bin/true"}) != 0) st.SkipWithError("/bin/true failed");
  }
}
BENCHMARK(BM_RunDirectly)->Unit(benchmark::kMicrosecond)->UseRealTime();

// `lean`: claimgate-exec (the node verifier alone); else `claimgate exec`.
void BM_RunThroughExec(benchmark::State& st, bool lean) {
  std::string bin = lean ? CG_CLAIMGATE_EXEC_BIN : CG_CLAIMGATE_BIN;
  if (bin.empty() || !fs::exists(bin)) {
    st.SkipWithError("binary not built");
    return;
  }
  std::string tok = (bench_dir() / "token").string(), jwks = (bench_dir() / "jwks.json").string();
  std::ofstream(tok) << token() << "\n";
  std::ofstream(jwks) << crypto::jwks_of(keys()).dump();
  // exec computes the digest over its working directory: run from the job's.
  fs::current_path(bench_dir());
  std::vector<std::string> argv{bin};
  if (!lean) argv.push_back("exec");
  for (const char* a : {"--offline", "--token-file", tok.c_str(), "--jwks", jwks.c_str(),
                        "--node-pool", "default", "--job-id", "jbench", "--", "/bin/true"})
    argv.emplace_back(a);
  for (auto _ : st) {
    if (spawn_wait(argv) != 0) st.SkipWithError("claimgate exec refused or failed");
  }
}
BENCHMARK_CAPTURE(BM_RunThroughExec, claimgate_exec, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RunThroughExec, lean, true)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  cg::bench::SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  double verify = rep.ns("BM_JobTokenVerify"), sig = rep.ns("BM_Es256SignatureOnly");
  // (these three report in microseconds)
  double direct = rep.ns("BM_RunDirectly/real_time"),
         full = rep.ns("BM_RunThroughExec/claimgate_exec/real_time"),
         lean = rep.ns("BM_RunThroughExec/lean/real_time");
  std::printf("\nSummary:\n");
  if (verify > 0 && sig > 0) {
    std::printf(
        "  job token check (all bindings)        %8.1f us  %9.0f checks/s  (target < 100 us)\n",
        verify / 1e3, 1e9 / verify);
    std::printf(
        "  ES256 signature alone (reference)     %8.1f us  -> the check is %.2fx the signature\n",
        sig / 1e3, verify / sig);
  }
  if (direct > 0) std::printf("  /bin/true directly (reference)          %8.2f ms\n", direct / 1e3);
  if (direct > 0 && full > 0)
    std::printf("  claimgate exec --offline -- /bin/true   %8.2f ms  -> adds %.2f ms\n", full / 1e3,
                (full - direct) / 1e3);
  if (direct > 0 && lean > 0)
    std::printf(
        "  claimgate-exec --offline -- /bin/true   %8.2f ms  -> adds %.2f ms (target < 5 ms)\n",
        lean / 1e3, (lean - direct) / 1e3);
  fs::remove_all(bench_dir());
  benchmark::Shutdown();
  return 0;
}
