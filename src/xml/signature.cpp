#include "xml/signature.h"

#include <libxml/tree.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "core/encoding.h"
#include "xml/c14n.h"
#include "xml/document.h"
#include "xml/errors.h"
#include "xml/key_info.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::xml {
namespace {

using SigAlg = SignatureAlgorithmInfo;
constexpr SigAlg kSigAlgs[] = {
    {alg::kRsaSha256, crypto::HashAlg::kSha256, crypto::KeyType::kRsa, false},
    {alg::kRsaSha384, crypto::HashAlg::kSha384, crypto::KeyType::kRsa, false},
    {alg::kRsaSha512, crypto::HashAlg::kSha512, crypto::KeyType::kRsa, false},
    {alg::kRsaPssSha256, crypto::HashAlg::kSha256, crypto::KeyType::kRsa, true},
    {alg::kRsaPssSha384, crypto::HashAlg::kSha384, crypto::KeyType::kRsa, true},
    {alg::kRsaPssSha512, crypto::HashAlg::kSha512, crypto::KeyType::kRsa, true},
    {alg::kEcdsaSha256, crypto::HashAlg::kSha256, crypto::KeyType::kEc, false},
    {alg::kEcdsaSha384, crypto::HashAlg::kSha384, crypto::KeyType::kEc, false},
    {alg::kEcdsaSha512, crypto::HashAlg::kSha512, crypto::KeyType::kEc, false},
    {alg::kRsaSha1, crypto::HashAlg::kSha1, crypto::KeyType::kRsa, false},
    {alg::kEcdsaSha1, crypto::HashAlg::kSha1, crypto::KeyType::kEc, false},
};

struct DigestAlg {
  const char* uri;
  crypto::HashAlg hash;
};
constexpr DigestAlg kDigestAlgs[] = {
    {alg::kSha256, crypto::HashAlg::kSha256},
    {alg::kSha384, crypto::HashAlg::kSha384},
    {alg::kSha512, crypto::HashAlg::kSha512},
    {alg::kSha1, crypto::HashAlg::kSha1},
};

using core::clip;

Unexpected<Error> structure(const std::string& what) {
  return fail(Code::kSignatureStructure, "the XML signature is malformed: " + what);
}

// Reads an optional ec:InclusiveNamespaces PrefixList under a c14n method or transform; any
// other child is refused.
Result<std::vector<std::string>> inclusive_prefixes(xmlNode* method) {
  std::vector<std::string> out;
  for (xmlNode* k = first_element(method); k; k = next_element(k)) {
    if (!is(k, ns::kExcC14n, "InclusiveNamespaces")) {
      return structure("unexpected <" + std::string(local_name(k)) + "> inside " +
                       std::string(local_name(method)));
    }
    std::istringstream in(attr(k, "PrefixList"));
    std::string p;
    while (in >> p) out.push_back(p);
  }
  return out;
}

// Exactly the ds: children named, in order; `optional` ones may be missing.
struct Slot {
  const char* name;
  bool optional;
  xmlNode** out;
};
Status expect_children(xmlNode* parent, std::initializer_list<Slot> slots) {
  xmlNode* k = first_element(parent);
  for (const Slot& s : slots) {
    if (k && is(k, ns::kDs, s.name)) {
      *s.out = k;
      k = next_element(k);
    } else if (!s.optional) {
      return structure("<" + std::string(local_name(parent)) + "> has no <" + s.name + ">");
    }
  }
  if (k) {
    if (is(k, ns::kDs, "Object"))
      return fail(Code::kSignatureObject,
                  "the signature carries a <ds:Object>; SAML signatures never do, and it "
                  "can smuggle content past the verifier");
    if (is(k, ns::kDs, "Reference"))
      return fail(Code::kSignatureReference,
                  "the signature has more than one <ds:Reference>; exactly one is "
                  "accepted, pointing at the signed element");
    return structure("unexpected <" + std::string(local_name(k)) + "> in <" +
                     std::string(local_name(parent)) + ">");
  }
  return {};
}

// What to do about SHA-1, in the words of the setting that allows it (or that none does).
std::string sha1_advice(const SignaturePolicy& policy) {
  if (policy.sha1_setting.empty()) return "SHA-1 is not accepted here; use SHA-256";
  return "configure the IdP to use SHA-256, or allow SHA-1 for this IdP (" + policy.sha1_setting +
         ": true) if it cannot";
}

Result<crypto::HashAlg> digest_alg(const std::string& uri, const SignaturePolicy& policy) {
  for (const auto& d : kDigestAlgs) {
    if (uri == d.uri) {
      if (d.hash == crypto::HashAlg::kSha1 && !policy.allow_sha1)
        return fail(Code::kSignatureWeak, "the digest algorithm is " + clip(uri) +
                                              " (SHA-1), which is refused; " + sha1_advice(policy));
      return d.hash;
    }
  }
  return fail(Code::kSignatureAlgorithm,
              "digest algorithm '" + clip(uri) +
                  "' is not accepted; accepted: " + accepted_digest_algorithms());
}

}  // namespace

