#include "core/random.h"

#include <sys/random.h>

#include <cerrno>
#include <stdexcept>

#include "core/encoding.h"

namespace cg::core {

std::vector<uint8_t> Random::bytes(size_t n) {
  std::vector<uint8_t> out(n);
  fill(out.data(), n);
  return out;
}

std::string Random::xml_id(size_t bits) {
  auto b = bytes((bits + 7) / 8);
  std::string id = "_";  // an NCName may not start with a digit
  id += hex_encode(b);
  return id;
}

void SystemRandom::fill(uint8_t* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = getrandom(out + done, n - done, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      // No randomness means no safe ids or keys: this is not recoverable.
      throw std::runtime_error("getrandom failed");
    }
    done += static_cast<size_t>(r);
  }
}

SystemRandom& SystemRandom::instance() {
  static SystemRandom r;
  return r;
}

}  // namespace cg::core
