#include "xml/encryption.h"

#include <libxml/tree.h>
#include <openssl/crypto.h>
#include <xmlsec/buffer.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/keysmngr.h>
#include <xmlsec/templates.h>
#include <xmlsec/xmlenc.h>
#include <xmlsec/xmlsec.h>

#include <cstring>

#include "core/encoding.h"
#include "xml/document.h"
#include "xml/errors.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::xml {
namespace {

struct DataAlg {
  const char* uri;
  size_t key_bytes;
  bool tripledes = false;  // only with DecryptPolicy::allow_tripledes
};
constexpr DataAlg kDataAlgs[] = {
    {alg::kAes128Cbc, 16},          {alg::kAes192Cbc, 24}, {alg::kAes256Cbc, 32},
    {alg::kAes128Gcm, 16},          {alg::kAes192Gcm, 24}, {alg::kAes256Gcm, 32},
    {alg::kTripleDesCbc, 24, true},
};

Result<crypto::HashAlg> oaep_digest(const std::string& uri) {
  if (uri.empty() || uri == alg::kSha1) return crypto::HashAlg::kSha1;  // the OAEP default
  if (uri == alg::kSha256) return crypto::HashAlg::kSha256;
  if (uri == alg::kSha384) return crypto::HashAlg::kSha384;
  if (uri == alg::kSha512) return crypto::HashAlg::kSha512;
  return fail(Code::kEncryptionAlgorithm,
              "OAEP digest '" + core::clip(uri) + "' is not supported; accepted: " + alg::kSha1 +
                  ", " + alg::kSha256 + ", " + alg::kSha384 + ", " + alg::kSha512);
}

Result<crypto::HashAlg> mgf_digest(const std::string& uri) {
  if (uri.empty() || uri == alg::kMgf1Sha1) return crypto::HashAlg::kSha1;
  if (uri == "http://www.w3.org/2009/xmlenc11#mgf1sha256") return crypto::HashAlg::kSha256;
  if (uri == "http://www.w3.org/2009/xmlenc11#mgf1sha384") return crypto::HashAlg::kSha384;
  if (uri == "http://www.w3.org/2009/xmlenc11#mgf1sha512") return crypto::HashAlg::kSha512;
  return fail(Code::kEncryptionAlgorithm,
              "MGF '" + core::clip(uri) + "' is not supported; accepted: " + alg::kMgf1Sha1 +
                  " and http://www.w3.org/2009/xmlenc11#mgf1sha256, #mgf1sha384, #mgf1sha512");
}

xmlNode* find_encrypted_key(xmlNode* encrypted_data) {
  if (xmlNode* ki = first_child(encrypted_data, ns::kDs, "KeyInfo"))
    if (xmlNode* ek = first_child(ki, ns::kXenc, "EncryptedKey")) return ek;
  // Shibboleth-style: <EncryptedAssertion><EncryptedData/><EncryptedKey/></EncryptedAssertion>
  if (xmlNode* parent = encrypted_data->parent)
    if (xmlNode* ek = first_child(parent, ns::kXenc, "EncryptedKey")) return ek;
  return nullptr;
}

Result<std::vector<uint8_t>> unwrap_key(xmlNode* ek, std::span<const crypto::PrivateKey> keys,
                                        const DecryptPolicy& policy, std::string& transport_uri) {
  const std::string what = policy.what;
  xmlNode* method = first_child(ek, ns::kXenc, "EncryptionMethod");
  transport_uri = attr(method, "Algorithm");
  xmlNode* cipher_value =
      first_child(first_child(ek, ns::kXenc, "CipherData"), ns::kXenc, "CipherValue");
  if (!cipher_value) return fail(Code::kEncryptionStructure, "<EncryptedKey> has no CipherValue");
  CG_TRY(std::string ct, core::base64_decode(text(cipher_value)));
  auto ct_bytes = std::span(reinterpret_cast<const uint8_t*>(ct.data()), ct.size());

  bool oaep = transport_uri == alg::kRsaOaepMgf1p || transport_uri == alg::kRsaOaep11;
  if (transport_uri == alg::kRsa15) {
    if (!policy.allow_rsa15)
      return fail(Code::kEncryptionWeak,
                  "the " + what + " key is encrypted with RSA PKCS#1 v1.5 (" + alg::kRsa15 +
                      "), which is refused (padding-oracle attacks); configure the IdP to use "
                      "RSA-OAEP (" +
                      alg::kRsaOaepMgf1p + " or " + alg::kRsaOaep11 +
                      "), or set saml.allow_rsa15: true if it cannot");
  } else if (!oaep) {
    return fail(Code::kEncryptionAlgorithm,
                "key transport '" + core::clip(transport_uri) +
                    "' is not accepted; accepted: " + alg::kRsaOaepMgf1p + ", " + alg::kRsaOaep11);
  }
  crypto::HashAlg md = crypto::HashAlg::kSha1, mgf = crypto::HashAlg::kSha1;
  std::string label;
  if (oaep) {
    CG_TRY(md, oaep_digest(attr(first_child(method, ns::kDs, "DigestMethod"), "Algorithm")));
    if (transport_uri == alg::kRsaOaep11) {
      CG_TRY(mgf, mgf_digest(attr(first_child(method, ns::kXenc11, "MGF"), "Algorithm")));
    }
    if (xmlNode* p = first_child(method, ns::kXenc, "OAEPparams")) {
      CG_TRY(label, core::base64_decode(text(p)));
    }
  }
  auto label_bytes = std::span(reinterpret_cast<const uint8_t*>(label.data()), label.size());
  for (const auto& k : keys) {
    auto r =
        oaep ? k.rsa_decrypt_oaep(ct_bytes, md, mgf, label_bytes) : k.rsa_decrypt_pkcs1(ct_bytes);
    if (r) return r;
  }
  return fail(Code::kDecryptFailed,
              "the " + what + "'s key could not be decrypted with any of the SP's " +
                  std::to_string(keys.size()) +
                  " key(s); was it encrypted for another "
                  "certificate? (the IdP may hold an old copy of our metadata)");
}

}  // namespace

