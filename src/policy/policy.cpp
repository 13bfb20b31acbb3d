#include "policy/policy.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "core/encoding.h"
#include "policy/path.h"

namespace cg::policy {
namespace {

constexpr std::array<std::string_view, 7> kMethods{"GET",   "HEAD",   "POST",   "PUT",
                                                   "PATCH", "DELETE", "OPTIONS"};
constexpr int kOtherMethod = 7;
// Longer claim values are not given to a regular expression (std::regex recurses per character).
constexpr size_t kMaxRegexValue = 512;
constexpr int kSlots = 8;

struct Template {
  const char* name;
  std::vector<std::string> permissions;
};

const std::vector<Template>& templates() {
  static const std::vector<Template> t = [] {
    std::vector<std::string> viewer{"jobs:read", "logs:read", "models:read", "metrics:read"};
    std::vector<std::string> ds = viewer;
    for (const char* p : {"jobs:submit", "jobs:cancel", "models:register", "data:read",
                          "data:write", "tokens:create"}) {
      ds.emplace_back(p);
    }
    std::vector<std::string> ops = viewer;
    for (const char* p : {"models:deploy", "endpoints:invoke", "compute:create", "compute:delete",
                          "jobs:cancel-any"}) {
      ops.emplace_back(p);
    }
    return std::vector<Template>{
        {"viewer", viewer}, {"data-scientist", ds}, {"devops-engineer", ops}, {"admin", {"*"}}};
  }();
  return t;
}

bool valid_project(std::string_view p) {
  if (p.empty() || p.size() > 128) return false;
  for (char c : p) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return true;
}

bool valid_param_name(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A pattern's segments: a literal, "{name}" or "{name*}" (last only).
struct PatternSegment {
  enum Kind { kLiteral, kParam, kRest } kind;
  std::string text;  // the literal, or the parameter's name
};

std::optional<std::vector<PatternSegment>> parse_pattern(const std::string& pattern,
                                                         const std::string& where,
                                                         core::Problems& p) {
  if (pattern.empty() || pattern[0] != '/') {
    p.add(where, pattern, "a path pattern starting with '/', such as /api/projects/{project}/jobs");
    return std::nullopt;
  }
  std::vector<PatternSegment> segs;
  bool ok = true;
  std::set<std::string> names;
  for_each_segment(pattern, [&](std::string_view s) {
    if (!segs.empty() && segs.back().kind == PatternSegment::kRest) {
      p.add(where, pattern, "a {name*} segment only at the end");
      ok = false;
    }
    if (s.starts_with("{")) {
      bool rest = s.ends_with("*}");
      if (!s.ends_with("}") || s.size() < 3) {
        p.add(where, pattern, "whole-segment parameters such as {project} or {rest*}");
        ok = false;
        return;
      }
      std::string name(s.substr(1, s.size() - (rest ? 3 : 2)));
      if (!valid_param_name(name)) {
        p.add(where, pattern, "parameter names of letters, digits and '_' ({" + name + "})");
        ok = false;
      } else if (!names.insert(name).second) {
        p.add(where, pattern, "each parameter name once ({" + name + "} repeats)");
        ok = false;
      }
      segs.push_back({rest ? PatternSegment::kRest : PatternSegment::kParam, name});
      return;
    }
    if (s.find_first_of("{}") != std::string_view::npos) {
      p.add(where, pattern,
            "whole-segment parameters such as {project} (not '" + std::string(s) + "')");
      ok = false;
      return;
    }
    segs.push_back({PatternSegment::kLiteral, std::string(s)});
  });
  if (!ok) return std::nullopt;
  // A literal that normalisation would change can never be requested.
  std::string literal_path;
  for (const auto& s : segs)
    literal_path += "/" + (s.kind == PatternSegment::kLiteral ? s.text : "x");
  if (literal_path.empty()) literal_path = "/";
  auto norm =
      normalize_path(literal_path + (pattern.size() > 1 && pattern.back() == '/' ? "/" : ""));
  std::string expect = literal_path + (pattern.size() > 1 && pattern.back() == '/' ? "/" : "");
  if (!norm || *norm != expect || pattern.find("//") != std::string::npos) {
    p.add(where, pattern,
          "a pattern in normalised form (no '//', '.', '..', backslashes or %-escapes of "
          "unreserved characters): requests are normalised before matching, so this rule could "
          "never match");
    return std::nullopt;
  }
  return segs;
}

std::string substitute_project(const std::string& tmpl, const std::smatch& m) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '$' && i + 1 < tmpl.size() && tmpl[i + 1] >= '1' && tmpl[i + 1] <= '9') {
      size_t g = static_cast<size_t>(tmpl[i + 1] - '0');
      if (g < m.size()) out += m[g].str();
      ++i;
    } else {
      out += tmpl[i];
    }
  }
  return out;
}

size_t max_group_reference(const std::string& tmpl) {
  size_t g = 0;
  for (size_t i = 0; i + 1 < tmpl.size(); ++i) {
    if (tmpl[i] == '$' && tmpl[i + 1] >= '1' && tmpl[i + 1] <= '9')
      g = std::max(g, static_cast<size_t>(tmpl[i + 1] - '0'));
  }
  return g;
}

