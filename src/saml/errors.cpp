#include "saml/errors.h"

namespace cg::saml {

const char* code_name(Code c) {
  switch (c) {
    case Code::kDecode:
      return "response.decode";
    case Code::kNotResponse:
      return "response.not_response";
    case Code::kResponseVersion:
      return "response.version";
    case Code::kDestination:
      return "response.destination";
    case Code::kResponseIssuer:
      return "response.issuer";
    case Code::kStatus:
      return "response.status";
    case Code::kInResponseTo:
      return "response.in_response_to";
    case Code::kAssertionCount:
      return "assertion.count";
    case Code::kSignatureMissing:
      return "signature.missing";
    case Code::kAssertionVersion:
      return "assertion.version";
    case Code::kAssertionIssuer:
      return "assertion.issuer";
    case Code::kTooOld:
      return "assertion.too_old";
    case Code::kIssuedInFuture:
      return "assertion.issued_in_future";
    case Code::kSubjectMissing:
      return "subject.missing";
    case Code::kNoBearer:
      return "subject.no_bearer";
    case Code::kRecipient:
      return "subject.recipient";
    case Code::kSubjectExpired:
      return "subject.expired";
    case Code::kSubjectInResponseTo:
      return "subject.in_response_to";
    case Code::kNotYetValid:
      return "conditions.not_yet_valid";
    case Code::kExpired:
      return "conditions.expired";
    case Code::kAudience:
      return "conditions.audience";
    case Code::kReplayed:
      return "assertion.replayed";
    case Code::kAuthnMissing:
      return "authn.missing";
    case Code::kSessionExpired:
      return "authn.session_expired";
    case Code::kCertificateExpired:
      return "idp.certificate_expired";
    case Code::kMetadataExpired:
      return "idp.metadata_expired";
    case Code::kMetadataInvalid:
      return "idp.metadata_invalid";
    case Code::kIdMissing:
      return "message.id_missing";
    case Code::kUnsolicited:
      return "response.unsolicited";
    case Code::kMissingTimestamps:
      return "message.time";
    case Code::kLogoutInvalid:
      return "logout.invalid";
    case Code::kRedirectSignature:
      return "binding.signature";
    case Code::kReplayCacheUnavailable:
      return "replay_cache.unavailable";
    case Code::kClaimsMissing:
      return "claims.missing";
    case Code::kGroupsOverage:
      return "claims.groups_overage";
    case Code::kNoUserId:
      return "claims.no_user_id";
    case Code::kSpNameQualifier:
      return "subject.sp_name_qualifier";
    case Code::kSpKeys:
      return "sp.keys";
  }
  return "saml.unknown";
}

}  // namespace cg::saml
