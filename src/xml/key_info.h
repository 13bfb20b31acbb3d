// Public keys that XML DSig writes in a ds:KeyInfo without a certificate: ds:KeyValue holding a
// ds:RSAKeyValue (Modulus, Exponent) or a dsig11:ECKeyValue (NamedCurve, PublicKey), and
// dsig11:DEREncodedKeyValue (a SubjectPublicKeyInfo).
//
// IdP metadata may publish its signing key this way; src/saml/idp_metadata.cpp trusts the keys
// read here exactly as it trusts a certificate's key. In a message's own KeyInfo such a key is
// never trusted: the signature verifier reads it only to name it when it is not one of the
// metadata's keys.
#pragma once

#include <vector>

#include "core/result.h"
#include "crypto/keys.h"

typedef struct _xmlNode xmlNode;

namespace cg::xml {

// Every key `key_info` carries as a KeyValue or DEREncodedKeyValue (none: empty). A KeyValue of
// a kind we do not accept (DSA, explicit EC parameters, an unknown curve) is an error that names
// it.
Result<std::vector<crypto::PublicKey>> key_values(const xmlNode* key_info);

}  // namespace cg::xml
