// The policy in force, swappable while requests run (hot reload), and the authorizer the
// gateway asks. A reload publishes a new immutable Policy; each thread picks it up at its next
// decision (a relaxed generation check, no lock and no shared reference count on the hot path),
// and a decision already running finishes on the policy it started with.
//
// What a session's claims grant is computed once per session and policy generation (the only
// place regular expressions run) and cached per thread, so sessions keep their claims and get
// the new roles after a reload without signing in again.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "policy/access.h"
#include "policy/policy.h"

namespace cg::policy {

class PolicyAuthorizer final : public Authorizer, public RoleMapper {
 public:
  explicit PolicyAuthorizer(std::shared_ptr<const Policy> policy);

  // Publishes a new policy (never null).
  void replace(std::shared_ptr<const Policy> policy);
  // A number that changes with every replace().
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  Decision decide(const AccessRequest& r) const override;
  // "role@project" strings under the policy in force.
  std::vector<std::string> roles_for(const session::Session& s) const override;
  // The session's grants under the policy in force (cached per session id and generation).
  std::shared_ptr<const Grants> grants(const session::Session& s) const;
  // Whether the session holds `permission` in `project` ("": somewhere) under the policy in
  // force; and whether that policy knows the permission at all.
  bool holds(const session::Session& s, std::string_view permission,
             std::string_view project) const;
  // Whether the session holds `permission` in every project (a binding with project "*"):
  // what an action on no single project, or on all of them, needs.
  bool holds_everywhere(const session::Session& s, std::string_view permission) const;
  bool knows_permission(std::string_view permission) const;
  // The policy in force.
  std::shared_ptr<const Policy> current() const;

 private:
  struct ThreadView;
  ThreadView& view() const;

  mutable std::mutex mu_;
  std::shared_ptr<const Policy> policy_;  // under mu_
  std::atomic<uint64_t> generation_;
};

}  // namespace cg::policy