Result<Decrypted> decrypt(xmlNode* encrypted_data, std::span<const crypto::PrivateKey> keys,
                          const DecryptPolicy& policy) {
  if (!xmlsec_ready())
    return fail(Code::kDecryptFailed, "xmlsec (OpenSSL backend) did not initialise");
  const std::string what = policy.what;
  if (keys.empty())
    return fail(Code::kNoDecryptionKey,
                "the " + what + " is encrypted but this SP has no decryption key configured");
  if (!is(encrypted_data, ns::kXenc, "EncryptedData"))
    return fail(Code::kEncryptionStructure, "expected <xenc:EncryptedData>");
  std::string type = attr(encrypted_data, "Type");
  if (!type.empty() && type != "http://www.w3.org/2001/04/xmlenc#Element")
    return fail(Code::kEncryptionStructure,
                "EncryptedData Type '" + core::clip(type) + "' is not an element");
  std::string data_uri =
      attr(first_child(encrypted_data, ns::kXenc, "EncryptionMethod"), "Algorithm");
  const DataAlg* data_alg = nullptr;
  for (const auto& a : kDataAlgs)
    if (data_uri == a.uri) data_alg = &a;
  if (!data_alg)
    return fail(Code::kEncryptionAlgorithm,
                "content encryption '" + core::clip(data_uri) + "' is not accepted; accepted: " +
                    alg::kAes128Gcm + ", " + alg::kAes192Gcm + ", " + alg::kAes256Gcm + ", " +
                    alg::kAes128Cbc + ", " + alg::kAes192Cbc + ", " + alg::kAes256Cbc);
  if (data_alg->tripledes && !policy.allow_tripledes)
    return fail(Code::kEncryptionAlgorithm,
                "the " + what + " is encrypted with 3DES (" + data_uri +
                    "; pysaml2's and SATOSA's default), which is refused: 64-bit blocks, "
                    "deprecated; configure the IdP to encrypt with AES-256-GCM or AES-128-CBC "
                    "(pysaml2: pre_encryption_part(msg_enc=...)), or set "
                    "saml.idps[].allow_tripledes for this IdP if it cannot be changed");
  xmlNode* ek = find_encrypted_key(encrypted_data);
  if (!ek)
    return fail(Code::kEncryptionStructure,
                "the encrypted " + what + " carries no <xenc:EncryptedKey>");
  Decrypted out;
  out.data_algorithm = data_uri;
  CG_TRY(auto session_key, unwrap_key(ek, keys, policy, out.key_transport));
  if (session_key.size() != data_alg->key_bytes)
    return fail(Code::kDecryptFailed,
                "the decrypted content key has the wrong length for " + core::clip(data_uri));

  // The symmetric part is xmlsec's, with the content key given: its KeyInfo processing (which
  // could pick keys from the message) never runs.
  xmlSecEncCtxPtr ctx = xmlSecEncCtxCreate(nullptr);
  if (!ctx) return fail(Code::kDecryptFailed, "xmlsec could not create an encryption context");
  ctx->encKey =
      xmlSecKeyReadMemory(data_alg->tripledes ? xmlSecKeyDataDesId : xmlSecKeyDataAesId,
                          session_key.data(), static_cast<xmlSecSize>(session_key.size()));
  OPENSSL_cleanse(session_key.data(), session_key.size());
  if (!ctx->encKey) {
    xmlSecEncCtxDestroy(ctx);
    return fail(Code::kDecryptFailed, "xmlsec refused the content key");
  }
  take_xmlsec_error();
  xmlSecBufferPtr buf = xmlSecEncCtxDecryptToBuffer(ctx, encrypted_data);
  if (!buf) {
    xmlSecEncCtxDestroy(ctx);
    std::string why = take_xmlsec_error();
    return fail(Code::kDecryptFailed, "the encrypted " + what + " could not be decrypted (" +
                                          core::clip(data_uri) +
                                          "): the ciphertext or its authentication tag is invalid" +
                                          (why.empty() ? "" : " (" + why + ")"));
  }
  out.plaintext.assign(reinterpret_cast<const char*>(xmlSecBufferGetData(buf)),
                       xmlSecBufferGetSize(buf));
  xmlSecEncCtxDestroy(ctx);
  return out;
}

