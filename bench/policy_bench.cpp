// Policy decisions at scale: 1,000 route rules and 200 role bindings, a person with 50 groups,
// decided on one thread, beside an empty decision (one rule, one binding, one group) measured
// in the same run. Also: the once-per-session cost of computing what 50 groups grant (the only
// place regular expressions run), and path normalisation.
//
//   taskset -c 0 build/bench/bench/policy_bench [--benchmark_min_time=1]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "bench/summary_reporter.h"
#include "policy/engine.h"
#include "policy/path.h"
#include "policy/policy.h"

namespace {

using namespace cg;

constexpr int kServices = 50;
constexpr int kEndpointsPerService = 20;  // 50 x 20 = 1,000 rules
constexpr int kBindings = 200;
constexpr int kGroups = 50;

std::string large_policy_yaml() {
  const char* perms[] = {"jobs:read",  "jobs:submit",     "models:read",    "models:deploy",
                         "data:read",  "data:write",      "compute:create", "logs:read",
                         "audit:read", "endpoints:invoke"};
  const char* methods[] = {"GET", "POST", "PUT", "DELETE"};
  std::string y = "bindings:\n";
  for (int i = 0; i < kBindings; ++i) {
    const char* role = i % 4 == 0   ? "viewer"
                       : i % 4 == 1 ? "data-scientist"
                       : i % 4 == 2 ? "devops-engineer"
                                    : "viewer";
    if (i % 5 == 0) {
      y += "  - {claim: groups, matches: \"^team-(\\\\w+)-r" + std::to_string(i) +
           "$\", role: " + role + ", project: \"$1\"}\n";
    } else if (i % 5 == 1) {
      y += "  - {claim: groups, in: [grp-" + std::to_string(i) + "-a, grp-" + std::to_string(i) +
           "-b], role: " + role + ", project: p" + std::to_string(i % 40) + "}\n";
    } else {
      y += "  - {claim: groups, equals: grp-" + std::to_string(i) + ", role: " + role +
           ", project: p" + std::to_string(i % 40) + "}\n";
    }
  }
  y += "rules:\n";
  for (int s = 0; s < kServices; ++s) {
    for (int e = 0; e < kEndpointsPerService; ++e) {
      std::string path =
          "/api/svc" + std::to_string(s) + "/projects/{project}/res" + std::to_string(e / 4);
      if (e % 2) path += "/{id}";
      if (e % 4 >= 2) path += "/action";
      y += "  - {methods: [" + std::string(methods[(e / 4) % 4]) + "], path: \"" + path +
           "\", permission: " + perms[(s + e) % 10] + "}\n";
    }
  }
  return y;
}

session::Session person_with_groups() {
  session::Session s;
  s.id = "bench-session";
  session::Claim g{"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "groups", {}};
  for (int i = 0; i < kGroups; ++i) {
    // Half match a binding (equality, list or regex), half are noise.
    if (i % 2) {
      g.values.push_back("unrelated-directory-group-" + std::to_string(i));
    } else if (i % 10 == 0) {
      g.values.push_back("team-p" + std::to_string(i % 40) + "-r" + std::to_string(i * 2));
    } else {
      g.values.push_back("grp-" + std::to_string(i * 2));
    }
  }
  s.claims.push_back(std::move(g));
  return s;
}

struct Large {
  std::shared_ptr<const policy::Policy> policy;
  session::Session person = person_with_groups();
  policy::Grants grants;
  std::vector<std::pair<std::string, std::string>> requests;  // method, normalised path
  Large() {
    core::Problems p;
    std::vector<std::string> w;
    policy = policy::Policy::compile(YAML::Load(large_policy_yaml()), p, w);
    if (!policy) {
      std::fprintf(stderr, "bench policy has problems:\n%s", p.to_string().c_str());
      std::abort();
    }
    grants = policy->grants_for(person);
    const char* methods[] = {"GET", "POST", "PUT", "DELETE"};
    for (int i = 0; i < 64; ++i) {
      int s = (i * 7) % kServices, e = (i * 3) % kEndpointsPerService;
      std::string path = "/api/svc" + std::to_string(s) + "/projects/p" + std::to_string(i % 40) +
                         "/res" + std::to_string(e / 4);
      if (e % 2) path += "/item-" + std::to_string(i);
      if (e % 4 >= 2) path += "/action";
      requests.emplace_back(methods[(e / 4) % 4], path);
    }
  }
};

Large& large() {
  static Large l;
  return l;
}

struct Small {
  std::shared_ptr<const policy::Policy> policy;
  session::Session person;
  policy::Grants grants;
  Small() {
    core::Problems p;
    std::vector<std::string> w;
    policy = policy::Policy::compile(
        YAML::Load("bindings: [{claim: groups, equals: g, role: viewer, project: a}]\n"
                   "rules: [{methods: [GET], path: /a, permission: jobs:read, project: a}]\n"),
        p, w);
    person.claims.push_back({"groups", "groups", {"g"}});
    grants = policy->grants_for(person);
  }
};

void BM_EmptyDecision(benchmark::State& state) {
  static Small s;
  for (auto _ : state) {
    auto d = s.policy->decide("GET", "/a", &s.grants);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_EmptyDecision);

void BM_Decide1000Rules200Bindings50Groups(benchmark::State& state) {
  Large& l = large();
  size_t i = 0, allowed = 0;
  for (auto _ : state) {
    const auto& [m, p] = l.requests[i++ & 63];
    auto d = l.policy->decide(m, p, &l.grants);
    allowed += d.allowed();
    benchmark::DoNotOptimize(d);
  }
  state.counters["allowed_share"] =
      static_cast<double>(allowed) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Decide1000Rules200Bindings50Groups);

// As the gateway asks: through PolicyAuthorizer (the policy in force, the session's cached
// grants found by its id).
void BM_AuthorizerDecide(benchmark::State& state) {
  Large& l = large();
  static policy::PolicyAuthorizer a(l.policy);
  size_t i = 0;
  for (auto _ : state) {
    const auto& [m, p] = l.requests[i++ & 63];
    auto d = a.decide({m, "h", p, "app", &l.person});
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_AuthorizerDecide);

// Once per session and policy generation.
void BM_GrantsFor50Groups(benchmark::State& state) {
  Large& l = large();
  for (auto _ : state) {
    auto g = l.policy->grants_for(l.person);
    benchmark::DoNotOptimize(g);
  }
  state.counters["roles"] = static_cast<double>(l.grants.list.size());
}
BENCHMARK(BM_GrantsFor50Groups);

void BM_NormalizePath(benchmark::State& state) {
  for (auto _ : state) {
    auto p = policy::normalize_path("/api/svc12/projects/vision//res3/item-42/../item-43/action");
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_NormalizePath);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  cg::bench::SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  auto get = [&](const char* n) { return rep.ns(n); };
  double empty = get("BM_EmptyDecision"), big = get("BM_Decide1000Rules200Bindings50Groups"),
         authz = get("BM_AuthorizerDecide"), grants = get("BM_GrantsFor50Groups"),
         norm = get("BM_NormalizePath");
  if (empty > 0 && big > 0) {
    std::printf("\nSummary (one thread; %d rules, %d bindings, %d groups, %zu roles granted):\n",
                kServices * kEndpointsPerService, kBindings, kGroups, large().grants.list.size());
    std::printf("  empty decision (1 rule)       %8.0f ns  %10.0f decisions/s\n", empty,
                1e9 / empty);
    std::printf(
        "  decision, large policy        %8.0f ns  %10.0f decisions/s  = %.2fx the empty one "
        "(target >= 1,000,000/s)\n",
        big, 1e9 / big, big / empty);
    if (authz > 0)
      std::printf("  via PolicyAuthorizer          %8.0f ns  %10.0f decisions/s\n", authz,
                  1e9 / authz);
    if (grants > 0)
      std::printf(
          "  grants for 50 groups          %8.1f us  (once per session and policy reload)\n",
          grants / 1e3);
    if (norm > 0) std::printf("  path normalisation            %8.0f ns\n", norm);
  }
  benchmark::Shutdown();
  return 0;
}
