#include "crypto/keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "core/encoding.h"
#include "core/time.h"
#include "crypto/errors.h"
#include "crypto/openssl_init.h"

namespace cg::crypto {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

// Digests fetched from the provider once: OpenSSL 3 otherwise fetches (under a lock) on every
// EVP_sha256() use, which showed up as 15% of a Response validation.
const EVP_MD* md_of(HashAlg h) {
  static EVP_MD* const kMds[] = {
      EVP_MD_fetch(nullptr, "SHA1", nullptr), EVP_MD_fetch(nullptr, "SHA256", nullptr),
      EVP_MD_fetch(nullptr, "SHA384", nullptr), EVP_MD_fetch(nullptr, "SHA512", nullptr)};
  switch (h) {
    case HashAlg::kSha1:
      return kMds[0];
    case HashAlg::kSha256:
      return kMds[1];
    case HashAlg::kSha384:
      return kMds[2];
    case HashAlg::kSha512:
      return kMds[3];
  }
  return kMds[1];
}

KeyType type_of(EVP_PKEY* k) {
  if (!k) return KeyType::kOther;
  switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:  // an RSASSA-PSS SubjectPublicKeyInfo: RSA, PSS only
      return KeyType::kRsa;
    case EVP_PKEY_EC:
      return KeyType::kEc;
    default:
      return KeyType::kOther;
  }
}

// XML DSig carries ECDSA signatures as r||s of equal halves; OpenSSL wants DER.
std::vector<uint8_t> ecdsa_raw_to_der(std::span<const uint8_t> raw) {
  if (raw.empty() || raw.size() % 2 != 0) return {};
  size_t half = raw.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  std::vector<uint8_t> out;
  if (len > 0) out.assign(der, der + len);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

std::vector<uint8_t> ecdsa_der_to_raw(std::span<const uint8_t> der, int field_bytes) {
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!sig) return {};
  std::vector<uint8_t> out(static_cast<size_t>(field_bytes) * 2);
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), out.data(), field_bytes);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), out.data() + field_bytes, field_bytes);
  ECDSA_SIG_free(sig);
  return out;
}

std::string hex_fingerprint(std::span<const uint8_t> der) {
  auto d = digest(HashAlg::kSha256, der);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) out += ':';
    out += kHex[d[i] >> 4];
    out += kHex[d[i] & 15];
  }
  return out;
}

// UTCTime (1950 to 2049) or GeneralizedTime (0000 to 9999) read field by field: no time_t,
// no nanoseconds, so 99991231235959Z (RFC 5280's "no expiry") is the year 9999.
std::optional<core::WallTime> asn1_to_time(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return core::from_utc_tm(tm);
}

std::string asn1_text(const ASN1_TIME* t) {
  if (!t) return "(none)";
  return core::clip(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(t)),
                                static_cast<size_t>(std::max(0, ASN1_STRING_length(t)))),
                    40);
}

}  // namespace

std::vector<uint8_t> digest(HashAlg h, std::span<const uint8_t> data) {
  std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md_of(h), nullptr);
  out.resize(len);
  return out;
}

void skip_openssl_cleanup_at_exit() { OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr); }

