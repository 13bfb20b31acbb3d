// Error codes of src/gateway: what a person sees on the gateway's pages (6500-6999).
#pragma once

#include "core/result.h"

namespace cg::gateway {

enum class Code : int {
  kUnknownIdp = 6501,          // ?idp= names no configured IdP
  kRelayState = 6502,          // the RelayState names no pending sign-in (expired, used, forged)
  kPendingCookie = 6503,       // the browser lacks the cookie its sign-in started with
  kNoSamlResponse = 6504,      // /saml/acs received no SAMLResponse
  kStoreUnavailable = 6505,    // the session store cannot be reached: sign-in refused
  kNotFound = 6506,            // no route matches the request
  kForbidden = 6507,           // signed in, but the route's rule denies it
  kUnauthenticated = 6508,     // the route needs a signed-in session
  kLogout = 6509,              // a logout message failed its checks
  kBadRequest = 6510,          // a malformed request to a gateway endpoint
  kTokenInvalid = 6511,        // a Bearer token that is malformed, tampered with or not ours
  kTokenExpired = 6512,        // a Bearer token past its expiry
  kTokenRevoked = 6513,        // a Bearer token whose grant was revoked
  kGrantInvalid = 6514,        // a code, refresh token or device code the token endpoint refuses
  kAgentScope = 6515,          // an agent token used beyond its scope or project
  kTokensDisabled = 6516,      // tokens.enabled is false
  kMetadataRefused = 6517,     // a document fetched from an IdP's metadata_url was not taken
  kGraph = 6518,               // Microsoft Graph did not give a user's groups (overage)
  kForwardAuthRequest = 6520,  // /auth lacks (or repeats) a header naming the original request
  kCrossSite = 6521,           // a state-changing request a browser says comes from another site
  kHeaderValue = 6522,         // a value for a response header holds a control byte (CR, LF, ...)
  kIdentityRequired = 6523,  // a config lets a route that needs an identity be reached anonymously
  kRateLimited = 6530,       // an abuse limit refused the request (limits.signins_per_minute, ...)
  kIdentityUnsigned = 6540,  // the identity JWT for the upstream could not be signed: not passed on
  kTokenUnminted = 6541,     // a token endpoint could not make the token it would answer
};

const char* code_name(Code c);

}  // namespace cg::gateway
