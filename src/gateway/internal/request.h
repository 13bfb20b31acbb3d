// What one request carries through the gateway's handler (shared by its source files).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/encoding.h"

#include "gateway/gateway.h"
#include "gateway/replies.h"

namespace cg::gateway {

// What one request carries through the handler.
struct Gateway::Request {
  Request(http::Exchange& e, std::string p, std::string q, std::string h)
      : ex(e), path(std::move(p)), query(std::move(q)), host(std::move(h)) {}

  http::Exchange& ex;
  std::string path;   // the target's path, normalised (policy/path.h): decided and sent upstream
  std::string query;  // without '?'
  std::string host;
  std::optional<session::StoredSession> session;  // a valid session, when the cookie names one
  std::string session_id;
  bool clear_cookie = false;  // the cookie named no valid session: remove it
  bool cookie_read = false;   // load_cookie_session() ran (it reads the store: once)
  const RouteConfig* route = nullptr;
  std::string route_name = "-";
  std::string user = "-";
  double upstream_ms = -1;
  policy::Decision decision;    // what allowed the request (project, permission, condition)
  std::string original_method;  // forward-auth: the method of the request decided
  bool forward_auth = false;    // an answer to a front proxy's /auth: it carries the trace
  std::shared_ptr<const policy::Grants> grants;  // the session's, once asked (grants_of)
  // A Bearer token authenticated the request (then `session` is its person's sign-in and
  // `session_id` is empty), or was sent and refused (`token_error` says why).
  std::shared_ptr<const session::TokenGrant> token;
  std::optional<Error> token_error;
  bool agent() const { return token && token->kind == "agent"; }
};

// Seconds since the epoch (JWT times).
inline int64_t unix_seconds(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// The value of a form or query field ("" when absent).
std::string param(const std::vector<core::QueryParam>& ps, std::string_view name);

// What audit records carry instead of a session id (which would open the session).
std::string session_ref(std::string_view session_id);

}  // namespace cg::gateway
