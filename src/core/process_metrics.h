// The process's own metrics, as Prometheus client libraries name them (process_*), read from
// /proc/self at each scrape, and the build's identity (<prefix>_build_info).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/metrics.h"

namespace cg::core {

struct ProcessStats {
  double cpu_seconds = 0;         // user + system time
  double start_time_seconds = 0;  // since the Unix epoch
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;  // the soft RLIMIT_NOFILE
};

// Reads /proc/self/stat, /proc/stat (boot time), /proc/self/fd and the fd limit; nullopt when
// /proc cannot be read (then the process_* families have no samples).
std::optional<ProcessStats> read_process_stats();

// The fields of a /proc/<pid>/stat line: `ticks` clock ticks a second, `page` bytes a page,
// `boot_time` the system's boot in seconds since the epoch. nullopt for a line of another shape.
// (The command name in parentheses may hold spaces and parentheses: fields follow the last ')'.)
std::optional<ProcessStats> parse_proc_stat(std::string_view line, double ticks, double page,
                                            double boot_time);

// What the build is: its version, the source commit (at configure time; "unknown" outside a
// git checkout) and the compiler.
struct BuildInfo {
  std::string version, commit, compiler;
};
const BuildInfo& build_info();

// Registers process_cpu_seconds_total, process_start_time_seconds,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
// process_max_fds, and `<prefix>_build_info{version,commit,compiler} 1`.
void register_process_metrics(MetricsRegistry& registry, const std::string& prefix);

}  // namespace cg::core
