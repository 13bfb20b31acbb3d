// Every endpoint of the gateway's public port, in one table (routes.cpp): the path, whether it
// names one path or every path under it, the methods it answers, the identity it needs, and the
// handler that answers it. Gateway::handle() looks a request up here once; a path under the
// gateway's own prefixes (/saml/, /.claimgate/, /.well-known/) that the table lacks is 404, a
// known path asked with another method 405 (with Allow). The forward-auth path (configurable,
// forward_auth.h) is looked up before the table. Every other path goes to the proxy (a route of
// the config), through the one access check, Gateway::check.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/asio.h"

namespace cg::gateway {

// Which handler answers (Gateway::dispatch calls it).
enum class Handler : uint8_t {
  kAcs,           // signin.cpp: the IdP's Response (HTTP-POST)
  kLogin,         // signin.cpp: starts a sign-in (AuthnRequest)
  kSlo,           // signin.cpp: the IdP's LogoutRequest / LogoutResponse
  kLogout,        // signin.cpp: the person signs out (form, then SLO)
  kMetadata,      // signin.cpp: the SP's metadata
  kWhoami,        // gateway.cpp: the session's roles and claims
  kJobsNode,      // jobs_route.cpp: the nodes' check/renew/report
  kCliAuthorize,  // tokens.cpp: the CLI's loopback sign-in (consent page)
  kCliDevice,     // tokens.cpp: a device code
  kCliToken,      // tokens.cpp: the token endpoint (code, device code, refresh)
  kCliRevoke,     // tokens.cpp: claimgate logout
  kDevicePage,    // tokens.cpp: the page where a person enters a device code
  kDeviceSubmit,  // tokens.cpp: its form
  kTokens,        // tokens.cpp: agent tokens (list, create, revoke) and admin revoke
  kJwks,          // gateway.cpp: the identity JWTs' public keys
  kForwardAuth,   // gateway.cpp: /auth for nginx auth_request, Traefik, Envoy
  kHealth,        // gateway.cpp: liveness
  kDiagnostics,   // /readyz, /metrics: 404 here, served on diagnostics.listen
};

// What a handler needs of the caller before it can act.
enum class Needs : uint8_t {
  kNothing,   // anonymous (the SAML protocol, metadata, health, JWKS)
  kSession,   // a signed-in browser session (a page: redirects to sign in without one)
  kPerson,    // a person: their session cookie or their access token
  kJobToken,  // a job's token (the nodes of a job)
  kDecided,   // decided by Gateway::check, as the request it describes (forward-auth)
};

// Method sets.
enum : uint8_t {
  kGet = 1,  // GET and HEAD
  kPost = 2,
  kPut = 4,
  kDelete = 8,
  kOther = 16,  // PATCH, OPTIONS, ...
  kAnyMethod = kGet | kPost | kPut | kDelete | kOther,
};
uint8_t method_bit(http::bhttp::verb v);
// "GET, HEAD, POST": the Allow header of a 405.
std::string allow_header(uint8_t methods);

struct Endpoint {
  std::string_view path;
  bool prefix = false;  // every path under `path` (which then ends in '/' or names a family)
  uint8_t methods = kGet;
  Handler handler;
  Needs needs = Needs::kNothing;
  bool tokens = false;  // off (404, 6516) while tokens.enabled is false
};

// The table, in the order it is searched (an exact path before the prefixes that contain it).
std::span<const Endpoint> endpoints();

// What the table says of a request for `path` (normalised) with `method`.
struct EndpointMatch {
  const Endpoint* endpoint = nullptr;  // the entry for this path and method, if any
  bool known_path = false;             // some entry has this path (another method: 405)
  uint8_t allowed = 0;                 // the methods the entries with this path answer
  bool tokens = false;                 // every entry with this path is a token endpoint
};
EndpointMatch find_endpoint(std::string_view path, http::bhttp::verb method);

// Whether `path` is the gateway's own (/saml/, /.claimgate/, /.well-known/, /healthz, /readyz,
// /metrics): never passed to a route. (The forward-auth path is checked before, from the
// config: forward_auth.h.)
bool is_gateway_path(std::string_view path);

}  // namespace cg::gateway
