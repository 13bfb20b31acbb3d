// The access policy: permissions, roles, role bindings (claims -> roles, per project) and route
// rules (method + path pattern -> the permission needed in a project). Compiled once at load
// into lookup structures (a segment trie for rules, hash maps and bit sets for roles), so a
// decision runs no regular expression and no YAML. docs/policy.md is the reference.
//
//   permissions: [experiments:log]          # added to the built-in ones
//   roles:                                  # built-in templates, replaced by a role of the
//     viewer: [jobs:read, logs:read, models:read, metrics:read]      # same name
//     trainer: {inherits: [viewer], permissions: [jobs:submit]}      # "jobs:*", "*" expand
//   aliases:
//     claims: {"https://okta.example/ml_groups": groups}   # attribute name -> claim name
//     values: {"5e1f0c7a-...": ml-vision-ds}              # opaque id -> readable value
//   bindings:                               # every binding that matches grants its role
//     - {claim: groups, equals: ml-admins, role: admin, project: "*"}
//     - {claim: groups, in: [ops, sre], role: devops-engineer, project: vision}
//     - {claim: groups, matches: "^ml-(\\w+)-ds$", role: data-scientist, project: "$1"}
//   rules:                                  # most specific path wins (see below)
//     - {methods: [POST], path: "/api/projects/{project}/jobs", permission: jobs:submit}
//     - {methods: [POST], path: "/api/projects/{project}/jobs/{job}/cancel",
//        permission: jobs:cancel-any, or: {permission: jobs:cancel, condition: owner}}
//     - {path: "/mlflow/{rest*}", permission: models:read}      # no {project}: any project
//     - {path: "/docs/{rest*}", public: true}
//     - {path: "/home", signed_in: true}
//   case_insensitive_paths: false
//
// Rule matching order: segment by segment, a literal segment beats a {param}, which beats a
// trailing {rest*}; among rules on the same path, one naming the method beats "*". The first
// rule found in that order decides; no rule: deny (no-matching-rule).
#pragma once

#include <bitset>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "policy/decision.h"
#include "session/session.h"

namespace cg::policy {

inline constexpr size_t kMaxPermissions = 256;
using PermissionBits = std::bitset<kMaxPermissions>;

// The permissions every policy knows (configs add their own under `permissions`).
const std::vector<std::string>& builtin_permissions();

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct Role {
  std::string name;
  PermissionBits bits;
  std::vector<std::string> permissions;  // sorted, expanded
  bool builtin = false;                  // the template, not edited by the config
};

struct Binding {
  enum class Kind { kEquals, kIn, kMatches };
  std::string id;     // "bindings[2]"
  std::string claim;  // claim name or alias, as written
  Kind kind = Kind::kEquals;
  std::vector<std::string> values;  // equals / in
  std::string pattern;              // matches
  std::shared_ptr<const std::regex> re;
  std::string role;
  size_t role_index = 0;
  std::string project;           // "*", a name, or a template with $1..$9
  std::string describe() const;  // "groups matches ^ml-(\w+)-ds$ -> data-scientist in $1"
};

enum class RuleKind { kPermission, kSignedIn, kPublic };

struct Rule {
  std::string id;                    // its name, or "rules[4]"
  std::string where;                 // "rules[4]"
  std::vector<std::string> methods;  // upper case; {"*"}: any
  std::string path;                  // the pattern, as written
  RuleKind kind = RuleKind::kPermission;
  std::string permission;
  size_t permission_bit = 0;
  std::string alt_permission;  // `or:`: granted under a condition the upstream checks
  size_t alt_bit = 0;
  std::string condition;     // e.g. "owner"
  std::string project;       // "": any project; a literal name; or "{param}"
  int project_segment = -1;  // the segment holding the project (from a {param})
  std::string describe()
      const;  // "POST /api/projects/{project}/jobs needs jobs:submit in {project}"
};

// One role a person holds in one project, and why.
struct Grant {
  std::string project;  // or "*": every project
  std::string role;
  size_t role_index = 0;
  std::string binding;             // "bindings[2]"
  std::string claim;               // the binding's claim ("groups")
  std::string value;               // the value that matched, as received
  std::string via_alias;           // the readable value, when `value` was an aliased id
  std::string claim_text() const;  // "groups=ml-vision-ds"
};

// Everything a session's claims grant under one policy: computed once per session and policy
// (PolicyAuthorizer caches it), then every decision is lookups and bit tests.
struct Grants {
  struct Project {
    PermissionBits bits;
    std::vector<uint16_t> grants;  // indexes into `list`
  };
  std::vector<Grant> list;
  StringMap<Project> projects;     // by project name
  Project everywhere;              // from bindings with project "*"
  std::vector<std::string> notes;  // bindings that matched but granted nothing, and why
  std::vector<std::string> roles;  // "data-scientist@vision", ... (sorted, unique)
  std::string roles_joined;        // the same, comma-separated (the Roles header)
};

class Policy {
 public:
  // The policy sections of a YAML document (a gateway config or a policy file). `where` is
  // prefixed to problem paths. Problems: unknown permissions or roles, bad patterns, rules
  // that can never match. Warnings: regular expressions not written anchored.
  static std::shared_ptr<const Policy> compile(const YAML::Node& doc, core::Problems& problems,
                                               std::vector<std::string>& warnings);