std::array<uint8_t, 32> sha256(std::string_view data) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data) {
  std::array<uint8_t, 32> out{};
  size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
            out.size(), &len);
  return out;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::vector<uint8_t> digest(HashAlg h, std::string_view data) {
  return digest(h, std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

// ---- PublicKey ----

KeyType PublicKey::type() const { return type_of(key_.get()); }
int PublicKey::bits() const { return key_ ? EVP_PKEY_get_bits(key_.get()) : 0; }

bool PublicKey::verify(HashAlg h, std::span<const uint8_t> data, std::span<const uint8_t> sig,
                       bool raw_ecdsa) const {
  if (!key_) return false;
  std::vector<uint8_t> der;
  if (type() == KeyType::kEc && raw_ecdsa) {
    // r||s is exactly two field elements; any other length is not this curve's signature.
    if (sig.size() != 2 * static_cast<size_t>(ecdsa_field_bytes())) return false;
    der = ecdsa_raw_to_der(sig);
    if (der.empty()) return false;
    sig = der;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr, md_of(h), nullptr, key_.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
  ERR_clear_error();
  return ok;
}

bool PublicKey::verify_pss(HashAlg h, std::span<const uint8_t> data,
                           std::span<const uint8_t> sig) const {
  if (!key_ || type() != KeyType::kRsa) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  bool ok = EVP_DigestVerifyInit(ctx.get(), &pctx, md_of(h), nullptr, key_.get()) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md_of(h)) == 1 &&
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
            EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
  ERR_clear_error();
  return ok;
}

int PublicKey::ecdsa_field_bytes() const {
  if (type() != KeyType::kEc) return 0;
  return (EVP_PKEY_get_bits(key_.get()) + 7) / 8;
}

std::string PublicKey::describe() const {
  if (!key_) return "no key";
  switch (type()) {
    case KeyType::kRsa:
      return "RSA-" + std::to_string(bits());
    case KeyType::kEc: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key_.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                         sizeof group, &len) != 1) {
        ERR_clear_error();
        return "EC-" + std::to_string(bits());
      }
      int nid = OBJ_sn2nid(group);
      const char* nist = nid != NID_undef ? EC_curve_nid2nist(nid) : nullptr;
      return std::string("EC ") + (nist ? nist : group);
    }
    case KeyType::kOther:
      break;
  }
  return std::string(EVP_PKEY_get0_type_name(key_.get()) ? EVP_PKEY_get0_type_name(key_.get())
                                                         : "unknown") +
         " key";
}

std::vector<uint8_t> PublicKey::spki_der() const {
  if (!key_) return {};
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key_.get(), &der);
  std::vector<uint8_t> out;
  if (len > 0) out.assign(der, der + len);
  OPENSSL_free(der);
  return out;
}

bool PublicKey::equals(const PublicKey& other) const {
  if (!key_ || !other.key_) return false;
  bool eq = EVP_PKEY_eq(key_.get(), other.key_.get()) == 1;
  ERR_clear_error();
  return eq;
}

Result<PublicKey> PublicKey::from_rsa(std::span<const uint8_t> modulus,
                                      std::span<const uint8_t> exponent) {
  if (modulus.empty() || exponent.empty() || exponent.size() > 8)
    return fail(Code::kBadKey, "an RSA key needs a modulus and a public exponent (got " +
                                   std::to_string(modulus.size()) + " and " +
                                   std::to_string(exponent.size()) + " bytes)");
  std::unique_ptr<BIGNUM, decltype(&BN_free)> n(
      BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr), BN_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> e(
      BN_bin2bn(exponent.data(), static_cast<int>(exponent.size()), nullptr), BN_free);
  if (!n || !e || BN_is_zero(n.get()) || !BN_is_odd(n.get()) || !BN_is_odd(e.get()) ||
      BN_is_one(e.get()))
    return fail(Code::kBadKey, "the RSA modulus or exponent is not valid");
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free);
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
    return fail(Code::kBadKey, "cannot build RSA parameters: " + openssl_error());
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* k = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return fail(Code::kBadKey, "the RSA modulus and exponent are not a key: " + openssl_error());
  return PublicKey(own(k));
}

Result<PublicKey> PublicKey::from_ec_point(std::string_view curve, std::span<const uint8_t> point) {
  const char* group = curve == "P-256"   ? "prime256v1"
                      : curve == "P-384" ? "secp384r1"
                      : curve == "P-521" ? "secp521r1"
                                         : nullptr;
  if (!group)
    return fail(Code::kUnsupported,
                "EC curve '" + std::string(curve) + "' is not accepted (P-256, P-384 or P-521)");
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free);
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1)
    return fail(Code::kBadKey, "cannot build EC parameters: " + openssl_error());
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* k = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return fail(Code::kBadKey, "the point is not a valid " + std::string(curve) +
                                   " public key: " + openssl_error());
  PublicKey key(own(k));
  // fromdata does not check that the point is on the curve: ask.
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr), EVP_PKEY_CTX_free);
  if (!check || EVP_PKEY_public_check(check.get()) != 1)
    return fail(Code::kBadKey,
                "the point is not on curve " + std::string(curve) + ": " + openssl_error());
  return key;
}

