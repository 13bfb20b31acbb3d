// What an authorization decision says: allowed or not, why, and what decided.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cg::policy {

enum class Effect { kAllow, kDeny };

// Why a decision went the way it did: a value, compared as one. Its name (reason_name) is a
// contract that the audit log, metrics labels, JSON answers and `claimgate policy test` read.
enum class Reason : uint8_t {
  kNone,  // not decided
  // Allowed.
  kPublic,      // the route or a rule is public
  kSignedIn,    // any signed-in person
  kPermission,  // a role in the project grants the permission
  kGroup,       // the route's allow_groups holds one of the person's groups
  // Denied.
  kUnauthenticated,    // needs a signed-in person
  kNoRoleInProject,    // no role in the rule's project
  kPermissionMissing,  // roles there, none with the permission
  kNoMatchingRule,     // no rule covers the path (deny by default)
  kGroupMissing,       // not in the route's allow_groups
  kNoRoute,            // no route of the gateway serves the path
  kTokenExpired,       // a Bearer token past its expiry
  kTokenRevoked,       // a Bearer token whose login was revoked
  kTokenInvalid,       // a Bearer token that is not one of ours
  kAgentScope,         // an agent token beyond its scope or project
  kBadPath,            // a path that cannot be normalised (claimgate policy explain)
};

constexpr std::string_view reason_name(Reason r) {
  switch (r) {
    case Reason::kNone:
      return "none";
    case Reason::kPublic:
      return "public";
    case Reason::kSignedIn:
      return "signed-in";
    case Reason::kPermission:
      return "permission";
    case Reason::kGroup:
      return "group";
    case Reason::kUnauthenticated:
      return "unauthenticated";
    case Reason::kNoRoleInProject:
      return "no-role-in-project";
    case Reason::kPermissionMissing:
      return "permission-missing";
    case Reason::kNoMatchingRule:
      return "no-matching-rule";
    case Reason::kGroupMissing:
      return "group-missing";
    case Reason::kNoRoute:
      return "no-route";
    case Reason::kTokenExpired:
      return "token-expired";
    case Reason::kTokenRevoked:
      return "token-revoked";
    case Reason::kTokenInvalid:
      return "token-invalid";
    case Reason::kAgentScope:
      return "agent-scope";
    case Reason::kBadPath:
      return "bad-path";
  }
  return "none";
}

struct Decision {
  Effect effect = Effect::kDeny;
  Reason reason = Reason::kNone;
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
