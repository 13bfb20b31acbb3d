// Time, injected: everything that decides by time takes a Clock&, tests use ManualClock.
#pragma once

#include <atomic>
#include <chrono>

namespace cg::core {

// Wall time in microseconds since the epoch. 64 bits of microseconds hold +-292,000 years, so
// every date an IdP, a certificate or a token can carry (years 0000 to 9999, xs:dateTime and
// X.509 GeneralizedTime) fits, with room for the durations added to it. system_clock's own
// nanoseconds end in 2262: never convert a WallTime to them (core/time.h has the conversions).
using WallTime = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;
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
