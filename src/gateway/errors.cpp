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
  }
  return "gateway.unknown";
}

}  // namespace cg::gateway
