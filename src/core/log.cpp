#include "core/log.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "core/clock.h"
#include "core/time.h"

namespace cg::core {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};

const char* json_level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

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

void set_log_format(LogFormat format) { g_format = static_cast<int>(format); }
LogFormat log_format() { return static_cast<LogFormat>(g_format.load(std::memory_order_relaxed)); }

bool parse_log_format(std::string_view t, LogFormat& out) {
  if (t == "text")
    out = LogFormat::kText;
  else if (t == "json")
    out = LogFormat::kJson;
  else
    return false;
  return true;
}

namespace {

constexpr char kHex[] = "0123456789abcdef";

void hex_byte(std::string& out, unsigned char c) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

// The length of the well-formed UTF-8 sequence at s[i] (2 to 4) and its code point, or 0.
size_t utf8_sequence(std::string_view s, size_t i, char32_t& cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  size_t n = 0;
  char32_t min = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// Code points a terminal or log viewer may take as a line break, or that reorder or hide
// what follows: C1 controls (NEL among them), zero-width marks, LS/PS, bidi embeddings and
// isolates, the BOM.
bool invisible_control(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

// Appends `v` with every byte that is not printable, well-formed UTF-8 escaped; inside quotes
// also the quote. Backslashes are always doubled, so an escape cannot be forged either.
void append_escaped(std::string& out, std::string_view v, bool quoted) {
  for (size_t i = 0; i < v.size();) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '"':
          out += quoted ? "\\\"" : "\"";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            hex_byte(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      continue;
    }
    char32_t cp = 0;
    size_t n = utf8_sequence(v, i, cp);
    if (n == 0) {
      hex_byte(out, c);  // not UTF-8: the byte, as hex
      ++i;
    } else if (invisible_control(cp)) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
      i += n;
    } else {
      out.append(v.substr(i, n));
      i += n;
    }
  }
}

}  // namespace

std::string sanitize_log_text(std::string_view text) {
  // The text was built by the logger, so values in it are escaped already: what is left to
  // catch is a control character in the code's own text. It is escaped like a value's.
  bool clean = true;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) clean = false;
  }
  if (clean) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u == '\n') {
      out += "\\n";
    } else if (u == '\r') {
      out += "\\r";
    } else if (u == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      hex_byte(out, u);
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// "2026-12-04T20:00:00.123456Z": RFC 3339, UTC, microseconds.
std::string log_time_now() {
  auto now = SystemClock::instance().now();
  auto us = std::chrono::time_point_cast<std::chrono::microseconds>(now);
  auto secs = std::chrono::floor<std::chrono::seconds>(us);
  auto frac = (us - secs).count();
  std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        static_cast<int>(frac));
  return std::string(buf, static_cast<size_t>(n));
}

// One write(2) per line: lines from several threads never interleave.
void write_stderr(const std::string& line) {
  ssize_t left = static_cast<ssize_t>(line.size());
  const char* p = line.data();
  while (left > 0) {
    ssize_t w = ::write(2, p, static_cast<size_t>(left));
    if (w <= 0) return;
    p += w;
    left -= w;
  }
}

void append_number(std::string& out, const LogValue& v, bool json) {
  char buf[64];
  std::to_chars_result r{buf, {}};
  switch (v.kind()) {
    case LogValue::Kind::kInt:
      r = std::to_chars(buf, buf + sizeof buf, v.int_value());
      break;
    case LogValue::Kind::kUint:
      r = std::to_chars(buf, buf + sizeof buf, v.uint_value());
      break;
    case LogValue::Kind::kDouble:
      if (!std::isfinite(v.double_value())) {
        out += json ? "null" : "nan";
        return;
      }
      r = std::to_chars(buf, buf + sizeof buf, v.double_value(), std::chars_format::general, 6);
      break;
    default:
      break;
  }
  out.append(buf, r.ptr);
}

void append_field_value(std::string& out, const LogValue& v, bool json) {
  switch (v.kind()) {
    case LogValue::Kind::kNone:
      break;
    case LogValue::Kind::kText:
      json ? append_log_json_string(out, v.text()) : append_log_value(out, v.text());
      break;
    case LogValue::Kind::kBool:
      out += v.uint_value() ? "true" : "false";
      break;
    default:
      append_number(out, v, json);
  }
}

}  // namespace

void append_log_json_string(std::string& out, std::string_view v) {
  out += '"';
  for (size_t i = 0; i < v.size();) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      continue;
    }
    char32_t cp = 0;
    size_t n = utf8_sequence(v, i, cp);
    if (n == 0) {
      out += "\\ufffd";  // not UTF-8: the replacement character (JSON holds text only)
      ++i;
    } else if (invisible_control(cp)) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
      i += n;
    } else {
      out.append(v.substr(i, n));
      i += n;
    }
  }
  out += '"';
}

std::string render_log_line(const LogRecord& r, LogFormat format, std::string_view time_text) {
  std::string line;
  line.reserve(160 + r.msg.size());
  if (format == LogFormat::kJson) {
    line += "{\"time\":\"";
    line += time_text;
    line += "\",\"level\":\"";
    line += json_level_name(r.level);
    line += "\",\"component\":";
    append_log_json_string(line, r.component);
    if (!r.context.request_id.empty()) {
      line += ",\"request_id\":";
      append_log_json_string(line, r.context.request_id);
    }
    if (!r.context.trace_id.empty()) {
      line += ",\"trace_id\":";
      append_log_json_string(line, r.context.trace_id);
    }
    line += ",\"event\":";
    if (r.event.empty()) {
      line += "\"message\",\"msg\":";
      append_log_json_string(line, r.msg);
    } else {
      append_log_json_string(line, r.event);
    }
    for (const auto& f : r.fields) {
      if (f.value.kind() == LogValue::Kind::kNone) continue;
      line += ",\"";
      line += f.key.text();  // [a-z0-9_.] (checked at compile time)
      line += "\":";
      append_field_value(line, f.value, true);
    }
    line += '}';
    return line;
  }
  char head[16];
  int n = std::snprintf(head, sizeof head, " %-5s ", level_name(r.level));
  line += time_text;
  line.append(head, static_cast<size_t>(n));
  line += sanitize_log_text(r.component);
  if (!r.event.empty()) {
    line += ' ';
    line += r.event;
  }
  if (!r.context.request_id.empty()) {
    line += " request_id=";
    append_log_value(line, r.context.request_id);
  }
  if (!r.context.trace_id.empty()) {
    line += " trace_id=";
    append_log_value(line, r.context.trace_id);
  }
  if (r.event.empty()) {
    line += ' ';
    line += sanitize_log_text(r.msg);
  }
  for (const auto& f : r.fields) {
    if (f.value.kind() == LogValue::Kind::kNone) continue;
    line += ' ';
    line += f.key.text();
    line += '=';
    append_field_value(line, f.value, false);
  }
  return line;
}

void write_log_record(const LogRecord& record) {
  std::string line = render_log_line(record, log_format(), log_time_now());
  line += '\n';
  write_stderr(line);
}

void write_log_line(LogLevel level, std::string_view part, std::string_view text) {
  LogRecord rec;
  rec.level = level;
  rec.component = part;
  rec.msg = text;
  write_log_record(rec);
}

void append_log_value(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=') quote = true;
  }
  if (!quote) {
    append_escaped(out, v, false);
    return;
  }
  out += '"';
  append_escaped(out, v, true);
  out += '"';
}

LogQuoted log_quote(std::string_view v) {
  std::string out;
  out.reserve(v.size() + 2);
  append_log_value(out, v);
  return LogQuoted(std::move(out));
}

}  // namespace cg::core