Result<PublicKey> PublicKey::from_spki_der(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
  if (!k || p != der.data() + der.size()) {
    EVP_PKEY_free(k);
    return fail(Code::kBadKey, "not a DER SubjectPublicKeyInfo (" + openssl_error() + ")");
  }
  return PublicKey(own(k));
}

// ---- PrivateKey ----

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!k) return fail(Code::kBadKey, "not a PEM private key (" + openssl_error() + ")");
  return PrivateKey(own(k));
}

Result<PrivateKey> PrivateKey::load(const std::string& path) {
  CG_TRY(std::string pem, core::read_file(path, 1 << 20));
  auto k = from_pem(pem);
  if (!k) return fail(Code::kBadKey, "'" + path + "': " + k.error().message);
  return k;
}

Result<PrivateKey> PrivateKey::generate_rsa(int bits) {
  EVP_PKEY* k = EVP_RSA_gen(static_cast<unsigned>(bits));
  if (!k) return fail(Code::kBadKey, "RSA key generation failed: " + openssl_error());
  return PrivateKey(own(k));
}

Result<PrivateKey> PrivateKey::generate_ec_p256() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (!k) return fail(Code::kBadKey, "EC key generation failed: " + openssl_error());
  return PrivateKey(own(k));
}

KeyType PrivateKey::type() const { return type_of(key_.get()); }

PublicKey PrivateKey::public_key() const {
  if (!key_) return {};
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key_.get(), &der);
  const unsigned char* p = der;
  EVP_PKEY* pub = len > 0 ? d2i_PUBKEY(nullptr, &p, len) : nullptr;
  OPENSSL_free(der);
  return pub ? PublicKey(own(pub)) : PublicKey();
}

std::string PrivateKey::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<std::vector<uint8_t>> PrivateKey::sign(HashAlg h, std::span<const uint8_t> data,
                                              bool raw_ecdsa) const {
  if (!key_) return fail(Code::kSignFailed, "no private key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, md_of(h), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1) {
    return fail(Code::kSignFailed, "signing failed: " + openssl_error());
  }
  std::vector<uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1) {
    return fail(Code::kSignFailed, "signing failed: " + openssl_error());
  }
  sig.resize(len);
  if (type() == KeyType::kEc && raw_ecdsa) {
    int field = (EVP_PKEY_get_bits(key_.get()) + 7) / 8;
    sig = ecdsa_der_to_raw(sig, field);
  }
  return sig;
}

Result<std::vector<uint8_t>> PrivateKey::sign_pss(HashAlg h, std::span<const uint8_t> data) const {
  if (!key_ || type() != KeyType::kRsa) return fail(Code::kSignFailed, "RSA-PSS needs an RSA key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), &pctx, md_of(h), nullptr, key_.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md_of(h)) != 1 ||
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1)
    return fail(Code::kSignFailed, "RSA-PSS signing failed: " + openssl_error());
  std::vector<uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1)
    return fail(Code::kSignFailed, "RSA-PSS signing failed: " + openssl_error());
  sig.resize(len);
  return sig;
}

namespace {
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
}  // namespace

static Result<std::vector<uint8_t>> rsa_decrypt(EVP_PKEY* key, std::span<const uint8_t> ct,
                                                int padding, const EVP_MD* md, const EVP_MD* mgf1,
                                                std::span<const uint8_t> label) {
  if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
    return fail(Code::kUnsupported, "key transport needs an RSA key");
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(key, nullptr));
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), padding) != 1)
    return fail(Code::kVerifyError, "RSA decryption could not start: " + openssl_error());
  if (padding == RSA_PKCS1_OAEP_PADDING) {
    EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md);
    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), mgf1);
    if (!label.empty()) {
      auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(label.data(), label.size()));
      EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), copy, static_cast<int>(label.size()));
    }
  }
  size_t len = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, ct.data(), ct.size()) != 1)
    return fail(Code::kVerifyError, "RSA decryption failed: " + openssl_error());
  std::vector<uint8_t> out(len);
  if (EVP_PKEY_decrypt(ctx.get(), out.data(), &len, ct.data(), ct.size()) != 1)
    return fail(Code::kVerifyError, "RSA decryption failed: " + openssl_error());
  out.resize(len);
  return out;
}

