// libFuzzer target: the HTTP-Redirect binding decoder (query parsing, base64, raw DEFLATE with
// a size limit) and its signature check.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "crypto/keys.h"
#include "saml/bindings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static cg::crypto::Certificate cert = [] {
    auto key = cg::crypto::PrivateKey::generate_rsa(2048);
    return *cg::crypto::Certificate::self_signed(*key, "fuzz", cg::core::WallTime{}, 36500);
  }();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto m = cg::saml::decode_redirect(input, 1 << 20);
  if (m) {
    std::vector<cg::crypto::Certificate> trusted{cert};
    (void)cg::saml::verify_redirect_signature(*m, trusted, false);
  }
  return 0;
}
