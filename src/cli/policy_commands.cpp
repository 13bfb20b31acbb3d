#include "cli/policy_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "policy/path.h"
#include "policy/policy.h"
#include "saml/identity.h"

namespace cg::cli {
namespace {

using json = nlohmann::json;

std::shared_ptr<const policy::Policy> load(const std::string& file, bool print_warnings) {
  core::Problems problems;
  std::vector<std::string> warnings;
  std::string watched;
  auto pol = policy::load_policy_file(file, problems, warnings, &watched);
  if (!problems.empty()) {
    std::cerr << file << ": " << problems.list().size() << " problem(s)\n";
    for (const auto& x : problems.list()) std::cerr << "  " << x.to_string() << "\n";
    return nullptr;
  }
  if (!pol) {
    std::cerr << file
              << ": no policy here (no permissions, roles, aliases, bindings or rules, and no "
                 "policy_file)\n";
    return nullptr;
  }
  if (print_warnings) {
    for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  }
  return pol;
}

// "groups=ml-vision-ds" arguments into a session's claims (repeated names add values).
std::optional<session::Session> session_of(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& claims) {
  session::Session s;
  s.subject = "(explain)";
  for (const auto& [name, values] : claims) {
    auto it = std::find_if(s.claims.begin(), s.claims.end(),
                           [&](const session::Claim& c) { return c.name == name; });
    if (it == s.claims.end()) {
      s.claims.push_back({name, std::string(saml::claim_alias(name)), {}});
      it = std::prev(s.claims.end());
    }
    for (const auto& v : values) it->values.push_back(v);
  }
  return s;
}

struct Explained {
  std::string normalised;
  std::optional<Error> path_error;
  policy::Decision decision;
  const policy::Rule* rule = nullptr;
  policy::Grants grants;
};

Explained explain(const policy::Policy& pol, const std::string& method, const std::string& path,
                  const session::Session* s) {
  Explained e;
  auto n = policy::normalize_path(path);
  if (!n) {
    e.path_error = n.error();
    e.decision.reason = policy::Reason::kBadPath;
    e.decision.detail = n.error().message;
    return e;
  }
  e.normalised = *n;
  if (s) e.grants = pol.grants_for(*s);
  e.decision = pol.decide(method, e.normalised, s ? &e.grants : nullptr);
  e.rule = pol.match(method, e.normalised);
  return e;
}

void print_explanation(std::ostream& out, const policy::Policy& pol, const std::string& method,
                       const std::string& path, const Explained& e, bool signed_in) {
  const auto& d = e.decision;
  out << (d.allowed() ? "ALLOW " : "DENY  ") << method << " " << path << "\n";
  if (e.path_error) {
    out << "  the path is refused before any rule: " << e.path_error->code << " "
        << e.path_error->name << ": " << e.path_error->message << "\n";
    return;
  }
  if (e.normalised != path) out << "  normalised path: " << e.normalised << "\n";
  out << "  reason:     " << std::string(policy::reason_name(d.reason)) << "\n";
  if (e.rule) {
    out << "  rule:       " << e.rule->id
        << (e.rule->id != e.rule->where ? " (" + e.rule->where + ")" : "") << ": "
        << e.rule->describe() << "\n";
  } else if (pol.has_rules()) {
    out << "  rule:       none matches " << method << " " << e.normalised << " (deny by default)\n";
  }
  if (!d.project.empty()) out << "  project:    " << d.project << "\n";
  if (!d.permission.empty())
    out << "  permission: " << d.permission << (d.allowed() ? " (granted)" : " (needed)") << "\n";
  if (!d.condition.empty())
    out << "  condition:  " << d.condition << " (the upstream service must check it)\n";
  if (d.allowed() && !d.role.empty())
    out << "  granted by: role " << d.role << ", from the claim " << d.claim << "\n";
  if (!signed_in) {
    out << "  not signed in\n";
  } else {
    out << "  roles from the claims:\n";
    if (e.grants.list.empty()) out << "    (none: no binding matches these claims)\n";
    for (const auto& g : e.grants.list) {
      const policy::Binding* b = nullptr;
      for (const auto& x : pol.bindings())
        if (x.id == g.binding) b = &x;
      out << "    " << g.role << " in " << (g.project == "*" ? "every project" : g.project)
          << "  <- " << g.claim_text() << "  (" << g.binding << ": " << (b ? b->describe() : "")
          << ")\n";
    }
    for (const auto& n : e.grants.notes) out << "    note: " << n << "\n";
  }
  if (!d.allowed() && !d.detail.empty()) out << "  why:        " << d.detail << "\n";
}

json explanation_json(const Explained& e) {
  const auto& d = e.decision;
  return json{{"effect", d.allowed() ? "allow" : "deny"},
              {"reason", std::string(policy::reason_name(d.reason))},
              {"rule", d.rule},
              {"path", e.normalised},
              {"project", d.project},
              {"permission", d.permission},
              {"role", d.role},
              {"claim", d.claim},
              {"condition", d.condition},
              {"detail", d.detail},
              {"roles", policy::grants_json(e.grants)}};
}

bool split_claim(const std::string& arg, std::string& name, std::string& value) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  name = arg.substr(0, eq);
  value = arg.substr(eq + 1);
  return true;
}

int run_explain(const std::string& file, const std::vector<std::string>& claim_args, bool anonymous,
                bool as_json, std::string method, const std::string& path) {
  auto pol = load(file, !as_json);
  if (!pol) return 2;
  std::vector<std::pair<std::string, std::vector<std::string>>> claims;
  for (const auto& a : claim_args) {
    std::string n, v;
    if (!split_claim(a, n, v)) {
      std::cerr << "claimgate policy explain: --claim wants NAME=VALUE, got '" << a << "'\n";
      return 2;
    }
    claims.push_back({n, {v}});
  }
  for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto s = session_of(claims);
  auto e = explain(*pol, method, path, anonymous ? nullptr : &*s);
  if (as_json) {
    std::cout << explanation_json(e).dump(2) << "\n";
  } else {
    print_explanation(std::cout, *pol, method, path, e, !anonymous);
  }
  return e.decision.allowed() ? 0 : 1;
}

// CASES.yaml:
//   cases:
//     - name: alice submits in vision              # optional
//       claims: {groups: [ml-vision-ds], email: alice@example.org}
//       request: POST /api/projects/vision/jobs
//       expect: allow                              # allow | deny
//       reason: permission                         # optional: also check these
//       role: data-scientist
//       project: vision
//       condition: owner
//     - {signed_in: false, request: GET /api/x, expect: deny, reason: unauthenticated}
int run_test(const std::string& file, const std::string& cases_file) {
  auto pol = load(file, true);
  if (!pol) return 2;
  core::Problems problems;
  auto doc = core::load_yaml(cases_file, problems);
  if (!doc) {
    std::cerr << problems.to_string();
    return 2;
  }
  YAML::Node cases = (*doc)["cases"];
  if (!cases || !cases.IsSequence()) {
    std::cerr << cases_file << ": wants a top-level `cases:` list\n";
    return 2;
  }
  size_t failed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const YAML::Node& c = cases[i];
    std::string where = "cases[" + std::to_string(i) + "]";
    core::reject_unknown_keys(c, where,
                              {"name", "claims", "signed_in", "request", "expect", "reason", "role",
                               "project", "permission", "condition"},
                              problems);
    std::string name = core::get_string(c, "name", where, problems, false, where);
    std::string request = core::get_string(c, "request", where, problems, true);
    std::string expect = core::get_string(c, "expect", where, problems, true);
    bool signed_in = core::get_bool(c, "signed_in", where, problems, true);
    std::vector<std::pair<std::string, std::vector<std::string>>> claims;
    if (YAML::Node cl = c["claims"]; cl && cl.IsMap()) {
      for (const auto& kv : cl) {
        std::string n = kv.first.as<std::string>();
        claims.push_back({n, core::get_string_list(cl, n, where + ".claims", problems)});
      }
    } else if (cl && !cl.IsNull()) {
      problems.add(where + ".claims", "not a mapping", "a mapping of claim name to value(s)");
    }
    auto sp = request.find(' ');
    if (sp == std::string::npos) problems.add(where + ".request", request, "METHOD PATH");
    if (expect != "allow" && expect != "deny")
      problems.add(where + ".expect", expect, "allow or deny");
    if (!problems.empty()) break;
    std::string method = request.substr(0, sp);
    std::string path = request.substr(sp + 1);
    for (char& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    auto s = session_of(claims);
    auto e = explain(*pol, method, path, signed_in ? &*s : nullptr);
    std::vector<std::string> wrong;
    const auto& d = e.decision;
    if ((expect == "allow") != d.allowed())
      wrong.push_back("expected " + expect + ", got " + (d.allowed() ? "allow" : "deny"));
    auto check = [&](const char* key, const std::string& got) {
      if (!c[key]) return;
      std::string want = core::get_string(c, key, where, problems, false);
      if (want != got)
        wrong.push_back(std::string(key) + ": expected '" + want + "', got '" + got + "'");
    };
    check("reason", std::string(policy::reason_name(d.reason)));
    check("role", d.role);
    check("project", d.project);
    check("permission", d.permission);
    check("condition", d.condition);
    if (wrong.empty()) {
      std::cout << "ok    " << name << "\n";
      continue;
    }
    ++failed;
    std::cout << "FAIL  " << name << ": ";
    for (size_t k = 0; k < wrong.size(); ++k) std::cout << (k ? "; " : "") << wrong[k];
    std::cout << "\n";
    std::ostringstream ex;
    print_explanation(ex, *pol, method, path, e, signed_in);
    std::istringstream lines(ex.str());
    for (std::string line; std::getline(lines, line);) std::cout << "      " << line << "\n";
  }
  if (!problems.empty()) {
    std::cerr << cases_file << ": " << problems.list().size() << " problem(s)\n";
    for (const auto& x : problems.list()) std::cerr << "  " << x.to_string() << "\n";
    return 2;
  }
  std::cout << cases.size() << " case(s), " << (cases.size() - failed) << " passed, " << failed
            << " failed\n";
  return failed ? 1 : 0;
}

int run_roles(const std::string& file) {
  auto pol = load(file, true);
  if (!pol) return 2;
  for (const auto& r : pol->roles()) {
    std::cout << r.name << (r.builtin ? " (built-in)" : "") << ":";
    for (const auto& p : r.permissions) std::cout << " " << p;
    std::cout << "\n";
  }
  std::cout << "\nbindings:\n";
  for (const auto& b : pol->bindings()) std::cout << "  " << b.id << ": " << b.describe() << "\n";
  std::cout << "\nrules (" << pol->rules().size() << "):\n";
  for (const auto& r : pol->rules()) std::cout << "  " << r.id << ": " << r.describe() << "\n";
  return 0;
}

}  // namespace

