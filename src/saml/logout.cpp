#include "saml/logout.h"

#include "core/encoding.h"
#include "core/time.h"
#include "saml/errors.h"
#include "saml/name_id.h"
#include "xml/document.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::saml {
namespace {

namespace ns = xml::ns;
using xml::attr;
using xml::escape;
using xml::first_child;

constexpr const char* kSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success";

std::string header(const char* element, const std::string& id, const std::string& destination,
                   core::WallTime now) {
  return std::string("<samlp:") + element + " xmlns:samlp=\"" + ns::kSamlp + "\" xmlns:saml=\"" +
         ns::kSaml + "\" ID=\"" + id + "\" Version=\"2.0\" IssueInstant=\"" +
         core::format_datetime(now) + "\" Destination=\"" + escape(destination) + "\"";
}

Unexpected<Error> bad(const std::string& msg) { return fail(Code::kLogoutInvalid, msg); }

// The checks both logout messages share: signature, element, version, issuer, destination, age.
Result<xml::Document> common_checks(const RedirectMessage& m, const char* element,
                                    const IdpSettings& idp, const LogoutCheckSettings& s,
                                    core::WallTime now) {
  CG_CHECK(verify_redirect_signature(m, idp.signing_certs, idp.allow_sha1));
  CG_TRY(auto doc, xml::Document::parse(m.xml));
  xmlNode* root = doc.root();
  if (!xml::is(root, ns::kSamlp, element))
    return bad("expected <samlp:" + std::string(element) + ">, got <" +
               std::string(xml::local_name(root)) + ">");
  if (attr(root, "Version") != "2.0") return bad(std::string(element) + " Version is not 2.0");
  if (attr(root, "ID").empty()) return fail(Code::kIdMissing, std::string(element) + " has no ID");
  std::string issuer = xml::trimmed_text(first_child(root, ns::kSaml, "Issuer"));
  if (issuer != idp.entity_id)
    return bad(std::string(element) + " Issuer '" + core::clip(issuer) +
               "' is not the IdP's entity id '" + idp.entity_id + "'");
  std::string dest = attr(root, "Destination");
  if (dest != s.slo_url)
    return bad(std::string(element) + " Destination '" + core::clip(dest) +
               "' is not our SLO URL '" + s.slo_url + "'");
  auto t = core::parse_datetime(attr(root, "IssueInstant"));
  if (!t)
    return fail(Code::kMissingTimestamps,
                std::string(element) + " IssueInstant: " + t.error().message);
  if (*t > now + s.clock_skew)
    return fail(Code::kIssuedInFuture, std::string(element) + " was issued in the future (" +
                                           core::format_datetime(*t) + ")");
  if (*t + s.max_age + s.clock_skew < now)
    return fail(Code::kTooOld, std::string(element) + " was issued at " +
                                   core::format_datetime(*t) + ", too long ago");
  return doc;
}

}  // namespace

BuiltMessage build_logout_request(const SpConfig& sp, const LogoutRequestSpec& spec,
                                  core::Random& random, core::WallTime now) {
  BuiltMessage m{random.xml_id(160), {}};
  m.xml = header("LogoutRequest", m.id, spec.destination, now) + "><saml:Issuer>" +
          escape(sp.entity_id) + "</saml:Issuer><saml:NameID";
  if (!spec.name_qualifier.empty())
    m.xml += " NameQualifier=\"" + escape(spec.name_qualifier) + "\"";
  if (!spec.sp_name_qualifier.empty())
    m.xml += " SPNameQualifier=\"" + escape(spec.sp_name_qualifier) + "\"";
  if (!spec.name_id_format.empty()) m.xml += " Format=\"" + escape(spec.name_id_format) + "\"";
  m.xml += ">" + escape(spec.name_id) + "</saml:NameID>";
  if (!spec.session_index.empty())
    m.xml += "<samlp:SessionIndex>" + escape(spec.session_index) + "</samlp:SessionIndex>";
  m.xml += "</samlp:LogoutRequest>";
  return m;
}

BuiltMessage build_logout_response(const SpConfig& sp, const std::string& destination,
                                   const std::string& in_response_to, bool success,
                                   core::Random& random, core::WallTime now) {
  BuiltMessage m{random.xml_id(160), {}};
  m.xml = header("LogoutResponse", m.id, destination, now) + " InResponseTo=\"" +
          escape(in_response_to) + "\"><saml:Issuer>" + escape(sp.entity_id) +
          "</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"" +
          (success ? kSuccess : "urn:oasis:names:tc:SAML:2.0:status:Responder") +
          "\"/></samlp:Status></samlp:LogoutResponse>";
  return m;
}

Result<LogoutRequestInfo> validate_logout_request(const RedirectMessage& m, const IdpSettings& idp,
                                                  const LogoutCheckSettings& s,
                                                  core::WallTime now) {
  CG_TRY(auto doc, common_checks(m, "LogoutRequest", idp, s, now));
  xmlNode* root = doc.root();
  std::string nooa = attr(root, "NotOnOrAfter");
  if (!nooa.empty()) {
    auto t = core::parse_datetime(nooa);
    if (!t)
      return fail(Code::kMissingTimestamps, "LogoutRequest NotOnOrAfter: " + t.error().message);
    if (now >= *t + s.clock_skew)
      return fail(Code::kExpired, "the LogoutRequest expired at " + core::clip(nooa));
  }
  LogoutRequestInfo info;
  info.id = attr(root, "ID");
  info.issuer = idp.entity_id;
  NameIdRules rules;
  rules.sp_entity_id = s.sp_entity_id;
  rules.affiliation_id = s.affiliation_id;
  rules.decryption_keys = s.decryption_keys;
  rules.allow_rsa15 = s.allow_rsa15;
  rules.allow_tripledes = idp.allow_tripledes;
  rules.where = "the LogoutRequest";
  CG_TRY(NameId nid, read_name_id(doc, root, rules));
  info.name_id = std::move(nid.value);
  info.name_id_format = std::move(nid.format);
  info.name_qualifier = std::move(nid.name_qualifier);
  info.sp_name_qualifier = std::move(nid.sp_name_qualifier);
  for (xmlNode* si : xml::children(root, ns::kSamlp, "SessionIndex"))
    info.session_indexes.push_back(xml::trimmed_text(si));
  info.relay_state = m.relay_state;
  return info;
}

Result<LogoutResponseInfo> validate_logout_response(const RedirectMessage& m,
                                                    const IdpSettings& idp,
                                                    const LogoutCheckSettings& s,
                                                    const std::string& expected_request_id,
                                                    core::WallTime now) {
  CG_TRY(auto doc, common_checks(m, "LogoutResponse", idp, s, now));
  xmlNode* root = doc.root();
  LogoutResponseInfo info;
  info.id = attr(root, "ID");
  info.issuer = idp.entity_id;
  info.in_response_to = attr(root, "InResponseTo");
  if (info.in_response_to != expected_request_id)
    return fail(Code::kInResponseTo, "the LogoutResponse answers '" +
                                         core::clip(info.in_response_to) + "', not our request '" +
                                         expected_request_id + "'");
  info.status =
      attr(first_child(first_child(root, ns::kSamlp, "Status"), ns::kSamlp, "StatusCode"), "Value");
  if (info.status != kSuccess)
    return fail(Code::kStatus,
                "the IdP could not log the user out: status '" + core::clip(info.status) + "'");
  info.relay_state = m.relay_state;
  return info;
}

}  // namespace cg::saml
