// Time, injected: everything that decides by time takes a Clock&, tests use ManualClock.
#pragma once

#include <atomic>
#include <chrono>

namespace cg::core {

using WallTime = std::chrono::system_clock::time_point;
using MonoTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime now() const = 0;        // wall clock, for protocol timestamps
  virtual MonoTime monotonic() const = 0;  // for durations and deadlines
};

// The real clock: the only place in the project that reads the system time.
class SystemClock final : public Clock {
 public:
  WallTime now() const override;
  MonoTime monotonic() const override;
  static SystemClock& instance();
};

// A clock that moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(WallTime start) : wall_(start.time_since_epoch().count()) {}
  WallTime now() const override { return WallTime(WallTime::duration(wall_.load())); }
  MonoTime monotonic() const override {
    return MonoTime(
        std::chrono::duration_cast<MonoTime::duration>(WallTime::duration(wall_.load())));
  }
  void set(WallTime t) { wall_.store(t.time_since_epoch().count()); }
  void advance(std::chrono::microseconds d) {
    wall_.fetch_add(std::chrono::duration_cast<WallTime::duration>(d).count());
  }

 private:
  std::atomic<WallTime::rep> wall_;
};

}  // namespace cg::core
