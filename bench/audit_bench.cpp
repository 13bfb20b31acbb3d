// Audit log benchmark: what one record costs the request thread (building the event), what the
// writer sustains (queue, chain hash, write; group sync), and `audit verify` per record, each
// beside the reference measured in the same run: SHA-256 of the same line (the floor of a hash
// chain) and reading + hashing the same file line by line.
//
//   taskset -c 0 build/bench/bench/audit_bench
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "audit/checkpoint_key.h"
#include "audit/chain.h"
#include "audit/event.h"
#include "audit/log.h"
#include "audit/verify.h"
#include "bench/bench_support.h"
#include "bench/summary_reporter.h"
#include "core/clock.h"
#include "core/random.h"

namespace {

using namespace cg;
namespace fs = std::filesystem;

constexpr int kVerifyRecords = 100'000;

const crypto::Keyring& keys() { return cg::bench::run_keys(); }

fs::path bench_dir() {
  static fs::path d = cg::bench::scratch_dir("audit");
  return d;
}

// A typical allow decision, as the gateway builds it.
audit::Event allow_event(core::WallTime now, int i) {
  audit::Event ev(audit::type::kAuthzAllow, now, "3f9a1c0e5b7d2a64");
  ev.str("subject", "alice@example.org")
      .str("session", "92241c75f906a00d")
      .str("roles", "data-scientist@vision,viewer@nlp")
      .str("method", "POST")
      .str("path", "/api/projects/vision/jobs/j-" + std::to_string(i))
      .str("route", "api")
      .str("rule", "rules[3]")
      .str("reason", "permission")
      .str("project", "vision")
      .str("permission", "jobs:submit");
  return ev;
}

void BM_BuildEvent(benchmark::State& st) {
  auto now = core::SystemClock::instance().now();
  int i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(allow_event(now, i++).body().size());
}
BENCHMARK(BM_BuildEvent);

std::string typical_line() {
  return audit::format_record(123456, allow_event(core::SystemClock::instance().now(), 7).body(),
                              "gw-1", audit::kGenesis);
}

void BM_Sha256Line(benchmark::State& st) {
  std::string line = typical_line();
  for (auto _ : st) benchmark::DoNotOptimize(audit::hash_line(line));
  st.SetLabel(std::to_string(line.size()) + " bytes");
}
BENCHMARK(BM_Sha256Line);

// Appending batched records from the caller while the writer chains, writes and syncs them;
// the time includes waiting for the last one to be on disk.
void BM_AppendAndWrite(benchmark::State& st) {
  auto& clock = core::SystemClock::instance();
  audit::LogOptions o;
  o.path = (bench_dir() / "append" / "audit.jsonl").string();
  o.instance = "gw-1";
  o.rotate_bytes = 0;
  fs::remove_all(bench_dir() / "append");
  auto log = audit::AuditLog::open(o, keys(), clock);
  if (!log) {
    st.SkipWithError(log.error().message.c_str());
    return;
  }
  audit::AuditLog::Ticket last = 0;
  int i = 0;
  for (auto _ : st)
    last = (*log)->append(allow_event(clock.now(), i++), audit::Durability::kBatched);
  (*log)->wait_durable(last, std::chrono::seconds(60));
  (*log)->close();
}
BENCHMARK(BM_AppendAndWrite)->UseRealTime()->Iterations(200'000);

const std::string& verify_file() {
  static std::string path = [] {
    auto& clock = core::SystemClock::instance();
    audit::LogOptions o;
    o.path = (bench_dir() / "verify" / "audit.jsonl").string();
    o.instance = "gw-1";
    o.rotate_bytes = 0;
    auto log = audit::AuditLog::open(o, keys(), clock);
    audit::AuditLog::Ticket last = 0;
    for (int i = 0; i < kVerifyRecords; ++i)
      last = (*log)->append(allow_event(clock.now(), i), audit::Durability::kBatched);
    (*log)->wait_durable(last, std::chrono::seconds(60));
    (*log)->close();
    return o.path;
  }();
  return path;
}

void BM_VerifyPerRecord(benchmark::State& st) {
  const std::string& f = verify_file();
  // The checkpoints are signed with the log's own checkpoint key: pin it, as an operator does.
  audit::VerifyKeys pinned;
  auto ck = audit::CheckpointKey::load_or_create(audit::default_checkpoint_key_path(f));
  if (!ck) {
    st.SkipWithError(ck.error().message.c_str());
    return;
  }
  pinned.pinned.push_back(ck->sha256);
  uint64_t records = 0;
  for (auto _ : st) {
    auto rep = audit::verify_files({f}, &pinned);
    if (!rep.ok()) st.SkipWithError(rep.error->message.c_str());
    records = rep.records;
  }
  st.counters["records"] = static_cast<double>(records);
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * records));
}
BENCHMARK(BM_VerifyPerRecord)->Unit(benchmark::kMillisecond);

void BM_ReadAndHashFile(benchmark::State& st) {
  const std::string& f = verify_file();
  uint64_t lines = 0;
  for (auto _ : st) {
    std::ifstream in(f, std::ios::binary);
    lines = 0;
    for (std::string l; std::getline(in, l); ++lines) benchmark::DoNotOptimize(audit::hash_line(l));
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * lines));
}
BENCHMARK(BM_ReadAndHashFile)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  cg::bench::SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  double build = rep.ns("BM_BuildEvent"), sha = rep.ns("BM_Sha256Line"),
         append = rep.ns("BM_AppendAndWrite/iterations:200000/real_time"),
         // (these two report in milliseconds per pass over the file)
      verify = rep.ns("BM_VerifyPerRecord") * 1e6 / (kVerifyRecords + 2),
         hash_file = rep.ns("BM_ReadAndHashFile") * 1e6 / (kVerifyRecords + 2);
  if (build > 0 && sha > 0) {
    std::printf("\nSummary (per record; a typical allow record of %zu bytes):\n",
                typical_line().size());
    std::printf("  build the event (request thread)   %8.0f ns\n", build);
    std::printf("  SHA-256 of the line (reference)    %8.0f ns\n", sha);
    if (append > 0)
      std::printf("  append + chain + write + sync      %8.0f ns  %10.0f records/s\n", append,
                  1e9 / append);
    if (verify > 0 && hash_file > 0) {
      std::printf("  audit verify                       %8.0f ns  %10.0f records/s\n", verify,
                  1e9 / verify);
      std::printf(
          "  read + SHA-256 per line (reference) %7.0f ns  %10.0f lines/s  -> verify = %.2fx\n",
          hash_file, 1e9 / hash_file, verify / hash_file);
    }
  }
  fs::remove_all(bench_dir());
  benchmark::Shutdown();
  return 0;
}
