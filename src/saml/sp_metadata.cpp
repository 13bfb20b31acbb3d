#include "saml/sp_metadata.h"

#include "saml/errors.h"
#include "xml/document.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::saml {
namespace {

std::string key_descriptor(const char* use, const crypto::Certificate& cert) {
  std::string out = std::string("    <md:KeyDescriptor use=\"") + use +
                    "\">\n"
                    "      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>" +
                    cert.base64_der() + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\n";
  if (std::string(use) == "encryption") {
    for (const char* alg : {xml::alg::kAes256Gcm, xml::alg::kAes128Gcm, xml::alg::kAes256Cbc,
                            xml::alg::kAes128Cbc, xml::alg::kRsaOaepMgf1p})
      out += std::string("      <md:EncryptionMethod Algorithm=\"") + alg + "\"/>\n";
  }
  return out + "    </md:KeyDescriptor>\n";
}

}  // namespace

std::string sp_metadata_xml(const SpConfig& sp) {
  using xml::escape;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += std::string("<md:EntityDescriptor xmlns:md=\"") + xml::ns::kMd + "\" xmlns:ds=\"" +
         xml::ns::kDs + "\" entityID=\"" + escape(sp.entity_id) + "\">\n";
  out += std::string("  <md:SPSSODescriptor protocolSupportEnumeration=\"") + xml::ns::kSamlp +
         "\" AuthnRequestsSigned=\"" + (sp.sign_authn_requests ? "true" : "false") +
         "\" WantAssertionsSigned=\"" + (sp.want_assertions_signed ? "true" : "false") + "\">\n";
  for (const char* use : {"signing", "encryption"}) {
    if (sp.current.cert) out += key_descriptor(use, sp.current.cert);
    if (sp.next) out += key_descriptor(use, sp.next->cert);
    if (sp.previous) out += key_descriptor(use, sp.previous->cert);
  }
  out += std::string("    <md:SingleLogoutService Binding=\"") + kBindingRedirect +
         "\" Location=\"" + escape(sp.slo_url) + "\"/>\n";
  std::string fmt = sp.name_id_format.empty()
                        ? "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
                        : sp.name_id_format;
  out += "    <md:NameIDFormat>" + escape(fmt) + "</md:NameIDFormat>\n";
  out += std::string("    <md:AssertionConsumerService Binding=\"") + kBindingPost +
         "\" Location=\"" + escape(sp.acs_url) + "\" index=\"0\" isDefault=\"true\"/>\n";
  out += "  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n";
  return out;
}

Result<SpMetadataSummary> read_sp_metadata(std::string_view text) {
  CG_TRY(auto doc, xml::Document::parse(text));
  xmlNode* root = doc.root();
  if (!xml::is(root, xml::ns::kMd, "EntityDescriptor")) {
    return fail(Code::kMetadataInvalid, "not an EntityDescriptor");
  }
  xmlNode* sp = xml::first_child(root, xml::ns::kMd, "SPSSODescriptor");
  if (!sp) return fail(Code::kMetadataInvalid, "no SPSSODescriptor");
  SpMetadataSummary out;
  out.entity_id = xml::attr(root, "entityID");
  for (xmlNode* acs : xml::children(sp, xml::ns::kMd, "AssertionConsumerService")) {
    out.acs_urls.push_back(xml::attr(acs, "Location"));
  }
  for (xmlNode* kd : xml::children(sp, xml::ns::kMd, "KeyDescriptor")) {
    std::string use = xml::attr(kd, "use");
    if (!use.empty() && use != "signing") continue;
    for (xmlNode* c : xml::descendants(kd, xml::ns::kDs, "X509Certificate")) {
      auto cert = crypto::Certificate::from_base64(xml::trimmed_text(c));
      if (cert) out.signing_fingerprints.push_back(cert->sha256_fingerprint());
    }
  }
  return out;
}

}  // namespace cg::saml
