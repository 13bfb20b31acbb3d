// Verification of an enveloped XML signature under SAML's rules.
//
// xmlsec, left at its defaults, verifies a Reference that points anywhere, runs any transform
// and takes the key from the message's own KeyInfo. This verifier accepts only the shape SAML
// uses and nothing else:
//   - the ds:Signature is a direct child of the element it signs, the only one there;
//   - exactly one Reference, whose URI is "#" + that element's ID (IDs are unique: Document);
//   - transforms: enveloped-signature and exclusive c14n, nothing else; no ds:Object;
//   - allowed signature and digest algorithms only (SHA-1 only when the policy allows it);
//   - the key is one of the trusted certificates (from IdP metadata), never from KeyInfo.
// The cryptography is OpenSSL (src/crypto); canonicalization is libxml2's exclusive c14n.
#pragma once

#include <span>
#include <string>

#include "core/result.h"
#include "crypto/keys.h"

typedef struct _xmlNode xmlNode;

namespace cg::xml {

class Document;

struct SignaturePolicy {
  bool allow_sha1 = false;
};

struct VerifiedElement {
  xmlNode* element = nullptr;    // the element the signature covers; read identity only from it
  std::string signature_method;  // algorithm URIs, for the record
  std::string digest_method;
  std::string certificate_fingerprint;  // SHA-256 of the trusted certificate that verified it
};

// The ds:Signature children of `element` (0 = unsigned; more than one is an error).
Result<xmlNode*> find_signature(xmlNode* element);

// Verifies `signature` (a child of `element`) over `element`. `doc` resolves the reference.
Result<VerifiedElement> verify_enveloped(const Document& doc, xmlNode* element, xmlNode* signature,
                                         std::span<const crypto::Certificate> trusted,
                                         const SignaturePolicy& policy);

}  // namespace cg::xml
