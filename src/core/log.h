// Operator logs: one line per event on stderr, written for a person running the gateway, as
// text ("time level component ...", key=value) or as JSON lines (log.format). Never log an
// assertion, a cookie or a token: pass ids instead.
//
// Two kinds of call. An EVENT has a stable name and typed fields; a line of a request names the
// request (its id and W3C trace id), and every request or IdP value goes in a field:
//   log.info(r.ex.log_context(), "signin.ok", {{"idp", idp.name}, {"subject", s}, {"claims", n}});
//     text: 2026-12-04T20:00:00.123456Z INFO  gateway signin.ok request_id=ab trace_id=4bf9...
//           idp=corp subject=alice claims=3
//     json: {"time":"2026-12-04T20:00:00.123456Z","level":"info","component":"gateway",
//            "request_id":"ab","trace_id":"4bf9...","event":"signin.ok","idp":"corp",...}
// A MESSAGE is the code's own sentence, with values in it (startup, config, maintenance):
//   log.warn("policy: ", warning);      json: ...,"event":"message","msg":"policy: ..."
//
// Values are escaped by the logger itself, so a value cannot forge a line or a field. In JSON
// every string is a JSON string (controls as \u00XX, the Unicode line and bidi controls as
// \uXXXX, invalid UTF-8 as U+FFFD). In text, and in a message:
// String literals (and other const char arrays: text written in the code) are the line's own
// text and pass as written. Every other string (std::string, std::string_view, const char*,
// a char buffer) is a VALUE: control characters, invalid UTF-8 and the Unicode line and bidi
// controls are written as escapes (\n, \r, \t, \xNN, \uNNNN), backslashes doubled, and the
// value is quoted when it is empty or holds a space, a quote or '='. Numbers are written as
// they are. Text chosen at run time (`cond ? "a" : "b"` decays to const char*) is a value too:
// use LogText for such choices between literals, and LogField for an optional " key=value".
// Field keys and event names are literals of [a-z0-9_.], checked at compile time.
#pragma once

#include <atomic>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace cg::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kText = 0, kJson = 1 };

void set_log_level(LogLevel level);
LogLevel log_level();
bool parse_log_level(std::string_view text, LogLevel& out);
void set_log_format(LogFormat format);
LogFormat log_format();
bool parse_log_format(std::string_view text, LogFormat& out);

// The request a line belongs to: the gateway's request id and the W3C trace id (32 hex), either
// empty when unknown. Every line of a request carries both.
struct LogContext {
  std::string_view request_id;
  std::string_view trace_id;
};

// An event name or a field key: a literal of lower-case letters, digits, '_' and '.', checked
// at compile time (so a key never needs escaping), and none of the line's own keys.
class LogKey {
 public:
  template <size_t N>
  consteval LogKey(const char (&s)[N])  // NOLINT(google-explicit-constructor)
      : text_(s, N - 1) {
    if (N < 2) throw "a log key is not empty";
    for (size_t i = 0; i + 1 < N; ++i) {
      char c = s[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
      if (!ok) throw "a log key is [a-z0-9_.] only";
    }
    for (std::string_view own :
         {"time", "level", "component", "request_id", "trace_id", "event", "msg"}) {
      if (text_ == own) throw "a field cannot take one of the line's own keys";
    }
  }
  constexpr std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

// A field's value: text (escaped by the logger), a number, a boolean, or nothing (the field is
// left out: `{"user", user.empty() ? LogValue() : LogValue(user)}`). Holds a view: build it in
// the log call itself.
class LogValue {
 public:
  enum class Kind { kNone, kText, kInt, kUint, kDouble, kBool };
  LogValue() = default;
  LogValue(std::string_view v) : kind_(Kind::kText), text_(v) {}  // NOLINT
  LogValue(const std::string& v) : kind_(Kind::kText), text_(v) {}  // NOLINT
  LogValue(const char* v)  // NOLINT
      : kind_(Kind::kText), text_(v ? std::string_view(v) : std::string_view("(null)")) {}
  template <class T>
    requires std::is_same_v<T, bool>
  LogValue(T v) : kind_(Kind::kBool), u_(v ? 1 : 0) {}  // NOLINT
  template <class T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>)
  LogValue(T v) {  // NOLINT
    if constexpr (std::is_signed_v<T>) {
      kind_ = Kind::kInt;
      i_ = static_cast<int64_t>(v);
    } else {
      kind_ = Kind::kUint;
      u_ = static_cast<uint64_t>(v);
    }
  }
  LogValue(double v) : kind_(Kind::kDouble), d_(v) {}  // NOLINT
  template <class P>
    requires requires(const P& p) {
      { p.native() };
      { p.string() } -> std::convertible_to<std::string>;
    }
  LogValue(const P& path) : kind_(Kind::kText), text_(path.native()) {}  // NOLINT

  Kind kind() const { return kind_; }
  std::string_view text() const { return text_; }
  int64_t int_value() const { return i_; }
  uint64_t uint_value() const { return u_; }
  double double_value() const { return d_; }

 private:
  Kind kind_ = Kind::kNone;
  std::string_view text_;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0;
};

struct LogKv {
  LogKey key;
  LogValue value;
};

// One line, before it is written.
struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  std::string_view component;
  LogContext context;
  std::string_view event;  // empty: a message
  std::string_view msg;    // a message's text (in text format: values already escaped)
  std::span<const LogKv> fields;
};

