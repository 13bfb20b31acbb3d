// The authorization interface the gateway asks for every request it would pass on: "may this
// (signed-in or not) caller reach this route with this method and path?". The gateway's own
// route requirements (signed in; or any of some groups) implement it here; the policy engine
// (role bindings, permissions, route rules) plugs in behind the same interface.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/decision.h"
#include "session/session.h"

namespace cg::policy {

struct AccessRequest {
  std::string_view method;
  std::string_view host;
  std::string_view path;                      // normalised, no query
  std::string_view route;                     // the route's name
  const session::Session* session = nullptr;  // null: not signed in
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

// A route's own requirement first (public routes stop here); then, when the policy has rules,
// the rules decide (deny by default); a route's allow_groups must hold as well.
class RouteAuthorizer final : public Authorizer {
 public:
  void set(std::string route, RouteRequirement req) { routes_[std::move(route)] = std::move(req); }
  void set_rules(std::shared_ptr<const Authorizer> rules) { rules_ = std::move(rules); }
  Decision decide(const AccessRequest& r) const override;

 private:
  std::map<std::string, RouteRequirement, std::less<>> routes_;
  std::shared_ptr<const Authorizer> rules_;
};

// The roles a session's claims give ("role@project"); the policy's role bindings implement
// this (policy/engine.h).
class RoleMapper {
 public:
  virtual ~RoleMapper() = default;
  virtual std::vector<std::string> roles_for(const session::Session& s) const = 0;
};

}  // namespace cg::policy
