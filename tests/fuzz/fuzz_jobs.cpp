// The jobs service's parsers on hostile input: a job spec (client JSON) and a job token (what a
// node or the renewal endpoint is handed). A spec either parses within the limits or is refused
// with jobs.bad_spec; no arbitrary bytes ever verify as a job token; peeking at claims of any
// bytes never crashes. Input: first byte picks the parser, the rest is its input.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/clock.h"
#include "core/random.h"
#include "crypto/jwt.h"
#include "crypto/keyring.h"
#include "jobs/job.h"
#include "jobs/job_token.h"

using namespace cg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const crypto::Keyring keys = crypto::Keyring::generate(core::SystemClock::instance().now(),
                                                                core::SystemRandom::instance());
  static const crypto::JwtVerifier verifier(keys);
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    jobs::SpecLimits lim;
    auto s = jobs::parse_spec(in, lim);
    if (s) {
      if (s->command.empty() || s->nodes < 1 || s->nodes > lim.max_nodes || s->gpus < 0 ||
          s->gpus > lim.max_gpus || s->max_runtime > lim.max_runtime || s->max_runtime.count() < 1)
        std::abort();
      if (!jobs::spec_from_json(s->to_json())) std::abort();  // what is stored reads back
    } else if (s.error().name != "jobs.bad_spec") {
      std::abort();
    }
  } else {
    jobs::JobExpectations e;
    e.allow_expired = data[0] & 2;
    if (jobs::verify_job_token(verifier, in, core::SystemClock::instance().now(), e)) std::abort();
    (void)jobs::peek_job_claims(in);
  }
  return 0;
}
