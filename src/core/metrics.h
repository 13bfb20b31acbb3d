// Prometheus metrics (text exposition format 0.0.4). Each part declares its metrics in one
// list (see gateway/metrics.h), so the set is reviewable in one place.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cg::core {

using Labels = std::vector<std::string>;  // values, in the order of the family's label names

class CounterFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);
  void inc(const Labels& values, uint64_t n = 1);
  uint64_t value(const Labels& values) const;
  // The counter of these labels, created at zero when new: a stable reference that hot paths
  // keep and increment without the family's lock.
  std::atomic<uint64_t>& cell(const Labels& values);
  // inc(values) through a per-thread cache of cells: no lock and no search of the family once
  // this thread has counted these labels (for per-request counters).
  void inc_cached(std::initializer_list<std::string_view> values);
  void render(std::string& out) const;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  uint64_t id_;  // distinguishes families in the per-thread caches (addresses can be reused)
  mutable std::mutex mu_;
  std::map<Labels, std::atomic<uint64_t>> values_;
};

// Values read when /metrics is scraped: gauges, or counters kept elsewhere (the kernel's CPU
// seconds, another part's own atomics), rendered with TYPE `type`.
class GaugeFamily {
 public:
  using Reader = std::function<std::vector<std::pair<Labels, double>>()>;
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names, Reader r,
              const char* type = "gauge");
  void render(std::string& out) const;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  Reader reader_;
  const char* type_;
};

class Histogram {
 public:
  Histogram(std::string name, std::string help, std::vector<double> bounds);
  void observe(double value);
  void render(std::string& out) const;
  uint64_t count() const { return count_.load(); }

 private:
  std::string name_, help_;
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};
};

// Families are added while the process starts, before anything scrapes (render() reads the
// lists without a lock); values change at any time.
class MetricsRegistry {
 public:
  CounterFamily& counter(std::string name, std::string help, std::vector<std::string> labels);
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> labels,
                     GaugeFamily::Reader reader);
  // A counter whose values `reader` reads at each scrape (monotonic counts kept elsewhere).
  GaugeFamily& counter_reader(std::string name, std::string help, std::vector<std::string> labels,
                              GaugeFamily::Reader reader);
  Histogram& histogram(std::string name, std::string help, std::vector<double> bounds);
  std::string render() const;

 private:
  std::vector<std::unique_ptr<CounterFamily>> counters_;
  std::vector<std::unique_ptr<GaugeFamily>> gauges_;
  std::vector<std::unique_ptr<Histogram>> histograms_;
};

// A label value escaped for the text format: backslash, double quote and line feed escaped;
// other control characters and bytes that are not UTF-8 become U+FFFD (a label value comes
// from data: a certificate's subject, an IdP's name), so that no value can end a line or make
// the exposition invalid.
std::string escape_label(std::string_view v);
// A HELP text escaped for the text format (backslash and line feed).
std::string escape_help(std::string_view v);

}  // namespace cg::core
