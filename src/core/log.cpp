#include "core/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/clock.h"

namespace cg::core {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

bool parse_log_level(std::string_view t, LogLevel& out) {
  if (t == "debug")
    out = LogLevel::kDebug;
  else if (t == "info")
    out = LogLevel::kInfo;
  else if (t == "warn")
    out = LogLevel::kWarn;
  else if (t == "error")
    out = LogLevel::kError;
  else
    return false;
  return true;
}

void write_log_line(LogLevel level, std::string_view part, std::string_view text) {
  auto now = SystemClock::instance().now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char head[64];
  int n = std::snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, static_cast<int>(ms), level_name(level));
  std::string line(head, static_cast<size_t>(n));
  line += part;
  line += ' ';
  line += text;
  line += '\n';
  // One write(2) per line: lines from several threads never interleave.
  ssize_t left = static_cast<ssize_t>(line.size());
  const char* p = line.data();
  while (left > 0) {
    ssize_t w = ::write(2, p, static_cast<size_t>(left));
    if (w <= 0) return;
    p += w;
    left -= w;
  }
}

std::string log_quote(std::string_view v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) plain = false;
  }
  if (plain) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace cg::core