std::string accepted_signature_algorithms() {
  std::string out;
  for (const auto& a : kSigAlgs) {
    if (a.hash == crypto::HashAlg::kSha1) continue;
    out += (out.empty() ? "" : ", ") + std::string(a.uri);
  }
  return out + " (SHA-1 forms only where allowed)";
}

std::string accepted_digest_algorithms() {
  return std::string(alg::kSha256) + ", " + alg::kSha384 + ", " + alg::kSha512;
}

const SignatureAlgorithmInfo* find_signature_algorithm(std::string_view uri) {
  for (const auto& a : kSigAlgs)
    if (uri == a.uri) return &a;
  return nullptr;
}

Result<const SignatureAlgorithmInfo*> signature_algorithm(std::string_view uri,
                                                          const SignaturePolicy& policy) {
  const SigAlg* a = find_signature_algorithm(uri);
  if (!a)
    return fail(Code::kSignatureAlgorithm,
                "signature algorithm '" + clip(uri) +
                    "' is not accepted; accepted: " + accepted_signature_algorithms());
  if (a->hash == crypto::HashAlg::kSha1 && !policy.allow_sha1)
    return fail(Code::kSignatureWeak, "the signature algorithm is " + clip(uri) +
                                          " (SHA-1), which is refused; " + sha1_advice(policy));
  return a;
}

bool verify_signature_value(const crypto::PublicKey& key, const SignatureAlgorithmInfo& a,
                            std::span<const uint8_t> data, std::span<const uint8_t> sig) {
  if (key.type() != a.key) return false;
  return a.pss ? key.verify_pss(a.hash, data, sig) : key.verify(a.hash, data, sig, true);
}

Result<xmlNode*> find_signature(xmlNode* element) {
  auto sigs = children(element, ns::kDs, "Signature");
  if (sigs.size() > 1)
    return fail(Code::kSignatureMultiple, "<" + std::string(local_name(element)) + "> carries " +
                                              std::to_string(sigs.size()) +
                                              " signatures; one is accepted");
  return sigs.empty() ? nullptr : sigs.front();
}

