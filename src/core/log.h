// Operator logs: one line per event on stderr, "time level part key=value ...", written for a
// person running the gateway. Never log an assertion, a cookie or a token: pass ids instead.
//
// Values are escaped by the logger itself, so a value cannot forge a line or a field:
//   log.info("signin ok subject=", subject, " claims=", n);
// String literals (and other const char arrays: text written in the code) are the line's own
// text and pass as written. Every other string (std::string, std::string_view, const char*,
// a char buffer) is a VALUE: control characters, invalid UTF-8 and the Unicode line and bidi
// controls are written as escapes (\n, \r, \t, \xNN, \uNNNN), backslashes doubled, and the
// value is quoted when it is empty or holds a space, a quote or '='. Numbers are written as
// they are. Text chosen at run time (`cond ? "a" : "b"` decays to const char*) is a value too:
// use LogText for such choices between literals, and LogField for an optional " key=value".
#pragma once

#include <atomic>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace cg::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
bool parse_log_level(std::string_view text, LogLevel& out);
// Writes one whole line (with the time and level in front), atomically. The line cannot hold a
// raw line break or other control character (a last line of defence: they are escaped here).
void write_log_line(LogLevel level, std::string_view part, std::string_view text);
// The line write_log_line writes, without the time and level (for tests).
std::string sanitize_log_text(std::string_view text);

// Appends `v` as a log value: escaped, and quoted where it needs to be (see above).
void append_log_value(std::string& out, std::string_view v);

// A value already escaped and quoted by log_quote: the logger writes it as is. Only log_quote
// makes one. Converts to std::string for the places that build text with it.
class LogQuoted {
 public:
  const std::string& text() const { return text_; }
  operator std::string() const { return text_; }  // NOLINT(google-explicit-constructor)
  friend std::string operator+(const std::string& a, const LogQuoted& b) { return a + b.text_; }
  friend std::string operator+(const LogQuoted& a, const std::string& b) { return a.text_ + b; }
  friend bool operator==(const LogQuoted& a, std::string_view b) { return a.text_ == b; }

 private:
  friend LogQuoted log_quote(std::string_view v);
  explicit LogQuoted(std::string t) : text_(std::move(t)) {}
  std::string text_;
};

// A value for key=value logs, escaped and quoted where needed. The logger does the same to
// every string it is given, so wrapping is optional; a wrapped value is not quoted twice.
LogQuoted log_quote(std::string_view v);

// Text of the line itself, from a string literal only (checked at compile time): for a
// choice between literals, `cond ? LogText(" refused: ") : LogText(" not fetched: ")`.
class LogText {
 public:
  template <size_t N>
  consteval LogText(const char (&s)[N])  // NOLINT(google-explicit-constructor)
      : text_(s, N - 1) {}
  constexpr std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

// An optional " key=value" pair: the key is text (a literal), the value is escaped; an unset
// field writes nothing.
struct LogField {
  LogField() = default;
  LogField(LogText key, std::string_view value) : key(key.text()), value(value), set(true) {}
  std::string_view key;
  std::string value;
  bool set = false;
};

namespace log_detail {

template <class T>
inline constexpr bool kAlwaysFalse = false;

// One argument of a log call, appended to the line. `A` is the forwarded type: const char
// arrays are the code's own text, everything else that is text is a value.
template <class A>
void append(std::string& out, const std::remove_reference_t<A>& a) {
  using R = std::remove_reference_t<A>;
  using T = std::remove_cv_t<R>;
  if constexpr (std::is_array_v<R> && std::is_same_v<std::remove_extent_t<R>, const char>) {
    out.append(a, ::strnlen(a, std::extent_v<R>));  // a literal: the line's own text
  } else if constexpr (std::is_array_v<T> && std::is_same_v<std::remove_extent_t<T>, char>) {
    append_log_value(out, std::string_view(a, ::strnlen(a, std::extent_v<T>)));  // a buffer
  } else if constexpr (std::is_same_v<T, LogQuoted>) {
    out += a.text();
  } else if constexpr (std::is_same_v<T, LogText>) {
    out += a.text();
  } else if constexpr (std::is_same_v<T, LogField>) {
    if (a.set) {
      out += a.key;
      append_log_value(out, a.value);
    }
  } else if constexpr (std::is_same_v<T, char*> || std::is_same_v<T, const char*>) {
    append_log_value(out, a ? std::string_view(a) : std::string_view("(null)"));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    append_log_value(out, std::string_view(a));
  } else if constexpr (std::is_same_v<T, bool>) {
    out += a ? "true" : "false";
  } else if constexpr (std::is_same_v<T, char>) {
    append_log_value(out, std::string_view(&a, 1));
  } else if constexpr (std::is_integral_v<T> || std::is_floating_point_v<T>) {
    char buf[64];
    std::to_chars_result r;
    if constexpr (std::is_floating_point_v<T>) {
      r = std::to_chars(buf, buf + sizeof buf, a, std::chars_format::general, 6);
    } else {
      r = std::to_chars(buf, buf + sizeof buf, a);
    }
    out.append(buf, r.ptr);
  } else if constexpr (requires { a.string(); }) {
    append_log_value(out, a.string());  // std::filesystem::path
  } else {
    static_assert(kAlwaysFalse<T>, "log arguments: text, numbers, log_quote, LogText, LogField");
  }
}

}  // namespace log_detail

// A logger per part: `Logger log("gateway"); log.info("signin ok subject=", s);`
class Logger {
 public:
  explicit constexpr Logger(const char* part) : part_(part) {}
  template <class... A>
  void debug(A&&... a) const {
    emit<A...>(LogLevel::kDebug, a...);
  }
  template <class... A>
  void info(A&&... a) const {
    emit<A...>(LogLevel::kInfo, a...);
  }
  template <class... A>
  void warn(A&&... a) const {
    emit<A...>(LogLevel::kWarn, a...);
  }
  template <class... A>
  void error(A&&... a) const {
    emit<A...>(LogLevel::kError, a...);
  }
  // The text a call with these arguments logs (after the time, level and part).
  template <class... A>
  static std::string format(A&&... a) {
    std::string line;
    (log_detail::append<A>(line, a), ...);
    return line;
  }

 private:
  template <class... A>
  void emit(LogLevel level, const std::remove_reference_t<A>&... a) const {
    if (level < log_level()) return;
    std::string line;
    (log_detail::append<A>(line, a), ...);
    write_log_line(level, part_, line);
  }
  const char* part_;
};

}  // namespace cg::core
