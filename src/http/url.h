// Absolute http(s) URLs as the config names upstreams and the public address.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace cg::http {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  uint16_t port = 0;   // explicit or the scheme's default
  std::string path;    // "" or starting with '/'; no query
  bool https() const { return scheme == "https"; }
  // "host" or "host:port" when the port is not the scheme's default (a Host header).
  std::string authority() const;
  std::string origin() const;  // scheme://authority
};

// Parses "http://host[:port][/path]" (no user info, no query, no fragment).
Result<Url> parse_url(std::string_view text);

// The path part of a request target ("/a/b?x=1" -> "/a/b") and its query ("x=1").
std::string_view target_path(std::string_view target);
std::string_view target_query(std::string_view target);

// A return path from `rd=` is used only when it is a path on this origin: starts with one
// '/', no "//" or "/\" prefix, no control characters, no scheme. Otherwise "/".
std::string safe_return_path(std::string_view rd);

}  // namespace cg::http
