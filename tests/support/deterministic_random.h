// A Random that yields a repeatable byte stream, for tests that compare ids.
#pragma once

#include <cstdint>

#include "core/random.h"

namespace cg::testing {

class DeterministicRandom final : public core::Random {
 public:
  explicit DeterministicRandom(uint64_t seed = 42) : state_(seed) {}
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
      out[i] = static_cast<uint8_t>(state_ >> 56);
    }
  }

 private:
  uint64_t state_;
};

}  // namespace cg::testing
