// Namespace URIs and algorithm identifiers of SAML 2.0, XML DSig and XML Encryption.
#pragma once

namespace cg::xml::ns {

inline constexpr const char* kSamlp = "urn:oasis:names:tc:SAML:2.0:protocol";
inline constexpr const char* kSaml = "urn:oasis:names:tc:SAML:2.0:assertion";
inline constexpr const char* kMd = "urn:oasis:names:tc:SAML:2.0:metadata";
inline constexpr const char* kDs = "http://www.w3.org/2000/09/xmldsig#";
inline constexpr const char* kDsig11 = "http://www.w3.org/2009/xmldsig11#";
inline constexpr const char* kXenc = "http://www.w3.org/2001/04/xmlenc#";
inline constexpr const char* kXenc11 = "http://www.w3.org/2009/xmlenc11#";
inline constexpr const char* kExcC14n = "http://www.w3.org/2001/10/xml-exc-c14n#";
inline constexpr const char* kXsi = "http://www.w3.org/2001/XMLSchema-instance";
inline constexpr const char* kXs = "http://www.w3.org/2001/XMLSchema";

}  // namespace cg::xml::ns

namespace cg::xml::alg {

inline constexpr const char* kExcC14n = "http://www.w3.org/2001/10/xml-exc-c14n#";
inline constexpr const char* kExcC14nComments =
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
inline constexpr const char* kEnveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

inline constexpr const char* kRsaSha1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
inline constexpr const char* kRsaSha256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
inline constexpr const char* kRsaSha384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
inline constexpr const char* kRsaSha512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
inline constexpr const char* kEcdsaSha1 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1";
inline constexpr const char* kEcdsaSha256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
inline constexpr const char* kEcdsaSha384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
inline constexpr const char* kEcdsaSha512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512";
// RSASSA-PSS with MGF1 over the same hash and a salt as long as the hash (RFC 6931 2.3.10).
inline constexpr const char* kRsaPssSha256 =
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1";
inline constexpr const char* kRsaPssSha384 =
    "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1";
inline constexpr const char* kRsaPssSha512 =
    "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1";

inline constexpr const char* kSha1 = "http://www.w3.org/2000/09/xmldsig#sha1";
inline constexpr const char* kSha256 = "http://www.w3.org/2001/04/xmlenc#sha256";
inline constexpr const char* kSha384 = "http://www.w3.org/2001/04/xmldsig-more#sha384";
inline constexpr const char* kSha512 = "http://www.w3.org/2001/04/xmlenc#sha512";

inline constexpr const char* kAes128Cbc = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
inline constexpr const char* kAes192Cbc = "http://www.w3.org/2001/04/xmlenc#aes192-cbc";
inline constexpr const char* kAes256Cbc = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
inline constexpr const char* kAes128Gcm = "http://www.w3.org/2009/xmlenc11#aes128-gcm";
inline constexpr const char* kAes192Gcm = "http://www.w3.org/2009/xmlenc11#aes192-gcm";
inline constexpr const char* kAes256Gcm = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
inline constexpr const char* kRsaOaepMgf1p = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
inline constexpr const char* kRsaOaep11 = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
inline constexpr const char* kRsa15 = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
inline constexpr const char* kTripleDesCbc = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc";
inline constexpr const char* kMgf1Sha1 = "http://www.w3.org/2009/xmlenc11#mgf1sha1";

}  // namespace cg::xml::alg
