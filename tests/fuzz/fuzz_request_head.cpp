// libFuzzer target: the raw request head checks (http/request_head.h) and the chunked body
// check, on bytes as a client sends them. Properties: nothing crashes; an accepted head has
// one framing, which Content-Length or chunked alone decides; an accepted head's target is
// origin-form (or '*' on OPTIONS, or turned into origin-form); no error message carries a
// control byte or a byte outside ASCII from the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/request_head.h"

namespace {

void check_message(const std::string& m) {
  for (char ch : m) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t skip = cg::http::skip_empty_lines(input);
  std::string_view rest = input.substr(skip);
  size_t end = cg::http::find_head_end(rest);
  std::string_view head = end == std::string_view::npos ? rest : rest.substr(0, end);
  auto r = cg::http::check_request_head(head);
  if (r) {
    if (head.find('\0') != std::string_view::npos) __builtin_trap();
    if (r->framing == cg::http::Framing::kChunked && r->content_length != 0) __builtin_trap();
    if (r->framing != cg::http::Framing::kContentLength && r->content_length != 0)
      __builtin_trap();
    if (r->version != 10 && r->version != 11) __builtin_trap();
    if (r->version == 11 && r->host.empty()) __builtin_trap();
    std::string_view t = r->origin_target.empty() ? r->target : r->origin_target;
    if (t != "*" && (t.empty() || t[0] != '/')) __builtin_trap();
    if (t == "*" && r->method != "OPTIONS") __builtin_trap();
    if (r->framing == cg::http::Framing::kChunked) {
      auto body = cg::http::check_chunked_prefix(rest.substr(end == std::string_view::npos ? rest.size() : end));
      if (body.state == cg::http::ChunkedPrefix::kBad) check_message(body.reason);
    }
  } else {
    check_message(r.error().message);
    unsigned s = cg::http::status_for(r.error());
    if (s != 400 && s != 501 && s != 505) __builtin_trap();
  }
  auto body = cg::http::check_chunked_prefix(input);
  if (body.state == cg::http::ChunkedPrefix::kBad) check_message(body.reason);
  if (body.state == cg::http::ChunkedPrefix::kComplete && body.consumed > input.size())
    __builtin_trap();
  (void)cg::http::is_client_identity_header(input, "X-Claimgate-");
  return 0;
}
