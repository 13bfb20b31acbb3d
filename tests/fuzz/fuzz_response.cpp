// libFuzzer target: the Response parser and validator, fed arbitrary bytes as a posted message.
// Must never crash, hang or leak, whatever arrives at /saml/acs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/clock.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "saml/response_validator.h"

namespace {

struct Target {
  cg::core::ManualClock clock{*cg::core::parse_datetime("2026-06-01T12:00:00Z")};
  cg::saml::MemoryReplayCache replay;
  std::unique_ptr<cg::saml::ResponseValidator> validator;

  Target() {
    auto key = cg::crypto::PrivateKey::generate_rsa(2048);
    auto cert = cg::crypto::Certificate::self_signed(*key, "fuzz idp",
                                                     clock.now() - std::chrono::hours(1), 30);
    cg::saml::SpSettings sp;
    sp.entity_id = "https://ml.example.org/saml/metadata";
    sp.acs_url = "https://ml.example.org/saml/acs";
    sp.decryption_keys = {*key};
    cg::saml::IdpSettings idp{"https://idp.example.org/metadata", {*cert}, false, true, {}};
    validator = std::make_unique<cg::saml::ResponseValidator>(sp, idp, &replay, clock);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Target t;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)t.validator->validate(input, std::string("_req"));
  (void)t.validator->validate_posted(input, std::nullopt);
  return 0;
}
