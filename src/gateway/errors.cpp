#include "gateway/errors.h"

namespace cg::gateway {

const char* code_name(Code c) {
  switch (c) {
    case Code::kUnknownIdp:
      return "gateway.unknown_idp";
    case Code::kRelayState:
      return "gateway.relay_state";
    case Code::kPendingCookie:
      return "gateway.pending_cookie";
    case Code::kNoSamlResponse:
      return "gateway.no_saml_response";
    case Code::kStoreUnavailable:
      return "gateway.store_unavailable";
    case Code::kNotFound:
      return "gateway.not_found";
    case Code::kForbidden:
      return "gateway.forbidden";
    case Code::kUnauthenticated:
      return "gateway.unauthenticated";
    case Code::kLogout:
      return "gateway.logout";
    case Code::kBadRequest:
      return "gateway.bad_request";
    case Code::kTokenInvalid:
      return "gateway.token_invalid";
    case Code::kTokenExpired:
      return "gateway.token_expired";
    case Code::kTokenRevoked:
      return "gateway.token_revoked";
    case Code::kGrantInvalid:
      return "gateway.grant_invalid";
    case Code::kAgentScope:
      return "gateway.agent_scope";
    case Code::kTokensDisabled:
      return "gateway.tokens_disabled";
    case Code::kMetadataRefused:
      return "gateway.metadata_refused";
    case Code::kGraph:
      return "gateway.graph";
    case Code::kRateLimited:
      return "gateway.rate_limited";
    case Code::kForwardAuthRequest:
      return "gateway.forward_auth_request";
    case Code::kCrossSite:
      return "gateway.cross_site";
    case Code::kHeaderValue:
      return "gateway.header_value";
    case Code::kIdentityRequired:
      return "gateway.identity_required";
    case Code::kIdentityUnsigned:
      return "gateway.identity_unsigned";
    case Code::kTokenUnminted:
      return "gateway.token_unminted";
  }
  return "gateway.unknown";
}

}  // namespace cg::gateway
