#include "policy/access.h"

#include <algorithm>

namespace cg::policy {

Decision RouteAuthorizer::decide(const AccessRequest& r) const {
  Decision d;
  d.rule = "route:" + std::string(r.route);
  auto it = routes_.find(r.route);
  if (it == routes_.end()) {
    d.reason = "no-matching-rule";
    d.detail = "no access rule covers route '" + std::string(r.route) + "' (deny by default)";
    return d;
  }
  const RouteRequirement& req = it->second;
  if (req.public_route) {
    d.effect = Effect::kAllow;
    d.reason = "public";
    return d;
  }
  if (rules_) {
    d = rules_->decide(r);
    if (!d.allowed() || !r.session || req.any_groups.empty()) return d;
  } else if (!r.session) {
    d.reason = "unauthenticated";
    d.detail = "sign-in required";
    return d;
  }
  if (req.any_groups.empty()) {
    d.effect = Effect::kAllow;
    d.reason = "signed-in";
    return d;
  }
  auto groups = r.session->values(req.group_claim);
  for (const auto& g : groups) {
    if (std::find(req.any_groups.begin(), req.any_groups.end(), g) != req.any_groups.end()) {
      // Rules that only asked for a signed-in person: the group is what allowed it.
      if (!rules_ || d.reason == "signed-in") {
        d.effect = Effect::kAllow;
        d.reason = "group";
        d.detail = "member of " + g;
      }
      return d;
    }
  }
  d = Decision{};
  d.rule = "route:" + std::string(r.route);
  d.reason = "group-missing";
  std::string need;
  for (const auto& g : req.any_groups) need += (need.empty() ? "" : ", ") + g;
  d.detail = "route '" + std::string(r.route) + "' needs membership in one of: " + need +
             "; your '" + req.group_claim + "' claim holds " + std::to_string(groups.size()) +
             " value(s), none of them";
  return d;
}

}  // namespace cg::policy
