// Randomness, injected: ids and keys come from a Random&; tests use a deterministic one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cg::core {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(uint8_t* out, size_t n) = 0;

  std::vector<uint8_t> bytes(size_t n);
  // An XML ID (NCName): '_' followed by hex of `bits` random bits (SAML wants >= 128).
  std::string xml_id(size_t bits = 160);
};

// The kernel's CSPRNG (getrandom(2)).
class SystemRandom final : public Random {
 public:
  void fill(uint8_t* out, size_t n) override;
  static SystemRandom& instance();
};

}  // namespace cg::core
