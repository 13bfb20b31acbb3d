#include "support/dated_cert.h"

#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

namespace cg::testing {
namespace {

// ASN1_TIME_set_string keeps the form it is given: 13 characters make a UTCTime, 15 a
// GeneralizedTime (ASN1_TIME_set_string_X509 would rewrite 1950..2049 to UTCTime).
void set_time(ASN1_TIME* t, const std::string& text) {
  ASSERT_EQ(ASN1_TIME_set_string(t, text.c_str()), 1) << text;
  ASSERT_EQ(ASN1_STRING_type(t), text.size() == 13 ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME)
      << text;
}

}  // namespace

crypto::Certificate dated_cert(const crypto::PrivateKey& key, const std::string& not_before,
                               const std::string& not_after, const std::string& cn) {
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()),
                   static_cast<long>(not_after.size() * 1000 + not_before.size()));
  set_time(X509_getm_notBefore(x.get()), not_before);
  set_time(X509_getm_notAfter(x.get()), not_after);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  EXPECT_GT(X509_sign(x.get(), key.get(), EVP_sha256()), 0);
  unsigned char* der = nullptr;
  int len = i2d_X509(x.get(), &der);
  EXPECT_GT(len, 0);
  auto c = crypto::Certificate::from_der(std::span(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return c ? *c : crypto::Certificate();
}

}  // namespace cg::testing
