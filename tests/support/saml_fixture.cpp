#include "support/saml_fixture.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "core/encoding.h"

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
const KeyPair& idp_ec384_keys() {
  static KeyPair k = [] {
    crypto::PrivateKey key(std::shared_ptr<EVP_PKEY>(EVP_EC_gen("P-384"), EVP_PKEY_free));
    auto cert = crypto::Certificate::self_signed(key, "idp.example.org ec384",
                                                 test_now() - std::chrono::hours(24 * 30), 365);
    return KeyPair{key, *cert};
  }();
  return k;
}

std::string openssl_pss_sign(const crypto::PrivateKey& key, const char* md, const char* mgf1_md,
                             int salt_len, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  EXPECT_EQ(EVP_DigestSignInit(ctx, &pctx, EVP_get_digestbyname(md), nullptr, key.get()), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_get_digestbyname(mgf1_md)), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt_len), 1);
  size_t len = 0;
  auto in = reinterpret_cast<const unsigned char*>(data.data());
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, in, data.size()), 1);
  std::string out(len, '\0');
  EXPECT_EQ(
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, in, data.size()), 1);
  out.resize(len);
  EVP_MD_CTX_free(ctx);
  return out;
}

std::string openssl_ecdsa_sign_der(const crypto::PrivateKey& key, const char* md,
                                   std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_get_digestbyname(md), nullptr, key.get()), 1);
  size_t len = 0;
  auto in = reinterpret_cast<const unsigned char*>(data.data());
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, in, data.size()), 1);
  std::string out(len, '\0');
  EXPECT_EQ(
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, in, data.size()), 1);
  out.resize(len);
  EVP_MD_CTX_free(ctx);
  return out;
}

std::string ecdsa_der_to_raw(std::string_view der, int field_bytes) {
  auto p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(sig, nullptr);
  if (!sig) return "";
  std::string out(static_cast<size_t>(field_bytes) * 2, '\0');
  auto o = reinterpret_cast<unsigned char*>(out.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), o, field_bytes);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), o + field_bytes, field_bytes);
  ECDSA_SIG_free(sig);
  return out;
}

std::string key_value_xml(const crypto::PublicKey& key) {
  auto b64_bn = [&](const char* name) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key.get(), name, &bn), 1);
    std::vector<uint8_t> bytes(static_cast<size_t>(BN_num_bytes(bn)));
    BN_bn2bin(bn, bytes.data());
    BN_free(bn);
    return core::base64_encode(bytes);
  };
  const char* ns =
      " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\""
      " xmlns:dsig11=\"http://www.w3.org/2009/xmldsig11#\"";
  if (EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_RSA) {
    return std::string("<ds:KeyValue") + ns + "><ds:RSAKeyValue><ds:Modulus>" +
           b64_bn(OSSL_PKEY_PARAM_RSA_N) + "</ds:Modulus><ds:Exponent>" +
           b64_bn(OSSL_PKEY_PARAM_RSA_E) + "</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>";
  }
  char group[64] = {};
  size_t glen = 0;
  EXPECT_EQ(EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof group, &glen),
            1);
  std::string g(group);
  std::string oid = g == "prime256v1"  ? "1.2.840.10045.3.1.7"
                    : g == "secp384r1" ? "1.3.132.0.34"
                                       : "1.3.132.0.35";
  std::vector<uint8_t> point(200);
  size_t plen = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                            point.data(), point.size(), &plen),
            1);
  point.resize(plen);
  return std::string("<ds:KeyValue") + ns +
         "><dsig11:ECKeyValue><dsig11:NamedCurve URI=\"urn:oid:" + oid + "\"/><dsig11:PublicKey>" +
         core::base64_encode(point) + "</dsig11:PublicKey></dsig11:ECKeyValue></ds:KeyValue>";
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
