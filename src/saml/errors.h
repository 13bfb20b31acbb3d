// Error codes of src/saml (4000-4999). Every SAML check has its own code; the codes, names and
// what to check on the IdP side are documented in docs/error-codes.md: a contract, not a detail.
// Codes from src/xml (3000s: parsing, signatures, encryption) reach users through here too.
#pragma once

#include "core/result.h"

namespace cg::saml {

enum class Code : int {
  kDecode = 4001,               // the input is not a base64 / form-encoded / XML SAML message
  kNotResponse = 4002,          // the root element is not samlp:Response
  kResponseVersion = 4003,      // Response Version is not 2.0
  kDestination = 4004,          // Response Destination is not our ACS URL
  kResponseIssuer = 4005,       // Response Issuer is not the IdP's entity id
  kStatus = 4006,               // Status is not Success
  kInResponseTo = 4007,         // InResponseTo is not the request we sent (or we sent none)
  kAssertionCount = 4008,       // not exactly one Assertion / EncryptedAssertion where it belongs
  kSignatureMissing = 4009,     // neither the Response nor the Assertion is signed
  kAssertionVersion = 4010,     // Assertion Version is not 2.0
  kAssertionIssuer = 4011,      // Assertion Issuer is not the IdP's entity id
  kTooOld = 4012,               // IssueInstant is older than the configured maximum age
  kIssuedInFuture = 4013,       // IssueInstant lies in the future, beyond the clock skew
  kSubjectMissing = 4014,       // no Subject / NameID
  kNoBearer = 4015,             // no bearer SubjectConfirmation
  kRecipient = 4016,            // SubjectConfirmationData Recipient is not our ACS URL
  kSubjectExpired = 4017,       // SubjectConfirmationData NotOnOrAfter has passed
  kSubjectInResponseTo = 4018,  // SubjectConfirmationData InResponseTo is not our request
  kNotYetValid = 4019,          // Conditions NotBefore lies in the future
  kExpired = 4020,              // Conditions NotOnOrAfter has passed
  kAudience = 4021,             // AudienceRestriction does not name our entity id
  kReplayed = 4022,             // this assertion id was accepted before
  kAuthnMissing = 4023,         // no AuthnStatement
  kSessionExpired = 4024,       // SessionNotOnOrAfter has passed
  kCertificateExpired = 4026,   // every signing certificate in the metadata has expired
  kMetadataExpired = 4027,      // the metadata is past its validUntil
  kMetadataInvalid = 4028,      // the metadata cannot be used (shape, missing parts)
  kIdMissing = 4029,            // a message or assertion has no ID
  kUnsolicited = 4030,          // an IdP-initiated response where none is allowed
  kMissingTimestamps = 4031,    // a required time attribute is absent or malformed
  kLogoutInvalid = 4032,        // a LogoutRequest / LogoutResponse fails a check
  kRedirectSignature = 4034,    // the Redirect-binding signature is missing or wrong
  kReplayCacheUnavailable = 4035,  // the replay cache could not be consulted (fail closed)
  kClaimsMissing = 4036,           // a claim the sign-in must carry is absent
  kGroupsOverage = 4037,           // Entra ID sent a link to the groups instead of the groups
  kSpKeys = 4038,                  // the SP's key pair files cannot be used
  kNoUserId = 4039,                // no user id source (saml.idps[].user_id) yields a value
  kSpNameQualifier = 4040,         // a NameID's SPNameQualifier names another SP than ours
};

const char* code_name(Code c);

}  // namespace cg::saml
