#include "saml/response_validator.h"

#include <algorithm>

#include "core/encoding.h"
#include "core/time.h"
#include "saml/bindings.h"
#include "saml/errors.h"
#include "saml/name_id.h"
#include "xml/encryption.h"
#include "xml/errors.h"
#include "xml/names.h"
#include "xml/node.h"
#include "xml/signature.h"

namespace cg::saml {
namespace {

namespace ns = xml::ns;
using core::clip;
using std::chrono::seconds;
using xml::attr;
using xml::first_child;

constexpr const char* kStatusSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success";
constexpr const char* kBearer = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
constexpr const char* kEntityFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

std::string quoted(std::string_view s) { return s.empty() ? "nothing" : "'" + clip(s) + "'"; }
std::string when(core::WallTime t) { return core::format_datetime(t); }
std::string secs(seconds s) { return std::to_string(s.count()) + " s"; }

// One message's validation: the state the checks share, and the record of them.
class Run {
 public:
  Run(const SpSettings& sp, const IdpSettings& idp, ReplayCache* replay, core::WallTime now,
      const std::optional<std::string>& request_id)
      : sp_(sp), idp_(idp), replay_(replay), now_(now), request_id_(request_id) {}

  ValidationReport report;

  // Runs one named check; false (and the report closed) when it failed.
  template <class F>
  bool check(const char* name, F&& f) {
    Status st = f();
    if (st) {
      report.checks.push_back({name, Check::Outcome::kPass, std::move(detail_)});
      detail_.clear();
      return true;
    }
    report.checks.push_back({name, Check::Outcome::kFail, st.error().message});
    report.error = st.take_error();
    return false;
  }
  void skip(const char* name, std::string why) {
    report.checks.push_back({name, Check::Outcome::kSkip, std::move(why)});
  }

  void run(std::string_view xml_text);

 private:
  Result<core::WallTime> time_attr(xmlNode* n, const char* name, bool required);
  Status check_assertion_count();
  Status check_response_signature();
  Status check_destination();
  Status check_response_issuer();
  Status check_status();
  Status check_response_in_response_to();
  Status decrypt_assertion();
  Status check_assertion_signature();
  Status check_signed();
  Status check_assertion_basics();
  Status check_issuer();
  Status check_issue_instant();
  Status check_name_id();
  Status check_subject_confirmation();
  Status check_bearer(xmlNode* data);
  Status check_conditions_time();
  Status check_audience();
  Status check_authn_statement();
  Status check_replay();
  void read_attributes();

  const SpSettings& sp_;
  const IdpSettings& idp_;
  ReplayCache* replay_;
  const core::WallTime now_;
  const std::optional<std::string>& request_id_;

