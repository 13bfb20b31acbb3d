// Certificates with chosen notBefore / notAfter, made with OpenSSL at test time: UTCTime
// ("500101000000Z", 1950 to 2049) or GeneralizedTime ("99991231235959Z") exactly as written.
#pragma once

#include <string>

#include "crypto/keys.h"

namespace cg::testing {

// A self-signed certificate for `key` (CN `cn`) whose dates are the ASN.1 time strings given:
// 13 characters for UTCTime (YYMMDDHHMMSSZ), 15 for GeneralizedTime (YYYYMMDDHHMMSSZ).
crypto::Certificate dated_cert(const crypto::PrivateKey& key, const std::string& not_before,
                               const std::string& not_after,
                               const std::string& cn = "idp.example.org");

}  // namespace cg::testing
