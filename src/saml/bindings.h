// SAML 2.0 bindings: HTTP-Redirect (DEFLATE + base64 + query string, with the query-string
// signature) and HTTP-POST (base64 in an auto-submitting form).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"
#include "crypto/keys.h"

namespace cg::saml {

// What a browser posted (a form body "SAMLResponse=...&RelayState=...", bare base64, or raw XML
// as pasted from a browser plugin), decoded to the XML message.
Result<std::string> decode_post_message(std::string_view input, std::string_view param,
                                        size_t max_bytes = 1 << 20);

// An HTTP-Redirect URL. `param` is "SAMLRequest" or "SAMLResponse". With a key, the query is
// signed (SigAlg, Signature), as the binding specifies: RSA-SHA256, or ECDSA-SHA256 for an EC
// key, its value r||s as XML DSig 1.1 defines it for that SigAlg.
Result<std::string> redirect_url(std::string_view endpoint, std::string_view param,
                                 std::string_view xml, std::string_view relay_state,
                                 const crypto::PrivateKey* signing_key);

struct RedirectMessage {
  std::string param;  // SAMLRequest or SAMLResponse
  std::string xml;
  std::string relay_state;
  std::string sig_alg;         // empty when unsigned
  std::string signature;       // decoded bytes
  std::string signed_content;  // "SAMLRequest=...&RelayState=...&SigAlg=..." exactly as received
};

// Accepts a whole URL or its query string.
Result<RedirectMessage> decode_redirect(std::string_view url_or_query, size_t max_bytes = 1 << 20);

// Verifies a Redirect-binding signature with one of `trusted` (the metadata's certificates and
// keys): the SigAlg URIs XML signatures accept (xml::signature_algorithm: RSA PKCS#1 v1.5,
// RSA-PSS, ECDSA as r||s, or DER from senders that put it), SHA-1 only when allowed.
Status verify_redirect_signature(const RedirectMessage& m,
                                 std::span<const crypto::Certificate> trusted, bool allow_sha1);

// An HTML page whose form posts `param` (base64 of `xml`) and RelayState to `action`.
std::string post_form_html(std::string_view action, std::string_view param, std::string_view xml,
                           std::string_view relay_state);

}  // namespace cg::saml