// Method names to the trie's slots: GET HEAD POST PUT PATCH DELETE OPTIONS, and 7 for others.
int method_slot(std::string_view method) {
  for (size_t i = 0; i < kMethods.size(); ++i)
    if (kMethods[i] == method) return static_cast<int>(i);
  return kOtherMethod;
}

}  // namespace

nlohmann::json grants_json(const Grants& g) {
  nlohmann::json roles = nlohmann::json::array();
  for (const auto& gr : g.list) {
    roles.push_back({{"project", gr.project},
                     {"role", gr.role},
                     {"claim", gr.claim},
                     {"value", gr.value},
                     {"alias_of", gr.via_alias},
                     {"binding", gr.binding}});
  }
  return roles;
}

const std::vector<std::string>& builtin_permissions() {
  static const std::vector<std::string> p{
      "jobs:submit",    "jobs:read",       "jobs:cancel",   "jobs:cancel-any",  "logs:read",
      "models:read",    "models:register", "models:deploy", "endpoints:invoke", "compute:create",
      "compute:delete", "data:read",       "data:write",    "audit:read",       "sessions:revoke",
      "tokens:create",  "metrics:read"};
  return p;
}

const std::vector<std::string>& global_permissions() {
  static const std::vector<std::string> p{"sessions:revoke", "audit:read"};
  return p;
}

std::string Binding::describe() const {
  std::string how;
  switch (kind) {
    case Kind::kEquals:
      how = "= " + values.front();
      break;
    case Kind::kIn:
      how = "in [" + core::join(values, ", ") + "]";
      break;
    case Kind::kMatches:
      how = "matches " + pattern;
      break;
  }
  return claim + " " + how + " -> " + role + " in " + (project == "*" ? "every project" : project);
}

std::string Rule::describe() const {
  std::string m = core::join(methods, ",");
  std::string need;
  switch (kind) {
    case RuleKind::kPublic:
      need = "is public";
      break;
    case RuleKind::kSignedIn:
      need = "needs a signed-in user";
      break;
    case RuleKind::kPermission:
      need = "needs " + permission + (project.empty() ? " in any project" : " in " + project);
      if (!alt_permission.empty()) need += " (or " + alt_permission + " if " + condition + ")";
      break;
  }
  return m + " " + path + " " + need;
}

std::string Grant::claim_text() const {
  std::string t = claim + "=" + value;
  if (!via_alias.empty()) t += " (" + via_alias + ")";
  return t;
}

std::string Policy::literal_prefix(std::string_view pattern) {
  size_t brace = pattern.find('{');
  return std::string(pattern.substr(0, brace));
}

std::shared_ptr<const Policy> Policy::empty() {
  core::Problems p;
  std::vector<std::string> w;
  return compile(YAML::Load("{}"), p, w);
}

int Policy::permission_index(std::string_view name) const {
  auto it = permission_bits_.find(name);
  return it == permission_bits_.end() ? -1 : static_cast<int>(it->second);
}

std::shared_ptr<const Policy> Policy::compile(const YAML::Node& doc, core::Problems& p,
                                              std::vector<std::string>& warnings) {
  // A document of the wrong shape (a mapping where a name belongs, say) must give a problem,
  // never an exception out of a reload.
  try {
    return compile_unchecked(doc, p, warnings);
  } catch (const YAML::Exception& e) {
    p.add("(policy)", e.what(), "a policy document of the documented shape (docs/policy.md)");
    return nullptr;
  }
}

