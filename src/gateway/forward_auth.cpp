#include "gateway/forward_auth.h"

#include <cctype>

#include "gateway/errors.h"
#include "gateway/replies.h"

namespace cg::gateway {

namespace beast = http::beast;

namespace {

Error bad(std::string message) { return make_error(Code::kForwardAuthRequest, std::move(message)); }

// A method as the proxy path admits one (http/request_head.cpp): upper-case letters, '-' and
// '_'. "delete" or "G3T" would be decided as one method here and handled as another upstream.
bool is_method(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_')) return false;
  }
  return true;
}

// A Host value: a name or an address, an optional port; no spaces, no control bytes.
bool is_host(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view(".-:[]_").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// The one value of header `name`: a 400 when it is missing or sent more than once.
Result<std::string> only(const http::bhttp::request_header<>& h, const std::string& name,
                         std::string_view from) {
  auto range = h.equal_range(beast::string_view(name.data(), name.size()));
  if (range.first == range.second) {
    return fail(bad("forward-auth request without " + name + " (forward_auth.from is " +
                    std::string(from) +
                    ", whose proxy sends it): the gateway decides only the request the "
                    "front proxy names, never a default"));
  }
  auto second = range.first;
  if (++second != range.second) {
    return fail(bad("forward-auth request with " + name +
                    " more than once: which request to decide is ambiguous"));
  }
  auto v = range.first->value();
  std::string value(v.data(), v.size());
  if (!header_value_ok(value)) return fail(bad(name + " holds a control character"));
  return value;
}

}  // namespace

bool ForwardAuthConfig::preset(std::string_view from, ForwardAuthConfig& out) {
  out.from = std::string(from);
  if (from == "nginx") {
    out.method_header = "X-Original-Method";
    out.uri_header = "X-Original-URI";
    out.host_header = "X-Forwarded-Host";
  } else if (from == "traefik") {
    out.method_header = "X-Forwarded-Method";
    out.uri_header = "X-Forwarded-Uri";
    out.host_header = "X-Forwarded-Host";
  } else if (from == "envoy") {
    out.method_header.clear();
    out.uri_header.clear();
    out.host_header.clear();
  } else if (from != "headers") {
    return false;
  }
  return true;
}

bool ForwardAuthConfig::is_auth_path(std::string_view path) const {
  if (from == "envoy") {
    return path == path_prefix ||
           (path.starts_with(path_prefix) && path.size() > path_prefix.size() &&
            path[path_prefix.size()] == '/');
  }
  return path == "/auth";
}

Result<OriginalRequest> read_original_request(const ForwardAuthConfig& cfg,
                                              const http::bhttp::request_header<>& h) {
  OriginalRequest o;
  if (cfg.from == "envoy") {
    auto m = h.method_string();
    o.method = std::string(m.data(), m.size());
    CG_TRY(o.host, only(h, "Host", cfg.from));
    auto t = h.target();
    std::string_view target(t.data(), t.size());
    // ext_authz puts path_prefix in front of the original path: take it off again.
    if (!target.starts_with(cfg.path_prefix)) {
      return fail(bad("forward-auth target does not start with forward_auth.path_prefix " +
                      cfg.path_prefix));
    }
    target.remove_prefix(cfg.path_prefix.size());
    o.target = target.empty() || target.front() == '?' ? "/" + std::string(target)
                                                        : std::string(target);
  } else {
    CG_TRY(o.method, only(h, cfg.method_header, cfg.from));
    CG_TRY(o.target, only(h, cfg.uri_header, cfg.from));
    CG_TRY(o.host, only(h, cfg.host_header, cfg.from));
  }
  if (!is_method(o.method)) {
    return fail(bad("the original method '" + header_quotable(o.method.substr(0, 40)) +
                    "' is not an HTTP method in upper case, such as GET or POST"));
  }
  if (o.target.empty() || o.target.front() != '/' || o.target.size() > 8192 ||
      !header_value_ok(o.target) || o.target.find(' ') != std::string::npos) {
    return fail(bad("the original URI must be a path starting with '/' (origin-form), at most "
                    "8 KiB, without spaces or control characters; got '" +
                    header_quotable(o.target.substr(0, 80)) + "'"));
  }
  if (!is_host(o.host)) {
    return fail(bad("the original host '" + header_quotable(o.host.substr(0, 80)) +
                    "' is not a host name or address"));
  }
  return o;
}

}  // namespace cg::gateway