Result<VerifiedElement> verify_enveloped(const Document& doc, xmlNode* element, xmlNode* signature,
                                         std::span<const crypto::Certificate> trusted,
                                         const SignaturePolicy& policy) {
  if (trusted.empty())
    return fail(Code::kNoTrustedKeys,
                "the IdP metadata has no usable signing certificate or key to verify with");
  if (!signature || signature->parent != element)
    return fail(Code::kSignatureReference,
                "the signature is not a direct child of the element it must sign");

  xmlNode *signed_info = nullptr, *sig_value = nullptr, *key_info = nullptr;
  CG_CHECK(expect_children(signature, {{"SignedInfo", false, &signed_info},
                                       {"SignatureValue", false, &sig_value},
                                       {"KeyInfo", true, &key_info}}));
  xmlNode *c14n_method = nullptr, *sig_method = nullptr, *reference = nullptr;
  CG_CHECK(expect_children(signed_info, {{"CanonicalizationMethod", false, &c14n_method},
                                         {"SignatureMethod", false, &sig_method},
                                         {"Reference", false, &reference}}));

  // Canonicalization of SignedInfo: exclusive, without comments.
  std::string c14n_alg = attr(c14n_method, "Algorithm");
  if (c14n_alg != alg::kExcC14n)
    return fail(Code::kSignatureAlgorithm, "canonicalization '" + clip(c14n_alg) +
                                               "' is not accepted (expected exclusive "
                                               "c14n, " +
                                               alg::kExcC14n + ")");
  CG_TRY(auto si_prefixes, inclusive_prefixes(c14n_method));

  std::string sig_alg_uri = attr(sig_method, "Algorithm");
  CG_TRY(const SigAlg* sig_alg, signature_algorithm(sig_alg_uri, policy));
  if (first_element(sig_method))
    return structure("<SignatureMethod> has parameters (e.g. HMACOutputLength)");

  // The one Reference must point at `element` by its ID.
  std::string uri = attr(reference, "URI");
  std::string id = attr(element, "ID");
  if (id.empty())
    return fail(Code::kSignatureReference,
                "the signed element <" + std::string(local_name(element)) + "> has no ID");
  if (uri != "#" + id) {
    return fail(Code::kSignatureReference, "the signature's reference URI is '" + clip(uri) +
                                               "' but the element it sits in has ID '" + clip(id) +
                                               "'; the reference must be '#" + clip(id) + "'");
  }
  if (doc.find_id(id) != element)
    return fail(Code::kSignatureReference, "the reference '#" + clip(id) +
                                               "' does not resolve to the element "
                                               "that carries the signature");

  xmlNode *transforms = nullptr, *digest_method = nullptr, *digest_value = nullptr;
  CG_CHECK(expect_children(reference, {{"Transforms", true, &transforms},
                                       {"DigestMethod", false, &digest_method},
                                       {"DigestValue", false, &digest_value}}));
  bool enveloped = false, exclusive = false;
  std::vector<std::string> ref_prefixes;
  for (xmlNode* t = first_element(transforms); t; t = next_element(t)) {
    if (!is(t, ns::kDs, "Transform"))
      return structure("unexpected <" + std::string(local_name(t)) + "> in <Transforms>");
    std::string a = attr(t, "Algorithm");
    if (a == alg::kEnveloped && !enveloped && !exclusive && !first_element(t)) {
      enveloped = true;
    } else if (a == alg::kExcC14n && !exclusive) {
      exclusive = true;
      CG_TRY(ref_prefixes, inclusive_prefixes(t));
    } else {
      return fail(Code::kSignatureTransform,
                  "transform '" + clip(a) +
                      "' is not accepted here; a SAML "
                      "signature uses enveloped-signature then exclusive c14n, once each");
    }
  }
  if (!enveloped || !exclusive)
    return fail(Code::kSignatureTransform,
                "the reference must list the enveloped-signature and exclusive c14n "
                "transforms");
  CG_TRY(crypto::HashAlg dig_alg, digest_alg(attr(digest_method, "Algorithm"), policy));
  if (first_element(digest_method)) return structure("<DigestMethod> has unexpected children");

  CG_TRY(std::string expected_digest, core::base64_decode(text(digest_value)));
  CG_TRY(std::string sig_bytes, core::base64_decode(text(sig_value)));

  // 1. SignedInfo is signed by one of the trusted keys.
  CG_TRY(std::string si_c14n, exc_c14n(signed_info, nullptr, si_prefixes));
  auto si = std::span(reinterpret_cast<const uint8_t*>(si_c14n.data()), si_c14n.size());
  auto sig = std::span(reinterpret_cast<const uint8_t*>(sig_bytes.data()), sig_bytes.size());

  // A certificate in KeyInfo is a hint for which trusted key to try first, never a key. It is
  // compared as base64 text (whitespace aside) with the trusted certificates; it is decoded and
  // parsed only to name it when nothing trusted verifies.
  std::string hint_b64;
  if (key_info) {
    auto x509 = descendants(key_info, ns::kDs, "X509Certificate");
    if (!x509.empty()) {
      hint_b64 = text(x509.front());
      std::erase_if(hint_b64,
                    [](char ch) { return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'; });
    }
  }
  auto is_hint = [&](const crypto::Certificate& c) {
    return !hint_b64.empty() && c.base64_der() == hint_b64;
  };
  const crypto::Certificate* verified_by = nullptr;
  // Only the trusted keys are ever tried: a key in the message's KeyInfo (X509Certificate,
  // KeyValue) is never one of them unless the metadata publishes it.
  auto try_key = [&](const crypto::Certificate& c) {
    return verify_signature_value(c.public_key(), *sig_alg, si, sig);
  };
  for (const auto& c : trusted)
    if (!verified_by && is_hint(c) && try_key(c)) verified_by = &c;
  for (size_t i = 0; !verified_by && i < trusted.size(); ++i)
    if (!is_hint(trusted[i]) && try_key(trusted[i])) verified_by = &trusted[i];
  if (!verified_by) {
    bool hint_trusted = std::any_of(trusted.begin(), trusted.end(), is_hint);
    auto hint = hint_b64.empty() || hint_trusted
                    ? Result<crypto::Certificate>(fail(Code::kSignatureInvalid, ""))
                    : crypto::Certificate::from_base64(hint_b64);
    if (hint) {
      return fail(
          Code::kUntrustedKey,
          "the signature was made with a certificate that is not in the IdP metadata (subject '" +
              hint->subject() + "', SHA-256 " + hint->sha256_fingerprint() +
              "); update the metadata if the IdP rotated its key");
    }
    // A KeyValue in the message is read only to name the key when the metadata does not hold it.
    if (auto carried = key_values(key_info); carried && !carried->empty()) {
      const crypto::PublicKey& k = carried->front();
      bool known = std::any_of(trusted.begin(), trusted.end(), [&](const crypto::Certificate& c) {
        return c.public_key().equals(k);
      });
      if (!known) {
        return fail(Code::kUntrustedKey,
                    "the signature names a key that is not in the IdP metadata (" + k.describe() +
                        " in its own <ds:KeyValue>, SHA-256 of the key " +
                        crypto::Certificate::from_key(k).sha256_fingerprint() +
                        "); a key carried in a message is never trusted; only the metadata's "
                        "keys are");
      }
    }
    return fail(Code::kSignatureInvalid, "the signature does not verify with any of the " +
                                             std::to_string(trusted.size()) +
                                             " signing certificate(s) or key(s) in the IdP "
                                             "metadata");
  }

  // 2. The referenced element, less the signature, digests to the signed value.
  CG_TRY(std::string content, exc_c14n(element, signature, ref_prefixes));
  auto actual = crypto::digest(dig_alg, content);
  if (actual.size() != expected_digest.size() ||
      CRYPTO_memcmp(actual.data(), expected_digest.data(), actual.size()) != 0) {
    return fail(Code::kDigestMismatch, "the content of <" + std::string(local_name(element)) +
                                           "> was changed after it was signed (digest mismatch)");
  }
  return VerifiedElement{element, sig_alg_uri, attr(digest_method, "Algorithm"),
                         verified_by->sha256_fingerprint()};
}

}  // namespace cg::xml
