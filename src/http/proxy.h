// The reverse proxy: requests and responses stream through a 64 KiB buffer in both directions
// (a multi-GB upload or download passes in constant memory), framing is re-made (chunked
// re-chunked, Content-Length re-set), Expect: 100-continue is answered here, a header goes out
// with the first body bytes in one write, upstream connections are kept alive in a pool per
// worker thread (http/internal/upstream_pool.h), and WebSocket upgrades become a tunnel of
// messages that is closed (1008) when the caller says the session ended (Beast's relay() in
// its HTTP examples). Files: proxy.cpp (request side), response_relay.cpp (the answer),
// upstream_pool.cpp, websocket_tunnel.cpp.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "core/result.h"
#include "http/asio.h"
#include "http/request_fields.h"
#include "http/server.h"
#include "http/url.h"

namespace cg::http {

struct ProxyTimeouts {
  std::chrono::milliseconds connect{5'000};
  std::chrono::milliseconds response_header{60'000};  // request sent -> response header
  std::chrono::milliseconds idle{300'000};            // no bytes either way mid-body
};

struct ProxyOutcome {
  // Set when the proxy could not produce an answer and wrote nothing to the client: the
  // caller answers 502 (http.upstream_connect / http.upstream_protocol) or 504
  // (http.upstream_timeout) with a page.
  std::optional<Error> error;
  unsigned upstream_status = 0;
  std::chrono::microseconds upstream_latency{0};  // request start -> response header
};

// Removes hop-by-hop headers (Connection and the ones it names, Keep-Alive, Proxy-Connection,
// TE, Trailer, Upgrade, Proxy-Authorization); Transfer-Encoding stays (it frames the body).
void strip_hop_by_hop(bhttp::fields& fields);

using ResponseTransform = std::function<void(bhttp::response_header<>&)>;

// Sends the exchange's request (its header already transformed by the caller, target
// included) to `upstream` and streams the answer back. When a pooled connection turns out
// closed before any byte of the answer (EOF or reset on the first read or write), an
// idempotent request (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) with no body is sent once more on
// a fresh connection; any other (POST, or a body already streamed) fails with
// http.upstream_protocol / http.upstream_connect (502).
awaitable<ProxyOutcome> proxy_http(Exchange& ex, const Url& upstream, const ProxyTimeouts& t,
                                   const ResponseTransform& transform_response);

// Answers a WebSocket upgrade by connecting to `upstream` first (so its refusal becomes a
// 502 page), then accepting the client and relaying messages both ways. `still_allowed` is
// asked every `check_interval`; false closes both sides with 1008 (policy violation).
awaitable<ProxyOutcome> proxy_websocket(Exchange& ex, const Url& upstream, const ProxyTimeouts& t,
                                        std::function<bool()> still_allowed,
                                        std::chrono::milliseconds check_interval);

bool is_websocket_upgrade(const bhttp::request_header<>& h);

// Connections kept alive by this worker thread (for metrics).
size_t pooled_upstream_connections();

}  // namespace cg::http
