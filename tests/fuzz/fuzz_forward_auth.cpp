// libFuzzer target: the forward-auth header reader (which request a front proxy asks about) and
// the checks on values the gateway writes back (gateway/replies.h). Input: a target line, then
// "Name: value" lines, as an auth request's header. Invariants: whatever is read holds no
// control byte, an accepted loopback redirect is written back unchanged and safe for a header,
// and header_quotable never leaves a byte header_value_ok refuses.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/forward_auth.h"
#include "gateway/replies.h"

namespace bhttp = cg::http::bhttp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  size_t nl = input.find('\n');
  std::string_view target = input.substr(0, nl);
  h.target(cg::http::beast::string_view(target.data(), target.size()));
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    if (name.find_first_of(" \t\r") != std::string_view::npos) continue;
    h.insert(cg::http::beast::string_view(name.data(), name.size()),
             cg::http::beast::string_view(value.data(), value.size()));
  }
  for (const char* from : {"nginx", "traefik", "envoy"}) {
    cg::gateway::ForwardAuthConfig cfg;
    cg::gateway::ForwardAuthConfig::preset(from, cfg);
    (void)cfg.is_auth_path(target);
    auto o = cg::gateway::read_original_request(cfg, h);
    if (o && (!cg::gateway::header_value_ok(o->method) || !cg::gateway::header_value_ok(o->host) ||
              !cg::gateway::header_value_ok(o->target) || o->target.empty() ||
              o->target[0] != '/')) {
      __builtin_trap();
    }
  }
  if (auto r = cg::gateway::parse_loopback_redirect(input)) {
    std::string back = r->to_string();
    if (!cg::gateway::header_value_ok(back)) __builtin_trap();
    auto again = cg::gateway::parse_loopback_redirect(back);
    if (!again || again->to_string() != back) __builtin_trap();
  }
  if (!cg::gateway::header_value_ok(cg::gateway::header_quotable(input))) __builtin_trap();
  (void)cg::gateway::is_json_media_type(input);
  (void)cg::gateway::cross_site_reason(input, target, "https://ml.example.org");
  return 0;
}
