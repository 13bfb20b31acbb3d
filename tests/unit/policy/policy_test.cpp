#include "policy/policy.h"

#include <gtest/gtest.h>

#include <thread>

#include "policy/engine.h"

namespace cg::policy {
namespace {

const char* kPolicy = R"(
permissions: [experiments:log]
aliases:
  claims: {"https://okta.example.org/claims/ml_groups": groups}
  values: {"5e1f0c7a-4c1e-4a7b-9a53-2f0d8e6b1c01": ml-nlp-ds}
roles:
  trainer: {inherits: [viewer], permissions: [jobs:submit, "data:*"]}
bindings:
  - {claim: groups, matches: "^ml-(\\w+)-ds$", role: data-scientist, project: "$1"}
  - {claim: groups, equals: devops-engineers, role: devops-engineer, project: "*"}
  - {claim: groups, in: [viewers, auditors], role: viewer, project: "*"}
  - {claim: groups, equals: ml-admins, role: admin, project: "*"}
  - {claim: roles, equals: Trainer, role: trainer, project: speech}
  - {claim: email, equals: erin@example.org, role: viewer, project: vision}
rules:
  - {methods: [GET], path: "/", signed_in: true}
  - {methods: [GET], path: "/static/{rest*}", public: true}
  - {methods: [POST], path: "/api/projects/{project}/jobs", permission: jobs:submit}
  - {methods: [GET], path: "/api/projects/{project}/jobs", permission: jobs:read}
  - {methods: [GET], path: "/api/projects/{project}/jobs/{job}", permission: jobs:read}
  - {methods: [GET], path: "/api/projects/{project}/jobs/latest", permission: logs:read}
  - name: cancel-job
    methods: [POST]
    path: "/api/projects/{project}/jobs/{job}/cancel"
    permission: jobs:cancel-any
    or: {permission: jobs:cancel, condition: owner}
  - {methods: [POST], path: "/api/projects/{project}/models", permission: models:register}
  - {methods: [POST], path: "/api/projects/{project}/models/{model}/deploy", permission: models:deploy}
  - {methods: [POST], path: "/api/projects/{project}/endpoints/{e}/invoke", permission: endpoints:invoke}
  - {methods: [POST], path: "/api/projects/{project}/compute", permission: compute:create}
  - {methods: [DELETE], path: "/api/projects/{project}/compute/{node}", permission: compute:delete}
  - {methods: [GET], path: "/api/projects/{project}/data/{rest*}", permission: data:read}
  - {methods: [PUT], path: "/api/projects/{project}/data/{rest*}", permission: data:write}
  - {methods: [GET], path: "/api/audit", permission: audit:read}
  - {methods: [DELETE], path: "/api/sessions/{session}", permission: sessions:revoke}
  - {methods: [POST], path: "/api/tokens", permission: tokens:create}
  - {methods: [POST], path: "/api/teams/{team}/experiments", permission: experiments:log, project: "{team}"}
  - {methods: [GET], path: "/api/shared/report", permission: jobs:read, project: vision}
  - {path: "/mlflow/{rest*}", permission: models:read}
)";

std::shared_ptr<const Policy> compile(const std::string& yaml, core::Problems& p,
                                      std::vector<std::string>& warnings) {
  return Policy::compile(YAML::Load(yaml), p, warnings);
}

std::shared_ptr<const Policy> compile_ok(const std::string& yaml) {
  core::Problems p;
  std::vector<std::string> w;
  auto pol = compile(yaml, p, w);
  EXPECT_TRUE(pol) << p.to_string();
  return pol;
}

session::Session person(std::vector<session::Claim> claims) {
  session::Session s;
  s.subject = "someone";
  s.claims = std::move(claims);
  return s;
}

session::Claim groups(std::vector<std::string> v) {
  return {"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "groups", std::move(v)};
}

struct Case {
  const char* who;
  const char* method;
  const char* path;
  const char* reason;   // expected reason
  const char* role;     // expected granting role ("" when denied)
  const char* project;  // expected project asked about
};

// Every role template and every binding kind, with the reason each denial gives.
TEST(PolicyTest, DecisionTable) {
  auto pol = compile_ok(kPolicy);
  ASSERT_TRUE(pol);
  std::map<std::string, session::Session> people{
      {"alice", person({groups({"data-scientists", "ml-vision-ds"}),
                        {"email", "email", {"alice@example.org"}}})},
      {"bob", person({groups({"devops-engineers"})})},
      {"carol", person({groups({"viewers"})})},
      {"root", person({groups({"ml-admins"})})},
      {"dave", person({{"email", "email", {"dave@example.org"}}})},
      {"erin", person({{"email", "email", {"erin@example.org"}}})},
      // Okta's custom attribute name and an Entra ID object id, both through aliases.
      {"okta", person({{"https://okta.example.org/claims/ml_groups", "", {"ml-speech-ds"}}})},
      {"entra", person({groups({"5e1f0c7a-4c1e-4a7b-9a53-2f0d8e6b1c01"})})},
      {"trainer", person({{"http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
                           "roles",
                           {"Trainer"}}})},
      // Anchoring: none of these is ml-<x>-ds.
      {"evil", person({groups({"ml-vision-ds-evil", "xml-vision-ds", "ml-vision-ds\n"})})},
  };
  const Case cases[] = {
      // data-scientist (regex binding, project from the capture)
      {"alice", "POST", "/api/projects/vision/jobs", "permission", "data-scientist", "vision"},
      {"alice", "GET", "/api/projects/vision/jobs/j1", "permission", "data-scientist", "vision"},
      {"alice", "HEAD", "/api/projects/vision/jobs/j1", "permission", "data-scientist", "vision"},
      {"alice", "POST", "/api/projects/vision/models", "permission", "data-scientist", "vision"},
      {"alice", "PUT", "/api/projects/vision/data/a/b.csv", "permission", "data-scientist",
       "vision"},
      {"alice", "POST", "/api/tokens", "permission", "data-scientist", ""},
      {"alice", "POST", "/api/projects/vision/models/m1/deploy", "permission-missing", "",
       "vision"},
      {"alice", "POST", "/api/projects/nlp/jobs", "no-role-in-project", "", "nlp"},
      {"alice", "GET", "/api/audit", "permission-missing", "", ""},
      {"alice", "GET", "/mlflow/#/experiments", "permission", "data-scientist", ""},
      // devops-engineer (equality binding, every project)
      {"bob", "POST", "/api/projects/vision/models/m1/deploy", "permission", "devops-engineer",
       "vision"},
      {"bob", "POST", "/api/projects/nlp/endpoints/e/invoke", "permission", "devops-engineer",
       "nlp"},
      {"bob", "POST", "/api/projects/nlp/compute", "permission", "devops-engineer", "nlp"},
      {"bob", "DELETE", "/api/projects/nlp/compute/n1", "permission", "devops-engineer", "nlp"},
      {"bob", "POST", "/api/projects/vision/jobs", "permission-missing", "", "vision"},
      {"bob", "PUT", "/api/projects/vision/data/x", "permission-missing", "", "vision"},
      // viewer (list membership)
      {"carol", "GET", "/api/projects/vision/jobs", "permission", "viewer", "vision"},
      {"carol", "GET", "/api/projects/x/jobs/latest", "permission", "viewer", "x"},
      {"carol", "POST", "/api/projects/vision/jobs", "permission-missing", "", "vision"},
      {"carol", "POST", "/api/projects/vision/jobs/j1/cancel", "permission-missing", "", "vision"},
      {"carol", "DELETE", "/api/projects/vision/compute/n1", "permission-missing", "", "vision"},
      // admin: everything, including audit and revocation
      {"root", "GET", "/api/audit", "permission", "admin", ""},
      {"root", "DELETE", "/api/sessions/s1", "permission", "admin", ""},
      {"root", "POST", "/api/teams/red/experiments", "permission", "admin", "red"},
      // no binding at all
      {"dave", "GET", "/api/projects/vision/jobs", "no-role-in-project", "", "vision"},
      {"dave", "GET", "/", "signed-in", "", ""},
      {"dave", "GET", "/mlflow/", "no-role-in-project", "", ""},
      // a binding on another claim, for one project
      {"erin", "GET", "/api/projects/vision/jobs", "permission", "viewer", "vision"},
      {"erin", "GET", "/api/shared/report", "permission", "viewer", "vision"},
      {"erin", "GET", "/api/projects/nlp/jobs", "no-role-in-project", "", "nlp"},
      // aliases
      {"okta", "POST", "/api/projects/speech/jobs", "permission", "data-scientist", "speech"},
      {"entra", "POST", "/api/projects/nlp/jobs", "permission", "data-scientist", "nlp"},
      // an edited role inheriting a template
      {"trainer", "POST", "/api/projects/speech/jobs", "permission", "trainer", "speech"},
      {"trainer", "PUT", "/api/projects/speech/data/f", "permission", "trainer", "speech"},
      {"trainer", "POST", "/api/projects/speech/models", "permission-missing", "", "speech"},
      // anchoring
      {"evil", "POST", "/api/projects/vision/jobs", "no-role-in-project", "", "vision"},
      // public and unmatched
      {"dave", "GET", "/static/app.js", "public", "", ""},
      {"dave", "GET", "/nowhere", "no-matching-rule", "", ""},
      {"alice", "PATCH", "/api/projects/vision/jobs", "no-matching-rule", "", ""},
      // case is significant
      {"alice", "POST", "/API/projects/vision/jobs", "no-matching-rule", "", ""},
      {"alice", "POST", "/api/projects/Vision/jobs", "no-role-in-project", "", "Vision"},
      // a trailing slash matches like the plain path
      {"alice", "POST", "/api/projects/vision/jobs/", "permission", "data-scientist", "vision"},
  };
  for (const auto& c : cases) {
    const session::Session& s = people.at(c.who);
    Grants g = pol->grants_for(s);
    Decision d = pol->decide(c.method, c.path, &g);
    std::string where = std::string(c.who) + " " + c.method + " " + c.path;
    EXPECT_EQ(reason_name(d.reason), c.reason) << where << ": " << d.detail;
    EXPECT_EQ(d.allowed(), std::string_view(c.reason) == "permission" ||
                               std::string_view(c.reason) == "signed-in" ||
                               std::string_view(c.reason) == "public")
        << where;
    EXPECT_EQ(d.role, c.role) << where;
    if (std::string_view(c.reason) != "no-matching-rule") {
      EXPECT_EQ(d.project, c.project) << where;
    }
    if (!d.allowed()) {
      EXPECT_FALSE(d.detail.empty()) << where;
    }
  }
}

TEST(PolicyTest, DecisionCarriesRuleRoleAndClaim) {
  auto pol = compile_ok(kPolicy);
  auto alice = person({groups({"ml-vision-ds"})});
  Grants g = pol->grants_for(alice);
  auto d = pol->decide("POST", "/api/projects/vision/jobs", &g);
  EXPECT_EQ(d.rule, "rules[2]");
  EXPECT_EQ(d.permission, "jobs:submit");
  EXPECT_EQ(d.claim, "groups=ml-vision-ds");
  // Cancel: data scientists only on condition of ownership; DevOps without one.
  d = pol->decide("POST", "/api/projects/vision/jobs/j1/cancel", &g);
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.rule, "cancel-job");
  EXPECT_EQ(d.permission, "jobs:cancel");
  EXPECT_EQ(d.condition, "owner");
  auto bob = person({groups({"devops-engineers"})});
  Grants gb = pol->grants_for(bob);
  d = pol->decide("POST", "/api/projects/vision/jobs/j1/cancel", &gb);
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.permission, "jobs:cancel-any");
  EXPECT_EQ(d.condition, "");
  // Denials say what was needed and what the person holds.
  d = pol->decide("POST", "/api/projects/vision/models/m/deploy", &g);
  EXPECT_NE(d.detail.find("models:deploy"), std::string::npos) << d.detail;
  EXPECT_NE(d.detail.find("data-scientist in vision (from groups=ml-vision-ds)"), std::string::npos)
      << d.detail;
  d = pol->decide("POST", "/api/projects/vision/jobs", nullptr);
  EXPECT_EQ(reason_name(d.reason), "unauthenticated");
}

