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
};

const char* code_name(Code c);
// The newest OpenSSL error on this thread, as text, and the error queue cleared.
std::string openssl_error();

}  // namespace cg::crypto
