// Strict RFC 9112 checks of a request head, on its raw bytes, before Beast or anything else
// reads it. Whatever could be framed or read two ways by two parsers is refused here, so
// that the gateway, a front proxy and an upstream cannot disagree on where a request ends or
// which header says what (docs/security.md, "HTTP parsing"):
//   - lines end in CRLF; a bare CR or LF, line folding (obs-fold), whitespace before a
//     field's colon, a field name that is not a token, and a control byte (NUL, CR, LF, DEL,
//     other C0) in a field value are refused;
//   - the request line is `method SP target SP HTTP/1.x`, with one space each;
//   - Transfer-Encoding: exactly one field, `chunked` only (another coding: 501), never with
//     Content-Length, never in HTTP/1.0, never on GET or HEAD;
//   - Content-Length: one field of 1*DIGIT (no sign, no list, no duplicates);
//   - Host: exactly one on HTTP/1.1 (at most one on HTTP/1.0), an authority without user
//     info; an absolute-form target must name the same authority, and is turned into
//     origin-form;
//   - a field name with '_' is neither read nor forwarded (nginx's default): CGI, WSGI and
//     PHP read `X_Claimgate_User` as `X-Claimgate-User`.
// No Asio here: built for the fuzz targets too.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace cg::http {

enum class Framing {
  kNone,           // no body
  kContentLength,  // `content_length` bytes
  kChunked,        // Transfer-Encoding: chunked
};

struct RequestHead {
  std::string_view method;
  std::string_view target;  // as the client sent it
  int version = 11;         // 10 or 11
  Framing framing = Framing::kNone;
  uint64_t content_length = 0;
  std::string_view host;      // the Host field's value; empty only on HTTP/1.0 without one
  std::string origin_target;  // for an absolute-form target: its origin-form (path?query)
  size_t fields = 0;          // field lines
  size_t underscore_fields = 0;  // of which have '_' in their name (dropped, never read)
};

// How many bytes of empty lines (CRLF) come before a request line; RFC 9112 2.2 lets a
// server skip them (a client may send one after a POST body).
size_t skip_empty_lines(std::string_view data);

// Where the head that starts `data` ends (the offset just after its empty line), or npos
// when it has not all arrived. A bare LF ends a line here too, so that a head ending with
// one is refused at once by check_request_head rather than waited for.
size_t find_head_end(std::string_view data);

// Checks a whole head (request line, fields, the empty line); the views of the result point
// into `head`. The error's code is
// Code::kBadRequest (400), kNotImplemented (501) or kVersion (505); its message names what
// was wrong and quotes no raw byte unescaped.
Result<RequestHead> check_request_head(std::string_view head);

// The HTTP status for an error of check_request_head or check_chunked_prefix.
unsigned status_for(const Error& e);

// The chunked body bytes that have arrived so far, checked against RFC 9112 section 7.1
// (chunk sizes in hex with no sign or prefix, extensions as tokens or quoted strings, CRLF
// line ends). Trailer fields are refused: they would land among the header fields after
// those were checked and stripped.
struct ChunkedPrefix {
  enum State { kBad, kIncomplete, kComplete };
  State state = kIncomplete;
  std::string reason;   // for kBad
  size_t consumed = 0;  // for kComplete: the bytes of the whole chunked body
};
ChunkedPrefix check_chunked_prefix(std::string_view data);

// Whether a field name is a token (RFC 9110 5.6.2).
bool is_token(std::string_view s);

// A header name compared as CGI, WSGI, PHP and nginx (underscores_in_headers) compare it:
// ASCII case folded to lower case, '_' folded to '-'.
std::string fold_header_name(std::string_view name);

// Whether a client's header `name` claims an identity or a forwarding fact only the gateway
// (or the front proxy, through the headers forward-auth reads) may set: the identity prefix
// (identity.header_prefix, e.g. X-Claimgate-), X-Forwarded-* (forward-auth reads the front
// proxy's before they are stripped), Forwarded, X-Real-IP, X-Client-IP, True-Client-IP, Remote-User, X-Remote-User, X-Remote-Group, X-Auth-Request-*,
// X-Webauth-*. Names are compared folded (fold_header_name).
bool is_client_identity_header(std::string_view name, std::string_view identity_prefix);

// `s` with every byte outside printable ASCII written as \xNN, cut at `max` bytes (for
// error messages that name part of a request).
std::string escape_for_message(std::string_view s, size_t max = 64);

}  // namespace cg::http
