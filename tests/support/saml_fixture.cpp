#include "support/saml_fixture.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>

namespace cg::testing {
namespace {

KeyPair make_pair(const char* cn, bool ec = false) {
  auto key = ec ? crypto::PrivateKey::generate_ec_p256() : crypto::PrivateKey::generate_rsa(2048);
  auto cert =
      crypto::Certificate::self_signed(*key, cn, test_now() - std::chrono::hours(24 * 30), 365);
  return {*key, *cert};
}

}  // namespace

core::WallTime test_now() { return *core::parse_datetime("2026-06-01T12:00:00Z"); }

const KeyPair& idp_keys() {
  static KeyPair k = make_pair("idp.example.org");
  return k;
}
const KeyPair& idp_next_keys() {
  static KeyPair k = make_pair("idp.example.org next");
  return k;
}
const KeyPair& sp_keys() {
  static KeyPair k = make_pair("ml.example.org");
  return k;
}
const KeyPair& attacker_keys() {
  static KeyPair k = make_pair("idp.example.org");  // same subject, different key
  return k;
}
const KeyPair& idp_ec_keys() {
  static KeyPair k = make_pair("idp.example.org ec", true);
  return k;
}

SamlTest::SamlTest() : clock_(test_now()) {
  sp_.entity_id = kSpEntity;
  sp_.acs_url = kAcs;
  sp_.decryption_keys = {sp_keys().key};
  idp_.entity_id = kIdpEntity;
  idp_.signing_certs = {idp_keys().cert};
}

saml::ResponseSpec SamlTest::spec() const {
  saml::ResponseSpec s;
  s.issuer = kIdpEntity;
  s.destination = kAcs;
  s.recipient = kAcs;
  s.audience = kSpEntity;
  s.in_response_to = kRequestId;
  s.issue_instant = test_now() - std::chrono::seconds(5);
  s.attributes = {{"groups", {"ml-vision-ds", "all-staff"}}, {"email", {"alice@example.org"}}};
  return s;
}

std::string SamlTest::build(const saml::ResponseSpec& s, const KeyPair* signer) {
  const KeyPair& k = signer ? *signer : idp_keys();
  auto r = saml::build_response(s, k.key, k.cert, random_);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? r->xml : std::string();
}

saml::ValidationReport SamlTest::validate(const std::string& xml,
                                          std::optional<std::string> request_id) {
  saml::ResponseValidator v(sp_, idp_, &replay_, clock_);
  return v.validate(xml, request_id);
}

std::string SamlTest::outcome(const std::string& xml, std::optional<std::string> request_id) {
  auto r = validate(xml, request_id);
  return r.ok() ? "ok" : r.error->name;
}

std::string rsa_oaep_encrypt_sha256(const crypto::Certificate& recipient,
                                    const std::vector<uint8_t>& data) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(recipient.public_key().get(), nullptr);
  EXPECT_EQ(EVP_PKEY_encrypt_init(ctx), 1);
  EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
  EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256());
  EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256());
  size_t len = 0;
  EXPECT_EQ(EVP_PKEY_encrypt(ctx, nullptr, &len, data.data(), data.size()), 1);
  std::string out(len, '\0');
  EXPECT_EQ(EVP_PKEY_encrypt(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, data.data(),
                             data.size()),
            1);
  out.resize(len);
  EVP_PKEY_CTX_free(ctx);
  return out;
}

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << "'" << from << "' not found";
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

std::string idp_metadata_xml() {
  return "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
         "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" "
         "entityID=\"https://idp\"><md:IDPSSODescriptor "
         "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">"
         "<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>" +
         idp_keys().cert.base64_der() +
         "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
         "<md:SingleSignOnService "
         "Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
         "Location=\"https://idp/sso\"/>"
         "</md:IDPSSODescriptor></md:EntityDescriptor>";
}

}  // namespace cg::testing
