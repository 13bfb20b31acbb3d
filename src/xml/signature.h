// Verification of an enveloped XML signature under SAML's rules.
//
// xmlsec, left at its defaults, verifies a Reference that points anywhere, runs any transform
// and takes the key from the message's own KeyInfo. This verifier accepts only the shape SAML
// uses and nothing else:
//   - the ds:Signature is a direct child of the element it signs, the only one there;
//   - exactly one Reference, whose URI is "#" + that element's ID (IDs are unique: Document);
//   - transforms: enveloped-signature and exclusive c14n, nothing else; no ds:Object;
//   - allowed signature and digest algorithms only (SHA-1 only when the policy allows it);
//   - the key is one of the trusted certificates or keys (from IdP metadata: ds:X509Certificate
//     or ds:KeyValue), never one from the message's KeyInfo;
//   - RSA PKCS#1 v1.5, RSA-PSS (MGF1, salt = hash length) or ECDSA with r||s signature values.
// The cryptography is OpenSSL (src/crypto); canonicalization is libxml2's exclusive c14n.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/result.h"
#include "crypto/keys.h"

typedef struct _xmlNode xmlNode;

namespace cg::xml {

class Document;

struct SignaturePolicy {
  bool allow_sha1 = false;
  // The setting that allows SHA-1, named when SHA-1 is refused ("" where none does).
  std::string sha1_setting = "saml.idps[].allow_sha1";
};

// The signature and digest algorithm URIs accepted, for messages ("accepted: ...").
std::string accepted_signature_algorithms();
std::string accepted_digest_algorithms();

// A signature algorithm, as XML DSig's SignatureMethod and the Redirect binding's SigAlg name it
// (one table for both).
struct SignatureAlgorithmInfo {
  const char* uri;
  crypto::HashAlg hash;
  crypto::KeyType key;
  bool pss;  // RSASSA-PSS, MGF1 with the same hash, salt = hash length (RFC 6931 2.3.10)
};
// The algorithm `uri` names, or null when it is not one we accept at all.
const SignatureAlgorithmInfo* find_signature_algorithm(std::string_view uri);
// find_signature_algorithm under `policy`: 3105 (not accepted) or 3106 (SHA-1, refused), each
// naming the URI that arrived and what is accepted or which setting allows it.
Result<const SignatureAlgorithmInfo*> signature_algorithm(std::string_view uri,
                                                          const SignaturePolicy& policy);
// Verifies a SignatureValue: PKCS#1 v1.5 or PSS for RSA, r||s for ECDSA (XML DSig 1.1, and the
// Redirect binding, which signs with the same URIs). false when the key is of another type.
bool verify_signature_value(const crypto::PublicKey& key, const SignatureAlgorithmInfo& a,
                            std::span<const uint8_t> data, std::span<const uint8_t> sig);

struct VerifiedElement {
  xmlNode* element = nullptr;    // the element the signature covers; read identity only from it
  std::string signature_method;  // algorithm URIs, for the record
  std::string digest_method;
  std::string certificate_fingerprint;  // SHA-256 of the trusted certificate (or bare key's
                                        // SubjectPublicKeyInfo) that verified it
};

// The ds:Signature children of `element` (0 = unsigned; more than one is an error).
Result<xmlNode*> find_signature(xmlNode* element);

// Verifies `signature` (a child of `element`) over `element`. `doc` resolves the reference.
Result<VerifiedElement> verify_enveloped(const Document& doc, xmlNode* element, xmlNode* signature,
                                         std::span<const crypto::Certificate> trusted,
                                         const SignaturePolicy& policy);

}  // namespace cg::xml