TEST(PolicyTest, GrantsRecordWhereEachRoleCameFrom) {
  auto pol = compile_ok(kPolicy);
  auto s = person({groups({"ml-vision-ds", "viewers", "5e1f0c7a-4c1e-4a7b-9a53-2f0d8e6b1c01"})});
  Grants g = pol->grants_for(s);
  EXPECT_EQ(g.roles,
            (std::vector<std::string>{"data-scientist@nlp", "data-scientist@vision", "viewer@*"}));
  bool saw_alias = false;
  for (const auto& gr : g.list) {
    if (gr.project == "nlp") {
      EXPECT_EQ(gr.via_alias, "ml-nlp-ds");
      EXPECT_EQ(gr.binding, "bindings[0]");
      saw_alias = true;
    }
  }
  EXPECT_TRUE(saw_alias);
}

TEST(PolicyTest, MostSpecificRuleWins) {
  auto pol = compile_ok(R"(
rules:
  - {path: "/a/{rest*}", permission: data:read}
  - {path: "/a/{x}/c", permission: jobs:read}
  - {path: "/a/b/c", permission: jobs:submit}
  - {methods: [POST], path: "/a/b/{y}", permission: models:deploy}
  - {methods: ["*"], path: "/a/b/d", permission: logs:read}
  - {methods: [DELETE], path: "/a/b/d", permission: compute:delete}
)");
  ASSERT_TRUE(pol);
  EXPECT_EQ(pol->match("GET", "/a/b/c")->where, "rules[2]");  // literal beats {x}
  EXPECT_EQ(pol->match("GET", "/a/z/c")->where, "rules[1]");  // {x}
  EXPECT_EQ(pol->match("GET", "/a/z/q")->where, "rules[0]");  // falls back to {rest*}
  EXPECT_EQ(pol->match("GET", "/a")->where, "rules[0]");      // {rest*} matches nothing more
  EXPECT_EQ(pol->match("POST", "/a/b/x")->where, "rules[3]");
  EXPECT_EQ(pol->match("GET", "/a/b/x")->where, "rules[0]");     // method absent: backtrack
  EXPECT_EQ(pol->match("DELETE", "/a/b/d")->where, "rules[5]");  // a named method beats "*"
  EXPECT_EQ(pol->match("GET", "/a/b/d")->where, "rules[4]");
  EXPECT_EQ(pol->match("PROPFIND", "/a/b/d")->where, "rules[4]");
  EXPECT_EQ(pol->match("GET", "/b"), nullptr);
}

