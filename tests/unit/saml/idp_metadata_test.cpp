#include "saml/idp_metadata.h"

#include <gtest/gtest.h>

#include "support/saml_fixture.h"
#include "xml/document.h"
#include "xml/node.h"
#include "xml/signer.h"

namespace cg::saml {
namespace {

using namespace std::chrono_literals;

std::string key_descriptor(const crypto::Certificate& c, const char* use) {
  std::string u = use ? std::string(" use=\"") + use + "\"" : "";
  return "<md:KeyDescriptor" + u + "><ds:KeyInfo><ds:X509Data><ds:X509Certificate>" +
         c.base64_der() + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>";
}

std::string entity(const std::string& id, const std::string& keys, const std::string& attrs = "") {
  return "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
         "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" ID=\"_md\" entityID=\"" +
         id + "\"" + attrs +
         ">"
         "<md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
         "WantAuthnRequestsSigned=\"true\">" +
         keys +
         "<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
         "Location=\"https://idp/slo\"/>"
         "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
         "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
         "Location=\"https://idp/sso\"/>"
         "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" "
         "Location=\"https://idp/sso-post\"/>"
         "</md:IDPSSODescriptor></md:EntityDescriptor>";
}

// Everything validation needs is read: entity id, every signing certificate, endpoints, formats.
TEST(IdpMetadataTest, ReadsEntityDescriptor) {
  std::string keys = key_descriptor(testing::idp_keys().cert, "signing") +
                     key_descriptor(testing::idp_next_keys().cert, nullptr) +
                     key_descriptor(testing::sp_keys().cert, "encryption");
  auto md = IdpMetadata::parse(entity("https://idp", keys, " cacheDuration=\"PT6H\""),
                               testing::test_now());
  ASSERT_TRUE(md.has_value()) << md.error().message;
  EXPECT_EQ(md->entity_id, "https://idp");
  ASSERT_EQ(md->signing_certs.size(), 2u);  // use="signing" and no use: both trusted (rollover)
  EXPECT_EQ(md->encryption_certs.size(), 2u);
  EXPECT_EQ(md->sso_endpoint(kBindingRedirect)->location, "https://idp/sso");
  EXPECT_EQ(md->sso_endpoint(kBindingPost)->location, "https://idp/sso-post");
  EXPECT_EQ(md->slo_endpoint(kBindingRedirect)->location, "https://idp/slo");
  EXPECT_EQ(md->name_id_formats.front(), "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
  EXPECT_TRUE(md->want_authn_requests_signed);
  EXPECT_EQ(*md->cache_duration, 6h);
}

// From an aggregate, the IdP is picked by entity id; ambiguity is an error.
TEST(IdpMetadataTest, PicksFromEntitiesDescriptor) {
  std::string keys = key_descriptor(testing::idp_keys().cert, "signing");
  std::string agg =
      "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">" +
      entity("https://a", keys).replace(entity("https://a", keys).find(" ID=\"_md\""), 9, "") +
      entity("https://b", keys).replace(entity("https://b", keys).find(" ID=\"_md\""), 9, "") +
      "</md:EntitiesDescriptor>";
  EXPECT_EQ(IdpMetadata::parse(agg, testing::test_now()).error().name, "idp.metadata_invalid");
  MetadataOptions o;
  o.entity_id = "https://b";
  auto md = IdpMetadata::parse(agg, testing::test_now(), o);
  ASSERT_TRUE(md.has_value()) << md.error().message;
  EXPECT_EQ(md->entity_id, "https://b");
}

// Expired certificates are reported and not trusted, unless dates are ignored.
TEST(IdpMetadataTest, RefusesExpiredCertificates) {
  auto key = crypto::PrivateKey::generate_rsa(2048);
  auto old = crypto::Certificate::self_signed(*key, "old", testing::test_now() - 400 * 24h, 30);
  std::string only_old = entity("https://idp", key_descriptor(*old, "signing"));
  EXPECT_EQ(IdpMetadata::parse(only_old, testing::test_now()).error().name,
            "idp.certificate_expired");
  MetadataOptions o;
  o.ignore_cert_dates = true;
  auto md = IdpMetadata::parse(only_old, testing::test_now(), o);
  ASSERT_TRUE(md.has_value());
  EXPECT_EQ(md->signing_certs.size(), 1u);
  EXPECT_FALSE(md->warnings.empty());
  auto mixed = IdpMetadata::parse(
      entity("https://idp",
             key_descriptor(*old, "signing") + key_descriptor(testing::idp_keys().cert, "signing")),
      testing::test_now());
  ASSERT_TRUE(mixed.has_value());
  EXPECT_EQ(mixed->signing_certs.size(), 1u);
  EXPECT_EQ(mixed->rejected_certs.size(), 1u);
  EXPECT_NE(mixed->warnings.front().find("not trusted"), std::string::npos);
}

// Metadata past validUntil is refused unless allowed.
TEST(IdpMetadataTest, RefusesExpiredMetadata) {
  std::string md = entity("https://idp", key_descriptor(testing::idp_keys().cert, "signing"),
                          " validUntil=\"2026-05-01T00:00:00Z\"");
  EXPECT_EQ(IdpMetadata::parse(md, testing::test_now()).error().name, "idp.metadata_expired");
  MetadataOptions o;
  o.allow_expired_metadata = true;
  EXPECT_TRUE(IdpMetadata::parse(md, testing::test_now(), o).has_value());
}

// A signed metadata document verifies against the configured signer; tampering is refused.
TEST(IdpMetadataTest, ChecksMetadataSignature) {
  auto doc = xml::Document::parse(
      entity("https://idp", key_descriptor(testing::idp_keys().cert, "signing")));
  ASSERT_TRUE(xml::sign_enveloped(doc->root(), testing::sp_keys().key, testing::sp_keys().cert)
                  .has_value());
  std::string signed_md = xml::to_string(doc->root());
  MetadataOptions o;
  o.metadata_signers = {testing::sp_keys().cert};
  auto md = IdpMetadata::parse(signed_md, testing::test_now(), o);
  ASSERT_TRUE(md.has_value()) << md.error().message;
  EXPECT_TRUE(md->signed_document);
  std::string tampered =
      testing::replace_once(signed_md, "https://idp/sso\"", "https://evil/sso\"");
  EXPECT_EQ(IdpMetadata::parse(tampered, testing::test_now(), o).error().name,
            "idp.metadata_invalid");
  o.metadata_signers = {testing::attacker_keys().cert};
  EXPECT_FALSE(IdpMetadata::parse(signed_md, testing::test_now(), o).has_value());
}

// Things that are not IdP metadata say so.
TEST(IdpMetadataTest, ReportsUnusableDocuments) {
  EXPECT_EQ(IdpMetadata::parse("<x/>", testing::test_now()).error().name, "idp.metadata_invalid");
  EXPECT_EQ(IdpMetadata::parse("garbage", testing::test_now()).error().name,
            "idp.metadata_invalid");
  std::string no_keys = entity("https://idp", "");
  EXPECT_NE(IdpMetadata::parse(no_keys, testing::test_now())
                .error()
                .message.find("no signing certificate or key"),
            std::string::npos);
}

// A KeyDescriptor holding a key without a certificate (ds:RSAKeyValue, dsig11:ECKeyValue).
std::string key_value_descriptor(const crypto::PublicKey& k, const char* use = "signing") {
  return std::string("<md:KeyDescriptor use=\"") + use + "\"><ds:KeyInfo>" +
         testing::key_value_xml(k) + "</ds:KeyInfo></md:KeyDescriptor>";
}

// Metadata that publishes its signing key as a ds:KeyValue (RSA or EC, no certificate) is
// trusted: the key becomes a key-only trust entry with no dates to check, and it verifies a
// Response the IdP signed, whatever the Response's KeyInfo says.
TEST(IdpMetadataTest, TrustsKeysPublishedAsKeyValue) {
  for (const auto* kp :
       {&testing::idp_keys(), &testing::idp_ec_keys(), &testing::idp_ec384_keys()}) {
    const auto& pub = kp->cert.public_key();
    SCOPED_TRACE(pub.describe());
    // Far from the certificate's own dates: a bare key has none.
    auto md = IdpMetadata::parse(entity("https://idp", key_value_descriptor(pub)),
                                 testing::test_now() + 24h * 365 * 30);
    ASSERT_TRUE(md.has_value()) << md.error().message;
    ASSERT_EQ(md->signing_certs.size(), 1u);
    const auto& trusted = md->signing_certs.front();
    EXPECT_TRUE(trusted.key_only());
    EXPECT_TRUE(trusted.public_key().equals(pub));
    EXPECT_EQ(trusted.sha256_fingerprint(),
              crypto::Certificate::from_key(pub).sha256_fingerprint());
    EXPECT_TRUE(md->rejected_certs.empty());
    EXPECT_TRUE(md->warnings.empty());
  }
  // use="encryption" only is not a signing key; no use is both.
  auto enc = IdpMetadata::parse(
      entity("https://idp",
             key_value_descriptor(testing::idp_keys().cert.public_key(), "encryption")),
      testing::test_now());
  ASSERT_FALSE(enc.has_value());
  EXPECT_NE(enc.error().message.find("publishes no signing certificate or key"), std::string::npos);
  // Beside a certificate for the same KeyDescriptor, the certificate (with its dates) is what is
  // trusted, not the KeyValue.
  std::string both = "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo>" +
                     testing::key_value_xml(testing::attacker_keys().cert.public_key()) +
                     "<ds:X509Data><ds:X509Certificate>" + testing::idp_keys().cert.base64_der() +
                     "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>";
  auto md = IdpMetadata::parse(entity("https://idp", both), testing::test_now());
  ASSERT_TRUE(md.has_value()) << md.error().message;
  ASSERT_EQ(md->signing_certs.size(), 1u);
  EXPECT_FALSE(md->signing_certs.front().key_only());
  // An unreadable KeyValue is named; when it is the only key, the document is refused with it.
  std::string dsa =
      "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:KeyValue><ds:DSAKeyValue/>"
      "</ds:KeyValue></ds:KeyInfo></md:KeyDescriptor>";
  auto bad = IdpMetadata::parse(entity("https://idp", dsa), testing::test_now());
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("DSAKeyValue"), std::string::npos) << bad.error().message;
  auto mixed = IdpMetadata::parse(
      entity("https://idp", dsa + key_value_descriptor(testing::idp_keys().cert.public_key())),
      testing::test_now());
  ASSERT_TRUE(mixed.has_value());
  EXPECT_EQ(mixed->signing_certs.size(), 1u);
  EXPECT_NE(mixed->warnings.front().find("DSAKeyValue"), std::string::npos);
}

// xs:duration as cacheDuration uses it.
TEST(IdpMetadataTest, ParsesXsDuration) {
  EXPECT_EQ(*parse_xs_duration("PT6H"), 6h);
  EXPECT_EQ(*parse_xs_duration("P1DT12H30M"), 24h + 12h + 30min);
  EXPECT_EQ(*parse_xs_duration("PT1.5S"), 1s);
  EXPECT_FALSE(parse_xs_duration("6h").has_value());
  EXPECT_FALSE(parse_xs_duration("P").has_value());
  EXPECT_FALSE(parse_xs_duration("PT").has_value());
}

}  // namespace
}  // namespace cg::saml
