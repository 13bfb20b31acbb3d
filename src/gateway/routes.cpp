#include "gateway/routes.h"

#include <array>

namespace cg::gateway {

namespace {

using enum Handler;
using N = Needs;

// The gateway's endpoints. Path, prefix?, methods, handler, what it needs, token endpoint?
constexpr std::array kEndpoints = {
    // SAML (signin.cpp)
    Endpoint{"/saml/acs", false, kPost, kAcs, N::kNothing},
    Endpoint{"/saml/login", false, kGet, kLogin, N::kNothing},
    Endpoint{"/saml/slo", false, kGet, kSlo, N::kNothing},
    Endpoint{"/saml/logout", false, kGet | kPost, kLogout, N::kNothing},
    Endpoint{"/saml/metadata", false, kGet, kMetadata, N::kNothing},
    // The person's own view (gateway.cpp)
    Endpoint{"/.claimgate/whoami", false, kGet, kWhoami, N::kPerson},
    // Jobs' nodes (jobs_route.cpp): /.claimgate/jobs/{check,renew,report}
    Endpoint{"/.claimgate/jobs/", true, kAnyMethod, kJobsNode, N::kJobToken},
    // Tokens for the CLI, notebooks and agents (tokens.cpp, docs/tokens.md)
    Endpoint{"/.claimgate/cli/authorize", false, kGet | kPost, kCliAuthorize, N::kSession, true},
    Endpoint{"/.claimgate/cli/device", false, kPost, kCliDevice, N::kNothing, true},
    Endpoint{"/.claimgate/cli/token", false, kPost, kCliToken, N::kNothing, true},
    Endpoint{"/.claimgate/cli/revoke", false, kPost, kCliRevoke, N::kNothing, true},
    Endpoint{"/.claimgate/device", false, kGet, kDevicePage, N::kSession, true},
    Endpoint{"/.claimgate/device", false, kPost, kDeviceSubmit, N::kSession, true},
    Endpoint{"/.claimgate/tokens", false, kGet | kPost, kTokens, N::kPerson, true},
    Endpoint{"/.claimgate/tokens/", true, kDelete, kTokens, N::kPerson, true},
    Endpoint{"/.claimgate/admin/revoke", false, kPost, kTokens, N::kPerson, true},
    // Keys and health
    Endpoint{"/.well-known/jwks.json", false, kGet, kJwks, N::kNothing},
    Endpoint{"/healthz", false, kGet, kHealth, N::kNothing},
    Endpoint{"/readyz", false, kAnyMethod, kDiagnostics, N::kNothing},
    Endpoint{"/metrics", false, kAnyMethod, kDiagnostics, N::kNothing},
};

bool path_matches(const Endpoint& e, std::string_view path) {
  return e.prefix ? path.starts_with(e.path) && path.size() > e.path.size() : path == e.path;
}

}  // namespace

std::span<const Endpoint> endpoints() { return kEndpoints; }

uint8_t method_bit(http::bhttp::verb v) {
  using http::bhttp::verb;
  switch (v) {
    case verb::get:
    case verb::head:
      return kGet;
    case verb::post:
      return kPost;
    case verb::put:
      return kPut;
    case verb::delete_:
      return kDelete;
    default:
      return kOther;
  }
}

std::string allow_header(uint8_t methods) {
  std::string out;
  auto add = [&](uint8_t bit, const char* names) {
    if (!(methods & bit)) return;
    if (!out.empty()) out += ", ";
    out += names;
  };
  add(kGet, "GET, HEAD");
  add(kPost, "POST");
  add(kPut, "PUT");
  add(kDelete, "DELETE");
  return out;
}

EndpointMatch find_endpoint(std::string_view path, http::bhttp::verb method) {
  EndpointMatch m;
  uint8_t bit = method_bit(method);
  m.tokens = true;
  for (const Endpoint& e : kEndpoints) {
    if (!path_matches(e, path)) continue;
    m.known_path = true;
    m.allowed |= e.methods;
    m.tokens = m.tokens && e.tokens;
    if (!m.endpoint && (e.methods & bit)) {
      m.endpoint = &e;
    }
  }
  if (!m.known_path) m.tokens = false;
  return m;
}

bool is_gateway_path(std::string_view p) {
  return p.starts_with("/saml/") || p.starts_with("/.claimgate/") ||
         p.starts_with("/.well-known/") || p == "/healthz" || p == "/readyz" || p == "/metrics";
}

}  // namespace cg::gateway