TEST(PolicyTest, CaseInsensitivePathsWhenAsked) {
  auto pol = compile_ok(R"(
case_insensitive_paths: true
rules:
  - {methods: [GET], path: "/API/Projects/{project}/jobs", permission: jobs:read}
)");
  ASSERT_TRUE(pol);
  ASSERT_NE(pol->match("GET", "/api/projects/Vision/JOBS"), nullptr);
  auto s = person({groups({"viewers"})});
  // The project keeps its case: it names a project, not a path literal.
  auto bind = compile_ok(R"(
case_insensitive_paths: true
bindings: [{claim: groups, equals: viewers, role: viewer, project: Vision}]
rules: [{methods: [GET], path: "/api/projects/{project}/jobs", permission: jobs:read}]
)");
  Grants g = bind->grants_for(s);
  EXPECT_TRUE(bind->decide("GET", "/API/projects/Vision/jobs", &g).allowed());
  EXPECT_EQ(reason_name(bind->decide("GET", "/api/projects/vision/jobs", &g).reason),
            "no-role-in-project");
}

struct BadCase {
  const char* yaml;
  const char* path;   // the problem's path
  const char* found;  // a substring of what was found
};

// `claimgate check` lists these: every one refuses the policy.
TEST(PolicyTest, ProblemsAreReported) {
  const BadCase cases[] = {
      {"bindings: [{claim: groups, equals: g, role: wizard, project: a}]", "bindings[0].role",
       "wizard"},
      {"roles: {r: [jobs:fly]}", "roles.r[0]", "jobs:fly"},
      {"rules: [{path: /a, permission: jobs:fly}]", "rules[0].permission", "jobs:fly"},
      {"rules: [{path: /a, permission: jobs:read}, {path: /a, permission: jobs:submit}]",
       "rules[1]", "/a"},
      {"rules: [{methods: [GET], path: '/a/{x}', permission: jobs:read}, {methods: [GET], path: "
       "'/a/{y}', permission: jobs:submit}]",
       "rules[1]", "/a/{y}"},
      {"rules: [{path: /a/../b, permission: jobs:read}]", "rules[0].path", "/a/../b"},
      {"rules: [{path: //a, permission: jobs:read}]", "rules[0].path", "//a"},
      {"rules: [{path: /a/%2e, permission: jobs:read}]", "rules[0].path", "%2e"},
      {"rules: [{path: '/a/{rest*}/b', permission: jobs:read}]", "rules[0].path", "{rest*}"},
      {"rules: [{path: '/a/x{y}', permission: jobs:read}]", "rules[0].path", "x{y}"},
      {"rules: [{path: /a, permission: jobs:read, public: true}]", "rules[0]", "more than one"},
      {"rules: [{path: /a}]", "rules[0]", "none of"},
      {"rules: [{path: /a, permission: jobs:read, project: \"{p}\"}]", "rules[0].project", "{p}"},
      {"bindings: [{claim: groups, matches: \"^(a$\", role: viewer, project: x}]",
       "bindings[0].matches", "^(a$"},
      {"bindings: [{claim: groups, matches: \"^a$\", role: viewer, project: $1}]",
       "bindings[0].project", "$1"},
      {"bindings: [{claim: groups, equals: a, in: [b], role: viewer, project: x}]", "bindings[0]",
       "more than one"},
      {"roles: {a: {inherits: [b]}, b: {inherits: [a]}}", "roles.", "a"},
      {"permissions: [nocolon]", "permissions[0]", "nocolon"},
      {"rules: [{path: /a, permission: jobs:read, when: x}]", "rules[0].when", ""},
  };
  for (const auto& c : cases) {
    core::Problems p;
    std::vector<std::string> w;
    auto pol = compile(c.yaml, p, w);
    EXPECT_FALSE(pol) << c.yaml;
    bool found = false;
    for (const auto& x : p.list()) {
      if (x.path.starts_with(c.path) && x.found.find(c.found) != std::string::npos) found = true;
    }
    EXPECT_TRUE(found) << c.yaml << "\n" << p.to_string();
  }
}