// The line `record` is written as (without the newline), in `format`, at `time_text`.
std::string render_log_line(const LogRecord& record, LogFormat format, std::string_view time_text);
// Writes the record as one line (time now), atomically.
void write_log_record(const LogRecord& record);
// Appends `v` as a JSON string: quoted; quote, backslash and controls escaped, the Unicode line,
// bidi and invisible controls as \uXXXX, invalid UTF-8 as U+FFFD. Always one valid JSON value.
void append_log_json_string(std::string& out, std::string_view v);
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
// A value of a message: escaped for text, or as it is for JSON (the whole message is escaped
// as one JSON string then).
inline void append_message_value(std::string& out, std::string_view v, bool raw) {
  if (raw) {
    out += v;
  } else {
    append_log_value(out, v);
  }
}

template <class A>
void append(std::string& out, const std::remove_reference_t<A>& a, bool raw = false) {
  using R = std::remove_reference_t<A>;
  using T = std::remove_cv_t<R>;
  if constexpr (std::is_same_v<T, LogContext>) {
    // the line's request: written by the logger, not in the text
  } else if constexpr (std::is_array_v<R> && std::is_same_v<std::remove_extent_t<R>, const char>) {
    out.append(a, ::strnlen(a, std::extent_v<R>));  // a literal: the line's own text
  } else if constexpr (std::is_array_v<T> && std::is_same_v<std::remove_extent_t<T>, char>) {
    append_message_value(out, std::string_view(a, ::strnlen(a, std::extent_v<T>)), raw);
  } else if constexpr (std::is_same_v<T, LogQuoted>) {
    out += a.text();
  } else if constexpr (std::is_same_v<T, LogText>) {
    out += a.text();
  } else if constexpr (std::is_same_v<T, LogField>) {
    if (a.set) {
      out += a.key;
      append_message_value(out, a.value, raw);
    }
  } else if constexpr (std::is_same_v<T, char*> || std::is_same_v<T, const char*>) {
    append_message_value(out, a ? std::string_view(a) : std::string_view("(null)"), raw);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    append_message_value(out, std::string_view(a), raw);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += a ? "true" : "false";
  } else if constexpr (std::is_same_v<T, char>) {
    append_message_value(out, std::string_view(&a, 1), raw);
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
    append_message_value(out, a.string(), raw);  // std::filesystem::path
  } else {
    static_assert(kAlwaysFalse<T>, "log arguments: text, numbers, log_quote, LogText, LogField");
  }
}

template <class A>
void find_context(LogContext& ctx, const A& a) {
  if constexpr (std::is_same_v<std::remove_cv_t<A>, LogContext>) ctx = a;
}

}  // namespace log_detail

// A logger per part: `Logger log("gateway"); log.info("policy: ", w);` (a message, which may
// name its request by a LogContext argument) or `log.info(ctx, "signin.ok", {{"idp", n}})`
// (an event with fields).
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
  // Events: a name and fields, of a request (ctx) or of none.
  void debug(const LogContext& ctx, LogKey event, std::initializer_list<LogKv> fields) const {
    emit_event(LogLevel::kDebug, ctx, event, fields);
  }
  void info(const LogContext& ctx, LogKey event, std::initializer_list<LogKv> fields) const {
    emit_event(LogLevel::kInfo, ctx, event, fields);
  }
  void warn(const LogContext& ctx, LogKey event, std::initializer_list<LogKv> fields) const {
    emit_event(LogLevel::kWarn, ctx, event, fields);
  }
  void error(const LogContext& ctx, LogKey event, std::initializer_list<LogKv> fields) const {
    emit_event(LogLevel::kError, ctx, event, fields);
  }
  void debug(LogKey event, std::initializer_list<LogKv> fields) const {
    emit_event(LogLevel::kDebug, {}, event, fields);
  }
  void info(LogKey event, std::initializer_list<LogKv> fields) const {
    emit_event(LogLevel::kInfo, {}, event, fields);
  }
  void warn(LogKey event, std::initializer_list<LogKv> fields) const {
    emit_event(LogLevel::kWarn, {}, event, fields);
  }
  void error(LogKey event, std::initializer_list<LogKv> fields) const {
    emit_event(LogLevel::kError, {}, event, fields);
  }
  // The text a message call with these arguments logs in text format (after the time, level
  // and component).
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
    bool raw = log_format() == LogFormat::kJson;
    std::string line;
    (log_detail::append<A>(line, a, raw), ...);
    LogRecord rec;
    rec.level = level;
    rec.component = part_;
    (log_detail::find_context(rec.context, a), ...);
    rec.msg = line;
    write_log_record(rec);
  }
  void emit_event(LogLevel level, const LogContext& ctx, LogKey event,
                  std::initializer_list<LogKv> fields) const {
    if (level < log_level()) return;
    LogRecord rec;
    rec.level = level;
    rec.component = part_;
    rec.context = ctx;
    rec.event = event.text();
    rec.fields = std::span<const LogKv>(fields.begin(), fields.size());
    write_log_record(rec);
  }
  const char* part_;
};

}  // namespace cg::core
