// Request paths, normalised once before routing and authorization. The gateway decides on the
// normalised path and sends that same path upstream, so no encoding trick reaches a rule (or
// an upstream resource) that the plain form would not.
//
// The rules (docs/policy.md, "Paths"):
//   - the path must be absolute; the query is not part of it;
//   - %-escapes of unreserved characters (letters, digits, '-', '.', '_', '~') are decoded
//     (%2e is '.', %41 is 'A'); other escapes are kept, with upper-case hex (%c3 -> %C3);
//   - an encoded '/' or '\' (%2F, %5C), an encoded NUL, any control byte and a raw '\' are
//     refused: upstreams disagree on whether they separate segments;
//   - ';' and %3B are refused: Tomcat, Jetty and Spring cut path parameters from a segment
//     before resolving it ("/static/..;/api" is "/api" to them, "/static/..;/api" to a rule);
//   - a double-encoded escape (%25 followed by two hex digits, "%252e") is refused: an
//     upstream that decodes twice would read another path;
//   - the decoded bytes must be well-formed UTF-8 (no overlong "%C0%AE" for '.');
//   - repeated slashes collapse ("//" -> "/"); "." segments go; ".." removes the segment
//     before it, and a ".." that would climb above the root is refused;
//   - a trailing slash is kept (upstreams may tell /a from /a/), and rule matching treats
//     /a/ like /a;
//   - case is kept: paths are case-sensitive, as RFC 3986 says (a policy may ask for
//     case-insensitive rule matching; the path sent upstream is unchanged either way).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace cg::policy {

inline constexpr size_t kMaxPathSegments = 128;

Result<std::string> normalize_path(std::string_view raw);

// Calls f(segment) for each segment of a normalised path ("/a/b/" -> "a", "b").
template <class F>
void for_each_segment(std::string_view path, F&& f) {
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    f(path.substr(i, end - i));
    i = end;
  }
}

}  // namespace cg::policy
