#include "http/request_head.h"

#include <array>
#include <vector>

#include "http/errors.h"

namespace cg::http {
namespace {

constexpr size_t kMaxContentLengthDigits = 18;  // fits in uint64_t with room to spare

bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

Unexpected<Error> bad(std::string message) { return fail(Code::kBadRequest, std::move(message)); }

std::string byte_name(unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "0x";
  s += kHex[c >> 4];
  s += kHex[c & 15];
  return s;
}

// host = IP-literal / IPv4address / reg-name, then [":" port]; no user info, no '%'.
bool valid_authority(std::string_view a) {
  if (a.empty()) return false;
  size_t i = 0;
  if (a[0] == '[') {
    size_t close = a.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (size_t k = 1; k < close; ++k) {
      if (!is_hex(a[k]) && a[k] != ':' && a[k] != '.') return false;
    }
    i = close + 1;
  } else {
    while (i < a.size() && a[i] != ':') {
      unsigned char c = static_cast<unsigned char>(a[i]);
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(a[i]) || c == '-' ||
                c == '.' || c == '_' || c == '~';
      if (!ok) return false;
      ++i;
    }
    if (i == 0) return false;
  }
  if (i == a.size()) return true;
  if (a[i] != ':') return false;
  std::string_view port = a.substr(i + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!is_digit(c)) return false;
  }
  return true;
}

struct Field {
  std::string_view name;
  std::string_view value;
};

Result<int> check_request_line(std::string_view line, RequestHead& out) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) {
    return bad("the request line must be 'METHOD SP target SP HTTP/1.1'");
  }
  out.method = line.substr(0, sp1);
  // Methods are case-sensitive (RFC 9110 9.1); like nginx, only upper-case letters, '-' and
  // '_': "get" or "G3T" would be decided as one method and handled as another upstream.
  for (char c : out.method) {
    if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_')) {
      return bad("the request method must be upper-case letters, such as GET or POST");
    }
  }
  if (out.method.size() > 32) return bad("the request method is longer than 32 characters");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    return bad("the request line must be 'METHOD SP target SP HTTP/1.1' (one space each)");
  }
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  for (char ch : out.target) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) {
      return bad("the request target holds a byte that is not visible ASCII (" + byte_name(c) +
                 ")");
    }
    if (c == '#') return bad("the request target holds a fragment ('#')");
  }
  if (version.size() != 8 || !version.starts_with("HTTP/") || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    return bad("the request line must end in an HTTP version such as HTTP/1.1, after one space");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return fail(Code::kVersion, "HTTP version " + std::string(version.substr(5)) +
                                    " is not supported; send HTTP/1.1");
  }
  out.version = version == "HTTP/1.1" ? 11 : 10;
  return 0;
}

Result<int> check_field_line(std::string_view line, Field& f) {
  if (line.empty()) return bad("the request head holds an empty line before its end");
  if (is_ows(line[0])) {
    return bad("a header line starts with whitespace: line folding (obs-fold) is not accepted");
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return bad("a header line has no ':'");
  f.name = line.substr(0, colon);
  if (f.name.empty()) return bad("a header line has an empty field name");
  if (is_ows(f.name.back())) {
    return bad("the field name '" + escape_for_message(trim_ows(f.name)) +
               "' is followed by whitespace before its ':'");
  }
  if (!is_token(f.name)) {
    return bad("the field name '" + escape_for_message(f.name) + "' is not a token");
  }
  f.value = trim_ows(line.substr(colon + 1));
  for (char ch : f.value) {
    unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return bad("the value of field '" + escape_for_message(f.name) + "' holds a control byte (" +
                 byte_name(c) + ")");
    }
  }
  return 0;
}