TEST(PolicyTest, UnanchoredExpressionsAreWarnedAndStillMatchWholeValues) {
  core::Problems p;
  std::vector<std::string> w;
  auto pol = compile(
      "bindings: [{claim: groups, matches: \"ml-ds\", role: viewer, project: x}]\n"
      "rules: [{path: /a, permission: jobs:read, project: x}]",
      p, w);
  ASSERT_TRUE(pol) << p.to_string();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("not anchored"), std::string::npos);
  auto evil = person({groups({"ml-ds-evil", "my-ml-ds"})});
  Grants g = pol->grants_for(evil);
  EXPECT_TRUE(g.list.empty());
  auto good = person({groups({"ml-ds"})});
  g = pol->grants_for(good);
  EXPECT_EQ(g.list.size(), 1u);
}

TEST(PolicyTest, CaptureThatIsNoProjectNameGrantsNothing) {
  auto pol = compile_ok(
      "bindings: [{claim: groups, matches: \"^team:(.+)$\", role: viewer, project: $1}]");
  auto s = person({groups({"team:a b"})});
  Grants g = pol->grants_for(s);
  EXPECT_TRUE(g.list.empty());
  ASSERT_EQ(g.notes.size(), 1u);
  EXPECT_NE(g.notes[0].find("'a b'"), std::string::npos);
}

