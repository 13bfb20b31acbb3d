// Cookie and Set-Cookie headers (RFC 6265).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cg::http {

// The value of the first cookie named `name` in a Cookie header, or nullopt.
std::optional<std::string_view> find_cookie(std::string_view cookie_header, std::string_view name);
// The Cookie header without the cookies named in `names` ("" when nothing is left).
std::string strip_cookies(std::string_view cookie_header, const std::vector<std::string>& names);

enum class SameSite { kUnset, kLax, kStrict, kNone };

struct SetCookie {
  std::string name;
  std::string value;
  std::string path = "/";
  std::string domain;
  std::optional<std::chrono::seconds> max_age;  // none: a browser-session cookie
  bool secure = false;
  bool http_only = true;
  SameSite same_site = SameSite::kLax;
  std::string to_string() const;
};

// A Set-Cookie that removes `name` (Max-Age=0) with the same path and domain.
std::string expire_cookie(const SetCookie& like);

}  // namespace cg::http
