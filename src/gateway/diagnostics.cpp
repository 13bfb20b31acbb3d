// The diagnostics listener (diagnostics.listen, 127.0.0.1:9464 by default): what monitoring
// reads, /metrics (Prometheus text format 0.0.4) and /readyz, on a socket of its own, so that
// the public port (browsers, front proxies, anyone on the network) answers neither. It knows
// no sessions, routes or upstreams: GET or HEAD of those two paths, 404 for everything else.
#include "gateway/gateway.h"

namespace cg::gateway {

namespace bhttp = http::bhttp;
using http::awaitable;

awaitable<void> Gateway::handle_diagnostics(http::Exchange& ex) {
  // The target as sent: no normalisation, no routing; the query is ignored.
  std::string_view path = http::target_path(ex.target());
  bool get = ex.method() == bhttp::verb::get || ex.method() == bhttp::verb::head;
  http::StringResponse res{bhttp::status::ok, 11};
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  if (get && path == "/metrics") {
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = registry_.render();
  } else if (get && path == "/readyz") {
    res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    std::string why;
    if (ready(&why)) {
      res.body() = "ok\n";
    } else {
      res.result(bhttp::status::service_unavailable);
      res.body() = "not ready: " + why + "\n";
    }
  } else {
    res.result(bhttp::status::not_found);
    res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    res.body() = "the diagnostics listener answers GET /metrics and GET /readyz only\n";
  }
  co_await ex.respond(std::move(res));
  log_.debug(ex.log_context(), "diagnostics.request",
             {{"client", ex.client_address()},
              {"method", ex.method_string()},
              {"path", path},
              {"status", ex.status()}});
}

}  // namespace cg::gateway
