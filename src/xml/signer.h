// Enveloped XML signatures made by xmlsec (our AuthnRequests and LogoutRequests on the POST
// binding, the demo IdP, and test fixtures). Verification does not use this code: the
// verifier (signature.h) is checked against documents signed here, by pysaml2 and by xmlsec1.
#pragma once

#include <string>

#include "core/result.h"
#include "crypto/keys.h"

typedef struct _xmlNode xmlNode;

namespace cg::xml {

enum class SignatureAlgorithm { kRsaSha256, kRsaSha512, kRsaSha1, kEcdsaSha256 };
enum class DigestAlgorithm { kSha256, kSha512, kSha1 };

struct SignOptions {
  SignatureAlgorithm signature = SignatureAlgorithm::kRsaSha256;
  DigestAlgorithm digest = DigestAlgorithm::kSha256;
  bool include_certificate = true;  // ds:KeyInfo/ds:X509Data, as IdPs send it
};

const char* signature_uri(SignatureAlgorithm a);

// The options our own messages are signed with for `key`: RSA-SHA256, or ECDSA-SHA256 (r||s,
// as xmlsec writes it) for an EC key; SHA-256 digests, the certificate in KeyInfo.
SignOptions sign_options_for(const crypto::PrivateKey& key);

// Signs `element` (which must carry an ID attribute) with an enveloped signature placed right
// after its saml:Issuer child (SAML's schema order), or first when there is no Issuer.
Status sign_enveloped(xmlNode* element, const crypto::PrivateKey& key,
                      const crypto::Certificate& cert, const SignOptions& options = {});

}  // namespace cg::xml
