#include "core/encoding.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/errors.h"

namespace cg::core {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_b64_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kB64[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kB64Table = make_b64_table();

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> d) {
  std::string out;
  out.reserve((d.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < d.size(); i += 3) {
    uint32_t v = (uint32_t{d[i]} << 16) | (uint32_t{d[i + 1]} << 8) | d[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == d.size()) {
    uint32_t v = uint32_t{d[i]} << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == d.size()) {
    uint32_t v = (uint32_t{d[i]} << 16) | (uint32_t{d[i + 1]} << 8);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_encode(std::string_view d) {
  return base64_encode(std::span(reinterpret_cast<const uint8_t*>(d.data()), d.size()));
}

Result<std::string> base64_decode(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  char* o = out.data();
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0, chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    // Four base64 characters at a group boundary: three bytes at once (the common case).
    while (bits == 0 && pad == 0 && i + 4 <= text.size()) {
      int a = kB64Table[static_cast<uint8_t>(text[i])];
      int b = kB64Table[static_cast<uint8_t>(text[i + 1])];
      int c2 = kB64Table[static_cast<uint8_t>(text[i + 2])];
      int d = kB64Table[static_cast<uint8_t>(text[i + 3])];
      if ((a | b | c2 | d) < 0) break;
      uint32_t q = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                   (static_cast<uint32_t>(c2) << 6) | static_cast<uint32_t>(d);
      *o++ = static_cast<char>(q >> 16);
      *o++ = static_cast<char>((q >> 8) & 0xFF);
      *o++ = static_cast<char>(q & 0xFF);
      chars += 4;
      i += 4;
    }
    if (i >= text.size()) break;
    char c = text[i];
    int v = kB64Table[static_cast<uint8_t>(c)];
    if (v >= 0 && pad == 0) {
      ++chars;
      acc = (acc << 6) | static_cast<uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        *o++ = static_cast<char>((acc >> bits) & 0xFF);
      }
      continue;
    }
    if (is_space(c)) continue;
    if (c == '=') {
      ++pad;
      ++chars;
      continue;
    }
    if (v >= 0) return fail(Code::kBase64, "base64 data continues after '=' padding");
    return fail(Code::kBase64, "character " +
                                   std::to_string(static_cast<int>(static_cast<uint8_t>(c))) +
                                   " at offset " + std::to_string(i) + " is not base64");
  }
  if (pad > 2 || (chars % 4 != 0 && pad > 0) || chars % 4 == 1) {
    return fail(Code::kBase64, "base64 data has a wrong length or padding");
  }
  out.resize(static_cast<size_t>(o - out.data()));
  return out;
}

std::string base64url_encode(std::span<const uint8_t> d) {
  std::string out = base64_encode(d);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string base64url_encode(std::string_view d) {
  return base64url_encode(std::span(reinterpret_cast<const uint8_t*>(d.data()), d.size()));
}

Result<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return fail(Code::kBase64, "base64url data has a wrong length");
  std::string std_b64(text);
  for (size_t i = 0; i < std_b64.size(); ++i) {
    char& c = std_b64[i];
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
      return fail(Code::kBase64, "character " +
                                     std::to_string(static_cast<int>(static_cast<uint8_t>(c))) +
                                     " at offset " + std::to_string(i) + " is not base64url");
    }
  }
  while (std_b64.size() % 4 != 0) std_b64 += '=';
  return base64_decode(std_b64);
}

std::string hex_encode(std::span<const uint8_t> d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(d.size() * 2);
  for (uint8_t b : d) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<std::string> url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.resize(s.size());
  char* o = out.data();
  // Runs without an escape (or '+') are copied whole: a posted SAMLResponse is ~10 KB of
  // base64 with a %2B, %2F or %3D every few dozen characters.
  size_t i = 0;
  while (i < s.size()) {
    size_t run = i;
    while (run < s.size() && s[run] != '%' && !(plus_is_space && s[run] == '+')) ++run;
    std::memcpy(o, s.data() + i, run - i);
    o += run - i;
    i = run;
    if (i >= s.size()) break;
    if (s[i] == '+') {
      *o++ = ' ';
      ++i;
      continue;
    }
    if (i + 2 >= s.size())
      return fail(Code::kUrlEncoding, "truncated %-escape at offset " + std::to_string(i));
    int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0)
      return fail(Code::kUrlEncoding, "malformed %-escape at offset " + std::to_string(i));
    *o++ = static_cast<char>(hi * 16 + lo);
    i += 3;
  }
  out.resize(static_cast<size_t>(o - out.data()));
  return out;
}

Result<std::vector<QueryParam>> parse_query(std::string_view q) {
  std::vector<QueryParam> out;
  if (!q.empty() && q.front() == '?') q.remove_prefix(1);
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view raw_name = pair.substr(0, eq);
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    CG_TRY(std::string name, url_decode(raw_name));
    CG_TRY(std::string value, url_decode(raw_value));
    out.push_back({std::move(name), std::move(value), std::string(raw_value)});
  }
  return out;
}

const QueryParam* find_param(const std::vector<QueryParam>& params, std::string_view name) {
  for (const auto& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string clip(std::string_view s, size_t n) {
  if (s.size() <= n) return std::string(s);
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Code::kIo, "cannot open '" + path + "': " + std::strerror(errno));
  std::string out;
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > max_bytes)
      return fail(Code::kTooLarge,
                  "'" + path + "' is larger than " + std::to_string(max_bytes) + " bytes");
  }
  if (in.bad()) return fail(Code::kIo, "error reading '" + path + "'");
  return out;
}

Status write_file(const std::string& path, std::string_view data, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fail(Code::kIo, "cannot create '" + path + "': " + std::strerror(errno));
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return fail(Code::kIo, "cannot write '" + path + "': " + std::strerror(e));
    }
    done += static_cast<size_t>(w);
  }
  if (::close(fd) != 0)
    return fail(Code::kIo, "cannot write '" + path + "': " + std::strerror(errno));
  return {};
}

Status replace_file(const std::string& path, std::string_view data, unsigned mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fail(Code::kIo, "cannot create '" + tmp + "': " + std::strerror(errno));
  ::fchmod(fd, mode);
  size_t done = 0;
  bool ok = true;
  while (ok && done < data.size()) {
    ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    ok = w >= 0;
    if (ok) done += static_cast<size_t>(w);
  }
  ok = ok && ::fsync(fd) == 0;
  int err = errno;
  ok = ::close(fd) == 0 && ok;
  if (ok && ::rename(tmp.c_str(), path.c_str()) == 0) return {};
  if (ok) err = errno;
  ::unlink(tmp.c_str());
  return fail(Code::kIo, "cannot write '" + path + "': " + std::strerror(err));
}

std::string markup_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

}  // namespace cg::core