Result<std::vector<uint8_t>> PrivateKey::rsa_decrypt_oaep(std::span<const uint8_t> ct, HashAlg md,
                                                          HashAlg mgf1,
                                                          std::span<const uint8_t> label) const {
  return rsa_decrypt(key_.get(), ct, RSA_PKCS1_OAEP_PADDING, md_of(md), md_of(mgf1), label);
}

Result<std::vector<uint8_t>> PrivateKey::rsa_decrypt_pkcs1(std::span<const uint8_t> ct) const {
  return rsa_decrypt(key_.get(), ct, RSA_PKCS1_PADDING, nullptr, nullptr, {});
}

// ---- Certificate ----

Result<Certificate> Certificate::from_der(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (!x)
    return fail(Code::kBadCertificate, "not a DER X.509 certificate (" + openssl_error() + ")");
  Certificate c;
  c.cert_ = std::shared_ptr<X509>(x, X509_free);
  c.der_.assign(der.begin(), der.end());
  EVP_PKEY* pk = X509_get_pubkey(x);
  if (!pk) return fail(Code::kBadCertificate, "certificate has no usable public key");
  c.pub_ = PublicKey(own(pk));
  auto nb = asn1_to_time(X509_get0_notBefore(x));
  auto na = asn1_to_time(X509_get0_notAfter(x));
  if (!nb || !na)
    return fail(Code::kBadCertificate,
                std::string("certificate ") + (nb ? "notAfter '" : "notBefore '") +
                    asn1_text(nb ? X509_get0_notAfter(x) : X509_get0_notBefore(x)) +
                    "' is not a valid UTCTime or GeneralizedTime");
  c.not_before_ = *nb;
  c.not_after_ = *na;
  c.base64_ = core::base64_encode(c.der_);
  c.fingerprint_ = hex_fingerprint(c.der_);
  return c;
}

Certificate Certificate::from_key(PublicKey key) {
  Certificate c;
  c.fingerprint_ = hex_fingerprint(key.spki_der());
  c.pub_ = std::move(key);
  // No dates of its own: the whole range dates come in (never WallTime's ends, which
  // `now - not_before` would overflow and no message could print as a year).
  c.not_before_ = core::kMinDate;
  c.not_after_ = core::kMaxDate;
  return c;
}

Result<Certificate> Certificate::from_base64(std::string_view b64) {
  CG_TRY(std::string der, core::base64_decode(b64));
  return from_der(std::span(reinterpret_cast<const uint8_t*>(der.data()), der.size()));
}

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  CG_TRY(auto all, certificates_from_pem(pem));
  return all.front();
}

Result<Certificate> Certificate::load(const std::string& path) {
  CG_TRY(std::string pem, core::read_file(path, 1 << 20));
  auto c = from_pem(pem);
  if (!c) return fail(Code::kBadCertificate, "'" + path + "': " + c.error().message);
  return c;
}

Result<std::vector<Certificate>> certificates_from_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<Certificate> out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    unsigned char* der = nullptr;
    int len = i2d_X509(x, &der);
    X509_free(x);
    if (len <= 0) break;
    auto c = Certificate::from_der(std::span(der, static_cast<size_t>(len)));
    OPENSSL_free(der);
    if (!c) return fail(c.take_error());
    out.push_back(std::move(*c));
  }
  ERR_clear_error();
  if (out.empty()) return fail(Code::kBadCertificate, "no PEM certificate found");
  return out;
}

