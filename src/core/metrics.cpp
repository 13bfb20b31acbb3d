#include "core/metrics.h"

#include <cstdio>

namespace cg::core {
namespace {

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + escape_help(help) + "\n# TYPE " + name + " " + type + "\n";
}

// The length of the UTF-8 sequence at s[i] (1 to 4), or 0 when it is not one (overlong forms,
// surrogates and code points past U+10FFFF included).
size_t utf8_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned c = b(i);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

std::string label_text(const std::vector<std::string>& names, const Labels& values,
                       const std::string& extra = "") {
  std::string s;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!s.empty()) s += ",";
    s += names[i] + "=\"" + escape_label(values[i]) + "\"";
  }
  if (!extra.empty()) s += (s.empty() ? "" : ",") + extra;
  return s.empty() ? "" : "{" + s + "}";
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size();) {
    char c = v[i];
    size_t n = utf8_length(v, i);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (n == 0 || (n == 1 && (static_cast<unsigned char>(c) < 0x20 || c == 0x7F))) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      n = 1;
    } else {
      out.append(v.substr(i, n));
    }
    i += n == 0 ? 1 : n;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<std::string> labels)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(labels)) {
  static std::atomic<uint64_t> next_id{0};
  id_ = ++next_id;
}

void CounterFamily::inc_cached(std::initializer_list<std::string_view> values) {
  thread_local std::unordered_map<std::string, std::atomic<uint64_t>*> cells;
  std::string key = std::to_string(id_);
  for (auto v : values) {
    key += '\0';
    key += v;
  }
  auto it = cells.find(key);
  if (it == cells.end()) {
    it = cells.emplace(std::move(key), &cell(Labels(values.begin(), values.end()))).first;
  }
  it->second->fetch_add(1, std::memory_order_relaxed);
}

void CounterFamily::inc(const Labels& values, uint64_t n) { cell(values).fetch_add(n); }

std::atomic<uint64_t>& CounterFamily::cell(const Labels& values) {
  std::lock_guard lock(mu_);
  auto it = values_.find(values);
  if (it == values_.end()) it = values_.try_emplace(values, 0).first;
  return it->second;
}

uint64_t CounterFamily::value(const Labels& values) const {
  std::lock_guard lock(mu_);
  auto it = values_.find(values);
  return it == values_.end() ? 0 : it->second.load();
}

void CounterFamily::render(std::string& out) const {
  header(out, name_, help_, "counter");
  std::lock_guard lock(mu_);
  for (const auto& [labels, v] : values_) {
    out += name_ + label_text(label_names_, labels) + " " + std::to_string(v.load()) + "\n";
  }
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> labels,
                         Reader r, const char* type)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(labels)),
      reader_(std::move(r)),
      type_(type) {}

void GaugeFamily::render(std::string& out) const {
  header(out, name_, help_, type_);
  for (const auto& [labels, v] : reader_()) {
    out += name_ + label_text(label_names_, labels) + " " + number(v) + "\n";
  }
}

Histogram::Histogram(std::string name, std::string help, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size()]) {
  for (size_t i = 0; i < bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::observe(double v) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (v <= bounds_[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

void Histogram::render(std::string& out) const {
  header(out, name_, help_, "histogram");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i].load();
    out +=
        name_ + "_bucket{le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name_ + "_bucket{le=\"+Inf\"} " + std::to_string(count_.load()) + "\n";
  out += name_ + "_sum " + number(static_cast<double>(sum_micro_.load()) / 1e6) + "\n";
  out += name_ + "_count " + std::to_string(count_.load()) + "\n";
}

CounterFamily& MetricsRegistry::counter(std::string name, std::string help,
                                        std::vector<std::string> labels) {
  counters_.push_back(
      std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(labels)));
  return *counters_.back();
}

GaugeFamily& MetricsRegistry::gauge(std::string name, std::string help,
                                    std::vector<std::string> labels, GaugeFamily::Reader reader) {
  gauges_.push_back(std::make_unique<GaugeFamily>(std::move(name), std::move(help),
                                                  std::move(labels), std::move(reader)));
  return *gauges_.back();
}

GaugeFamily& MetricsRegistry::counter_reader(std::string name, std::string help,
                                             std::vector<std::string> labels,
                                             GaugeFamily::Reader reader) {
  gauges_.push_back(std::make_unique<GaugeFamily>(std::move(name), std::move(help),
                                                  std::move(labels), std::move(reader), "counter"));
  return *gauges_.back();
}

Histogram& MetricsRegistry::histogram(std::string name, std::string help,
                                      std::vector<double> bounds) {
  histograms_.push_back(
      std::make_unique<Histogram>(std::move(name), std::move(help), std::move(bounds)));
  return *histograms_.back();
}

std::string MetricsRegistry::render() const {
  std::string out;
  for (const auto& c : counters_) c->render(out);
  for (const auto& g : gauges_) g->render(out);
  for (const auto& h : histograms_) h->render(out);
  return out;
}

}  // namespace cg::core
