// The console output of Google Benchmark, plus each benchmark's time kept by name, so a bench
// can print its side-by-side summary (figures against the reference measured in the same run).
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace cg::bench {

class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs)
      if (!r.error_occurred) {
        ns_[r.benchmark_name()] = r.GetAdjustedRealTime();  // ns (default unit)
        cpu_ns_[r.benchmark_name()] = r.GetAdjustedCPUTime();
        for (const auto& [k, c] : r.counters) counters_[r.benchmark_name() + "@" + k] = c.value;
      }
  }
  // Nanoseconds per iteration of a benchmark that ran, or 0.
  double ns(const std::string& name) const {
    auto it = ns_.find(name);
    return it == ns_.end() ? 0.0 : it->second;
  }
  // The same in CPU time of the benchmark's thread: what to compare on a machine other work
  // shares (wall time there counts the time the thread waited for a core).
  double cpu_ns(const std::string& name) const {
    auto it = cpu_ns_.find(name);
    return it == cpu_ns_.end() ? 0.0 : it->second;
  }

  // A user counter of a benchmark that ran (as the console printed it), or 0.
  double counter(const std::string& name, const std::string& key) const {
    auto it = counters_.find(name + "@" + key);
    return it == counters_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> ns_;
  std::map<std::string, double> cpu_ns_;
  std::map<std::string, double> counters_;
};

}  // namespace cg::bench
