// libFuzzer target: IdP metadata parsing (metadata comes from files and, later, from URLs).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/time.h"
#include "saml/idp_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto now = *cg::core::parse_datetime("2026-06-01T12:00:00Z");
  std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)cg::saml::IdpMetadata::parse(input, now);
  return 0;
}
