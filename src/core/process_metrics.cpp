#include "core/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

#ifndef CG_VERSION
#define CG_VERSION "unknown"
#endif
#ifndef CG_COMMIT
#define CG_COMMIT "unknown"
#endif

namespace cg::core {
namespace {

std::string read_all(const char* path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

double boot_time() {
  std::istringstream in(read_all("/proc/stat"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("btime ")) return std::strtod(line.c_str() + 6, nullptr);
  }
  return 0;
}

double open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  double n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // not the descriptor that read the directory
}

std::string compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

std::optional<ProcessStats> parse_proc_stat(std::string_view line, double ticks, double page,
                                            double boot) {
  size_t close = line.rfind(')');
  if (close == std::string_view::npos || ticks <= 0) return std::nullopt;
  // Fields from the 3rd (state) on, split at spaces.
  std::vector<std::string_view> f;
  for (size_t i = close + 1; i < line.size();) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\n')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\n') ++j;
    if (j > i) f.push_back(line.substr(i, j - i));
    i = j;
  }
  if (f.size() < 22) return std::nullopt;
  auto num = [&](size_t field) -> std::optional<double> {  // field: 1-based, as in proc(5)
    std::string_view v = f[field - 3];
    unsigned long long n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
    return static_cast<double>(n);
  };
  auto utime = num(14), stime = num(15), start = num(22), vsize = num(23), rss = num(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  ProcessStats s;
  s.cpu_seconds = (*utime + *stime) / ticks;
  s.start_time_seconds = boot + *start / ticks;
  s.virtual_bytes = *vsize;
  s.resident_bytes = *rss * page;
  return s;
}

std::optional<ProcessStats> read_process_stats() {
  auto s = parse_proc_stat(read_all("/proc/self/stat"), static_cast<double>(::sysconf(_SC_CLK_TCK)),
                           static_cast<double>(::sysconf(_SC_PAGESIZE)), boot_time());
  if (!s) return std::nullopt;
  s->open_fds = open_fds();
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    s->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_cur);
  }
  return s;
}

const BuildInfo& build_info() {
  static const BuildInfo info{CG_VERSION, CG_COMMIT, compiler()};
  return info;
}

void register_process_metrics(MetricsRegistry& r, const std::string& prefix) {
  using Samples = std::vector<std::pair<Labels, double>>;
  auto one = [](double ProcessStats::*field) {
    return [field]() -> Samples {
      auto s = read_process_stats();
      if (!s) return {};
      return {{{}, (*s).*field}};
    };
  };
  r.counter_reader("process_cpu_seconds_total", "User and system CPU time spent, in seconds", {},
                   one(&ProcessStats::cpu_seconds));
  r.gauge("process_start_time_seconds",
          "Start time of the process since the Unix epoch, in seconds", {},
          one(&ProcessStats::start_time_seconds));
  r.gauge("process_resident_memory_bytes", "Resident memory size, in bytes", {},
          one(&ProcessStats::resident_bytes));
  r.gauge("process_virtual_memory_bytes", "Virtual memory size, in bytes", {},
          one(&ProcessStats::virtual_bytes));
  r.gauge("process_open_fds", "Open file descriptors", {}, one(&ProcessStats::open_fds));
  r.gauge("process_max_fds", "The limit of open file descriptors (-1: unlimited)", {},
          one(&ProcessStats::max_fds));
  r.gauge(prefix + "_build_info",
          "The build: version, source commit and compiler (the value is always 1)",
          {"version", "commit", "compiler"}, [] {
            const BuildInfo& b = build_info();
            return Samples{{{b.version, b.commit, b.compiler}, 1.0}};
          });
}

}  // namespace cg::core
