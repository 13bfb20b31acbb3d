#include "crypto/errors.h"

#include <openssl/err.h>

namespace cg::crypto {

const char* code_name(Code c) {
  switch (c) {
    case Code::kBadKey:
      return "crypto.bad_key";
    case Code::kBadCertificate:
      return "crypto.bad_certificate";
    case Code::kSignFailed:
      return "crypto.sign_failed";
    case Code::kVerifyError:
      return "crypto.verify_error";
    case Code::kUnsupported:
      return "crypto.unsupported";
    case Code::kOpenFailed:
      return "crypto.open_failed";
    case Code::kUnknownKey:
      return "crypto.unknown_key";
    case Code::kKeyring:
      return "crypto.keyring";
    case Code::kBadToken:
      return "crypto.bad_token";
    case Code::kTokenSignature:
      return "crypto.token_signature";
    case Code::kTokenExpired:
      return "crypto.token_expired";
    case Code::kTokenClaims:
      return "crypto.token_claims";
  }
  return "crypto.unknown";
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  std::string out;
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out.empty() ? "no detail from OpenSSL" : out;
}

}  // namespace cg::crypto