// Transfer-Encoding: only exactly `chunked` is accepted.
Result<int> check_transfer_encoding(std::string_view value) {
  std::vector<std::string_view> codings;
  size_t i = 0;
  while (true) {
    size_t comma = value.find(',', i);
    std::string_view item =
        trim_ows(value.substr(i, comma == std::string_view::npos ? value.npos : comma - i));
    if (item.empty()) return bad("the Transfer-Encoding field holds an empty list element");
    codings.push_back(item);
    if (comma == std::string_view::npos) break;
    i = comma + 1;
  }
  size_t chunked = 0;
  for (auto c : codings) {
    if (iequals(c, "chunked")) ++chunked;
  }
  if (codings.size() == 1 && chunked == 1) return 0;
  if (chunked > 1) return bad("the Transfer-Encoding field names chunked more than once");
  if (chunked == 1 && !iequals(codings.back(), "chunked")) {
    return bad("the Transfer-Encoding field names chunked before another coding; chunked must "
               "be the final coding");
  }
  for (auto c : codings) {
    if (!is_token(c)) {
      return bad("the Transfer-Encoding field holds '" + escape_for_message(c) +
                 "', which is not a transfer coding");
    }
  }
  for (auto c : codings) {
    if (!iequals(c, "chunked")) {
      return fail(Code::kNotImplemented, "the transfer coding '" + escape_for_message(c) +
                                             "' is not supported; only chunked is");
    }
  }
  return bad("the Transfer-Encoding field is malformed");
}