Result<Certificate> Certificate::self_signed(const PrivateKey& key, const std::string& cn,
                                             core::WallTime not_before, int days) {
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  X509_set_version(x.get(), 2);
  uint8_t serial[16];
  // The serial only needs to be unique per issuer (here: per key); derive it from the public key
  // and the start time.
  unsigned char* pub_der = nullptr;
  int pub_len = i2d_PUBKEY(key.get(), &pub_der);
  std::string seed_input(reinterpret_cast<const char*>(pub_der),
                         pub_len > 0 ? static_cast<size_t>(pub_len) : 0);
  OPENSSL_free(pub_der);
  auto seed =
      digest(HashAlg::kSha256, seed_input + std::to_string(not_before.time_since_epoch().count()));
  std::memcpy(serial, seed.data(), sizeof serial);
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  auto nb = static_cast<time_t>(core::unix_seconds(not_before));
  ASN1_TIME_set(X509_getm_notBefore(x.get()), nb);
  ASN1_TIME_set(X509_getm_notAfter(x.get()), nb + static_cast<time_t>(days) * 86400);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  if (X509_sign(x.get(), key.get(), EVP_sha256()) <= 0) {
    return fail(Code::kSignFailed, "certificate signing failed: " + openssl_error());
  }
  unsigned char* der = nullptr;
  int len = i2d_X509(x.get(), &der);
  auto c = from_der(std::span(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  return c;
}

std::string Certificate::to_pem() const {
  const char* label = key_only() ? "PUBLIC KEY" : "CERTIFICATE";
  std::string b64 = key_only() ? core::base64_encode(pub_.spki_der()) : base64_der();
  std::string out = std::string("-----BEGIN ") + label + "-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  out += std::string("-----END ") + label + "-----\n";
  return out;
}

std::string Certificate::subject() const {
  if (key_only()) return pub_.describe() + " key without certificate";
  if (!cert_) return "";
  char* s = X509_NAME_oneline(X509_get_subject_name(cert_.get()), nullptr, 0);
  std::string out = s ? s : "";
  OPENSSL_free(s);
  return out;
}

bool Certificate::matches(const PrivateKey& key) const {
  if (key_only()) return pub_.equals(key.public_key());
  if (!cert_ || !key) return false;
  bool ok = X509_check_private_key(cert_.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

Result<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> PublicKey::ec_p256_xy() const {
  if (type() != KeyType::kEc || bits() != 256) {
    return fail(Code::kUnsupported, "the key is not an EC P-256 key");
  }
  uint8_t point[65];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                      sizeof point, &len) != 1 ||
      len != 65 || point[0] != 0x04) {
    // The key may carry a compressed point; ask for the uncompressed form.
    if (EVP_PKEY_set_utf8_string_param(key_.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                       "uncompressed") != 1 ||
        EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                        sizeof point, &len) != 1 ||
        len != 65 || point[0] != 0x04) {
      return fail(Code::kBadKey, "cannot read the EC public point: " + openssl_error());
    }
  }
  return std::pair{std::vector<uint8_t>(point + 1, point + 33),
                   std::vector<uint8_t>(point + 33, point + 65)};
}

Result<PublicKey> PublicKey::from_ec_p256_xy(std::span<const uint8_t> x,
                                             std::span<const uint8_t> y) {
  if (x.size() != 32 || y.size() != 32) {
    return fail(Code::kBadKey, "a P-256 coordinate must be 32 bytes, got " +
                                   std::to_string(x.size()) + " and " + std::to_string(y.size()));
  }
  uint8_t point[65];
  point[0] = 0x04;
  std::memcpy(point + 1, x.data(), 32);
  std::memcpy(point + 33, y.data(), 32);
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free);
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) !=
          1) {
    return fail(Code::kBadKey, "cannot build EC parameters: " + openssl_error());
  }
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* k = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return fail(Code::kBadKey, "the point is not a valid P-256 public key: " + openssl_error());
  }
  return PublicKey(own(k));
}

}  // namespace cg::crypto
