// Byte encodings used by the SAML bindings: base64, hex, URL encoding, raw DEFLATE.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace cg::core {

std::string base64_encode(std::span<const uint8_t> data);
std::string base64_encode(std::string_view data);
// Decodes standard base64; ASCII whitespace anywhere is ignored (IdPs wrap lines).
Result<std::string> base64_decode(std::string_view text);

std::string hex_encode(std::span<const uint8_t> data);

// base64url without padding (RFC 4648 section 5), as JWTs and cookies use it.
std::string base64url_encode(std::span<const uint8_t> data);
std::string base64url_encode(std::string_view data);
// Strict: only the base64url alphabet, no padding, no whitespace.
Result<std::string> base64url_decode(std::string_view text);

// Percent-encoding for query strings (RFC 3986 unreserved characters stay as they are).
std::string url_encode(std::string_view s);
// Decodes %XX and, when `plus_is_space`, '+' (application/x-www-form-urlencoded).
Result<std::string> url_decode(std::string_view s, bool plus_is_space = true);

// Splits "a=1&b=2" into decoded pairs, in order. Raw (undecoded) values are kept too,
// because the Redirect binding signs the query string as it was sent.
struct QueryParam {
  std::string name;
  std::string value;
  std::string raw_value;
};
Result<std::vector<QueryParam>> parse_query(std::string_view query);
const QueryParam* find_param(const std::vector<QueryParam>& params, std::string_view name);

// Raw DEFLATE (RFC 1951, no zlib header), as the HTTP-Redirect binding uses.
std::string deflate_raw(std::string_view data);
// Inflates at most `max_output` bytes; more is an error (a deflate bomb).
Result<std::string> inflate_raw(std::string_view data, size_t max_output);

// "a, b, c": the items with `sep` between them.
std::string join(const std::vector<std::string>& items, std::string_view sep);
// Text for XML or HTML content and attribute values: & < > " ' (and CR) as references.
std::string markup_escape(std::string_view s);

// A value from a message, shortened for an error message without cutting a UTF-8 sequence;
// "..." marks the cut.
std::string clip(std::string_view s, size_t n = 120);

Result<std::string> read_file(const std::string& path, size_t max_bytes = 64u << 20);
Status write_file(const std::string& path, std::string_view data, unsigned mode = 0644);
// Replaces the file at `path` whole: written (with `mode`) to a temporary file beside it,
// synced, then renamed over, so that a reader, a crash or a full disk leaves the old content or
// the new, never a part.
Status replace_file(const std::string& path, std::string_view data, unsigned mode = 0644);

}  // namespace cg::core
