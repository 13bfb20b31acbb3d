// XML Encryption of SAML assertions and NameIDs (EncryptedAssertion, EncryptedID): decryption
// with the SP's key(s), and encryption (the demo IdP and tests). Key transport is RSA-OAEP (RSA
// PKCS#1 v1.5 refused unless allowed: it is open to padding-oracle attacks); content is
// AES-128/192/256 in GCM or CBC (3DES-CBC refused unless allowed for the IdP that sent it).
#pragma once

#include <span>
#include <string>

#include "core/result.h"
#include "crypto/keys.h"

typedef struct _xmlNode xmlNode;

namespace cg::xml {

struct DecryptPolicy {
  bool allow_rsa15 = false;
  bool allow_tripledes = false;    // saml.idps[].allow_tripledes: 3DES-CBC content encryption
  const char* what = "assertion";  // what is encrypted, for the messages ("NameID")
};

struct Decrypted {
  std::string plaintext;       // the serialized element, to be parsed in context
  std::string data_algorithm;  // for the record
  std::string key_transport;
};

// `encrypted_data` is an xenc:EncryptedData; its EncryptedKey is read from its KeyInfo or from
// a sibling xenc:EncryptedKey (both layouts occur). Every SP key is tried (rollover).
Result<Decrypted> decrypt(xmlNode* encrypted_data, std::span<const crypto::PrivateKey> keys,
                          const DecryptPolicy& policy);

enum class DataAlgorithm { kAes128Cbc, kAes256Cbc, kAes128Gcm, kAes256Gcm, kTripleDesCbc };
enum class KeyTransport { kRsaOaep, kRsa15 };

// Replaces `element` with an xenc:EncryptedData for the holder of `recipient`.
Result<xmlNode*> encrypt(xmlNode* element, const crypto::Certificate& recipient, DataAlgorithm data,
                         KeyTransport transport = KeyTransport::kRsaOaep);

}  // namespace cg::xml
