#include "saml/response_builder.h"

#include "core/time.h"
#include "xml/document.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::saml {

BuiltResponse response_xml(const ResponseSpec& s, core::Random& random) {
  using xml::escape;
  BuiltResponse r{{}, random.xml_id(160), random.xml_id(160)};
  std::string now = core::format_datetime(s.issue_instant);
  std::string until = core::format_datetime(s.issue_instant + s.lifetime);
  std::string before = core::format_datetime(s.issue_instant - std::chrono::seconds(30));
  std::string irt =
      s.in_response_to.empty() ? "" : " InResponseTo=\"" + escape(s.in_response_to) + "\"";
  std::string& x = r.xml;
  x = std::string("<samlp:Response xmlns:samlp=\"") + xml::ns::kSamlp + "\" xmlns:saml=\"" +
      xml::ns::kSaml + "\" ID=\"" + r.response_id + "\" Version=\"2.0\" IssueInstant=\"" + now +
      "\" Destination=\"" + escape(s.destination) + "\"" + irt + ">";
  x += "<saml:Issuer>" + escape(s.issuer) + "</saml:Issuer>";
  x += "<samlp:Status><samlp:StatusCode "
       "Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>";
  x += "<saml:Assertion xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" "
       "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"" +
       r.assertion_id + "\" Version=\"2.0\" IssueInstant=\"" + now + "\">";
  x += "<saml:Issuer>" + escape(s.issuer) + "</saml:Issuer>";
  std::string qualifiers;
  if (!s.name_qualifier.empty())
    qualifiers += " NameQualifier=\"" + escape(s.name_qualifier) + "\"";
  if (!s.sp_name_qualifier.empty())
    qualifiers += " SPNameQualifier=\"" + escape(s.sp_name_qualifier) + "\"";
  x += "<saml:Subject><saml:NameID Format=\"" + escape(s.name_id_format) + "\"" + qualifiers + ">" +
       escape(s.name_id) + "</saml:NameID>";
  x += "<saml:SubjectConfirmation "
       "Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData" +
       irt + " NotOnOrAfter=\"" + until + "\" Recipient=\"" + escape(s.recipient) +
       "\"/></saml:SubjectConfirmation></saml:Subject>";
  x += "<saml:Conditions NotBefore=\"" + before + "\" NotOnOrAfter=\"" + until +
       "\"><saml:AudienceRestriction><saml:Audience>" + escape(s.audience) +
       "</saml:Audience></saml:AudienceRestriction></saml:Conditions>";
  x += "<saml:AuthnStatement AuthnInstant=\"" + now + "\" SessionIndex=\"" +
       escape(s.session_index) +
       "\"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:"
       "PasswordProtectedTransport"
       "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>";
  if (!s.attributes.empty()) {
    x += "<saml:AttributeStatement>";
    for (const auto& [name, values] : s.attributes) {
      x += "<saml:Attribute Name=\"" + escape(name) +
           "\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:basic\">";
      for (const auto& v : values)
        x += "<saml:AttributeValue xsi:type=\"xs:string\">" + escape(v) + "</saml:AttributeValue>";
      x += "</saml:Attribute>";
    }
    x += "</saml:AttributeStatement>";
  }
  x += "</saml:Assertion></samlp:Response>";
  return r;
}

Result<std::string> sign_response_xml(const std::string& text, const ResponseSpec& s,
                                      const crypto::PrivateKey& key,
                                      const crypto::Certificate& cert) {
  CG_TRY(auto doc, xml::Document::parse(text));
  xmlNode* response = doc.root();
  xmlNode* assertion = xml::first_child(response, xml::ns::kSaml, "Assertion");
  if (s.encrypt_for && s.encrypt_name_id && assertion) {
    xmlNode* nid = xml::first_child(xml::first_child(assertion, xml::ns::kSaml, "Subject"),
                                    xml::ns::kSaml, "NameID");
    if (nid) {
      CG_TRY(xmlNode * data, xml::encrypt(nid, *s.encrypt_for, s.encryption, s.key_transport));
      CG_CHECK(xml::wrap_in(data, xml::ns::kSaml, "saml", "EncryptedID"));
    }
  }
  if (s.sign_assertion && assertion)
    CG_CHECK(xml::sign_enveloped(assertion, key, cert, s.sign_options));
  if (s.encrypt_for && s.encrypt_assertion && assertion) {
    CG_TRY(xmlNode * data, xml::encrypt(assertion, *s.encrypt_for, s.encryption, s.key_transport));
    CG_CHECK(xml::wrap_in(data, xml::ns::kSaml, "saml", "EncryptedAssertion"));
  }
  if (s.sign_response) CG_CHECK(xml::sign_enveloped(response, key, cert, s.sign_options));
  return xml::to_string(response);
}

Result<BuiltResponse> build_response(const ResponseSpec& spec, const crypto::PrivateKey& key,
                                     const crypto::Certificate& cert, core::Random& random) {
  BuiltResponse r = response_xml(spec, random);
  CG_TRY(r.xml, sign_response_xml(r.xml, spec, key, cert));
  return r;
}

}  // namespace cg::saml
