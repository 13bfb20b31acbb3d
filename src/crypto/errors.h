// Error codes of src/crypto (2000-2999).
#pragma once

#include "core/result.h"

namespace cg::crypto {

enum class Code : int {
  kBadKey = 2001,          // a key could not be read (format, password, type)
  kBadCertificate = 2002,  // a certificate could not be read
  kSignFailed = 2003,      // the library refused to sign
  kVerifyError = 2004,     // the verification could not run (not: the signature is wrong)
  kUnsupported = 2005,     // an algorithm or key type we do not support
  kOpenFailed = 2006,      // a sealed value does not open (altered, other key or purpose)
  kUnknownKey = 2007,      // a sealed value or token names a key id we do not hold
  kKeyring = 2008,         // the keyring directory is missing, empty or holds a bad file
  kBadToken = 2009,        // a token (JWT) or JWKS is malformed
  kTokenSignature = 2010,  // a token's signature does not verify
  kTokenExpired = 2011,    // a token's "exp" has passed
  kTokenClaims = 2012,     // a token's issuer, audience or times do not match
};

const char* code_name(Code c);
// The newest OpenSSL error on this thread, as text, and the error queue cleared.
std::string openssl_error();

}  // namespace cg::crypto