TEST(PolicyTest, BuiltinTemplates) {
  auto pol = compile_ok("{}");
  auto perms = [&](const std::string& role) {
    for (const auto& r : pol->roles())
      if (r.name == role) return r.permissions;
    return std::vector<std::string>{};
  };
  EXPECT_EQ(perms("viewer"),
            (std::vector<std::string>{"jobs:read", "logs:read", "metrics:read", "models:read"}));
  auto ds = perms("data-scientist");
  for (const char* p : {"jobs:submit", "jobs:cancel", "models:register", "data:read", "data:write",
                        "tokens:create", "jobs:read"}) {
    EXPECT_NE(std::find(ds.begin(), ds.end(), p), ds.end()) << p;
  }
  EXPECT_EQ(std::find(ds.begin(), ds.end(), "models:deploy"), ds.end());
  auto ops = perms("devops-engineer");
  for (const char* p : {"models:deploy", "endpoints:invoke", "compute:create", "compute:delete",
                        "jobs:cancel-any", "logs:read"}) {
    EXPECT_NE(std::find(ops.begin(), ops.end(), p), ops.end()) << p;
  }
  EXPECT_EQ(std::find(ops.begin(), ops.end(), "jobs:submit"), ops.end());
  EXPECT_EQ(perms("admin").size(), builtin_permissions().size());
  EXPECT_FALSE(pol->has_rules());
}

