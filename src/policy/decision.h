// What an authorization decision says: allowed or not, why, and what decided.
#pragma once

#include <string>

namespace cg::policy {

enum class Effect { kAllow, kDeny };

struct Decision {
  Effect effect = Effect::kDeny;
  // Allowed: "public", "signed-in", "permission", "group". Denied: "unauthenticated",
  // "no-role-in-project", "permission-missing", "no-matching-rule", "group-missing".
  std::string reason;
  std::string rule;        // what decided: a rule id ("rules[3]" or its name), or "route:<name>"
  std::string detail;      // a sentence for the person denied (and the log)
  std::string project;     // the project the rule asked about ("": any project)
  std::string permission;  // the permission needed (or granted)
  std::string role;        // the role that granted it
  std::string claim;       // the claim that gave the role ("groups=ml-vision-ds")
  std::string condition;   // granted on a condition the upstream checks ("owner")
  bool allowed() const { return effect == Effect::kAllow; }
};

}  // namespace cg::policy
