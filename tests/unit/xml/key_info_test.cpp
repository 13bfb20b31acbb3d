#include "xml/key_info.h"

#include <gtest/gtest.h>

#include "core/encoding.h"
#include "support/saml_fixture.h"
#include "xml/document.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::xml {
namespace {

constexpr const char* kNs =
    " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\""
    " xmlns:dsig11=\"http://www.w3.org/2009/xmldsig11#\"";

// The keys in <ds:KeyInfo>inner</ds:KeyInfo>, or the error's name.
Result<std::vector<crypto::PublicKey>> keys_in(const std::string& inner) {
  auto d = Document::parse("<ds:KeyInfo" + std::string(kNs) + ">" + inner + "</ds:KeyInfo>");
  EXPECT_TRUE(d.has_value());
  return key_values(d->root());
}

// RSA, P-256 and P-384 KeyValues, and a DEREncodedKeyValue, read back as the same keys.
TEST(KeyInfoTest, ReadsRsaEcAndDerKeyValues) {
  for (const auto* kp :
       {&testing::idp_keys(), &testing::idp_ec_keys(), &testing::idp_ec384_keys()}) {
    const auto& pub = kp->cert.public_key();
    auto keys = keys_in(testing::key_value_xml(pub));
    ASSERT_TRUE(keys.has_value()) << keys.error().message;
    ASSERT_EQ(keys->size(), 1u);
    EXPECT_TRUE(keys->front().equals(pub)) << pub.describe();
    auto der = keys_in("<dsig11:DEREncodedKeyValue>" + core::base64_encode(pub.spki_der()) +
                       "</dsig11:DEREncodedKeyValue>");
    ASSERT_TRUE(der.has_value()) << der.error().message;
    EXPECT_TRUE(der->front().equals(pub));
  }
  // Line-wrapped base64, as metadata editors write it, is fine.
  std::string wrapped = testing::key_value_xml(testing::idp_keys().cert.public_key());
  wrapped.insert(wrapped.find("<ds:Modulus>") + 12 + 64, "\n    ");
  EXPECT_TRUE(keys_in(wrapped)->front().equals(testing::idp_keys().cert.public_key()));
  // A KeyInfo with only a certificate or a name holds no KeyValue.
  EXPECT_TRUE(keys_in("<ds:KeyName>k</ds:KeyName>")->empty());
}

// What is not a usable key is refused with what it is: DSA, explicit EC parameters, another
// curve, a point off the curve, missing parts.
TEST(KeyInfoTest, RefusesWhatIsNotAUsableKey) {
  auto refused = [](const std::string& inner) {
    auto k = keys_in(inner);
    return k ? std::string("accepted") : k.error().name + ": " + k.error().message;
  };
  EXPECT_NE(refused("<ds:KeyValue><ds:DSAKeyValue><ds:P>AQAB</ds:P></ds:DSAKeyValue></ds:KeyValue>")
                .find("signature.key_value: the <ds:KeyValue> cannot be used: <DSAKeyValue>"),
            std::string::npos);
  EXPECT_NE(refused("<ds:KeyValue><dsig11:ECKeyValue><dsig11:ECParameters/>"
                    "<dsig11:PublicKey>BAAA</dsig11:PublicKey></dsig11:ECKeyValue></ds:KeyValue>")
                .find("explicit EC parameters"),
            std::string::npos);
  std::string ec = testing::key_value_xml(testing::idp_ec_keys().cert.public_key());
  EXPECT_NE(refused(testing::replace_once(ec, "1.2.840.10045.3.1.7", "1.3.132.0.10"))
                .find("curve 'urn:oid:1.3.132.0.10' is not accepted"),
            std::string::npos);
  EXPECT_NE(refused(testing::replace_once(ec, "1.2.840.10045.3.1.7", "1.3.132.0.34"))
                .find("signature.key_value"),
            std::string::npos);  // a P-256 point is not a P-384 key
  std::string rsa = testing::key_value_xml(testing::idp_keys().cert.public_key());
  EXPECT_NE(refused(rsa.substr(0, rsa.find("<ds:Exponent>")) + "</ds:RSAKeyValue></ds:KeyValue>")
                .find("has no <Exponent>"),
            std::string::npos);
  EXPECT_NE(refused("<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>!!</ds:Modulus><ds:Exponent>AQAB"
                    "</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>")
                .find("<Modulus> is not base64"),
            std::string::npos);
  EXPECT_NE(refused("<ds:KeyValue/>").find("it is empty"), std::string::npos);
  EXPECT_NE(refused("<dsig11:DEREncodedKeyValue>AAAA</dsig11:DEREncodedKeyValue>")
                .find("SubjectPublicKeyInfo"),
            std::string::npos);
}

}  // namespace
}  // namespace cg::xml