std::shared_ptr<const Policy> Policy::compile_unchecked(const YAML::Node& doc, core::Problems& p,
                                                        std::vector<std::string>& warnings) {
  auto pol = std::make_shared<Policy>();
  Policy& P = *pol;
  // Permissions.
  auto add_permission = [&](const std::string& name, const std::string& where) {
    if (P.permission_bits_.count(name)) return;
    auto colon = name.find(':');
    bool ok = colon != std::string::npos && colon > 0 && colon + 1 < name.size() &&
              name.find_first_of(" *,") == std::string::npos;
    if (!ok) {
      p.add(where, name, "a resource:action name such as experiments:log");
      return;
    }
    if (P.permissions_.size() >= kMaxPermissions) {
      p.add(where, name, "at most " + std::to_string(kMaxPermissions) + " permissions");
      return;
    }
    P.permission_bits_[name] = P.permissions_.size();
    P.permissions_.push_back(name);
  };
  for (const auto& b : builtin_permissions()) add_permission(b, "(built-in)");
  for (const auto& g : global_permissions()) P.global_bits_.set(P.permission_bits_[g]);
  auto extra = core::get_string_list(doc, "permissions", "", p);
  for (size_t i = 0; i < extra.size(); ++i)
    add_permission(extra[i], "permissions[" + std::to_string(i) + "]");

  // Expands "*", "jobs:*" and names into bits; unknown names are problems.
  auto expand = [&](const std::string& name, const std::string& where, PermissionBits& bits) {
    if (name == "*") {
      for (size_t i = 0; i < P.permissions_.size(); ++i) bits.set(i);
      return;
    }
    if (name.ends_with(":*")) {
      std::string res = name.substr(0, name.size() - 1);
      bool any = false;
      for (size_t i = 0; i < P.permissions_.size(); ++i) {
        if (P.permissions_[i].starts_with(res)) {
          bits.set(i);
          any = true;
        }
      }
      if (!any) p.add(where, name, "a resource with permissions (" + res + "... has none)");
      return;
    }
    int idx = P.permission_index(name);
    if (idx < 0) {
      p.add(where, name,
            "a known permission (built-in: " + core::join(builtin_permissions(), ", ") +
                "; add your own under `permissions`)");
      return;
    }
    bits.set(static_cast<size_t>(idx));
  };

  // Roles: templates, then the config's (which replace a template of the same name).
  struct RoleSource {
    std::string where;
    std::vector<std::string> inherits;
    std::vector<std::string> permissions;
    bool builtin;
  };
  std::vector<std::pair<std::string, RoleSource>> sources;
  for (const auto& t : templates())
    sources.push_back({t.name, {"(built-in)", {}, t.permissions, true}});
  if (YAML::Node roles = doc["roles"]; roles && !roles.IsNull()) {
    if (!roles.IsMap()) {
      p.add("roles", "not a mapping", "a mapping of role name to a list of permissions");
    } else {
      for (const auto& kv : roles) {
        std::string name = kv.first.as<std::string>();
        std::string where = "roles." + name;
        RoleSource src{where, {}, {}, false};
        if (kv.second.IsSequence() || kv.second.IsScalar()) {
          YAML::Node wrap;
          wrap["permissions"] = kv.second;
          src.permissions = core::get_string_list(wrap, "permissions", where, p);
        } else if (kv.second.IsMap()) {
          core::reject_unknown_keys(kv.second, where, {"inherits", "permissions"}, p);
          src.inherits = core::get_string_list(kv.second, "inherits", where, p);
          src.permissions = core::get_string_list(kv.second, "permissions", where, p);
        } else {
          p.add(where, "empty", "a list of permissions, or {inherits, permissions}");
        }
        if (name.empty() ||
            name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                   "-_") != std::string::npos) {
          p.add(where, name, "a role name of letters, digits, '-' and '_'");
        }
        auto it = std::find_if(sources.begin(), sources.end(),
                               [&](const auto& s) { return s.first == name; });
        if (it != sources.end()) {
          it->second = std::move(src);
        } else {
          sources.push_back({name, std::move(src)});
        }
      }
    }
  }
  // Resolve inheritance (depth-first, cycles are problems).
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < sources.size(); ++i) index[sources[i].first] = i;
  std::vector<int> state(sources.size(), 0);  // 0 new, 1 visiting, 2 done
  std::vector<PermissionBits> bits(sources.size());
  std::function<void(size_t)> resolve = [&](size_t i) {
    if (state[i] == 2) return;
    if (state[i] == 1) {
      p.add(sources[i].second.where + ".inherits", sources[i].first, "roles without a cycle");
      return;
    }
    state[i] = 1;
    const auto& src = sources[i].second;
    for (size_t k = 0; k < src.inherits.size(); ++k) {
      auto it = index.find(src.inherits[k]);
      if (it == index.end()) {
        p.add(src.where + ".inherits[" + std::to_string(k) + "]", src.inherits[k], "a role name");
        continue;
      }
      resolve(it->second);
      bits[i] |= bits[it->second];
    }
    for (size_t k = 0; k < src.permissions.size(); ++k) {
      expand(src.permissions[k], src.where + "[" + std::to_string(k) + "]", bits[i]);
    }
    state[i] = 2;
  };
  for (size_t i = 0; i < sources.size(); ++i) resolve(i);
  for (size_t i = 0; i < sources.size(); ++i) {
    Role r;
    r.name = sources[i].first;
    r.bits = bits[i];
    r.builtin = sources[i].second.builtin;
    for (size_t b = 0; b < P.permissions_.size(); ++b)
      if (r.bits.test(b)) r.permissions.push_back(P.permissions_[b]);
    std::sort(r.permissions.begin(), r.permissions.end());
    P.roles_.push_back(std::move(r));
  }
  auto role_index = [&](std::string_view name) -> int {
    for (size_t i = 0; i < P.roles_.size(); ++i)
      if (P.roles_[i].name == name) return static_cast<int>(i);
    return -1;
  };
  std::string role_names;
  for (const auto& r : P.roles_) role_names += (role_names.empty() ? "" : ", ") + r.name;

  // Aliases.
  if (YAML::Node al = doc["aliases"]; al && !al.IsNull()) {
    if (!al.IsMap()) {
      p.add("aliases", "not a mapping", "a mapping with claims and values");
    } else {
      core::reject_unknown_keys(al, "aliases", {"claims", "values"}, p);
      for (const char* key : {"claims", "values"}) {
        YAML::Node m = al[key];
        if (!m || m.IsNull()) continue;
        if (!m.IsMap()) {
          p.add(std::string("aliases.") + key, "not a mapping", "a mapping of name to name");
          continue;
        }
        auto& target = std::string_view(key) == "claims" ? P.claim_aliases_ : P.value_aliases_;
        for (const auto& kv : m) {
          if (!kv.second.IsScalar()) {
            p.add(std::string("aliases.") + key + "." + kv.first.as<std::string>(), "not a string",
                  "a name");
            continue;
          }
          target[kv.first.as<std::string>()] = kv.second.as<std::string>();
        }
      }
    }
  }

  // Bindings.
  if (YAML::Node bs = doc["bindings"]; bs && !bs.IsNull()) {
    if (!bs.IsSequence()) {
      p.add("bindings", "not a list", "a list of {claim, equals|in|matches, role, project}");
    } else {
      for (size_t i = 0; i < bs.size(); ++i) {
        std::string where = "bindings[" + std::to_string(i) + "]";
        const YAML::Node& n = bs[i];
        if (!n.IsMap()) {
          p.add(where, "not a mapping", "{claim, equals|in|matches, role, project}");
          continue;
        }
        core::reject_unknown_keys(n, where, {"claim", "equals", "in", "matches", "role", "project"},
                                  p);
        Binding b;
        b.id = where;
        b.claim = core::get_string(n, "claim", where, p, true);
        int kinds = (n["equals"] ? 1 : 0) + (n["in"] ? 1 : 0) + (n["matches"] ? 1 : 0);
        if (kinds != 1) {
          p.add(where,
                kinds ? "more than one of equals, in, matches" : "none of equals, in, matches",
                "exactly one of equals (a value), in (a list) or matches (a regular expression)");
          continue;
        }
        if (n["equals"]) {
          b.kind = Binding::Kind::kEquals;
          b.values.push_back(core::get_string(n, "equals", where, p, true));
        } else if (n["in"]) {
          b.kind = Binding::Kind::kIn;
          b.values = core::get_string_list(n, "in", where, p);
          if (b.values.empty()) p.add(where + ".in", "empty", "a list of one or more values");
        } else {
          b.kind = Binding::Kind::kMatches;
          b.pattern = core::get_string(n, "matches", where, p, true);
          try {
            b.re = std::make_shared<const std::regex>(b.pattern, std::regex::ECMAScript);
          } catch (const std::regex_error& e) {
            p.add(where + ".matches", b.pattern,
                  std::string("a valid ECMAScript regular expression (") + e.what() + ")");
            continue;
          }
          std::string_view pat = b.pattern;
          if (!pat.starts_with("^") || !pat.ends_with("$") || pat.ends_with("\\$")) {
            warnings.push_back(where + ".matches: '" + b.pattern +
                               "' is not anchored; claimgate matches whole values anyway (as if "
                               "^...$), so write ^ and $ to say so");
          }
          if (pat.starts_with(".*") || pat.starts_with("^.*") || pat.ends_with(".*") ||
              pat.ends_with(".*$")) {
            warnings.push_back(where + ".matches: '" + b.pattern +
                               "' starts or ends with .*, so it matches any value with that "
                               "prefix or suffix (is that meant?)");
          }
        }
        b.role = core::get_string(n, "role", where, p, true);
        int ri = role_index(b.role);
        if (ri < 0 && !b.role.empty()) {
          p.add(where + ".role", b.role, "a role that exists: " + role_names);
        }
        b.role_index = ri < 0 ? 0 : static_cast<size_t>(ri);
        b.project = core::get_string(n, "project", where, p, true);
        size_t refs = max_group_reference(b.project);
        if (refs > 0 && b.kind != Binding::Kind::kMatches) {
          p.add(where + ".project", b.project, "a project name ($1 needs `matches`)");
        } else if (refs > 0 && refs > b.re->mark_count()) {
          p.add(where + ".project", b.project,
                "group references the expression has (it has " +
                    std::to_string(b.re->mark_count()) + ")");
        } else if (refs == 0 && b.project != "*" && !valid_project(b.project) &&
                   !b.project.empty()) {
          p.add(where + ".project", b.project,
                "\"*\", a project name (letters, digits, '-', '_', "
                "'.') or a template such as \"$1\"");
        }
        // Global permissions come only from bindings for every project (grants_for).
        if (ri >= 0 && b.project != "*" && !b.project.empty()) {
          std::vector<std::string> global;
          for (const auto& g : global_permissions()) {
            if (P.roles_[b.role_index].bits.test(P.permission_bits_[g])) global.push_back(g);
          }
          if (!global.empty()) {
            warnings.push_back(where + ": role " + b.role + " in project " + b.project +
                               " does not grant " + core::join(global, ", ") +
                               " there: those are global permissions, granted only by a binding "
                               "with project: \"*\"");
          }
        }
        P.bindings_.push_back(std::move(b));
      }
    }
  }

  // Rules.
  P.nodes_.emplace_back();
  struct SlotClaim {
    uint32_t node;
    bool rest;
    int slot;
    int priority;  // 0 the method named, 1 HEAD implied by GET, 2 "*"
    int32_t rule;
  };
  std::vector<SlotClaim> claims;
  P.case_insensitive_ = core::get_bool(doc, "case_insensitive_paths", "", p, false);
  if (YAML::Node rs = doc["rules"]; rs && !rs.IsNull()) {
    P.has_rules_ = true;
    if (!rs.IsSequence()) {
      p.add("rules", "not a list", "a list of {methods, path, permission}");
    } else {
      for (size_t i = 0; i < rs.size(); ++i) {
        std::string where = "rules[" + std::to_string(i) + "]";
        const YAML::Node& n = rs[i];
        if (!n.IsMap()) {
          p.add(where, "not a mapping", "{methods, path, permission}");
          continue;
        }
        core::reject_unknown_keys(
            n, where,
            {"name", "methods", "path", "permission", "or", "project", "public", "signed_in"}, p);
        Rule r;
        r.where = where;
        r.id = core::get_string(n, "name", where, p, false, where);
        r.path = core::get_string(n, "path", where, p, true);
        r.methods = core::get_string_list(n, "methods", where, p);
        if (r.methods.empty()) r.methods = {"*"};
        for (auto& m : r.methods) {
          for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          bool token = !m.empty() &&
                       m.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_") == std::string::npos;
          if (m != "*" && !token) p.add(where + ".methods", m, "HTTP method names, or \"*\"");
        }
        bool pub = core::get_bool(n, "public", where, p, false);
        bool signed_in = core::get_bool(n, "signed_in", where, p, false);
        r.permission = core::get_string(n, "permission", where, p, false);
        int kinds = (pub ? 1 : 0) + (signed_in ? 1 : 0) + (r.permission.empty() ? 0 : 1);
        if (kinds != 1) {
          p.add(where,
                kinds ? "more than one of permission, public, signed_in"
                      : "none of permission, public, signed_in",
                "exactly one of permission: NAME, public: true, signed_in: true");
          continue;
        }
        r.kind = pub ? RuleKind::kPublic : signed_in ? RuleKind::kSignedIn : RuleKind::kPermission;
        auto segs = parse_pattern(r.path, where + ".path", p);
        if (!segs) continue;
        if (r.kind == RuleKind::kPermission) {
          int idx = P.permission_index(r.permission);
          if (idx < 0) {
            p.add(where + ".permission", r.permission,
                  "a known permission (add your own under `permissions`)");
          }
          r.permission_bit = idx < 0 ? 0 : static_cast<size_t>(idx);
          if (YAML::Node alt = n["or"]; alt) {
            if (!alt.IsMap()) {
              p.add(where + ".or", "not a mapping", "{permission, condition}");
            } else {
              core::reject_unknown_keys(alt, where + ".or", {"permission", "condition"}, p);
              r.alt_permission = core::get_string(alt, "permission", where + ".or", p, true);
              r.condition = core::get_string(alt, "condition", where + ".or", p, true);
              int a = P.permission_index(r.alt_permission);
              if (a < 0 && !r.alt_permission.empty()) {
                p.add(where + ".or.permission", r.alt_permission, "a known permission");
              }
              r.alt_bit = a < 0 ? 0 : static_cast<size_t>(a);
            }
          }
          // The project: `project:` (a name or "{param}"), else a {project} segment, else any.
          std::string proj = core::get_string(n, "project", where, p, false);
          bool has_project_param = std::any_of(segs->begin(), segs->end(), [](const auto& s) {
            return s.kind == PatternSegment::kParam && s.text == "project";
          });
          if (proj.empty() && has_project_param) proj = "{project}";
          if (proj.starts_with("{") && proj.ends_with("}")) {
            std::string name = proj.substr(1, proj.size() - 2);
            for (size_t k = 0; k < segs->size(); ++k) {
              if ((*segs)[k].kind == PatternSegment::kParam && (*segs)[k].text == name)
                r.project_segment = static_cast<int>(k);
            }
            if (r.project_segment < 0) {
              p.add(where + ".project", proj, "a {param} of the path that is a whole segment");
            }
          } else if (!proj.empty() && !valid_project(proj)) {
            p.add(where + ".project", proj, "a project name or a {param} of the path");
          }
          r.project = proj;
        } else if (n["or"] || n["project"]) {
          p.add(where, "or/project on a public or signed_in rule",
                "or/project only with permission");
        }
        // Into the trie.
        uint32_t node = 0;
        bool rest = false;
        for (const auto& s : *segs) {
          if (s.kind == PatternSegment::kRest) {
            rest = true;
            break;
          }
          int32_t next;
          if (s.kind == PatternSegment::kLiteral) {
            std::string key = P.case_insensitive_ ? lower(s.text) : s.text;
            auto it = P.nodes_[node].literal.find(key);
            if (it == P.nodes_[node].literal.end()) {
              next = static_cast<int32_t>(P.nodes_.size());
              P.nodes_[node].literal.emplace(key, static_cast<uint32_t>(next));
              P.nodes_.emplace_back();
            } else {
              next = static_cast<int32_t>(it->second);
            }
          } else {
            next = P.nodes_[node].param;
            if (next < 0) {
              next = static_cast<int32_t>(P.nodes_.size());
              P.nodes_[node].param = next;
              P.nodes_.emplace_back();
            }
          }
          node = static_cast<uint32_t>(next);
        }
        int32_t id = static_cast<int32_t>(P.rules_.size());
        for (const auto& m : r.methods) {
          if (m == "*") {
            for (int s = 0; s < kSlots; ++s) claims.push_back({node, rest, s, 2, id});
            continue;
          }
          int s = method_slot(m);
          claims.push_back({node, rest, s, 0, id});
          if (m == "GET") claims.push_back({node, rest, method_slot("HEAD"), 1, id});
          if (s == kOtherMethod) {
            warnings.push_back(where + ".methods: " + m +
                               " shares its slot with every other uncommon method");
          }
        }
        P.rules_.push_back(std::move(r));
      }
    }
  }
  // Each (trie node, method) slot goes to an explicit method first, then GET's implied HEAD,
  // then "*". Two rules with the same claim on a slot: the later can never match there.
  std::sort(claims.begin(), claims.end(), [](const SlotClaim& a, const SlotClaim& b) {
    return std::tie(a.node, a.rest, a.slot, a.priority, a.rule) <
           std::tie(b.node, b.rest, b.slot, b.priority, b.rule);
  });
  std::vector<bool> placed(P.rules_.size(), false);
  std::set<std::pair<int32_t, int32_t>> reported;
  for (size_t i = 0; i < claims.size(); ++i) {
    const SlotClaim& c = claims[i];
    auto& slots = c.rest ? P.nodes_[c.node].rest : P.nodes_[c.node].here;
    int32_t& slot = slots[static_cast<size_t>(c.slot)];
    if (slot < 0) {
      slot = c.rule;
      placed[static_cast<size_t>(c.rule)] = true;
      continue;
    }
    const SlotClaim& prev = claims[i - 1];
    bool same_slot = prev.node == c.node && prev.rest == c.rest && prev.slot == c.slot;
    // Same priority on one slot: an explicit method twice, or "*" twice.
    if (same_slot && prev.priority == c.priority && c.priority != 1 &&
        reported.insert({slot, c.rule}).second) {
      const Rule& later = P.rules_[static_cast<size_t>(c.rule)];
      const Rule& earlier = P.rules_[static_cast<size_t>(slot)];
      std::string m = c.priority == 2 ? "*"
                                      : std::string(kMethods.size() > static_cast<size_t>(c.slot)
                                                        ? kMethods[static_cast<size_t>(c.slot)]
                                                        : std::string_view("(uncommon)"));
      p.add(later.where, later.describe(),
            "a rule that can be reached; it can never match " + m + ", because " + earlier.where +
                " (" + earlier.describe() + ") has the same path pattern and method");
    }
  }
  for (size_t i = 0; i < P.rules_.size(); ++i) {
    if (!placed[i] && p.empty()) {
      p.add(P.rules_[i].where, P.rules_[i].describe(),
            "a rule that can be reached (rules with the same path pattern take every method it "
            "names)");
    }
  }
  if (!p.empty()) return nullptr;
  return pol;
}

