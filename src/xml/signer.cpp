#include "xml/signer.h"

#include <libxml/tree.h>
#include <libxml/valid.h>
#include <openssl/evp.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/templates.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>

#include "xml/document.h"
#include "xml/errors.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::xml {
namespace {

xmlSecTransformId sig_transform(SignatureAlgorithm a) {
  switch (a) {
    case SignatureAlgorithm::kRsaSha256:
      return xmlSecTransformRsaSha256Id;
    case SignatureAlgorithm::kRsaSha512:
      return xmlSecTransformRsaSha512Id;
    case SignatureAlgorithm::kRsaSha1:
      return xmlSecTransformRsaSha1Id;
    case SignatureAlgorithm::kEcdsaSha256:
      return xmlSecTransformEcdsaSha256Id;
  }
  return xmlSecTransformRsaSha256Id;
}

xmlSecTransformId digest_transform(DigestAlgorithm a) {
  switch (a) {
    case DigestAlgorithm::kSha256:
      return xmlSecTransformSha256Id;
    case DigestAlgorithm::kSha512:
      return xmlSecTransformSha512Id;
    case DigestAlgorithm::kSha1:
      return xmlSecTransformSha1Id;
  }
  return xmlSecTransformSha256Id;
}

const xmlChar* x(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

}  // namespace

const char* signature_uri(SignatureAlgorithm a) {
  switch (a) {
    case SignatureAlgorithm::kRsaSha256:
      return alg::kRsaSha256;
    case SignatureAlgorithm::kRsaSha512:
      return alg::kRsaSha512;
    case SignatureAlgorithm::kRsaSha1:
      return alg::kRsaSha1;
    case SignatureAlgorithm::kEcdsaSha256:
      return alg::kEcdsaSha256;
  }
  return alg::kRsaSha256;
}

SignOptions sign_options_for(const crypto::PrivateKey& key) {
  SignOptions o;
  if (key.type() == crypto::KeyType::kEc) o.signature = SignatureAlgorithm::kEcdsaSha256;
  return o;
}

Status sign_enveloped(xmlNode* element, const crypto::PrivateKey& key,
                      const crypto::Certificate& cert, const SignOptions& options) {
  if (!xmlsec_ready())
    return fail(Code::kSignFailed, "xmlsec (OpenSSL backend) did not initialise");
  bool ecdsa = options.signature == SignatureAlgorithm::kEcdsaSha256;
  if (ecdsa != (key.type() == crypto::KeyType::kEc))
    return fail(Code::kSignFailed, std::string("cannot sign ") + signature_uri(options.signature) +
                                       " with " + key.public_key().describe() + " key");
  std::string id = attr(element, "ID");
  if (id.empty()) return fail(Code::kSignFailed, "the element to sign has no ID attribute");
  xmlDoc* doc = element->doc;

  xmlNode* tmpl = xmlSecTmplSignatureCreateNsPref(
      doc, xmlSecTransformExclC14NId, sig_transform(options.signature), nullptr, x("ds"));
  if (!tmpl) return fail(Code::kSignFailed, "xmlsec could not create a signature template");
  if (xmlNode* issuer = first_child(element, ns::kSaml, "Issuer")) {
    xmlAddNextSibling(issuer, tmpl);
  } else if (xmlNode* first = first_element(element)) {
    xmlAddPrevSibling(first, tmpl);
  } else {
    xmlAddChild(element, tmpl);
  }
  auto cleanup = [&] {
    xmlUnlinkNode(tmpl);
    xmlFreeNode(tmpl);
  };
  std::string uri = "#" + id;
  xmlNode* ref = xmlSecTmplSignatureAddReference(tmpl, digest_transform(options.digest), nullptr,
                                                 x(uri.c_str()), nullptr);
  if (!ref || !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) ||
      !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId)) {
    cleanup();
    return fail(Code::kSignFailed, "xmlsec could not build the reference");
  }
  if (options.include_certificate) {
    xmlNode* key_info = xmlSecTmplSignatureEnsureKeyInfo(tmpl, nullptr);
    xmlNode* x509 = key_info ? xmlSecTmplKeyInfoAddX509Data(key_info) : nullptr;
    if (!x509 || !xmlSecTmplX509DataAddCertificate(x509)) {
      cleanup();
      return fail(Code::kSignFailed, "xmlsec could not build KeyInfo");
    }
  }
  // xmlsec resolves "#id" through libxml2's ID table.
  xmlAttr* id_attr = xmlHasProp(element, x("ID"));
  if (!xmlGetID(doc, x(id.c_str()))) xmlAddID(nullptr, doc, x(id.c_str()), id_attr);

  EVP_PKEY* pkey = key.get();
  EVP_PKEY_up_ref(pkey);
  xmlSecKeyDataPtr data = xmlSecOpenSSLEvpKeyAdopt(pkey);
  xmlSecKeyPtr sk = data ? xmlSecKeyCreate() : nullptr;
  if (!sk || xmlSecKeySetValue(sk, data) < 0) {
    if (data) xmlSecKeyDataDestroy(data);
    if (sk) xmlSecKeyDestroy(sk);
    cleanup();
    return fail(Code::kSignFailed, "xmlsec could not take the signing key");
  }
  if (options.include_certificate &&
      xmlSecCryptoAppKeyCertLoadMemory(sk, cert.der().data(),
                                       static_cast<xmlSecSize>(cert.der().size()),
                                       xmlSecKeyDataFormatCertDer) < 0) {
    xmlSecKeyDestroy(sk);
    cleanup();
    return fail(Code::kSignFailed, "xmlsec could not take the signing certificate");
  }
  xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(nullptr);
  ctx->signKey = sk;  // owned by ctx from here
  int rc = xmlSecDSigCtxSign(ctx, tmpl);
  xmlSecDSigCtxDestroy(ctx);
  if (rc < 0) {
    cleanup();
    return fail(Code::kSignFailed,
                "xmlsec failed to sign <" + std::string(local_name(element)) + ">");
  }
  return {};
}

}  // namespace cg::xml
