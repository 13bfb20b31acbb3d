#include "policy/path.h"

#include <vector>

#include "policy/errors.h"

namespace cg::policy {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Whether `b` (the path with every %-escape decoded) is well-formed UTF-8: no overlong form
// (%C0%AE is '.' to some decoders), no surrogate, nothing past U+10FFFF.
bool valid_utf8(std::string_view b) {
  for (size_t i = 0; i < b.size();) {
    unsigned char c = static_cast<unsigned char>(b[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = c >= 0xC2 && c <= 0xDF   ? 1
               : c >= 0xE0 && c <= 0xEF ? 2
               : c >= 0xF0 && c <= 0xF4 ? 3
                                        : 0;
    if (n == 0 || i + n >= b.size()) return false;
    unsigned char c1 = static_cast<unsigned char>(b[i + 1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
        (c == 0xF4 && c1 > 0x8F)) {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(b[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

Result<std::string> normalize_path(std::string_view raw) {
  if (raw.empty() || raw[0] != '/') {
    return fail(Code::kPathMalformed, "the request path must start with '/'");
  }
  // 1. Decode what may be decoded, refuse what is ambiguous, keep the rest canonical.
  std::string decoded;
  decoded.reserve(raw.size());
  std::string bytes;  // every escape decoded, for the UTF-8 check
  bytes.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c < 0x20 || c == 0x7f) {
      return fail(Code::kPathEncoding, "the request path holds a control byte (0x" +
                                           std::string(1, "0123456789abcdef"[c >> 4]) +
                                           std::string(1, "0123456789abcdef"[c & 15]) + ")");
    }
    if (c == '\\') {
      return fail(Code::kPathEncoding,
                  "the request path holds a backslash, which some upstreams read as '/'");
    }
    if (c == ';') {
      return fail(Code::kPathEncoding,
                  "the request path holds ';' (a path parameter), which Tomcat, Jetty and Spring "
                  "cut from a segment before they resolve the path ('/..;/' is '/../' to them)");
    }
    if (c != '%') {
      decoded += static_cast<char>(c);
      bytes += static_cast<char>(c);
      continue;
    }
    int hi = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
    int lo = i + 2 < raw.size() ? hex_value(raw[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return fail(Code::kPathMalformed,
                  "the request path holds a broken %-escape at offset " + std::to_string(i));
    }
    unsigned char v = static_cast<unsigned char>(hi * 16 + lo);
    if (v == ';') {
      return fail(Code::kPathEncoding,
                  "the request path holds an encoded ';' (%3B), which an upstream that decodes "
                  "before it cuts path parameters reads as one");
    }
    if (v == '%' && i + 4 < raw.size() && hex_value(raw[i + 3]) >= 0 &&
        hex_value(raw[i + 4]) >= 0) {
      return fail(Code::kPathEncoding,
                  "the request path holds a double-encoded escape (%25 followed by two hex "
                  "digits), which an upstream that decodes twice reads differently");
    }
    bytes += static_cast<char>(v);
    if (v == '/' || v == '\\' || v == 0 || v < 0x20 || v == 0x7f) {
      return fail(Code::kPathEncoding,
                  "the request path holds an encoded '" +
                      std::string(v == '/'    ? "/"
                                  : v == '\\' ? "\\"
                                              : "control byte") +
                      "' (" + std::string(raw.substr(i, 3)) +
                      "): upstreams disagree on whether it separates segments");
    }
    if (unreserved(v)) {
      decoded += static_cast<char>(v);
    } else {
      decoded += '%';
      decoded += "0123456789ABCDEF"[v >> 4];
      decoded += "0123456789ABCDEF"[v & 15];
    }
    i += 2;
  }
  if (!valid_utf8(bytes)) {
    return fail(Code::kPathEncoding,
                "the request path is not well-formed UTF-8 once decoded (an overlong or "
                "truncated sequence, such as %C0%AE for '.')");
  }
  // 2. Segments: collapse empty ones, resolve dot segments.
  std::vector<std::string_view> segs;
  size_t count = 0;
  bool refused_above_root = false;
  for_each_segment(decoded, [&](std::string_view s) {
    ++count;
    if (s == ".") return;
    if (s == "..") {
      if (segs.empty()) {
        refused_above_root = true;
      } else {
        segs.pop_back();
      }
      return;
    }
    segs.push_back(s);
  });
  if (refused_above_root) {
    return fail(Code::kPathAboveRoot, "the request path climbs above the root with '..'");
  }
  if (count > kMaxPathSegments) {
    return fail(Code::kPathMalformed, "the request path has " + std::to_string(count) +
                                          " segments; at most " + std::to_string(kMaxPathSegments) +
                                          " are accepted");
  }
  std::string out;
  out.reserve(decoded.size());
  for (auto s : segs) {
    out += '/';
    out += s;
  }
  // A trailing slash stays, and so does one after a final dot segment ("/a/." is "/a/").
  bool trailing = decoded.back() == '/' || decoded.ends_with("/.") || decoded.ends_with("/..");
  if (out.empty() || trailing) out += '/';
  return out;
}

}  // namespace cg::policy
