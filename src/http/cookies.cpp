#include "http/cookies.h"

#include <algorithm>

namespace cg::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <class Fn>
void each_cookie(std::string_view header, Fn&& fn) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    size_t eq = pair.find('=');
    std::string_view name = trim(pair.substr(0, eq));
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (!fn(name, value, pair)) return;
  }
}

}  // namespace

std::optional<std::string_view> find_cookie(std::string_view header, std::string_view name) {
  std::optional<std::string_view> out;
  each_cookie(header, [&](std::string_view n, std::string_view v, std::string_view) {
    if (n == name) {
      out = v;
      return false;
    }
    return true;
  });
  return out;
}

std::string strip_cookies(std::string_view header, const std::vector<std::string>& names) {
  std::string out;
  each_cookie(header, [&](std::string_view n, std::string_view, std::string_view pair) {
    if (std::find(names.begin(), names.end(), n) == names.end() && !trim(pair).empty()) {
      if (!out.empty()) out += "; ";
      out += trim(pair);
    }
    return true;
  });
  return out;
}

std::string SetCookie::to_string() const {
  std::string s = name + "=" + value;
  if (!path.empty()) s += "; Path=" + path;
  if (!domain.empty()) s += "; Domain=" + domain;
  if (max_age) s += "; Max-Age=" + std::to_string(max_age->count());
  if (secure) s += "; Secure";
  if (http_only) s += "; HttpOnly";
  switch (same_site) {
    case SameSite::kLax:
      s += "; SameSite=Lax";
      break;
    case SameSite::kStrict:
      s += "; SameSite=Strict";
      break;
    case SameSite::kNone:
      s += "; SameSite=None";
      break;
    case SameSite::kUnset:
      break;
  }
  return s;
}

std::string expire_cookie(const SetCookie& like) {
  SetCookie c = like;
  c.value = "";
  c.max_age = std::chrono::seconds(0);
  return c.to_string();
}

}  // namespace cg::http
