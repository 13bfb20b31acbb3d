#include "session/cookie.h"

#include "session/errors.h"

namespace cg::session {

Result<std::string> CookieCodec::open(std::string_view value) const {
  if (value.size() > 512) return fail(Code::kCookie, "session cookie is too long to be ours");
  auto id = ring_.open(value, purpose_);
  if (!id) return fail(Code::kCookie, "session cookie does not open: " + id.error().message);
  return std::move(*id);
}

}  // namespace cg::session
