#include "saml/idp_metadata.h"

#include <algorithm>

#include "core/encoding.h"
#include "core/time.h"
#include "saml/errors.h"
#include "xml/document.h"
#include "xml/key_info.h"
#include "xml/names.h"
#include "xml/node.h"
#include "xml/signature.h"

namespace cg::saml {
namespace {

using xml::attr;
using xml::first_child;
namespace ns = xml::ns;

Status read_lifetime(xmlNode* n, IdpMetadata& md) {
  std::string vu = attr(n, "validUntil");
  if (!vu.empty()) {
    auto t = core::parse_datetime(vu);
    if (!t) return fail(Code::kMetadataInvalid, "validUntil: " + t.error().message);
    if (!md.valid_until || *t < *md.valid_until) md.valid_until = *t;
  }
  std::string cd = attr(n, "cacheDuration");
  if (!cd.empty()) {
    auto d = parse_xs_duration(cd);
    if (!d) return fail(Code::kMetadataInvalid, "cacheDuration: " + d.error().message);
    if (!md.cache_duration || *d < *md.cache_duration) md.cache_duration = *d;
  }
  return {};
}

xmlNode* find_idp_entity(xmlNode* root, const std::string& want, std::string& why) {
  if (xml::is(root, ns::kMd, "EntityDescriptor")) {
    if (!want.empty() && attr(root, "entityID") != want) {
      why = "the metadata describes '" + attr(root, "entityID") + "', not '" + want + "'";
      return nullptr;
    }
    return root;
  }
  std::vector<xmlNode*> idps;
  for (xmlNode* e : xml::descendants(root, ns::kMd, "EntityDescriptor")) {
    if (!first_child(e, ns::kMd, "IDPSSODescriptor")) continue;
    if (want.empty() || attr(e, "entityID") == want) idps.push_back(e);
  }
  if (idps.size() == 1) return idps.front();
  why = idps.empty() ? "no IdP entity" + (want.empty() ? std::string() : " '" + want + "'") +
                           " in the metadata"
                     : "the metadata holds " + std::to_string(idps.size()) +
                           " IdPs; name one with its entity id";
  return nullptr;
}

std::string date(core::WallTime t) { return core::format_datetime(t).substr(0, 10); }

}  // namespace

const Endpoint* IdpMetadata::sso_endpoint(std::string_view binding) const {
  for (const auto& e : sso)
    if (e.binding == binding) return &e;
  return nullptr;
}

const Endpoint* IdpMetadata::slo_endpoint(std::string_view binding) const {
  for (const auto& e : slo)
    if (e.binding == binding) return &e;
  return nullptr;
}

Result<IdpMetadata> IdpMetadata::load(const std::string& path, core::WallTime now,
                                      const MetadataOptions& options) {
  auto text = core::read_file(path, 16u << 20);
  if (!text) return fail(Code::kMetadataInvalid, text.error().message);
  auto md = parse(*text, now, options);
  if (!md)
    return fail(Error{md.error().code, md.error().name, "'" + path + "': " + md.error().message});
  return md;
}

Result<IdpMetadata> IdpMetadata::parse(std::string_view text, core::WallTime now,
                                       const MetadataOptions& options) {
  xml::ParseLimits limits{16u << 20, 64, 2'000'000};  // federation aggregates are large
  auto doc = xml::Document::parse(text, limits);
  if (!doc)
    return fail(Code::kMetadataInvalid, "the metadata is not usable XML: " + doc.error().message);
  xmlNode* root = doc->root();
  if (!xml::is(root, ns::kMd, "EntityDescriptor") && !xml::is(root, ns::kMd, "EntitiesDescriptor"))
    return fail(Code::kMetadataInvalid,
                "the root element is <" + std::string(xml::local_name(root)) +
                    ">, not a SAML 2.0 <md:EntityDescriptor> or <md:EntitiesDescriptor>");
  IdpMetadata md;
  if (!options.metadata_signers.empty()) {
    CG_TRY(xmlNode * sig, xml::find_signature(root));
    if (!sig)
      return fail(Code::kMetadataInvalid,
                  "the metadata is not signed, but a metadata signing certificate is configured");
    auto v = xml::verify_enveloped(*doc, root, sig, options.metadata_signers, {false, ""});
    if (!v)
      return fail(Code::kMetadataInvalid,
                  "the metadata signature is not valid: " + v.error().message);
    md.signed_document = true;
  }
  std::string why;
  xmlNode* entity = find_idp_entity(root, options.entity_id, why);
  if (!entity) return fail(Code::kMetadataInvalid, why);
  for (xmlNode* n = entity; n; n = xml::parent_element(n)) CG_CHECK(read_lifetime(n, md));
  md.entity_id = attr(entity, "entityID");
  if (md.entity_id.empty())
    return fail(Code::kMetadataInvalid, "the EntityDescriptor has no entityID");
  xmlNode* idp = first_child(entity, ns::kMd, "IDPSSODescriptor");
  if (!idp)
    return fail(Code::kMetadataInvalid,
                "'" + md.entity_id + "' has no <md:IDPSSODescriptor>: it is not an IdP");
  CG_CHECK(read_lifetime(idp, md));

  if (md.valid_until && now >= *md.valid_until) {
    std::string msg =
        "the metadata expired at " + core::format_datetime(*md.valid_until) + " (validUntil)";
    if (!options.allow_expired_metadata)
      return fail(Code::kMetadataExpired, msg + "; fetch a current copy from the IdP");
    md.warnings.push_back(msg);
  }
  md.want_authn_requests_signed = attr(idp, "WantAuthnRequestsSigned") == "true";

  std::vector<std::string> unreadable;
  for (xmlNode* kd : xml::children(idp, ns::kMd, "KeyDescriptor")) {
    std::string use = attr(kd, "use");
    auto trust = [&](const crypto::Certificate& c) {
      if (use.empty() || use == "signing") md.signing_certs.push_back(c);
      if (use.empty() || use == "encryption") md.encryption_certs.push_back(c);
    };
    auto x509s = xml::descendants(kd, ns::kDs, "X509Certificate");
    for (xmlNode* x : x509s) {
      auto cert = crypto::Certificate::from_base64(xml::text(x));
      if (!cert) {
        unreadable.push_back("a KeyDescriptor certificate could not be read: " +
                             cert.error().message);
        md.warnings.push_back(unreadable.back());
        continue;
      }
      bool dated = now >= cert->not_before() && now < cert->not_after();
      if (!dated) {
        md.warnings.push_back(
            "certificate '" + cert->subject() + "' (SHA-256 " + cert->sha256_fingerprint() +
            ") is valid from " + date(cert->not_before()) + " to " + date(cert->not_after()) +
            (options.ignore_cert_dates ? "; trusted anyway (certificate dates ignored)"
                                       : "; not trusted"));
      }
      if (!dated && !options.ignore_cert_dates) {
        md.rejected_certs.push_back(*cert);
        continue;
      }
      trust(*cert);
    }
    // A key published without a certificate (ds:KeyValue, dsig11:DEREncodedKeyValue) is
    // trusted like a certificate's key, from this document only; it has no dates to check.
    // Where a certificate is published too, the certificate is what is trusted.
    if (!x509s.empty()) continue;
    for (xmlNode* ki : xml::children(kd, ns::kDs, "KeyInfo")) {
      auto keys = xml::key_values(ki);
      if (!keys) {
        unreadable.push_back("a KeyDescriptor key could not be read: " + keys.error().message);
        md.warnings.push_back(unreadable.back());
        continue;
      }
      for (auto& k : *keys) trust(crypto::Certificate::from_key(std::move(k)));
    }
  }
  if (md.signing_certs.empty()) {
    if (!md.rejected_certs.empty())
      return fail(Code::kCertificateExpired, "every signing certificate of '" + md.entity_id +
                                                 "' is outside its "
                                                 "validity dates (" +
                                                 md.warnings.front() + ")");
    std::string why = unreadable.empty() ? "" : " (" + unreadable.front() + ")";
    return fail(Code::kMetadataInvalid, "'" + md.entity_id +
                                            "' publishes no signing certificate or key "
                                            "(ds:X509Certificate or ds:KeyValue)" +
                                            why);
  }
  for (xmlNode* e : xml::children(idp, ns::kMd, "SingleSignOnService"))
    md.sso.push_back({attr(e, "Binding"), attr(e, "Location"), attr(e, "ResponseLocation")});
  for (xmlNode* e : xml::children(idp, ns::kMd, "SingleLogoutService"))
    md.slo.push_back({attr(e, "Binding"), attr(e, "Location"), attr(e, "ResponseLocation")});
  for (xmlNode* e : xml::children(idp, ns::kMd, "NameIDFormat"))
    md.name_id_formats.push_back(xml::trimmed_text(e));
  if (md.sso.empty())
    return fail(Code::kMetadataInvalid, "'" + md.entity_id + "' publishes no SingleSignOnService");
  return md;
}

Result<std::chrono::seconds> parse_xs_duration(std::string_view s) {
  auto bad = [&] {
    return fail(Code::kMetadataInvalid,
                "'" + std::string(s) + "' is not an xs:duration such as PT6H or P1D");
  };
  if (s.empty() || s[0] != 'P') return bad();
  long long total = 0, n = 0;
  bool in_time = false, have_digits = false, any = false;
  for (size_t i = 1; i < s.size(); ++i) {
    char ch = s[i];
    if (ch >= '0' && ch <= '9') {
      n = n * 10 + (ch - '0');
      have_digits = true;
      if (n > 1'000'000'000) return bad();
      continue;
    }
    if (ch == 'T') {
      if (in_time || have_digits) return bad();
      in_time = true;
      continue;
    }
    if (ch == '.') {  // fractional seconds: skip the fraction
      while (i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9') ++i;
      continue;
    }
    if (!have_digits) return bad();
    long long unit = 0;
    if (!in_time && ch == 'Y')
      unit = 365 * 86400LL;
    else if (!in_time && ch == 'M')
      unit = 30 * 86400LL;
    else if (!in_time && ch == 'D')
      unit = 86400;
    else if (in_time && ch == 'H')
      unit = 3600;
    else if (in_time && ch == 'M')
      unit = 60;
    else if (in_time && ch == 'S')
      unit = 1;
    else
      return bad();
    total = std::min<long long>(total + n * unit, core::kMaxDuration.count());  // P1000000Y: long
    n = 0;
    have_digits = false;
    any = true;
  }
  if (have_digits || !any) return bad();
  return std::chrono::seconds(total);
}

}  // namespace cg::saml
