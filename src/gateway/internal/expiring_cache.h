// A bounded map of values that stop being valid at a time, owned by the object that uses it
// (never a thread_local shared by every instance in the process). Thread-safe: one mutex, a hit
// copies the value out. When full, expired entries go first, then the quarter closest to their
// expiry (amortised O(1) per insert; never cleared wholesale).
#pragma once

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"

namespace cg::gateway::internal {

template <class V>
class ExpiringCache {
 public:
  explicit ExpiringCache(size_t capacity) : capacity_(capacity < 4 ? 4 : capacity) {}

  // The value under `key` while `now` is before its end; an expired one is dropped.
  std::optional<V> get(const std::string& key, core::WallTime now) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    if (now >= it->second.until) {
      map_.erase(it);
      return std::nullopt;
    }
    return it->second.value;
  }

  void put(std::string key, V value, core::WallTime until, core::WallTime now) {
    std::lock_guard lock(mu_);
    if (map_.size() >= capacity_ && !map_.contains(key)) make_room(now);
    map_.insert_or_assign(std::move(key), Entry{std::move(value), until});
  }

  void erase(const std::string& key) {
    std::lock_guard lock(mu_);
    map_.erase(key);
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return map_.size();
  }

 private:
  struct Entry {
    V value;
    core::WallTime until;
  };

  void make_room(core::WallTime now) {
    std::erase_if(map_, [&](const auto& kv) { return now >= kv.second.until; });
    if (map_.size() < capacity_) return;
    std::vector<core::WallTime> ends;
    ends.reserve(map_.size());
    for (const auto& kv : map_) ends.push_back(kv.second.until);
    auto nth = ends.begin() + static_cast<std::ptrdiff_t>(ends.size() / 4);
    std::nth_element(ends.begin(), nth, ends.end());
    core::WallTime cut = *nth;
    std::erase_if(map_, [&](const auto& kv) { return kv.second.until <= cut; });
  }

  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace cg::gateway::internal
