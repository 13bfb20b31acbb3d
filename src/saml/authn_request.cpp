#include "saml/authn_request.h"

#include "core/time.h"
#include "saml/bindings.h"
#include "xml/document.h"
#include "xml/names.h"
#include "xml/node.h"
#include "xml/signer.h"

namespace cg::saml {

AuthnRequest build_authn_request(const SpConfig& sp, const std::string& destination,
                                 const AuthnRequestOptions& o, core::Random& random,
                                 core::WallTime now) {
  using xml::escape;
  AuthnRequest r;
  r.id = random.xml_id(160);
  r.destination = destination;
  std::string x = std::string("<samlp:AuthnRequest xmlns:samlp=\"") + xml::ns::kSamlp +
                  "\" xmlns:saml=\"" + xml::ns::kSaml + "\" ID=\"" + r.id +
                  "\" Version=\"2.0\" IssueInstant=\"" + core::format_datetime(now) +
                  "\" Destination=\"" + escape(destination) + "\" AssertionConsumerServiceURL=\"" +
                  escape(sp.acs_url) + "\" ProtocolBinding=\"" + kBindingPost + "\"";
  if (o.force_authn) x += " ForceAuthn=\"true\"";
  if (o.is_passive) x += " IsPassive=\"true\"";
  x += "><saml:Issuer>" + escape(sp.entity_id) + "</saml:Issuer>";
  x += "<samlp:NameIDPolicy";
  if (!o.name_id_format.empty()) x += " Format=\"" + escape(o.name_id_format) + "\"";
  x += std::string(" AllowCreate=\"") + (o.allow_create ? "true" : "false") + "\"/>";
  if (!o.authn_context_class_refs.empty()) {
    x += "<samlp:RequestedAuthnContext Comparison=\"" + escape(o.comparison) + "\">";
    for (const auto& ref : o.authn_context_class_refs)
      x += "<saml:AuthnContextClassRef>" + escape(ref) + "</saml:AuthnContextClassRef>";
    x += "</samlp:RequestedAuthnContext>";
  }
  x += "</samlp:AuthnRequest>";
  r.xml = std::move(x);
  return r;
}

Result<std::string> authn_request_redirect_url(const SpConfig& sp, const AuthnRequest& request,
                                               const std::string& relay_state) {
  return redirect_url(request.destination, "SAMLRequest", request.xml, relay_state,
                      sp.sign_authn_requests ? &sp.current.key : nullptr);
}

Result<std::string> authn_request_post_form(const SpConfig& sp, const AuthnRequest& request,
                                            const std::string& relay_state) {
  std::string body = request.xml;
  if (sp.sign_authn_requests) {
    CG_TRY(auto doc, xml::Document::parse(request.xml));
    CG_CHECK(xml::sign_enveloped(doc.root(), sp.current.key, sp.current.cert,
                                 xml::sign_options_for(sp.current.key)));
    body = xml::to_string(doc.root());
  }
  return post_form_html(request.destination, "SAMLRequest", body, relay_state);
}

}  // namespace cg::saml
