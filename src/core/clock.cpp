#include "core/clock.h"

namespace cg::core {

WallTime SystemClock::now() const {
  return std::chrono::floor<WallTime::duration>(std::chrono::system_clock::now());
}
MonoTime SystemClock::monotonic() const { return std::chrono::steady_clock::now(); }
SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

}  // namespace cg::core
