// The authorization interface the gateway asks for every request it would pass on: "may this
// (signed-in or not) caller reach this route with this method and path?". The gateway's own
// route requirements (signed in; or any of some groups) implement it here; the policy engine
// (role bindings, permissions, route rules) plugs in behind the same interface.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "session/session.h"

namespace cg::policy {

struct AccessRequest {
  std::string_view method;
  std::string_view host;
  std::string_view path;                      // normalised, no query
  std::string_view route;                     // the route's name
  const session::Session* session = nullptr;  // null: not signed in
};

enum class Effect { kAllow, kDeny };

struct Decision {
  Effect effect = Effect::kDeny;
  // A stable reason: "public", "signed-in", "group" (allowed); "unauthenticated",
  // "group-missing", "no-matching-rule" (denied).
  std::string reason;
  std::string rule;    // what decided: "route:<name>" or a rule id
  std::string detail;  // a sentence for the person denied (and the log)
  bool allowed() const { return effect == Effect::kAllow; }
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual Decision decide(const AccessRequest& r) const = 0;
};

// Who may pass a route, as the route says it.
struct RouteRequirement {
  bool public_route = false;            // anyone, signed in or not
  std::vector<std::string> any_groups;  // non-empty: the caller needs one of these
  std::string group_claim = "groups";   // the claim (name or alias) holding the groups
};

class RouteAuthorizer final : public Authorizer {
 public:
  void set(std::string route, RouteRequirement req) { routes_[std::move(route)] = std::move(req); }
  Decision decide(const AccessRequest& r) const override;

 private:
  std::map<std::string, RouteRequirement, std::less<>> routes_;
};

// Roles given to a session at sign-in, from its claims. The gateway has none of its own
// (empty); the policy engine's role bindings implement this.
class RoleMapper {
 public:
  virtual ~RoleMapper() = default;
  virtual std::vector<std::string> roles_for(const session::Session& s) const = 0;
};

class NoRoles final : public RoleMapper {
 public:
  std::vector<std::string> roles_for(const session::Session&) const override { return {}; }
};

}  // namespace cg::policy
