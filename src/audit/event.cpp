#include "audit/event.h"

#include "core/time.h"

namespace cg::audit {
namespace {

// Length of the UTF-8 sequence at s[i], or 0 when it is not a valid one.
size_t utf8_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  if (n == 2 && c < 0xC2) return 0;                       // overlong
  if (n == 3 && c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
  if (n == 3 && c == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogates
  if (n == 4 && (c > 0xF4 || (c == 0xF0 && b(i + 1) < 0x90) || (c == 0xF4 && b(i + 1) >= 0x90)))
    return 0;
  return n;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto b1 = [&](size_t k) { return static_cast<unsigned char>(s[k + 1]); };
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      // Fast path: a run of plain ASCII.
      size_t j = i + 1;
      while (j < s.size()) {
        unsigned char d = static_cast<unsigned char>(s[j]);
        if (d < 0x20 || d >= 0x80 || d == '"' || d == '\\') break;
        ++j;
      }
      out.append(s.data() + i, j - i);
      i = j;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
      ++i;
      continue;
    }
    size_t n = utf8_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else if (n == 3 && c == 0xE2 && b1(i) == 0x80 && (b1(i + 1) == 0xA8 || b1(i + 1) == 0xA9)) {
      // LINE / PARAGRAPH SEPARATOR: valid JSON, but line-oriented readers split on them.
      out += b1(i + 1) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 3;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  out += '"';
}

namespace {

// format_datetime(t, true), with the seconds part formatted once per second per thread.
void append_time(std::string& out, core::WallTime t) {
  using namespace std::chrono;
  auto us = time_point_cast<microseconds>(t);
  auto secs = time_point_cast<seconds>(us);
  if (us < secs) secs -= seconds(1);
  thread_local seconds::rep cached_sec = -1;
  thread_local std::string cached;  // "2026-11-23T10:00:00"
  if (secs.time_since_epoch().count() != cached_sec) {
    std::string full = core::format_datetime(secs, false);  // "...:00Z"
    cached = full.substr(0, full.size() - 1);
    cached_sec = secs.time_since_epoch().count();
  }
  out += cached;
  auto frac = static_cast<unsigned>((us - secs).count());
  char buf[9] = {'.', 0, 0, 0, 0, 0, 0, 'Z', 0};
  for (int i = 6; i >= 1; --i) {
    buf[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  out.append(buf, 8);
}

}  // namespace

Event::Event(std::string_view type, core::WallTime t, std::string_view request_id,
             std::string_view trace_id)
    : type_(type) {
  body_.reserve(320);
  body_ += "\"time\":\"";
  append_time(body_, t);
  body_ += "\",\"type\":";
  append_json_string(body_, type);
  if (!request_id.empty()) str("request_id", request_id);
  if (!trace_id.empty()) str("trace_id", trace_id);
}

void Event::key(std::string_view k) {
  body_ += ',';
  append_json_string(body_, k);
  body_ += ':';
}

Event& Event::str(std::string_view k, std::string_view v) {
  key(k);
  append_json_string(body_, v);
  return *this;
}

Event& Event::num(std::string_view k, int64_t v) {
  key(k);
  body_ += std::to_string(v);
  return *this;
}

Event& Event::flag(std::string_view k, bool v) {
  key(k);
  body_ += v ? "true" : "false";
  return *this;
}

Event& Event::time(std::string_view k, core::WallTime t) {
  key(k);
  body_ += '"';
  append_time(body_, t);
  body_ += '"';
  return *this;
}

Event& Event::list(std::string_view k, const std::vector<std::string>& values) {
  key(k);
  body_ += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) body_ += ',';
    append_json_string(body_, values[i]);
  }
  body_ += ']';
  return *this;
}

Event& Event::json(std::string_view k, std::string_view json_text) {
  key(k);
  body_ += json_text;
  return *this;
}

}  // namespace cg::audit
