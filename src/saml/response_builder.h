// Builds signed (and optionally encrypted) SAML Responses the way an IdP does: the demo IdP
// behind `claimgate saml demo`, and the fixtures of the tests. Signing and encryption are
// xmlsec's, independent of the verifier they are checked against.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/result.h"
#include "crypto/keys.h"
#include "xml/encryption.h"
#include "xml/signer.h"

namespace cg::saml {

struct ResponseSpec {
  std::string issuer;          // IdP entity id
  std::string destination;     // our ACS URL
  std::string audience;        // our entity id
  std::string recipient;       // our ACS URL
  std::string in_response_to;  // empty: unsolicited
  std::string name_id = "alice@example.org";
  std::string name_id_format = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
  std::string session_index = "_session1";
  std::vector<std::pair<std::string, std::vector<std::string>>> attributes;
  core::WallTime issue_instant{};
  std::chrono::seconds lifetime{300};  // Conditions and SubjectConfirmationData NotOnOrAfter
  bool sign_response = false;
  bool sign_assertion = true;
  xml::SignOptions sign_options;
  std::string name_qualifier = {};                 // NameID NameQualifier, when not empty
  std::string sp_name_qualifier = {};              // NameID SPNameQualifier, when not empty
  std::optional<crypto::Certificate> encrypt_for;  // encrypt the assertion to this SP certificate
  bool encrypt_assertion = true;                   // with encrypt_for: the whole assertion
  bool encrypt_name_id = false;  // with encrypt_for: the NameID as an EncryptedID (ADFS, Entra)
  xml::DataAlgorithm encryption = xml::DataAlgorithm::kAes256Gcm;
  xml::KeyTransport key_transport = xml::KeyTransport::kRsaOaep;
};

struct BuiltResponse {
  std::string xml;
  std::string response_id;
  std::string assertion_id;
};

// The unsigned Response text (for tests that edit it before signing).
BuiltResponse response_xml(const ResponseSpec& spec, core::Random& random);
// Signs (and encrypts) as the spec says.
Result<BuiltResponse> build_response(const ResponseSpec& spec, const crypto::PrivateKey& key,
                                     const crypto::Certificate& cert, core::Random& random);
// Signs / encrypts an already written Response text as the spec says.
Result<std::string> sign_response_xml(const std::string& xml, const ResponseSpec& spec,
                                      const crypto::PrivateKey& key,
                                      const crypto::Certificate& cert);

}  // namespace cg::saml
