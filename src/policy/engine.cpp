#include "policy/engine.h"

#include <unordered_map>

namespace cg::policy {
namespace {

// Generations are unique across every PolicyAuthorizer of the process, so a thread's cached
// view can never mistake one authorizer's policy for another's.
std::atomic<uint64_t> g_next_generation{1};

// Per thread; a Grants is about a kilobyte for a person with a dozen roles.
constexpr size_t kGrantCacheLimit = 10'000;

}  // namespace

struct PolicyAuthorizer::ThreadView {
  uint64_t generation = 0;
  std::shared_ptr<const Policy> policy;
  std::unordered_map<std::string, std::shared_ptr<const Grants>> grants;  // by session id
};

PolicyAuthorizer::PolicyAuthorizer(std::shared_ptr<const Policy> policy)
    : policy_(std::move(policy)), generation_(g_next_generation.fetch_add(1)) {}

void PolicyAuthorizer::replace(std::shared_ptr<const Policy> policy) {
  std::lock_guard lock(mu_);
  policy_ = std::move(policy);
  generation_.store(g_next_generation.fetch_add(1), std::memory_order_release);
}

PolicyAuthorizer::ThreadView& PolicyAuthorizer::view() const {
  thread_local ThreadView v;
  uint64_t g = generation_.load(std::memory_order_acquire);
  if (v.generation != g) {
    std::lock_guard lock(mu_);
    v.policy = policy_;
    v.generation = generation_.load(std::memory_order_relaxed);
    v.grants.clear();
  }
  return v;
}

std::shared_ptr<const Grants> PolicyAuthorizer::grants(const session::Session& s) const {
  ThreadView& v = view();
  if (!s.id.empty()) {
    if (auto it = v.grants.find(s.id); it != v.grants.end()) return it->second;
  }
  auto g = std::make_shared<const Grants>(v.policy->grants_for(s));
  if (!s.id.empty()) {
    if (v.grants.size() >= kGrantCacheLimit) v.grants.clear();
    v.grants.emplace(s.id, g);
  }
  return g;
}

bool PolicyAuthorizer::holds(const session::Session& s, std::string_view permission,
                             std::string_view project) const {
  auto g = grants(s);
  return view().policy->holds(*g, permission, project);
}

bool PolicyAuthorizer::holds_everywhere(const session::Session& s,
                                        std::string_view permission) const {
  auto g = grants(s);
  return view().policy->holds_everywhere(*g, permission);
}

bool PolicyAuthorizer::knows_permission(std::string_view permission) const {
  return view().policy->knows_permission(permission);
}

std::shared_ptr<const Policy> PolicyAuthorizer::current() const {
  std::lock_guard lock(mu_);
  return policy_;
}

Decision PolicyAuthorizer::decide(const AccessRequest& r) const {
  ThreadView& v = view();
  if (!v.policy->has_rules()) {  // no rules: being signed in is enough
    Decision d;
    d.rule = "(no rules)";
    d.effect = r.session ? Effect::kAllow : Effect::kDeny;
    d.reason = r.session ? Reason::kSignedIn : Reason::kUnauthenticated;
    if (!r.session) d.detail = "sign-in required";
    return d;
  }
  std::shared_ptr<const Grants> g = r.session ? grants(*r.session) : nullptr;
  return v.policy->decide(r.method, r.path, g.get());
}

std::vector<std::string> PolicyAuthorizer::roles_for(const session::Session& s) const {
  return grants(s)->roles;
}

}  // namespace cg::policy