int32_t Policy::find(uint32_t node, const std::string_view* segs, size_t n, size_t i,
                     int method) const {
  const Node& nd = nodes_[node];
  auto slot = static_cast<size_t>(method);
  if (i == n) {
    if (nd.here[slot] >= 0) return nd.here[slot];
    return nd.rest[slot];  // {rest*} also matches nothing more
  }
  if (!nd.literal.empty()) {
    auto it = nd.literal.find(segs[i]);
    if (it != nd.literal.end()) {
      int32_t r = find(it->second, segs, n, i + 1, method);
      if (r >= 0) return r;
    }
  }
  if (nd.param >= 0) {
    int32_t r = find(static_cast<uint32_t>(nd.param), segs, n, i + 1, method);
    if (r >= 0) return r;
  }
  return nd.rest[slot];
}

namespace {

// The segments of a normalised path, reusing one buffer per thread.
struct Segments {
  std::vector<std::string_view> views;
  std::vector<std::string> lowered;
};

}  // namespace

const Rule* Policy::match(std::string_view method, std::string_view path) const {
  thread_local Segments segs;
  segs.views.clear();
  if (case_insensitive_) {
    segs.lowered.clear();
    for_each_segment(path, [&](std::string_view s) { segs.lowered.push_back(lower(s)); });
    for (const auto& s : segs.lowered) segs.views.push_back(s);
  } else {
    for_each_segment(path, [&](std::string_view s) { segs.views.push_back(s); });
  }
  int32_t r = find(0, segs.views.data(), segs.views.size(), 0, method_slot(method));
  return r < 0 ? nullptr : &rules_[static_cast<size_t>(r)];
}