// A reload publishes a new policy; threads pick it up at their next decision and sessions get
// their new roles without signing in again.
TEST(PolicyAuthorizerTest, ReplaceTakesEffectForCachedSessions) {
  auto v1 = compile_ok(R"(
bindings: [{claim: groups, equals: viewers, role: viewer, project: "*"}]
rules: [{methods: [POST], path: "/api/projects/{project}/jobs", permission: jobs:submit}]
)");
  auto v2 = compile_ok(R"(
bindings: [{claim: groups, equals: viewers, role: data-scientist, project: "*"}]
rules: [{methods: [POST], path: "/api/projects/{project}/jobs", permission: jobs:submit}]
)");
  PolicyAuthorizer a(v1);
  auto s = person({groups({"viewers"})});
  s.id = "session-1";
  AccessRequest r{"POST", "h", "/api/projects/x/jobs", "app", &s};
  EXPECT_EQ(reason_name(a.decide(r).reason), "permission-missing");
  EXPECT_EQ(a.roles_for(s), (std::vector<std::string>{"viewer@*"}));
  auto g1 = a.generation();
  a.replace(v2);
  EXPECT_NE(a.generation(), g1);
  EXPECT_TRUE(a.decide(r).allowed());
  EXPECT_EQ(a.roles_for(s), (std::vector<std::string>{"data-scientist@*"}));
  // Another thread sees the same.
  bool other = false;
  std::thread t([&] { other = a.decide(r).allowed(); });
  t.join();
  EXPECT_TRUE(other);
}