void add_policy_commands(CLI::App& app, int& exit_code) {
  auto* pol = app.add_subcommand("policy", "The access policy: explain a decision, test a policy");
  pol->require_subcommand(1);

  static std::string config, method, path, cases;
  static std::vector<std::string> claims;
  static bool anonymous = false, as_json = false;
  auto* ex = pol->add_subcommand(
      "explain", "Decide one request for the given claims and say why (exit 0 allow, 1 deny)");
  ex->add_option("--config,-c", config, "a gateway config or a policy file")->required();
  ex->add_option("--claim", claims, "a claim NAME=VALUE (repeat for more values)");
  ex->add_flag("--anonymous", anonymous, "decide for someone not signed in");
  ex->add_flag("--json", as_json, "print the decision as JSON");
  ex->add_option("method", method, "the HTTP method")->required();
  ex->add_option("path", path, "the request path")->required();
  ex->callback(
      [&exit_code] { exit_code = run_explain(config, claims, anonymous, as_json, method, path); });

  auto* test = pol->add_subcommand(
      "test", "Run a table of expected decisions (exit 0 when every case passes)");
  test->add_option("--config,-c", config, "a gateway config or a policy file")->required();
  test->add_option("cases", cases, "the CASES.yaml file")->required();
  test->callback([&exit_code] { exit_code = run_test(config, cases); });

  auto* roles = pol->add_subcommand(
      "roles", "Print the roles, their permissions, the bindings and the rules");
  roles->add_option("--config,-c", config, "a gateway config or a policy file")->required();
  roles->callback([&exit_code] { exit_code = run_roles(config); });
}

}  // namespace cg::cli
