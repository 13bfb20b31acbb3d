#include "http/url.h"

#include <charconv>

#include "http/errors.h"

namespace cg::http {

std::string Url::authority() const {
  bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return default_port ? h : h + ":" + std::to_string(port);
}

std::string Url::origin() const { return scheme + "://" + authority(); }

Result<Url> parse_url(std::string_view text) {
  Url u;
  size_t colon = text.find("://");
  if (colon == std::string_view::npos) {
    return fail(Code::kBadUrl, "'" + std::string(text) + "' is not an absolute http(s) URL");
  }
  u.scheme = std::string(text.substr(0, colon));
  if (u.scheme != "http" && u.scheme != "https") {
    return fail(Code::kBadUrl, "URL scheme '" + u.scheme + "' is not http or https");
  }
  std::string_view rest = text.substr(colon + 3);
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.path = std::string(rest.substr(slash));
  if (u.path.find_first_of("?#") != std::string::npos) {
    return fail(Code::kBadUrl, "URL '" + std::string(text) + "' must not have a query or fragment");
  }
  if (hostport.find('@') != std::string_view::npos) {
    return fail(Code::kBadUrl, "URL '" + std::string(text) + "' must not carry user info");
  }
  std::string_view port_text;
  if (hostport.starts_with("[")) {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return fail(Code::kBadUrl, "unclosed '[' in URL host");
    u.host = std::string(hostport.substr(1, close - 1));
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return fail(Code::kBadUrl, "bad text after ']' in URL");
      port_text = hostport.substr(close + 2);
    }
  } else {
    size_t c = hostport.rfind(':');
    u.host = std::string(hostport.substr(0, c));
    if (c != std::string_view::npos) port_text = hostport.substr(c + 1);
  }
  if (u.host.empty()) return fail(Code::kBadUrl, "URL '" + std::string(text) + "' has no host");
  u.port = u.https() ? 443 : 80;
  if (!port_text.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || p == 0 || p > 65535) {
      return fail(Code::kBadUrl, "URL port '" + std::string(port_text) + "' is not 1-65535");
    }
    u.port = static_cast<uint16_t>(p);
  }
  return u;
}

std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

std::string_view target_query(std::string_view target) {
  size_t q = target.find('?');
  return q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

std::string safe_return_path(std::string_view rd) {
  if (rd.empty() || rd[0] != '/' || rd.size() > 2048) return "/";
  if (rd.size() > 1 && (rd[1] == '/' || rd[1] == '\\')) return "/";
  for (char c : rd) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') return "/";
  }
  return std::string(rd);
}

}  // namespace cg::http
