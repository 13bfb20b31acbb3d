// Single Logout on the HTTP-Redirect binding, both directions: we build LogoutRequests (user
// signs out here) and LogoutResponses (answering the IdP), and validate what the IdP sends.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/result.h"
#include "crypto/keys.h"
#include "saml/bindings.h"
#include "saml/config.h"

namespace cg::saml {

struct LogoutRequestSpec {
  std::string destination;  // the IdP's SLO endpoint
  std::string name_id;
  std::string name_id_format;
  std::string session_index;
  std::string name_qualifier = {};  // as the assertion's NameID carried them
  std::string sp_name_qualifier = {};
};

struct BuiltMessage {
  std::string id;
  std::string xml;
};

BuiltMessage build_logout_request(const SpConfig& sp, const LogoutRequestSpec& spec,
                                  core::Random& random, core::WallTime now);
BuiltMessage build_logout_response(const SpConfig& sp, const std::string& destination,
                                   const std::string& in_response_to, bool success,
                                   core::Random& random, core::WallTime now);

struct LogoutRequestInfo {
  std::string id;
  std::string issuer;
  std::string name_id;
  std::string name_id_format;
  std::string name_qualifier;
  std::string sp_name_qualifier;
  std::vector<std::string> session_indexes;
  std::string relay_state;
};

struct LogoutResponseInfo {
  std::string id;
  std::string in_response_to;
  std::string issuer;
  std::string status;
  std::string relay_state;
};

struct LogoutCheckSettings {
  std::string slo_url;  // our SLO endpoint: the Destination expected
  std::chrono::seconds clock_skew{180};
  std::chrono::seconds max_age{300};
  // A LogoutRequest's NameID: the SPNameQualifier it may name, and the keys that decrypt an
  // EncryptedID (as an EncryptedAssertion: current, next, previous; saml.allow_rsa15).
  std::string sp_entity_id = {};
  std::string affiliation_id = {};  // saml.sp.affiliation_id
  std::vector<crypto::PrivateKey> decryption_keys = {};
  bool allow_rsa15 = false;
};

// Both require a valid Redirect-binding signature by one of the IdP's certificates. A
// LogoutRequest names the user with a NameID or an EncryptedID (read_name_id: the IdP's
// allow_tripledes applies), whose SPNameQualifier, when sent, must be this SP's entity id.
Result<LogoutRequestInfo> validate_logout_request(const RedirectMessage& m, const IdpSettings& idp,
                                                  const LogoutCheckSettings& s, core::WallTime now);
Result<LogoutResponseInfo> validate_logout_response(const RedirectMessage& m,
                                                    const IdpSettings& idp,
                                                    const LogoutCheckSettings& s,
                                                    const std::string& expected_request_id,
                                                    core::WallTime now);

}  // namespace cg::saml
