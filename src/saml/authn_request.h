// AuthnRequests: built once per sign-in, sent by HTTP-Redirect (query-string signature) or
// HTTP-POST (enveloped signature). IDs carry 160 random bits.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/result.h"
#include "saml/config.h"

namespace cg::saml {

struct AuthnRequestOptions {
  bool force_authn = false;
  bool is_passive = false;
  std::string name_id_format;  // NameIDPolicy Format; empty: no Format attribute
  bool allow_create = true;
  std::vector<std::string> authn_context_class_refs;  // RequestedAuthnContext
  std::string comparison = "exact";
};

struct AuthnRequest {
  std::string id;
  std::string xml;
  std::string destination;
};

AuthnRequest build_authn_request(const SpConfig& sp, const std::string& destination,
                                 const AuthnRequestOptions& options, core::Random& random,
                                 core::WallTime now);

// The URL to send the browser to (signed when the SP signs requests).
Result<std::string> authn_request_redirect_url(const SpConfig& sp, const AuthnRequest& request,
                                               const std::string& relay_state);
// An auto-submitting HTML form carrying the request signed with an enveloped signature.
Result<std::string> authn_request_post_form(const SpConfig& sp, const AuthnRequest& request,
                                            const std::string& relay_state);

}  // namespace cg::saml