TEST(PolicyAuthorizerTest, RouteRequirementsComeFirstThenRules) {
  auto pol = compile_ok(R"(
bindings: [{claim: groups, equals: viewers, role: viewer, project: "*"}]
rules: [{methods: [GET], path: "/api/projects/{project}/jobs", permission: jobs:read}]
)");
  auto rules = std::make_shared<PolicyAuthorizer>(pol);
  RouteAuthorizer ra;
  ra.set("app", {});
  ra.set("docs", {true, {}, "groups"});
  ra.set("ops", {false, {"ops"}, "groups"});
  ra.set_rules(rules);
  auto s = person({groups({"viewers"})});
  EXPECT_TRUE(ra.decide({"GET", "h", "/api/projects/a/jobs", "app", &s}).allowed());
  EXPECT_EQ(reason_name(ra.decide({"GET", "h", "/other", "app", &s}).reason), "no-matching-rule");
  EXPECT_EQ(reason_name(ra.decide({"GET", "h", "/api/projects/a/jobs", "app", nullptr}).reason),
            "unauthenticated");
  EXPECT_TRUE(ra.decide({"GET", "h", "/other", "docs", nullptr}).allowed());  // public route
  EXPECT_EQ(reason_name(ra.decide({"GET", "h", "/api/projects/a/jobs", "ops", &s}).reason),
            "group-missing");
  // Without rules, a route's allow_groups is what decides.
  RouteAuthorizer no_rules;
  no_rules.set("ops", {false, {"viewers"}, "groups"});
  no_rules.set_rules(std::make_shared<PolicyAuthorizer>(Policy::empty()));
  auto d = no_rules.decide({"GET", "h", "/x", "ops", &s});
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(reason_name(d.reason), "group");
  auto outsider = person({groups({"other"})});
  EXPECT_EQ(reason_name(no_rules.decide({"GET", "h", "/x", "ops", &outsider}).reason),
            "group-missing");
}

}  // namespace
}  // namespace cg::policy

namespace cg::policy {
namespace {

// An admin of one project holds the global permissions (sessions:revoke, audit:read) nowhere:
// revoking people or reading the whole audit log is for roles bound to every project.
TEST(PolicyTest, ProjectRolesNeverGrantGlobalPermissions) {
  core::Problems p;
  std::vector<std::string> warnings;
  auto pol = compile(R"(
bindings:
  - {claim: groups, equals: sandbox-admins, role: admin, project: sandbox}
  - {claim: groups, equals: ml-admins, role: admin, project: "*"}
rules:
  - {methods: [DELETE], path: "/api/sessions/{session}", permission: sessions:revoke}
  - {methods: [GET], path: "/api/audit/{rest*}", permission: audit:read}
  - {methods: [POST], path: "/api/projects/{project}/jobs", permission: jobs:submit}
)",
                     p, warnings);
  ASSERT_TRUE(pol) << p.to_string();
  // `claimgate check` says so about the binding.
  bool warned = false;
  for (const auto& w : warnings) {
    warned = warned || (w.find("bindings[0]") != std::string::npos &&
                        w.find("sessions:revoke") != std::string::npos &&
                        w.find("audit:read") != std::string::npos);
  }
  EXPECT_TRUE(warned);
  Grants sandbox = pol->grants_for(person({groups({"sandbox-admins"})}));
  EXPECT_TRUE(pol->holds(sandbox, "jobs:submit", "sandbox"));
  EXPECT_FALSE(pol->holds(sandbox, "sessions:revoke", ""));
  EXPECT_FALSE(pol->holds(sandbox, "sessions:revoke", "sandbox"));
  EXPECT_FALSE(pol->holds_everywhere(sandbox, "sessions:revoke"));
  EXPECT_FALSE(pol->decide("DELETE", "/api/sessions/s1", &sandbox).allowed());
  EXPECT_FALSE(pol->decide("GET", "/api/audit/records", &sandbox).allowed());
  EXPECT_TRUE(pol->decide("POST", "/api/projects/sandbox/jobs", &sandbox).allowed());
  // A claim value a template turns into "*" names no project, and grants nothing anywhere.
  auto templ = compile_ok(R"(
bindings:
  - {claim: groups, matches: "^proj-(.+)-admins$", role: admin, project: "$1"}
)");
  Grants star = templ->grants_for(person({groups({"proj-*-admins"})}));
  EXPECT_TRUE(star.list.empty());
  EXPECT_FALSE(templ->holds_everywhere(star, "sessions:revoke"));
  EXPECT_FALSE(templ->holds(star, "jobs:submit", "vision"));
  Grants global = pol->grants_for(person({groups({"ml-admins"})}));
  EXPECT_TRUE(pol->holds_everywhere(global, "sessions:revoke"));
  EXPECT_TRUE(pol->decide("DELETE", "/api/sessions/s1", &global).allowed());
  EXPECT_TRUE(pol->decide("GET", "/api/audit/records", &global).allowed());
}

}  // namespace
}  // namespace cg::policy