  xml::Document doc_;
  xmlNode* response_ = nullptr;
  xmlNode* assertion_ = nullptr;  // after decryption, the element identity is read from
  bool response_signed_ = false, assertion_signed_ = false, encrypted_ = false;
  core::WallTime not_on_or_after_ = core::WallTime::max();
  Identity id_;
  std::string detail_;  // a note for the check that just passed
};

void Run::run(std::string_view xml_text) {
  if (!check("xml.parse", [&]() -> Status {
        CG_TRY(doc_, xml::Document::parse(xml_text, sp_.limits));
        return {};
      }))
    return;
  response_ = doc_.root();
  if (!check("response.element", [&]() -> Status {
        if (!xml::is(response_, ns::kSamlp, "Response"))
          return fail(Code::kNotResponse, "the message is <" +
                                              std::string(xml::local_name(response_)) +
                                              "> in namespace " + quoted(xml::ns_uri(response_)) +
                                              ", not a SAML 2.0 <samlp:Response>");
        return {};
      }))
    return;
  if (xmlNode* iss = first_child(response_, ns::kSaml, "Issuer")) {
    report.claimed_issuer = clip(xml::trimmed_text(iss));
  }
  if (xmlNode* a = first_child(response_, ns::kSaml, "Assertion")) {
    report.claimed_assertion_id = clip(attr(a, "ID"));
    xmlNode* iss = first_child(a, ns::kSaml, "Issuer");
    if (iss && report.claimed_issuer.empty()) report.claimed_issuer = clip(xml::trimmed_text(iss));
  }
  if (!check("response.version", [&]() -> Status {
        std::string v = attr(response_, "Version");
        if (v != "2.0")
          return fail(Code::kResponseVersion,
                      "Response Version is " + quoted(v) + "; expected '2.0'");
        id_.response_id = attr(response_, "ID");
        if (id_.response_id.empty())
          return fail(Code::kIdMissing, "the Response has no ID attribute");
        return {};
      }))
    return;
  // An IdP's error response carries no assertion: its status is what explains the failure.
  // Read before anything is verified, it can only make us refuse, never accept.
  if (!check("response.status", [&] { return check_status(); })) return;
  if (!check("assertion.count", [&] { return check_assertion_count(); })) return;
  if (!check("idp.metadata", [&]() -> Status {
        // The keys below are trusted only while the metadata that vouches for them is valid.
        if (idp_.metadata_valid_until && now_ >= *idp_.metadata_valid_until)
          return fail(Code::kMetadataExpired,
                      "the metadata of " + idp_.entity_id + " passed its validUntil at " +
                          when(*idp_.metadata_valid_until) +
                          " and no newer document is in force; now is " + when(now_) +
                          " (with metadata_url the gateway fetches one: see its log)");
        return {};
      }))
    return;
  if (!check("response.signature", [&] { return check_response_signature(); })) return;
  if (!check("response.destination", [&] { return check_destination(); })) return;
  if (!check("response.issuer", [&] { return check_response_issuer(); })) return;
  if (!check("response.in_response_to", [&] { return check_response_in_response_to(); })) return;
  if (encrypted_) {
    if (!check("assertion.decrypt", [&] { return decrypt_assertion(); })) return;
  } else {
    skip("assertion.decrypt", "the assertion is not encrypted");
  }
  if (!check("assertion.signature", [&] { return check_assertion_signature(); })) return;
  if (!check("signature.required", [&] { return check_signed(); })) return;
  if (!check("assertion.version", [&] { return check_assertion_basics(); })) return;
  if (!check("assertion.issuer", [&] { return check_issuer(); })) return;
  if (!check("assertion.issue_instant", [&] { return check_issue_instant(); })) return;
  if (!check("subject.name_id", [&] { return check_name_id(); })) return;
  if (!check("subject.confirmation", [&] { return check_subject_confirmation(); })) return;
  if (!check("conditions.validity", [&] { return check_conditions_time(); })) return;
  if (!check("conditions.audience", [&] { return check_audience(); })) return;
  if (!check("authn.statement", [&] { return check_authn_statement(); })) return;
  read_attributes();
  if (replay_) {
    if (!check("assertion.replay", [&] { return check_replay(); })) return;
  } else {
    skip("assertion.replay", "no replay cache (one-shot validation)");
  }
  id_.idp_entity_id = idp_.entity_id;
  id_.not_on_or_after = not_on_or_after_;
  id_.response_signed = response_signed_;
  id_.assertion_signed = assertion_signed_;
  id_.encrypted = encrypted_;
  report.identity = std::move(id_);
}

Result<core::WallTime> Run::time_attr(xmlNode* n, const char* name, bool required) {
  std::string v = attr(n, name);
  if (v.empty()) {
    if (required)
      return fail(Code::kMissingTimestamps,
                  "<" + std::string(xml::local_name(n)) + "> has no " + name + " attribute");
    return core::WallTime::min();
  }
  auto t = core::parse_datetime(v);
  if (!t)
    return fail(Code::kMissingTimestamps,
                std::string(xml::local_name(n)) + "/@" + name + ": " + t.error().message);
  return *t;
}

// Exactly one Assertion or EncryptedAssertion in the whole document, as a direct child of the
// Response. Wrapping attacks (XSW) all add a second one somewhere; Advice can nest one too.
Status Run::check_assertion_count() {
  auto plain = xml::descendants(response_, ns::kSaml, "Assertion");
  auto enc = xml::descendants(response_, ns::kSaml, "EncryptedAssertion");
  size_t total = plain.size() + enc.size();
  if (total != 1) {
    std::string where;
    for (auto* n : plain) where += (where.empty() ? "" : ", ") + xml::path_of(n);
    for (auto* n : enc) where += (where.empty() ? "" : ", ") + xml::path_of(n);
    return fail(Code::kAssertionCount,
                "expected exactly one Assertion or EncryptedAssertion, found " +
                    std::to_string(total) + (where.empty() ? "" : " (" + where + ")"));
  }
  xmlNode* a = plain.empty() ? enc.front() : plain.front();
  if (xml::parent_element(a) != response_)
    return fail(Code::kAssertionCount, "the assertion is at " + xml::path_of(a) +
                                           "; it must be a direct child of the Response");
  encrypted_ = !enc.empty();
  assertion_ = a;
  detail_ = encrypted_ ? "one EncryptedAssertion" : "one Assertion";
  return {};
}

Status Run::check_response_signature() {
  CG_TRY(xmlNode * sig, xml::find_signature(response_));
  if (!sig) {
    detail_ = "the Response is not signed";
    return {};
  }
  CG_TRY(auto v,
         xml::verify_enveloped(doc_, response_, sig, idp_.signing_certs, {idp_.allow_sha1}));
  response_signed_ = true;
  detail_ = "signed with " + v.signature_method + " by certificate " + v.certificate_fingerprint;
  return {};
}

Status Run::check_destination() {
  std::string dest = attr(response_, "Destination");
  if (dest.empty()) {
    if (response_signed_)
      return fail(Code::kDestination,
                  "the Response is signed but has no Destination; expected '" + sp_.acs_url + "'");
    detail_ = "no Destination (allowed on an unsigned Response)";
    return {};
  }
  if (dest != sp_.acs_url)
    return fail(Code::kDestination,
                "Destination '" + clip(dest) + "' is not this SP's ACS URL '" + sp_.acs_url + "'");
  return {};
}

Status Run::check_response_issuer() {
  xmlNode* issuer = first_child(response_, ns::kSaml, "Issuer");
  if (!issuer) {
    detail_ = "no Issuer on the Response (optional there)";
    return {};
  }
  std::string v = xml::trimmed_text(issuer);
  std::string fmt = attr(issuer, "Format");
  if (!fmt.empty() && fmt != kEntityFormat)
    return fail(Code::kResponseIssuer,
                "Response Issuer has Format '" + clip(fmt) + "'; expected " + kEntityFormat);
  if (v != idp_.entity_id)
    return fail(Code::kResponseIssuer, "Response Issuer " + quoted(v) +
                                           " is not the IdP's entity id '" + idp_.entity_id + "'");
  return {};
}

Status Run::check_status() {
  xmlNode* code =
      first_child(first_child(response_, ns::kSamlp, "Status"), ns::kSamlp, "StatusCode");
  std::string v = attr(code, "Value");
  if (v == kStatusSuccess) return {};
  std::string msg = "the IdP answered with status " + quoted(v);
  if (xmlNode* sub = first_child(code, ns::kSamlp, "StatusCode"))
    msg += " / " + quoted(attr(sub, "Value"));
  std::string text = xml::trimmed_text(
      first_child(first_child(response_, ns::kSamlp, "Status"), ns::kSamlp, "StatusMessage"));
  if (!text.empty()) msg += ": " + clip(text);
  return fail(Code::kStatus, msg + "; expected " + kStatusSuccess);
}

Status Run::check_response_in_response_to() {
  std::string irt = attr(response_, "InResponseTo");
  if (request_id_) {
    if (!irt.empty() && irt != *request_id_)
      return fail(Code::kInResponseTo, "the Response answers request " + quoted(irt) +
                                           ", not ours '" + *request_id_ + "'");
    return {};
  }
  if (!irt.empty())
    return fail(Code::kInResponseTo,
                "the Response answers request " + quoted(irt) +
                    ", but no sign-in request of ours is pending for it (expired, used already, "
                    "or started in another browser)");
  if (!idp_.allow_unsolicited)
    return fail(Code::kUnsolicited,
                "the Response is unsolicited (IdP-initiated) and this IdP is not allowed to "
                "start sign-ins; start from the application, or enable IdP-initiated sign-in");
  detail_ = "unsolicited (IdP-initiated) response";
  return {};
}

Status Run::decrypt_assertion() {
  xmlNode* data = first_child(assertion_, ns::kXenc, "EncryptedData");
  if (!data)
    return fail(xml::Code::kEncryptionStructure,
                "<EncryptedAssertion> holds no <xenc:EncryptedData>");
  CG_TRY(auto plain,
         xml::decrypt(data, sp_.decryption_keys, {sp_.allow_rsa15, idp_.allow_tripledes}));
  CG_TRY(xmlNode * a, doc_.replace_with_fragment(assertion_, plain.plaintext, sp_.limits));
  assertion_ = a;
  if (!xml::is(a, ns::kSaml, "Assertion") ||
      xml::descendants(a, ns::kSaml, "Assertion").size() != 1 ||
      !xml::descendants(a, ns::kSaml, "EncryptedAssertion").empty())
    return fail(Code::kAssertionCount,
                "the decrypted content is not exactly one <saml:Assertion> (got <" +
                    std::string(xml::local_name(a)) + "> in " + quoted(xml::ns_uri(a)) + ")");
  detail_ = "decrypted (" + plain.data_algorithm + ", key transport " + plain.key_transport + ")";
  return {};
}

Status Run::check_assertion_signature() {
  CG_TRY(xmlNode * sig, xml::find_signature(assertion_));
  if (!sig) {
    detail_ = "the Assertion is not signed";
    return {};
  }
  CG_TRY(auto v,
         xml::verify_enveloped(doc_, assertion_, sig, idp_.signing_certs, {idp_.allow_sha1}));
  assertion_ = v.element;  // read identity only from the element the verifier returned
  assertion_signed_ = true;
  detail_ = "signed with " + v.signature_method + " by certificate " + v.certificate_fingerprint;
  return {};
}

Status Run::check_signed() {
  if (!response_signed_ && !assertion_signed_)
    return fail(Code::kSignatureMissing,
                "neither the Response nor the Assertion is signed; the IdP must sign one "
                "of them (or both)");
  detail_ = response_signed_ && assertion_signed_ ? "Response and Assertion signed"
            : response_signed_                    ? "Response signed (covers the Assertion)"
                                                  : "Assertion signed";
  return {};
}

Status Run::check_assertion_basics() {
  std::string v = attr(assertion_, "Version");
  if (v != "2.0")
    return fail(Code::kAssertionVersion, "Assertion Version is " + quoted(v) + "; expected '2.0'");
  id_.assertion_id = attr(assertion_, "ID");
  if (id_.assertion_id.empty()) return fail(Code::kIdMissing, "the Assertion has no ID attribute");
  return {};
}

Status Run::check_issuer() {
  xmlNode* issuer = first_child(assertion_, ns::kSaml, "Issuer");
  std::string v = xml::trimmed_text(issuer);
  if (!issuer || v != idp_.entity_id)
    return fail(Code::kAssertionIssuer, "Assertion Issuer " + quoted(v) +
                                            " is not the IdP's entity id '" + idp_.entity_id + "'");
  return {};
}

Status Run::check_issue_instant() {
  CG_TRY(auto t, time_attr(assertion_, "IssueInstant", true));
  id_.issue_instant = t;
  if (t > now_ + sp_.clock_skew)
    return fail(Code::kIssuedInFuture,
                "the assertion was issued at " + when(t) + ", in the future (now " + when(now_) +
                    ", allowed clock skew " + secs(sp_.clock_skew) + "); check the IdP's clock");
  if (t + sp_.max_assertion_age + sp_.clock_skew < now_)
    return fail(Code::kTooOld, "the assertion was issued at " + when(t) + ", more than " +
                                   secs(sp_.max_assertion_age) + " (+ " + secs(sp_.clock_skew) +
                                   " skew) before now (" + when(now_) + ")");
  return {};
}

Status Run::check_name_id() {
  xmlNode* subject = first_child(assertion_, ns::kSaml, "Subject");
  if (!subject) return fail(Code::kSubjectMissing, "the assertion has no <Subject>");
  // A NameID, or an EncryptedID decrypted in place (the assertion's signature, checked above,
  // covers it), whose SPNameQualifier, when sent, names this SP.
  NameIdRules rules;
  rules.sp_entity_id = sp_.entity_id;
  rules.affiliation_id = sp_.affiliation_id;
  rules.decryption_keys = sp_.decryption_keys;
  rules.allow_rsa15 = sp_.allow_rsa15;
  rules.allow_tripledes = idp_.allow_tripledes;
  rules.limits = sp_.limits;
  rules.where = "the assertion's <Subject>";
  CG_TRY(NameId nid, read_name_id(doc_, subject, rules));
  id_.name_id = std::move(nid.value);
  id_.name_id_format = std::move(nid.format);
  id_.name_qualifier = std::move(nid.name_qualifier);
  id_.sp_name_qualifier = std::move(nid.sp_name_qualifier);
  if (nid.encrypted) detail_ = "EncryptedID " + nid.decrypted;
  return {};
}

Status Run::check_bearer(xmlNode* data) {
  if (!data)
    return fail(Code::kNoBearer, "the bearer SubjectConfirmation has no SubjectConfirmationData");
  std::string recipient = attr(data, "Recipient");
  if (recipient != sp_.acs_url)
    return fail(Code::kRecipient, "bearer confirmation failed with recipient mismatch: Recipient " +
                                      quoted(recipient) + ", expected this SP's ACS URL '" +
                                      sp_.acs_url + "'");
  CG_TRY(auto nooa, time_attr(data, "NotOnOrAfter", true));
  if (now_ >= nooa + sp_.clock_skew)
    return fail(Code::kSubjectExpired, "bearer confirmation expired at " + when(nooa) + " (now " +
                                           when(now_) + ", clock skew " + secs(sp_.clock_skew) +
                                           ")");
  CG_TRY(auto nb, time_attr(data, "NotBefore", false));
  if (nb != core::WallTime::min() && now_ + sp_.clock_skew < nb)
    return fail(Code::kNotYetValid, "bearer confirmation is not valid before " + when(nb) +
                                        " (now " + when(now_) + ")");
  std::string irt = attr(data, "InResponseTo");
  if (request_id_) {
    if (irt != *request_id_)
      return fail(Code::kSubjectInResponseTo, "bearer confirmation answers request " + quoted(irt) +
                                                  "; expected '" + *request_id_ + "'");
  } else if (!irt.empty()) {
    return fail(Code::kSubjectInResponseTo,
                "bearer confirmation answers request " + quoted(irt) +
                    ", but no sign-in request of ours is pending for it");
  }
  not_on_or_after_ = std::min(not_on_or_after_, nooa);
  id_.in_response_to = irt;  // from the signed assertion, not the Response attribute
  return {};
}

// Accept the first bearer confirmation that passes every rule; report the first one's failure.
Status Run::check_subject_confirmation() {
  xmlNode* subject = first_child(assertion_, ns::kSaml, "Subject");
  std::optional<Error> first_error;
  for (xmlNode* sc : xml::children(subject, ns::kSaml, "SubjectConfirmation")) {
    if (attr(sc, "Method") != kBearer) continue;
    auto st = check_bearer(first_child(sc, ns::kSaml, "SubjectConfirmationData"));
    if (st) return {};
    if (!first_error) first_error = st.take_error();
  }
  if (first_error) return ::cg::fail(std::move(*first_error));
  return fail(Code::kNoBearer, "the assertion has no SubjectConfirmation with Method '" +
                                   std::string(kBearer) + "'");
}

Status Run::check_conditions_time() {
  xmlNode* cond = first_child(assertion_, ns::kSaml, "Conditions");
  if (!cond) {
    detail_ = "no Conditions";
    return {};
  }
  CG_TRY(auto nb, time_attr(cond, "NotBefore", false));
  if (nb != core::WallTime::min() && now_ + sp_.clock_skew < nb)
    return fail(Code::kNotYetValid, "the assertion is not valid before " + when(nb) + " (now " +
                                        when(now_) + ", clock skew " + secs(sp_.clock_skew) +
                                        "); check the clocks");
  CG_TRY(auto nooa, time_attr(cond, "NotOnOrAfter", false));
  if (nooa != core::WallTime::min()) {
    if (now_ >= nooa + sp_.clock_skew)
      return fail(Code::kExpired, "the assertion expired at " + when(nooa) + " (now " + when(now_) +
                                      ", clock skew " + secs(sp_.clock_skew) + ")");
    not_on_or_after_ = std::min(not_on_or_after_, nooa);
  }
  return {};
}

// Every AudienceRestriction must name us (several restrictions are a conjunction).
Status Run::check_audience() {
  xmlNode* cond = first_child(assertion_, ns::kSaml, "Conditions");
  auto restrictions = xml::children(cond, ns::kSaml, "AudienceRestriction");
  if (restrictions.empty()) {
    if (sp_.allow_missing_audience) {
      detail_ = "no AudienceRestriction (allowed by configuration)";
      return {};
    }
    return fail(Code::kAudience, "the assertion has no AudienceRestriction; expected one naming '" +
                                     sp_.entity_id + "'");
  }
  for (xmlNode* r : restrictions) {
    std::vector<std::string> seen;
    bool ours = false;
    for (xmlNode* a : xml::children(r, ns::kSaml, "Audience")) {
      seen.push_back(xml::trimmed_text(a));
      ours = ours || seen.back() == sp_.entity_id;
    }
    if (!ours) {
      std::string list;
      for (const auto& s : seen) list += (list.empty() ? "'" : ", '") + clip(s) + "'";
      return fail(Code::kAudience, "Audience " + (list.empty() ? std::string("(none)") : list) +
                                       " does not match this SP's entity id '" + sp_.entity_id +
                                       "'");
    }
  }
  return {};
}

Status Run::check_authn_statement() {
  auto statements = xml::children(assertion_, ns::kSaml, "AuthnStatement");
  if (statements.empty())
    return fail(Code::kAuthnMissing,
                "the assertion has no AuthnStatement: it does not say the user signed in");
  xmlNode* s = statements.front();
  CG_TRY(id_.authn_instant, time_attr(s, "AuthnInstant", true));
  id_.session_index = attr(s, "SessionIndex");
  CG_TRY(auto snooa, time_attr(s, "SessionNotOnOrAfter", false));
  if (snooa != core::WallTime::min()) {
    if (now_ >= snooa)
      return fail(Code::kSessionExpired, "the IdP session ended at " + when(snooa) +
                                             " (SessionNotOnOrAfter); now is " + when(now_));
    id_.session_not_on_or_after = snooa;
  }
  id_.authn_context_class = xml::trimmed_text(
      first_child(first_child(s, ns::kSaml, "AuthnContext"), ns::kSaml, "AuthnContextClassRef"));
  return {};
}

void Run::read_attributes() {
  for (xmlNode* st : xml::children(assertion_, ns::kSaml, "AttributeStatement")) {
    for (xmlNode* a : xml::children(st, ns::kSaml, "Attribute")) {
      std::string name = attr(a, "Name");
      auto it = std::find_if(id_.attributes.begin(), id_.attributes.end(),
                             [&](const Attribute& x) { return x.name == name; });
      if (it == id_.attributes.end()) {
        id_.attributes.push_back(
            {name, attr(a, "FriendlyName"), std::string(claim_alias(name)), {}});
        it = id_.attributes.end() - 1;
        if (it->alias.empty()) it->alias = std::string(claim_alias(it->friendly_name));
      }
      for (xmlNode* v : xml::children(a, ns::kSaml, "AttributeValue")) {
        std::string value = xml::text(v);
        if (std::find(it->values.begin(), it->values.end(), value) == it->values.end())
          it->values.push_back(std::move(value));
      }
      if (name == kEntraGroupsLink && !it->values.empty())
        id_.groups_overage_link = it->values.front();
    }
  }
}

Status Run::check_replay() {
  // Remembered while the assertion could be accepted: until its NotOnOrAfter, but never past
  // IssueInstant + max_assertion_age (it is too old after that), so a NotOnOrAfter in 9999 does
  // not keep an entry for millennia.
  core::WallTime expires = std::min(not_on_or_after_, id_.issue_instant + sp_.max_assertion_age);
  auto fresh = replay_->insert_if_absent(idp_.entity_id + "|" + id_.assertion_id,
                                         expires + sp_.clock_skew, now_);
  if (!fresh)
    return fail(Code::kReplayCacheUnavailable,
                "the replay cache cannot be consulted: " + fresh.error().message);
  if (!*fresh)
    return fail(Code::kReplayed, "assertion " + quoted(id_.assertion_id) +
                                     " was already used to sign in; a response "
                                     "cannot be posted twice");
  return {};
}

}  // namespace

const char* outcome_name(Check::Outcome o) {
  switch (o) {
    case Check::Outcome::kPass:
      return "pass";
    case Check::Outcome::kFail:
      return "fail";
    case Check::Outcome::kSkip:
      return "skip";
  }
  return "?";
}

ResponseValidator::ResponseValidator(SpSettings sp, IdpSettings idp, ReplayCache* replay,
                                     const core::Clock& clock)
    : sp_(std::move(sp)), idp_(std::move(idp)), replay_(replay), clock_(clock) {
  xml::ensure_initialized();
}

ValidationReport ResponseValidator::validate(std::string_view xml_text,
                                             const std::optional<std::string>& request_id) const {
  Run run(sp_, idp_, replay_, clock_.now(), request_id);
  run.run(xml_text);
  return std::move(run.report);
}

ValidationReport ResponseValidator::validate_posted(
    std::string_view posted, const std::optional<std::string>& request_id) const {
  auto xml_text = decode_post_message(posted, "SAMLResponse", sp_.limits.max_bytes);
  if (!xml_text) {
    ValidationReport r;
    r.checks.push_back({"decode", Check::Outcome::kFail, xml_text.error().message});
    r.error = xml_text.take_error();
    return r;
  }
  auto r = validate(*xml_text, request_id);
  r.checks.insert(r.checks.begin(), {"decode", Check::Outcome::kPass, ""});
  return r;
}

}  // namespace cg::saml