std::vector<std::string> Policy::binding_claims() const {
  std::vector<std::string> out;
  for (const auto& b : bindings_) {
    if (std::find(out.begin(), out.end(), b.claim) == out.end()) out.push_back(b.claim);
  }
  return out;
}

std::vector<std::string> Policy::claim_aliases_of(std::string_view claim) const {
  std::vector<std::string> out;
  for (const auto& [name, target] : claim_aliases_) {
    if (target == claim) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Grants Policy::grants_for(const session::Session& s) const {
  Grants g;
  auto claim_matches = [&](const session::Claim& c, const std::string& want) {
    if (c.name == want || c.alias == want) return true;
    auto it = claim_aliases_.find(c.name);
    return it != claim_aliases_.end() && it->second == want;
  };
  for (const auto& b : bindings_) {
    for (const auto& c : s.claims) {
      if (!claim_matches(c, b.claim)) continue;
      for (const auto& raw : c.values) {
        std::string readable;
        if (auto it = value_aliases_.find(raw); it != value_aliases_.end()) readable = it->second;
        // An aliased id matches by its readable name or by itself.
        for (const std::string* v : std::array<const std::string*, 2>{&raw, &readable}) {
          if (v->empty()) continue;
          std::string project;
          bool hit = false;
          switch (b.kind) {
            case Binding::Kind::kEquals:
            case Binding::Kind::kIn:
              hit = std::find(b.values.begin(), b.values.end(), *v) != b.values.end();
              project = b.project;
              break;
            case Binding::Kind::kMatches: {
              if (v->size() > kMaxRegexValue) {
                g.notes.push_back(b.id + " skipped a " + std::to_string(v->size()) +
                                  "-byte value of " + b.claim +
                                  " (regular expressions see at most " +
                                  std::to_string(kMaxRegexValue) + " bytes)");
                break;
              }
              std::smatch m;
              hit = std::regex_match(*v, m, *b.re);  // whole value: anchored
              if (hit) project = substitute_project(b.project, m);
              break;
            }
          }
          if (!hit) continue;
          // "*" (every project) only as the binding writes it: a claim value that a
          // template turns into "*" (groups=proj-*-admins with project "$1") names no project.
          if ((project != "*" || b.project != "*") && !valid_project(project)) {
            g.notes.push_back(b.id + " matched " + b.claim + "=" + *v + " but its project '" +
                              project + "' is not a valid project name; it grants nothing");
            continue;
          }
          Grant gr{
              project, b.role, b.role_index, b.id, b.claim, raw, v == &readable ? readable : ""};
          bool dup = std::any_of(g.list.begin(), g.list.end(), [&](const Grant& x) {
            return x.project == gr.project && x.role == gr.role;
          });
          if (dup) continue;  // the first binding to grant a role in a project is its source
          auto idx = static_cast<uint16_t>(g.list.size());
          Grants::Project& pg = project == "*" ? g.everywhere : g.projects[project];
          // A role bound in one project never carries a global permission (an admin of
          // project sandbox may not revoke people of other projects).
          pg.bits |= project == "*" ? roles_[b.role_index].bits
                                    : roles_[b.role_index].bits & ~global_bits_;
          pg.grants.push_back(idx);
          g.list.push_back(std::move(gr));
          break;
        }
      }
    }
  }
  std::set<std::string> roles;
  for (const auto& gr : g.list) roles.insert(gr.role + "@" + gr.project);
  g.roles.assign(roles.begin(), roles.end());
  g.roles_joined = core::join(g.roles, ",");
  return g;
}

bool Policy::holds(const Grants& grants, std::string_view permission,
                   std::string_view project) const {
  int bit = permission_index(permission);
  if (bit < 0) return false;
  auto b = static_cast<size_t>(bit);
  if (grants.everywhere.bits.test(b)) return true;
  if (project.empty()) {
    for (const auto& [name, pg] : grants.projects)
      if (pg.bits.test(b)) return true;
    return false;
  }
  auto it = grants.projects.find(project);
  return it != grants.projects.end() && it->second.bits.test(b);
}

bool Policy::holds_everywhere(const Grants& grants, std::string_view permission) const {
  int bit = permission_index(permission);
  return bit >= 0 && grants.everywhere.bits.test(static_cast<size_t>(bit));
}

Decision Policy::decide(std::string_view method, std::string_view path,
                        const Grants* grants) const {
  Decision d;
  const Rule* rule = match(method, path);
  if (!rule) {
    d.reason = Reason::kNoMatchingRule;
    d.rule = "(none)";
    d.detail =
        "no rule allows " + std::string(method) + " " + std::string(path) + " (deny by default)";
    return d;
  }
  d.rule = rule->id;
  if (rule->kind == RuleKind::kPublic) {
    d.effect = Effect::kAllow;
    d.reason = Reason::kPublic;
    return d;
  }
  if (!grants) {
    d.reason = Reason::kUnauthenticated;
    d.detail = "sign-in required";
    return d;
  }
  if (rule->kind == RuleKind::kSignedIn) {
    d.effect = Effect::kAllow;
    d.reason = Reason::kSignedIn;
    return d;
  }
  d.permission = rule->permission;
  std::string_view project;
  if (rule->project_segment >= 0) {
    int k = 0;
    for_each_segment(path, [&](std::string_view s) {
      if (k++ == rule->project_segment) project = s;
    });
  } else {
    project = rule->project;
  }
  d.project = std::string(project);
  // Which grant gives a permission bit: the project's own, then those for every project.
  auto granted_by = [&](size_t bit) -> const Grant* {
    auto in = [&](const Grants::Project& pg) -> const Grant* {
      if (!pg.bits.test(bit)) return nullptr;
      for (uint16_t i : pg.grants) {
        const Grant& gr = grants->list[i];
        if (roles_[gr.role_index].bits.test(bit)) return &gr;
      }
      return nullptr;
    };
    if (project.empty()) {  // any project
      for (const auto& [name, pg] : grants->projects)
        if (const Grant* gr = in(pg)) return gr;
    } else if (auto it = grants->projects.find(project); it != grants->projects.end()) {
      if (const Grant* gr = in(it->second)) return gr;
    }
    return in(grants->everywhere);
  };
  const Grant* by = granted_by(rule->permission_bit);
  if (!by && !rule->alt_permission.empty()) {
    by = granted_by(rule->alt_bit);
    if (by) {
      d.condition = rule->condition;
      d.permission = rule->alt_permission;
    }
  }
  if (by) {
    d.effect = Effect::kAllow;
    d.reason = Reason::kPermission;
    d.role = by->role;
    d.claim = by->claim_text();
    return d;
  }
  // Denied: say what was needed and what the person has there (one string, appended to).
  std::string& out = d.detail;
  out.reserve(160);
  out.append(method).append(" ").append(path).append(" needs ").append(rule->permission);
  if (!rule->alt_permission.empty()) out.append(" (or ").append(rule->alt_permission).append(")");
  auto where = [&] {
    if (project.empty()) {
      out.append("any project");
    } else {
      out.append("project '").append(project).append("'");
    }
  };
  out.append(" in ");
  where();
  auto append_grant = [&](const Grant& gr) {
    out.append(gr.role).append(gr.project == "*" ? " in every project" : " in ");
    if (gr.project != "*") out.append(gr.project);
  };
  bool any_here = false;
  for (const auto& gr : grants->list) {
    any_here = any_here || gr.project == "*" || project.empty() || gr.project == project;
  }
  if (!any_here) {
    d.reason = Reason::kNoRoleInProject;
    out.append(", and you have no role in ");
    where();
    if (grants->list.empty()) {
      out.append(" (your claims match no role binding)");
    } else {
      out.append(" (you have: ");
      for (size_t i = 0; i < grants->list.size(); ++i) {
        if (i) out.append(", ");
        append_grant(grants->list[i]);
      }
      out.append(")");
    }
    return d;
  }
  d.reason = Reason::kPermissionMissing;
  out.append("; your roles there (");
  bool first = true;
  for (const auto& gr : grants->list) {
    if (gr.project != "*" && !project.empty() && gr.project != project) continue;
    if (!first) out.append("; ");
    first = false;
    append_grant(gr);
    out.append(" (from ").append(gr.claim_text()).append(")");
  }
  out.append(") do not grant it");
  return d;
}

std::shared_ptr<const Policy> load_policy(const YAML::Node& root, const std::string& base_dir,
                                          core::Problems& p, std::vector<std::string>& warnings,
                                          std::string* policy_file) {
  std::string file = core::get_string(root, "policy_file", "", p, false);
  bool inline_sections = root["roles"] || root["bindings"] || root["rules"] ||
                         root["permissions"] || root["aliases"] || root["case_insensitive_paths"];
  if (!file.empty()) {
    if (inline_sections) {
      p.add("policy_file", file,
            "either policy_file or policy sections (roles, bindings, rules, ...) in this file");
      return nullptr;
    }
    std::string path = core::get_path(root, "policy_file", "", p, base_dir, false);
    if (policy_file) *policy_file = path;
    core::Problems inner;
    auto doc = core::load_yaml(path, inner);
    std::shared_ptr<const Policy> pol;
    if (doc) {
      core::reject_unknown_keys(
          *doc, "",
          {"permissions", "roles", "bindings", "rules", "aliases", "case_insensitive_paths"},
          inner);
      pol = Policy::compile(*doc, inner, warnings);
    }
    for (const auto& x : inner.list()) p.add(path + ": " + x.path, x.found, x.allowed);
    return inner.empty() ? pol : nullptr;
  }
  if (!inline_sections) return nullptr;
  return Policy::compile(root, p, warnings);
}

std::shared_ptr<const Policy> load_policy_file(const std::string& path, core::Problems& p,
                                               std::vector<std::string>& warnings,
                                               std::string* watched) {
  auto doc = core::load_yaml(path, p);
  if (!doc) return nullptr;
  if (watched) *watched = path;
  return load_policy(*doc, core::config_dir(path), p, warnings, watched);
}

}  // namespace cg::policy
