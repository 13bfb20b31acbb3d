// The assertion-id replay cache: an id accepted once is refused until the assertion expires.
// In memory here; SQLite and Redis implementations come with the stores (same interface).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/result.h"

namespace cg::saml {

class ReplayCache {
 public:
  virtual ~ReplayCache() = default;
  // Records `id` until `expires`. Returns false when it was already recorded (a replay), an
  // error when the cache cannot be consulted (callers must then refuse: fail closed).
  virtual Result<bool> insert_if_absent(std::string_view id, core::WallTime expires,
                                        core::WallTime now) = 0;
};

class MemoryReplayCache final : public ReplayCache {
 public:
  explicit MemoryReplayCache(size_t max_entries = 1'000'000) : max_entries_(max_entries) {}
  Result<bool> insert_if_absent(std::string_view id, core::WallTime expires,
                                core::WallTime now) override;
  size_t size() const;

 private:
  void purge(core::WallTime now);
  mutable std::mutex mu_;
  std::unordered_map<std::string, core::WallTime> ids_;
  std::multimap<core::WallTime, std::string> by_expiry_;
  size_t max_entries_;
};

}  // namespace cg::saml
