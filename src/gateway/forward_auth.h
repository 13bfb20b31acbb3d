// Forward-auth (`/auth`): which request a front proxy asks about. The operator names the front
// proxy (config `forward_auth.from`), and only the headers that proxy sets are read: a client
// can send any of the others (Traefik passes client headers to the auth server), so reading
// "whichever is present" would let the client choose what is decided. A header that is
// missing, repeated or malformed is a 400: never a default method, host or path.
//
//   nginx   (auth_request, examples/nginx/claimgate-auth-request.conf)
//           X-Original-Method, X-Original-URI, X-Forwarded-Host
//   traefik (ForwardAuth, which sets these itself on every auth request)
//           X-Forwarded-Method, X-Forwarded-Uri, X-Forwarded-Host
//   envoy   (ext_authz over HTTP: the auth request keeps the original method, host and path,
//           with path_prefix in front) the request's own method, Host and target
//   headers (anything else) method_header, uri_header, host_header as configured
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "http/asio.h"

namespace cg::gateway {

struct ForwardAuthConfig {
  std::string from = "nginx";  // nginx | traefik | envoy | headers
  std::string method_header = "X-Original-Method";
  std::string uri_header = "X-Original-URI";
  std::string host_header = "X-Forwarded-Host";
  std::string path_prefix = "/auth";  // envoy: what ext_authz's path_prefix puts in front

  // The header names (and prefix) that `from` implies; `headers` keeps the configured ones.
  static bool preset(std::string_view from, ForwardAuthConfig& out);
  // Whether `path` (normalised) is a forward-auth request under this config.
  bool is_auth_path(std::string_view path) const;
};

// The request the front proxy asks about, as it sent it.
struct OriginalRequest {
  std::string method;  // an HTTP token ("GET", "POST", ...)
  std::string host;    // the Host the client used (with its port, if any)
  std::string target;  // origin-form: starts with '/', may carry a query
};

// Reads the original request from the auth request's header `h` and target, as the config
// says (before the gateway strips forwarding headers from the request).
Result<OriginalRequest> read_original_request(const ForwardAuthConfig& cfg,
                                              const http::bhttp::request_header<>& h);

}  // namespace cg::gateway
