// The audit log's readers on hostile files: `audit verify` walks any bytes without crashing
// and never calls a file intact unless its chain links; JSON escaping of any bytes gives valid
// JSON. Input: the bytes of a log file.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "audit/chain.h"
#include "audit/event.h"
#include "audit/verify.h"
#include "core/clock.h"
#include "core/random.h"

using namespace cg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const crypto::Keyring keys = crypto::Keyring::generate(core::SystemClock::instance().now(),
                                                                core::SystemRandom::instance());
  static const std::string path = "/tmp/cg-fuzz-audit-" + std::to_string(::getpid()) + ".jsonl";
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::string escaped;
  audit::append_json_string(escaped, in);
  if (!nlohmann::json::accept(escaped)) std::abort();

  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(in.data(), static_cast<std::streamsize>(in.size()));
  }
  auto rep = audit::verify_files({path}, &keys);
  if (rep.ok()) {
    // Intact means: records from 1, consecutive, each linked to the one before.
    if (rep.first_seq != 1 && rep.records > 0) {
      // Only a file that starts with audit.file_start may start later.
      if (in.find("\"type\":\"audit.file_start\"") == std::string_view::npos) std::abort();
    }
    if (rep.last_seq - rep.first_seq + 1 != rep.records) std::abort();
  }
  (void)audit::read_fixed(in);
  return 0;
}