Result<xmlNode*> encrypt(xmlNode* element, const crypto::Certificate& recipient, DataAlgorithm data,
                         KeyTransport transport) {
  if (!xmlsec_ready())
    return fail(Code::kEncryptFailed, "xmlsec (OpenSSL backend) did not initialise");
  xmlSecTransformId data_id = xmlSecTransformAes256GcmId;
  xmlSecSize key_bits = 256;
  switch (data) {
    case DataAlgorithm::kAes128Cbc:
      data_id = xmlSecTransformAes128CbcId, key_bits = 128;
      break;
    case DataAlgorithm::kAes256Cbc:
      data_id = xmlSecTransformAes256CbcId, key_bits = 256;
      break;
    case DataAlgorithm::kAes128Gcm:
      data_id = xmlSecTransformAes128GcmId, key_bits = 128;
      break;
    case DataAlgorithm::kAes256Gcm:
      data_id = xmlSecTransformAes256GcmId, key_bits = 256;
      break;
    case DataAlgorithm::kTripleDesCbc:
      data_id = xmlSecTransformDes3CbcId, key_bits = 192;
      break;
  }
  xmlDoc* doc = element->doc;
  xmlNode* enc =
      xmlSecTmplEncDataCreate(doc, data_id, nullptr, xmlSecTypeEncElement, nullptr, nullptr);
  if (!enc) return fail(Code::kEncryptFailed, "xmlsec could not create an EncryptedData template");
  xmlSecKeysMngrPtr mngr = xmlSecKeysMngrCreate();
  xmlSecEncCtxPtr ctx = nullptr;
  auto done = [&](bool free_enc) {
    if (ctx) xmlSecEncCtxDestroy(ctx);
    if (mngr) xmlSecKeysMngrDestroy(mngr);
    if (free_enc) xmlFreeNode(enc);
  };
  xmlNode* key_info = xmlSecTmplEncDataEnsureKeyInfo(enc, nullptr);
  xmlNode* ek = key_info ? xmlSecTmplKeyInfoAddEncryptedKey(key_info,
                                                            transport == KeyTransport::kRsaOaep
                                                                ? xmlSecTransformRsaOaepId
                                                                : xmlSecTransformRsaPkcs1Id,
                                                            nullptr, nullptr, nullptr)
                         : nullptr;
  if (!xmlSecTmplEncDataEnsureCipherValue(enc) || !ek || !xmlSecTmplEncDataEnsureCipherValue(ek) ||
      xmlSecCryptoAppDefaultKeysMngrInit(mngr) < 0) {
    done(true);
    return fail(Code::kEncryptFailed, "xmlsec could not build the encryption template");
  }
  xmlSecKeyPtr rsa = xmlSecCryptoAppKeyLoadMemory(
      recipient.der().data(), static_cast<xmlSecSize>(recipient.der().size()),
      xmlSecKeyDataFormatCertDer, nullptr, nullptr, nullptr);
  if (!rsa || xmlSecCryptoAppDefaultKeysMngrAdoptKey(mngr, rsa) < 0) {
    if (rsa) xmlSecKeyDestroy(rsa);
    done(true);
    return fail(Code::kEncryptFailed, "xmlsec could not load the recipient certificate");
  }
  ctx = xmlSecEncCtxCreate(mngr);
  ctx->encKey = xmlSecKeyGenerate(
      data == DataAlgorithm::kTripleDesCbc ? xmlSecKeyDataDesId : xmlSecKeyDataAesId, key_bits,
      xmlSecKeyDataTypeSession);
  if (!ctx->encKey || xmlSecEncCtxXmlEncrypt(ctx, enc, element) < 0) {
    done(true);
    return fail(Code::kEncryptFailed, "xmlsec failed to encrypt the element");
  }
  done(false);  // `enc` replaced `element` in the tree; `element` was freed by xmlsec
  return enc;
}

}  // namespace cg::xml
