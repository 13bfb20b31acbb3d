// What the gateway writes back that a request could have shaped, checked in one place:
//  - HTML or JSON: one rule (html_answer) for redirects to sign in, 403s and error answers;
//  - header values: no CR, LF, NUL or other control byte ever reaches a response header (or a
//    header the gateway adds to an upstream request); Gateway::send() checks every header of
//    every answer it writes with bad_header() and answers 400 instead;
//  - loopback redirects (the CLI's sign-in, RFC 8252 section 7.3): parsed, checked and written
//    anew from their parts, never pasted;
//  - JSON bodies: the media type is parsed and compared exactly (a substring match let
//    "text/plain; a=application/json", which browsers send cross-site without a preflight,
//    through);
//  - state-changing requests authenticated by a cookie: refused when the browser says they
//    come from another site (Origin, Sec-Fetch-Site).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "http/asio.h"

namespace cg::gateway {

// Whether `v` may be written as a header value: no byte below 0x20 but HTAB, no DEL.
bool header_value_ok(std::string_view v);

// The name of the first header in `f` whose value header_value_ok() refuses, if any.
std::optional<std::string> bad_header(const http::bhttp::fields& f);

// `v` with every byte header_value_ok() refuses, and '"' and '\', replaced by '?': for text
// the gateway quotes inside a header it writes (WWW-Authenticate's error_description).
std::string header_quotable(std::string_view v);

// A loopback redirect URI as RFC 8252 section 7.3 has it: http://127.0.0.1:<port>/<path> or
// http://[::1]:<port>/<path>; the port is required (1..65535), the path is made of unreserved
// characters, '/' and %XX escapes; no user info, query or fragment. "localhost" is refused
// (RFC 8252 section 8.3: it may resolve elsewhere).
struct LoopbackRedirect {
  std::string host;  // "127.0.0.1" or "[::1]"
  uint16_t port = 0;
  std::string path;               // starts with '/'
  std::string to_string() const;  // written from the parts above
};
Result<LoopbackRedirect> parse_loopback_redirect(std::string_view uri);

// The one HTML-vs-JSON rule of the gateway's answers (every caller asks here): what the
// request accepts decides, with what is being answered.
enum class Answer {
  kSignIn,  // a route needs a session: a redirect to sign in, or 401 JSON
  kDenied,  // the policy refused (403): a page, or JSON
  kError,   // every other refusal (Gateway::send_error, 429): a page, or JSON
};
// kSignIn: a browser's navigation (GET or HEAD whose Accept names text/html) is redirected.
// kDenied: a page when Accept names text/html.
// kError: a page when Accept names text/html, or for a POST that does not ask for JSON (a form
// posted by a page or by the IdP: its Accept is often */*).
bool html_answer(Answer a, http::bhttp::verb method, std::string_view accept);

// Whether a Content-Type header names exactly application/json (type and subtype compared
// without case, parameters such as charset allowed after ';', nothing else).
bool is_json_media_type(std::string_view content_type);

// Why a state-changing request that a cookie authenticates must be refused as cross-site, or
// nullopt when the browser's own headers do not say so: Sec-Fetch-Site other than
// same-origin or none; without Sec-Fetch-Site, an Origin (including "null") other than
// `our_origin`. Requests
// without these headers (programs, older browsers) pass: the SameSite cookie and the JSON
// media type still stand in their way.
std::optional<std::string> cross_site_reason(std::string_view origin,
                                             std::string_view sec_fetch_site,
                                             std::string_view our_origin);

}  // namespace cg::gateway
