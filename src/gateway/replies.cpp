#include "gateway/replies.h"

#include <cctype>
#include <charconv>

#include "gateway/errors.h"

namespace cg::gateway {

namespace beast = http::beast;

namespace {

bool refused_byte(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

bool is_unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Error bad_redirect(std::string why) {
  return make_error(Code::kBadRequest,
                    "redirect_uri " + why +
                        "; it must be http://127.0.0.1:<port>/<path> or "
                        "http://[::1]:<port>/<path> (RFC 8252: the CLI's loopback listener)");
}

}  // namespace

bool header_value_ok(std::string_view v) {
  for (char c : v) {
    if (refused_byte(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::optional<std::string> bad_header(const http::bhttp::fields& f) {
  for (const auto& h : f) {
    auto v = h.value();
    if (!header_value_ok(std::string_view(v.data(), v.size()))) {
      return std::string(h.name_string());
    }
  }
  return std::nullopt;
}

std::string header_quotable(std::string_view v) {
  std::string out(v);
  for (char& c : out) {
    if (refused_byte(static_cast<unsigned char>(c)) || c == '"' || c == '\\') c = '?';
  }
  return out;
}

std::string LoopbackRedirect::to_string() const {
  return "http://" + host + ":" + std::to_string(port) + path;
}

Result<LoopbackRedirect> parse_loopback_redirect(std::string_view uri) {
  constexpr std::string_view kScheme = "http://";
  if (uri.size() > 512) return fail(bad_redirect("is longer than 512 characters"));
  if (!uri.starts_with(kScheme)) return fail(bad_redirect("does not start with http://"));
  std::string_view rest = uri.substr(kScheme.size());
  LoopbackRedirect out;
  if (rest.starts_with("127.0.0.1:")) {
    out.host = "127.0.0.1";
  } else if (rest.starts_with("[::1]:")) {
    out.host = "[::1]";
  } else {
    return fail(bad_redirect("names a host other than 127.0.0.1 or [::1] (or no port)"));
  }
  rest.remove_prefix(out.host.size() + 1);
  size_t slash = rest.find('/');
  std::string_view port_text = rest.substr(0, slash);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || port_text.size() > 5 || ec != std::errc() ||
      end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    return fail(bad_redirect("has no port from 1 to 65535 after the host"));
  }
  out.port = static_cast<uint16_t>(port);
  std::string_view path = slash == std::string_view::npos ? "/" : rest.substr(slash);
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '/' || is_unreserved(c)) continue;
    if (c == '%' && i + 2 < path.size() && is_hex(path[i + 1]) && is_hex(path[i + 2])) {
      i += 2;
      continue;
    }
    return fail(bad_redirect(c == '?' || c == '#'
                                 ? "has a query or fragment"
                                 : "has a character its path may not hold (byte " +
                                       std::to_string(static_cast<unsigned char>(c)) + ")"));
  }
  out.path = std::string(path);
  return out;
}

bool is_json_media_type(std::string_view content_type) {
  std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  return beast::iequals(type, "application/json");
}

std::optional<std::string> cross_site_reason(std::string_view origin,
                                             std::string_view sec_fetch_site,
                                             std::string_view our_origin) {
  std::string_view site = trim(sec_fetch_site);
  if (!site.empty() && !beast::iequals(site, "same-origin") && !beast::iequals(site, "none")) {
    return "the browser says this request comes from another site (Sec-Fetch-Site: " +
           header_quotable(site.substr(0, 40)) + ")";
  }
  // A browser that sends Sec-Fetch-Site has said it: its Origin is not asked. (Under the
  // gateway's Referrer-Policy no-referrer, the form POSTs of its own pages carry
  // "Origin: null", which the Origin check would refuse.)
  if (!site.empty()) return std::nullopt;
  std::string_view o = trim(origin);
  if (!o.empty() && !beast::iequals(o, our_origin)) {
    return "the browser says this request comes from " + header_quotable(o.substr(0, 120)) +
           ", not " + std::string(our_origin);
  }
  return std::nullopt;
}

bool html_answer(Answer a, http::bhttp::verb method, std::string_view accept) {
  using http::bhttp::verb;
  bool html = accept.find("text/html") != std::string_view::npos;
  switch (a) {
    case Answer::kSignIn:
      return html && (method == verb::get || method == verb::head);
    case Answer::kDenied:
      return html;
    case Answer::kError:
      return html || (method == verb::post && accept.find("json") == std::string_view::npos);
  }
  return false;
}

}  // namespace cg::gateway