  // A policy with no sections: the built-in roles, no bindings, no rules.
  static std::shared_ptr<const Policy> empty();

  Grants grants_for(const session::Session& s) const;
  // `path` must be normalised (policy/path.h); `grants` null: not signed in.
  Decision decide(std::string_view method, std::string_view path, const Grants* grants) const;
  // Whether `grants` hold `permission` in `project` ("": in some project or in every one).
  bool holds(const Grants& grants, std::string_view permission, std::string_view project) const;
  // Whether `grants` hold `permission` in every project (from a binding with project "*").
  bool holds_everywhere(const Grants& grants, std::string_view permission) const;
  bool knows_permission(std::string_view name) const { return permission_index(name) >= 0; }
  // The rule a request would reach (nullptr: none).
  const Rule* match(std::string_view method, std::string_view path) const;

  const std::vector<Rule>& rules() const { return rules_; }
  const std::vector<Binding>& bindings() const { return bindings_; }
  const std::vector<Role>& roles() const { return roles_; }
  const std::vector<std::string>& permissions() const { return permissions_; }
  bool case_insensitive() const { return case_insensitive_; }
  // The claims the role bindings read, each once, in the order written.
  std::vector<std::string> binding_claims() const;
  // The attribute names the policy's `aliases: claims:` map onto `claim`.
  std::vector<std::string> claim_aliases_of(std::string_view claim) const;
  bool has_rules() const { return has_rules_; }
  // The literal prefix of a rule's path, up to its first {param} ("/api/projects/").
  static std::string literal_prefix(std::string_view pattern);

 private:
  struct Node {
    StringMap<uint32_t> literal;
    int32_t param = -1;
    std::array<int32_t, 8> here{-1, -1, -1, -1, -1, -1, -1, -1};  // rule per method
    std::array<int32_t, 8> rest{-1, -1, -1, -1, -1, -1, -1, -1};  // {rest*} rule per method
  };
  static std::shared_ptr<const Policy> compile_unchecked(const YAML::Node& doc,
                                                         core::Problems& problems,
                                                         std::vector<std::string>& warnings);
  int32_t find(uint32_t node, const std::string_view* segs, size_t n, size_t i, int method) const;
  int permission_index(std::string_view name) const;

  std::vector<std::string> permissions_;
  StringMap<size_t> permission_bits_;
  std::vector<Role> roles_;
  std::vector<Binding> bindings_;
  std::vector<Rule> rules_;
  std::vector<Node> nodes_;
  StringMap<std::string> claim_aliases_;
  StringMap<std::string> value_aliases_;
  bool case_insensitive_ = false;
  bool has_rules_ = false;
  PermissionBits global_bits_;  // global_permissions()
};

// Permissions that act on every project at once (revoking a person everywhere, reading the
// whole audit log): held only through a binding with project "*". A role bound in one project
// grants the rest of its permissions there, never these (`claimgate check` warns).
const std::vector<std::string>& global_permissions();

// [{project, role, claim, value, alias_of, binding}, ...]: what whoami and `policy explain
// --json` show.
nlohmann::json grants_json(const Grants& g);

// The policy of a file: a gateway config (its policy sections, or the file its `policy_file`
// names) or a policy file. `watched` is set to the file holding the policy. Null with no
// problems: the file has no policy sections.
std::shared_ptr<const Policy> load_policy_file(const std::string& path, core::Problems& problems,
                                               std::vector<std::string>& warnings,
                                               std::string* watched = nullptr);
// The same from a parsed gateway config.
std::shared_ptr<const Policy> load_policy(const YAML::Node& root, const std::string& base_dir,
                                          core::Problems& problems,
                                          std::vector<std::string>& warnings,
                                          std::string* policy_file);

}  // namespace cg::policy
