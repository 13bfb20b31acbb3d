#include "saml/replay_cache.h"

#include "saml/errors.h"

namespace cg::saml {

void MemoryReplayCache::purge(core::WallTime now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    ids_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

Result<bool> MemoryReplayCache::insert_if_absent(std::string_view id, core::WallTime expires,
                                                 core::WallTime now) {
  std::lock_guard lock(mu_);
  purge(now);
  std::string key(id);
  if (ids_.contains(key)) return false;
  if (ids_.size() >= max_entries_)
    return fail(Code::kReplayCacheUnavailable,
                "the replay cache is full (" + std::to_string(max_entries_) +
                    " live assertion ids); refusing rather than forgetting one");
  ids_.emplace(key, expires);
  by_expiry_.emplace(expires, std::move(key));
  return true;
}

size_t MemoryReplayCache::size() const {
  std::lock_guard lock(mu_);
  return ids_.size();
}

}  // namespace cg::saml