Result<uint64_t> parse_content_length(std::string_view v) {
  if (v.empty() || v.size() > kMaxContentLengthDigits) {
    return bad("the Content-Length field must be a decimal number of bytes (1 to " +
               std::to_string(kMaxContentLengthDigits) + " digits)");
  }
  uint64_t n = 0;
  for (char c : v) {
    if (!is_digit(c)) {
      return bad("the Content-Length field must be digits only (no sign, list or spaces)");
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

Result<int> check_target(RequestHead& out) {
  std::string_view t = out.target;
  if (t[0] == '/') return 0;
  if (t == "*") {
    if (out.method == "OPTIONS") return 0;
    return bad("the request target '*' is only allowed with OPTIONS");
  }
  std::string_view rest;
  if (istarts_with(t, "http://")) {
    rest = t.substr(7);
  } else if (istarts_with(t, "https://")) {
    rest = t.substr(8);
  } else {
    return bad("the request target must be a path starting with '/' (or an absolute http URL)");
  }
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) {
    return bad("the request target's authority holds user info ('@')");
  }
  if (!valid_authority(authority)) return bad("the request target's authority is malformed");
  if (out.host.empty()) {
    return bad("a request with an absolute URL as its target must have a Host field too");
  }
  if (!iequals(authority, out.host)) {
    return bad("the request target names the authority '" + escape_for_message(authority) +
               "' but the Host field names '" + escape_for_message(out.host) + "'");
  }
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  out.origin_target = path.empty() || path[0] == '?' ? "/" + std::string(path) : std::string(path);
  return 0;
}

bool method_has_no_body(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "TRACE" || m == "CONNECT";
}

}  // namespace

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string fold_header_name(std::string_view name) {
  std::string out(name);
  for (auto& c : out) c = c == '_' ? '-' : lower(c);
  return out;
}

bool is_client_identity_header(std::string_view name, std::string_view identity_prefix) {
  std::string n = fold_header_name(name);
  std::string_view v = n;
  if (!identity_prefix.empty() && v.starts_with(fold_header_name(identity_prefix))) return true;
  if (v.starts_with("x-forwarded-")) return true;
  static constexpr std::array<std::string_view, 7> kNames = {
      "forwarded", "x-real-ip",     "x-client-ip",   "true-client-ip",
      "remote-user", "x-remote-user", "x-remote-group"};
  for (auto k : kNames) {
    if (v == k) return true;
  }
  return v.starts_with("x-auth-request-") || v.starts_with("x-webauth-");
}

std::string escape_for_message(std::string_view s, size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '\\' || c == '\'' || c == '"' || c == '<' || c == '>' ||
        c == '&') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

size_t skip_empty_lines(std::string_view data) {
  size_t i = 0;
  while (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') i += 2;
  return i;
}

size_t find_head_end(std::string_view data) {
  for (size_t i = data.find('\n'); i != std::string_view::npos; i = data.find('\n', i + 1)) {
    if (i + 1 < data.size() && data[i + 1] == '\n') return i + 2;
    if (i + 2 < data.size() && data[i + 1] == '\r' && data[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

Result<RequestHead> check_request_head(std::string_view head) {
  RequestHead out;
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) {
      return bad("a line of the request head ends in a bare LF; lines end in CRLF");
    }
    if (head[i] == '\r' && (i + 1 == head.size() || head[i + 1] != '\n')) {
      return bad("the request head holds a CR that does not end a line");
    }
  }
  if (!head.ends_with("\r\n\r\n")) {
    return bad("the request head must end with an empty line (CRLF CRLF)");
  }
  // Lines, without the final empty one.
  std::string_view body = head.substr(0, head.size() - 2);
  size_t eol = body.find("\r\n");
  if (auto ok = check_request_line(body.substr(0, eol), out); !ok) return fail(ok.error());
  std::vector<Field> fields;
  for (size_t at = eol + 2; at < body.size();) {
    size_t next = body.find("\r\n", at);
    Field f;
    if (auto ok = check_field_line(body.substr(at, next - at), f); !ok) return fail(ok.error());
    fields.push_back(f);
    at = next + 2;
  }
  out.fields = fields.size();
  size_t hosts = 0, lengths = 0, encodings = 0;
  std::string_view te;
  std::string_view cl;
  for (const auto& f : fields) {
    if (f.name.find('_') != std::string_view::npos) {
      ++out.underscore_fields;  // dropped by the server, never read
      continue;
    }
    if (iequals(f.name, "Host")) {
      ++hosts;
      out.host = f.value;
    } else if (iequals(f.name, "Content-Length")) {
      ++lengths;
      cl = f.value;
    } else if (iequals(f.name, "Transfer-Encoding")) {
      ++encodings;
      te = f.value;
    }
  }
  // Fields the gateway reads once, where a second copy could be read by an upstream instead.
  static constexpr std::array<std::string_view, 4> kSingle = {"Authorization", "Cookie",
                                                              "Content-Type", "Upgrade"};
  for (auto name : kSingle) {
    size_t n = 0;
    for (const auto& f : fields) n += iequals(f.name, name) ? 1 : 0;
    if (n > 1) return bad("the request has more than one " + std::string(name) + " field");
  }
  if (hosts > 1) return bad("the request has more than one Host field");
  if (hosts == 0 && out.version == 11) return bad("an HTTP/1.1 request must have a Host field");
  if (hosts == 1 && !valid_authority(out.host)) {
    return bad("the Host field '" + escape_for_message(out.host) +
               "' is not a host name or address with an optional port");
  }
  if (lengths > 1) return bad("the request has more than one Content-Length field");
  if (encodings > 1) return bad("the request has more than one Transfer-Encoding field");
  if (encodings == 1) {
    if (lengths == 1) {
      return bad("the request has both Content-Length and Transfer-Encoding; send one of them");
    }
    if (out.version == 10) return bad("an HTTP/1.0 request cannot use Transfer-Encoding");
    if (auto ok = check_transfer_encoding(te); !ok) return fail(ok.error());
    out.framing = Framing::kChunked;
  } else if (lengths == 1) {
    auto n = parse_content_length(cl);
    if (!n) return fail(n.error());
    out.framing = Framing::kContentLength;
    out.content_length = *n;
  }
  if (method_has_no_body(out.method) &&
      (out.framing == Framing::kChunked || out.content_length > 0)) {
    return bad("a " + std::string(out.method) + " request cannot have a body");
  }
  if (auto ok = check_target(out); !ok) return fail(ok.error());
  return out;
}

unsigned status_for(const Error& e) {
  if (e.code == static_cast<int>(Code::kNotImplemented)) return 501;
  if (e.code == static_cast<int>(Code::kVersion)) return 505;
  return 400;
}

ChunkedPrefix check_chunked_prefix(std::string_view d) {
  ChunkedPrefix r;
  auto bad_chunk = [&](std::string why) {
    r.state = ChunkedPrefix::kBad;
    r.reason = "the chunked request body is malformed: " + std::move(why);
    return r;
  };
  size_t i = 0;
  for (;;) {
    // chunk-size = 1*HEXDIG
    size_t start = i;
    uint64_t size = 0;
    while (i < d.size() && is_hex(d[i])) {
      if (i - start >= 15) return bad_chunk("a chunk size has more than 15 hex digits");
      size = size * 16 + static_cast<uint64_t>(hex_value(d[i]));
      ++i;
    }
    if (i == d.size()) return r;
    if (i == start) return bad_chunk("a chunk does not start with a hex size");
    // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
    for (;;) {
      size_t ws = i;
      while (i < d.size() && is_ows(d[i])) ++i;
      if (i == d.size()) return r;
      if (d[i] != ';') {
        if (i != ws) return bad_chunk("a chunk size line ends in whitespace");
        break;
      }
      ++i;
      while (i < d.size() && is_ows(d[i])) ++i;
      size_t n0 = i;
      while (i < d.size() && is_tchar(static_cast<unsigned char>(d[i]))) ++i;
      if (i == d.size()) return r;
      if (i == n0) return bad_chunk("a chunk extension has no name");
      size_t save = i;
      while (i < d.size() && is_ows(d[i])) ++i;
      if (i == d.size()) return r;
      if (d[i] != '=') {
        i = save;
        continue;
      }
      ++i;
      while (i < d.size() && is_ows(d[i])) ++i;
      if (i == d.size()) return r;
      if (d[i] == '"') {
        ++i;
        for (;;) {
          if (i == d.size()) return r;
          unsigned char c = static_cast<unsigned char>(d[i]);
          if (c == '"') break;
          if (c == '\\') {
            ++i;
            if (i == d.size()) return r;
            c = static_cast<unsigned char>(d[i]);
          }
          if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return bad_chunk("a chunk extension holds a control byte (" + byte_name(c) + ")");
          }
          ++i;
        }
        ++i;
      } else {
        size_t v0 = i;
        while (i < d.size() && is_tchar(static_cast<unsigned char>(d[i]))) ++i;
        if (i == d.size()) return r;
        if (i == v0) return bad_chunk("a chunk extension has an empty value");
      }
    }
    if (d[i] != '\r') {
      return bad_chunk("a chunk size line holds " + byte_name(static_cast<unsigned char>(d[i])) +
                       " where CRLF was expected");
    }
    if (i + 1 == d.size()) return r;
    if (d[i + 1] != '\n') return bad_chunk("a chunk size line does not end in CRLF");
    i += 2;
    if (size == 0) break;
    if (d.size() - i < size) return r;
    i += size;
    if (i == d.size()) return r;
    if (d[i] != '\r') return bad_chunk("a chunk's data is longer than its size says");
    if (i + 1 == d.size()) return r;
    if (d[i + 1] != '\n') return bad_chunk("a chunk's data is not followed by CRLF");
    i += 2;
  }
  // The trailer section: none accepted, so the body ends with this CRLF.
  if (i == d.size()) return r;
  if (d[i] != '\r') return bad_chunk("trailer fields are not accepted");
  if (i + 1 == d.size()) return r;
  if (d[i + 1] != '\n') return bad_chunk("the last chunk is not followed by CRLF");
  r.state = ChunkedPrefix::kComplete;
  r.consumed = i + 2;
  return r;
}

}  // namespace cg::http
