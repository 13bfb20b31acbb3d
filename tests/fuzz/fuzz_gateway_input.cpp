// libFuzzer target: what a client controls at the gateway before any SAML: the Cookie header,
// sealed cookie values, bearer-style JWTs, return paths and URLs, and stored session records.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/random.h"
#include "crypto/jwt.h"
#include "crypto/keyring.h"
#include "http/cookies.h"
#include "http/url.h"
#include "session/cookie.h"
#include "session/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const cg::crypto::Keyring ring =
      cg::crypto::Keyring::generate(cg::core::WallTime{}, cg::core::SystemRandom::instance());
  static const cg::session::CookieCodec codec(ring, "cg_session");
  static const cg::crypto::JwtVerifier verifier(ring);
  std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto v = cg::http::find_cookie(input, "cg_session")) (void)codec.open(*v);
  (void)cg::http::strip_cookies(input, {"cg_session", "cg_session_pending"});
  (void)ring.open(input, "pending-cookie");
  (void)verifier.verify(input, cg::core::WallTime{}, {"iss", "aud"});
  (void)cg::crypto::JwtVerifier::from_jwks(input);
  std::string rd = cg::http::safe_return_path(input);
  if (rd != "/" && (rd.size() < 2 || rd[0] != '/' || rd[1] == '/' || rd[1] == '\\'))
    __builtin_trap();
  (void)cg::http::parse_url(input);
  (void)cg::http::target_path(input);
  (void)cg::session::Session::from_json(input);
  return 0;
}
