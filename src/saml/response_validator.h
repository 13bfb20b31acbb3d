// Validates a SAML 2.0 Response: every item of the checklist in DESIGN.md, each a named check
// with a stable error code and a sentence that says what was expected and what arrived.
//
// Thread-safe: one validator per IdP, built once from compiled settings, shared by all
// requests. One evaluation time per message, taken from the injected clock.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "crypto/keys.h"
#include "saml/identity.h"
#include "saml/replay_cache.h"
#include "xml/document.h"

namespace cg::saml {

// Our side, compiled from config.
struct SpSettings {
  std::string entity_id;
  std::string affiliation_id = {};  // saml.sp.affiliation_id: also a valid SPNameQualifier
  std::string acs_url;
  std::vector<crypto::PrivateKey>
      decryption_keys;  // current first, then the next during a rollover
  std::chrono::seconds clock_skew{180};
  std::chrono::seconds max_assertion_age{300};
  bool allow_missing_audience = false;
  bool allow_rsa15 = false;
  xml::ParseLimits limits;
};

// What we trust of one IdP, compiled from its metadata and settings.
struct IdpSettings {
  std::string entity_id;
  std::vector<crypto::Certificate> signing_certs;
  bool allow_sha1 = false;
  bool allow_unsolicited = false;  // IdP-initiated sign-in
  // The metadata's validUntil: past it, the keys it vouches for are not trusted (a refreshed
  // document should have replaced it).
  std::optional<core::WallTime> metadata_valid_until;
  // saml.idps[].allow_tripledes: this IdP may encrypt assertions and NameIDs with 3DES-CBC.
  bool allow_tripledes = false;
};

struct Check {
  enum class Outcome { kPass, kFail, kSkip };
  std::string name;
  Outcome outcome = Outcome::kPass;
  std::string detail;
};
const char* outcome_name(Check::Outcome o);

struct ValidationReport {
  std::vector<Check> checks;         // in the order run; stops at the first failure
  std::optional<Identity> identity;  // set when accepted
  std::optional<Error> error;        // set when rejected
  // What the message says of itself, NOT verified: only for the audit record of a failure.
  std::string claimed_issuer;
  std::string claimed_assertion_id;
  bool ok() const { return identity.has_value(); }
};

class ResponseValidator {
 public:
  // `replay` may be null (no replay protection: the CLI's one-shot validation).
  ResponseValidator(SpSettings sp, IdpSettings idp, ReplayCache* replay, const core::Clock& clock);

  // `xml` is the decoded Response; `request_id` the ID of the AuthnRequest it must answer, or
  // nullopt for an unsolicited (IdP-initiated) response.
  ValidationReport validate(std::string_view xml,
                            const std::optional<std::string>& request_id) const;
  // The same, starting from what the browser posted: base64, a form body, or raw XML.
  ValidationReport validate_posted(std::string_view posted,
                                   const std::optional<std::string>& request_id) const;

  const SpSettings& sp() const { return sp_; }
  const IdpSettings& idp() const { return idp_; }

 private:
  SpSettings sp_;
  IdpSettings idp_;
  ReplayCache* replay_;
  const core::Clock& clock_;
};

}  // namespace cg::saml
