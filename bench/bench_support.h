// What the benchmarks share: a keyring made for the run, and a scratch directory.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/clock.h"
#include "core/random.h"
#include "crypto/keyring.h"

namespace cg::bench {

// A keyring generated once per run (nothing on disk).
inline const crypto::Keyring& run_keys() {
  static const crypto::Keyring k = crypto::Keyring::generate(core::SystemClock::instance().now(),
                                                             core::SystemRandom::instance());
  return k;
}

// An empty directory for this run (`name` and the pid make it unique), created at first use.
inline std::filesystem::path scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  auto p = fs::temp_directory_path() / ("cg-" + name + "-bench-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return fs::canonical(p);
}

}  // namespace cg::bench
