#include "saml/bindings.h"

#include "core/encoding.h"
#include "saml/errors.h"
#include "xml/names.h"
#include "xml/node.h"
#include "xml/signature.h"

namespace cg::saml {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool looks_like_xml(std::string_view s) {
  s = trim(s);
  if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);
  return !s.empty() && s.front() == '<';
}

}  // namespace

Result<std::string> decode_post_message(std::string_view input, std::string_view param,
                                        size_t max_bytes) {
  input = trim(input);
  if (input.size() > max_bytes * 2)
    return fail(Code::kDecode,
                "the posted message is " + std::to_string(input.size()) + " bytes, over the limit");
  if (looks_like_xml(input)) return std::string(input);
  std::string b64;
  std::string prefix = std::string(param) + "=";
  if (input.starts_with(prefix) || input.find("&" + prefix) != std::string_view::npos) {
    auto params = core::parse_query(input);
    if (!params)
      return fail(Code::kDecode,
                  "the form body is not URL-encoded correctly: " + params.error().message);
    const auto* p = core::find_param(*params, param);
    if (!p || p->value.empty())
      return fail(Code::kDecode, "the form body has no " + std::string(param));
    b64 = p->value;
  } else {
    auto unescaped = core::url_decode(input, false);  // tolerate a %-encoded paste
    b64 = unescaped ? *unescaped : std::string(input);
  }
  auto xml = core::base64_decode(b64);
  if (!xml)
    return fail(Code::kDecode, std::string(param) + " is not valid base64: " + xml.error().message);
  if (!looks_like_xml(*xml)) {
    // A Redirect-binding value pasted by mistake is DEFLATEd; say so rather than "not XML".
    auto inflated = core::inflate_raw(*xml, max_bytes);
    if (inflated && looks_like_xml(*inflated)) return *inflated;
    return fail(Code::kDecode, std::string(param) + " decodes to something that is not XML");
  }
  return *xml;
}

Result<std::string> redirect_url(std::string_view endpoint, std::string_view param,
                                 std::string_view xml, std::string_view relay_state,
                                 const crypto::PrivateKey* key) {
  std::string query =
      std::string(param) + "=" + core::url_encode(core::base64_encode(core::deflate_raw(xml)));
  if (!relay_state.empty()) query += "&RelayState=" + core::url_encode(relay_state);
  if (key) {
    query +=
        "&SigAlg=" + core::url_encode(key->type() == crypto::KeyType::kEc ? xml::alg::kEcdsaSha256
                                                                          : xml::alg::kRsaSha256);
    // ECDSA as r||s: the SigAlg URI is XML DSig's, and so is the form of its value.
    auto sig = key->sign(crypto::HashAlg::kSha256,
                         std::span(reinterpret_cast<const uint8_t*>(query.data()), query.size()),
                         /*raw_ecdsa=*/true);
    if (!sig) return fail(sig.take_error());
    query += "&Signature=" + core::url_encode(core::base64_encode(*sig));
  }
  std::string url(endpoint);
  url += url.find('?') == std::string::npos ? '?' : '&';
  return url + query;
}

Result<RedirectMessage> decode_redirect(std::string_view input, size_t max_bytes) {
  input = trim(input);
  if (size_t q = input.find('?'); q != std::string_view::npos) input = input.substr(q + 1);
  if (size_t h = input.find('#'); h != std::string_view::npos) input = input.substr(0, h);
  auto params = core::parse_query(input);
  if (!params)
    return fail(Code::kDecode,
                "the query string is not URL-encoded correctly: " + params.error().message);
  RedirectMessage m;
  const core::QueryParam* msg = core::find_param(*params, "SAMLRequest");
  m.param = "SAMLRequest";
  if (!msg) {
    msg = core::find_param(*params, "SAMLResponse");
    m.param = "SAMLResponse";
  }
  if (!msg) return fail(Code::kDecode, "the URL carries neither SAMLRequest nor SAMLResponse");
  auto deflated = core::base64_decode(msg->value);
  if (!deflated)
    return fail(Code::kDecode, m.param + " is not valid base64: " + deflated.error().message);
  auto xml = core::inflate_raw(*deflated, max_bytes);
  if (!xml) return fail(Code::kDecode, m.param + " is not DEFLATE data: " + xml.error().message);
  m.xml = std::move(*xml);
  const auto* rs = core::find_param(*params, "RelayState");
  const auto* sa = core::find_param(*params, "SigAlg");
  const auto* sg = core::find_param(*params, "Signature");
  if (rs) m.relay_state = rs->value;
  if (sa && sg) {
    m.sig_alg = sa->value;
    auto sig = core::base64_decode(sg->value);
    if (!sig) return fail(Code::kRedirectSignature, "the Signature parameter is not valid base64");
    m.signature = std::move(*sig);
    // The signed octets are the parameters as received, in this order (SAML bindings 3.4.4.1).
    m.signed_content = m.param + "=" + msg->raw_value;
    if (rs) m.signed_content += "&RelayState=" + rs->raw_value;
    m.signed_content += "&SigAlg=" + sa->raw_value;
  }
  return m;
}

Status verify_redirect_signature(const RedirectMessage& m,
                                 std::span<const crypto::Certificate> trusted, bool allow_sha1) {
  if (m.sig_alg.empty())
    return fail(Code::kRedirectSignature,
                "the " + m.param + " is not signed (no SigAlg / Signature)");
  auto alg = xml::signature_algorithm(m.sig_alg, {allow_sha1});
  if (!alg) return fail(Code::kRedirectSignature, "SigAlg: " + alg.error().message);
  auto data =
      std::span(reinterpret_cast<const uint8_t*>(m.signed_content.data()), m.signed_content.size());
  auto sig = std::span(reinterpret_cast<const uint8_t*>(m.signature.data()), m.signature.size());
  for (const auto& c : trusted) {
    const crypto::PublicKey& k = c.public_key();
    if (xml::verify_signature_value(k, **alg, data, sig)) return {};
    // ECDSA values are r||s (as the SigAlg URI defines them); some senders put OpenSSL's DER.
    if ((*alg)->key == crypto::KeyType::kEc && k.type() == crypto::KeyType::kEc &&
        k.verify((*alg)->hash, data, sig, /*raw_ecdsa=*/false))
      return {};
  }
  return fail(Code::kRedirectSignature,
              "the " + m.param + " signature (" + core::clip(m.sig_alg) +
                  ") does not verify with any of the " + std::to_string(trusted.size()) +
                  " trusted certificate(s) or key(s) in the IdP metadata");
}

std::string post_form_html(std::string_view action, std::string_view param, std::string_view xml,
                           std::string_view relay_state) {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Signing in…</title></head>"
      "<body onload=\"document.forms[0].submit()\"><noscript><p>JavaScript is off: press "
      "Continue.</p></noscript>"
      "<form method=\"post\" action=\"" +
      xml::escape(action) +
      "\">"
      "<input type=\"hidden\" name=\"" +
      xml::escape(param) + "\" value=\"" + core::base64_encode(xml) + "\">";
  if (!relay_state.empty())
    html +=
        "<input type=\"hidden\" name=\"RelayState\" value=\"" + xml::escape(relay_state) + "\">";
  html += "<noscript><button type=\"submit\">Continue</button></noscript></form></body></html>\n";
  return html;
}

}  // namespace cg::saml
