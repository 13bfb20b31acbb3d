// What the gateway does to a client's header fields before anything reads them, and to the
// framing of what it sends upstream: one place for both (docs/security.md, "HTTP parsing").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "http/asio.h"
#include "http/request_head.h"

namespace cg::http {

// Drops every field whose name holds '_' (nginx's default; CGI, WSGI and PHP would read
// X_Claimgate_User as X-Claimgate-User). The server calls it on every request it admits.
void drop_underscore_fields(bhttp::fields& fields);

// Drops the fields only the gateway may set (is_client_identity_header: the identity prefix,
// X-Forwarded-*, Forwarded, X-Real-IP, ...; names compared with case and '_'/'-' folded), and
// every field with '_' in its name. Called first by every path that admits a request, before
// anything reads a header; proxied, forwarded and WebSocket requests all pass through it.
void strip_client_headers(bhttp::fields& fields, std::string_view identity_prefix);

// Replaces the client's framing headers (Content-Length, Transfer-Encoding) with the
// gateway's own, from what the parser read: chunked when the body was chunked,
// Content-Length when it had one, neither when there is no body.
void reframe(bhttp::fields& fields, bool chunked, std::optional<uint64_t> content_length);

// Trailer fields of a chunked body land among the header fields once the body is read, after
// the head was checked and stripped: the fields past the first `head_fields` are dropped, so
// nothing reads or forwards them.
void drop_trailer_fields(bhttp::fields& fields, size_t head_fields);
size_t count_fields(const bhttp::fields& fields);

}  // namespace cg::http
