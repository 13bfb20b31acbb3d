#include "xml/key_info.h"

#include <string>
#include <string_view>

#include "core/encoding.h"
#include "xml/errors.h"
#include "xml/names.h"
#include "xml/node.h"

namespace cg::xml {
namespace {

Unexpected<Error> bad(const std::string& what) {
  return fail(Code::kKeyValue, "the <ds:KeyValue> cannot be used: " + what);
}

Result<std::string> b64_child(const xmlNode* parent, const char* ns, const char* name) {
  xmlNode* n = first_child(parent, ns, name);
  if (!n) return bad("<" + std::string(local_name(parent)) + "> has no <" + name + ">");
  auto bytes = core::base64_decode(text(n));
  if (!bytes) return bad("<" + std::string(name) + "> is not base64: " + bytes.error().message);
  if (bytes->empty()) return bad("<" + std::string(name) + "> is empty");
  return bytes;
}

std::span<const uint8_t> as_bytes(const std::string& s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// The named curves XML DSig 1.1 identifies by OID URN (RFC 4055 / SEC 2).
const char* curve_of(std::string_view urn) {
  if (urn == "urn:oid:1.2.840.10045.3.1.7") return "P-256";
  if (urn == "urn:oid:1.3.132.0.34") return "P-384";
  if (urn == "urn:oid:1.3.132.0.35") return "P-521";
  return nullptr;
}

Result<crypto::PublicKey> rsa_key_value(const xmlNode* rsa) {
  CG_TRY(std::string modulus, b64_child(rsa, ns::kDs, "Modulus"));
  CG_TRY(std::string exponent, b64_child(rsa, ns::kDs, "Exponent"));
  auto key = crypto::PublicKey::from_rsa(as_bytes(modulus), as_bytes(exponent));
  if (!key) return bad(key.error().message);
  return key;
}

Result<crypto::PublicKey> ec_key_value(const xmlNode* ec) {
  xmlNode* named = first_child(ec, ns::kDsig11, "NamedCurve");
  if (!named) {
    return bad(first_child(ec, ns::kDsig11, "ECParameters")
                   ? "explicit EC parameters are not accepted; publish a named curve (P-256, "
                     "P-384 or P-521)"
                   : "<ECKeyValue> has no <NamedCurve>");
  }
  std::string urn = attr(named, "URI");
  const char* curve = curve_of(urn);
  if (!curve)
    return bad("curve '" + core::clip(urn) +
               "' is not accepted (urn:oid:1.2.840.10045.3.1.7 P-256, urn:oid:1.3.132.0.34 "
               "P-384, urn:oid:1.3.132.0.35 P-521)");
  CG_TRY(std::string point, b64_child(ec, ns::kDsig11, "PublicKey"));
  auto key = crypto::PublicKey::from_ec_point(curve, as_bytes(point));
  if (!key) return bad(key.error().message);
  return key;
}

}  // namespace

Result<std::vector<crypto::PublicKey>> key_values(const xmlNode* key_info) {
  std::vector<crypto::PublicKey> out;
  if (!key_info) return out;
  for (xmlNode* k = first_element(key_info); k; k = next_element(k)) {
    if (is(k, ns::kDsig11, "DEREncodedKeyValue")) {
      auto der = core::base64_decode(text(k));
      if (!der) return bad("<DEREncodedKeyValue> is not base64: " + der.error().message);
      auto key = crypto::PublicKey::from_spki_der(as_bytes(*der));
      if (!key) return bad(key.error().message);
      out.push_back(std::move(*key));
      continue;
    }
    if (!is(k, ns::kDs, "KeyValue")) continue;
    xmlNode* v = first_element(k);
    if (!v) return bad("it is empty");
    if (is(v, ns::kDs, "RSAKeyValue")) {
      CG_TRY(auto key, rsa_key_value(v));
      out.push_back(std::move(key));
    } else if (is(v, ns::kDsig11, "ECKeyValue")) {
      CG_TRY(auto key, ec_key_value(v));
      out.push_back(std::move(key));
    } else {
      return bad("<" + std::string(local_name(v)) + "> (" + core::clip(std::string(ns_uri(v))) +
                 ") is not accepted; an RSAKeyValue or a dsig11:ECKeyValue is");
    }
  }
  return out;
}

}  // namespace cg::xml
