// Operator logs: one line per event on stderr, "time level part key=value ...", written for a
// person running the gateway. Never log an assertion, a cookie or a token: pass ids instead.
#pragma once

#include <atomic>
#include <sstream>
#include <string>
#include <string_view>

namespace cg::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
bool parse_log_level(std::string_view text, LogLevel& out);
// Writes one whole line (with the time and level in front), atomically.
void write_log_line(LogLevel level, std::string_view part, std::string_view text);

// A logger per part: `Logger log("gateway"); log.info("signin ok subject=", s);`
class Logger {
 public:
  explicit constexpr Logger(const char* part) : part_(part) {}
  template <class... A>
  void debug(const A&... a) const {
    emit(LogLevel::kDebug, a...);
  }
  template <class... A>
  void info(const A&... a) const {
    emit(LogLevel::kInfo, a...);
  }
  template <class... A>
  void warn(const A&... a) const {
    emit(LogLevel::kWarn, a...);
  }
  template <class... A>
  void error(const A&... a) const {
    emit(LogLevel::kError, a...);
  }

 private:
  template <class... A>
  void emit(LogLevel level, const A&... a) const {
    if (level < log_level()) return;
    std::ostringstream os;
    (os << ... << a);
    write_log_line(level, part_, os.str());
  }
  const char* part_;
};

// A value for key=value logs: quoted when it holds spaces, quotes or control characters.
std::string log_quote(std::string_view v);

}  // namespace cg::core
