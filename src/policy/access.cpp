#include "policy/access.h"

#include <algorithm>

namespace cg::policy {

Decision RouteAuthorizer::decide(const AccessRequest& r) const {
  // A decision the route itself makes ("route:<name>" decided it).
  auto by_route = [&](Effect effect, Reason reason, std::string detail) {
    Decision d;
    d.effect = effect;
    d.reason = reason;
    d.rule = "route:" + std::string(r.route);
    d.detail = std::move(detail);
    return d;
  };
  auto it = routes_.find(r.route);
  if (it == routes_.end()) {
    return by_route(Effect::kDeny, Reason::kNoMatchingRule,
                    "no access rule covers route '" + std::string(r.route) + "' (deny by default)");
  }
  const RouteRequirement& req = it->second;
  if (req.public_route) return by_route(Effect::kAllow, Reason::kPublic, "");
  Decision d;
  if (rules_) {
    d = rules_->decide(r);
    if (!d.allowed() || !r.session) return d;
  } else if (!r.session) {
    return by_route(Effect::kDeny, Reason::kUnauthenticated, "sign-in required");
  } else {
    d = by_route(Effect::kAllow, Reason::kSignedIn, "");
  }
  if (req.any_groups.empty()) return d;
  auto groups = r.session->values(req.group_claim);
  for (const auto& g : groups) {
    if (std::find(req.any_groups.begin(), req.any_groups.end(), g) != req.any_groups.end()) {
      // Nothing but a signed-in person was asked for: the group is what allowed it.
      if (d.reason == Reason::kSignedIn)
        d = by_route(Effect::kAllow, Reason::kGroup, "member of " + g);
      return d;
    }
  }
  std::string need;
  for (const auto& g : req.any_groups) need += (need.empty() ? "" : ", ") + g;
  return by_route(Effect::kDeny, Reason::kGroupMissing,
                  "route '" + std::string(r.route) + "' needs membership in one of: " + need +
                      "; your '" + req.group_claim + "' claim holds " +
                      std::to_string(groups.size()) + " value(s), none of them");
}

}  // namespace cg::policy
