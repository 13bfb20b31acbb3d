// Error codes of src/xml: parsing, XML signatures and XML encryption (3000-3999).
// These reach users through `claimgate saml validate` and the sign-in error page, so their
// numbers and names are a contract (docs/error-codes.md).
#pragma once

#include "core/result.h"

namespace cg::xml {

enum class Code : int {
  kTooLarge = 3001,      // the document exceeds the size limit
  kMalformed = 3002,     // not well-formed XML
  kDtdForbidden = 3003,  // a DOCTYPE (DTD, entities) is present
  kTooDeep = 3004,       // nesting deeper than the limit
  kTooManyNodes = 3005,  // more nodes than the limit
  kDuplicateId = 3006,   // two elements carry the same ID

  kSignatureStructure = 3101,  // ds:Signature is not shaped as XML DSig requires
  kSignatureObject = 3102,     // ds:Object present (can smuggle signed content)
  kSignatureReference = 3103,  // not exactly one Reference to the enclosing element's ID
  kSignatureTransform = 3104,  // a transform other than enveloped-signature and exc-c14n
  kSignatureAlgorithm = 3105,  // a signature, digest or c14n algorithm we do not accept
  kSignatureWeak = 3106,       // SHA-1, refused unless configured
  kDigestMismatch = 3107,      // signed content was changed after signing
  kSignatureInvalid = 3108,    // the signature does not verify with any trusted key
  kUntrustedKey = 3109,        // signed by a certificate that is not in the IdP metadata
  kSignatureMultiple = 3110,   // more than one ds:Signature on one element
  kNoTrustedKeys = 3111,       // no signing certificate to verify with
  kCanonicalization = 3112,    // canonicalization failed
  kKeyValue = 3113,            // a ds:KeyValue that is not a usable RSA or named-curve EC key

  kEncryptionAlgorithm = 3201,  // an encryption algorithm we do not accept
  kEncryptionWeak = 3202,       // RSA PKCS#1 v1.5 key transport, refused unless configured
  kNoDecryptionKey = 3203,      // encrypted content but no SP decryption key configured
  kDecryptFailed = 3204,        // decryption failed with every SP key
  kEncryptionStructure = 3205,  // EncryptedData / EncryptedKey not shaped as expected
  kSignFailed = 3206,           // our own signing failed
  kEncryptFailed = 3207,        // our own encryption failed
};

const char* code_name(Code c);

}  // namespace cg::xml
