// The WebSocket tunnel: upstream handshake first (its refusal becomes a 502 page), then the
// client's, then messages relayed both ways until either side closes or the session ends.
#include <string>
#include <utility>
#include <vector>

#include "http/errors.h"
#include "http/internal/upstream_pool.h"
#include "http/proxy.h"

namespace cg::http {

using namespace std::chrono_literals;
namespace {
constexpr auto kAw = asio::use_awaitable;
}  // namespace

bool is_websocket_upgrade(const bhttp::request_header<>& h) {
  return websocket::is_upgrade(bhttp::request<bhttp::empty_body>(h));
}

namespace {

template <class From, class To>
awaitable<void> pump(From& from, To& to, bool& done, asio::steady_timer& wake) {
  beast::flat_buffer b;
  error_code ec;
  for (;;) {
    co_await from.async_read(b, asio::redirect_error(kAw, ec));
    if (ec) break;
    to.binary(from.got_binary());
    co_await to.async_write(b.data(), asio::redirect_error(kAw, ec));
    if (ec) break;
    b.consume(b.size());
  }
  if (ec == websocket::error::closed && to.is_open()) {
    // Pass the close (code and reason) on to the other side.
    error_code ec2;
    co_await to.async_close(from.reason(), asio::redirect_error(kAw, ec2));
  }
  done = true;
  wake.cancel();
}

}  // namespace

awaitable<ProxyOutcome> proxy_websocket(Exchange& ex, const Url& upstream, const ProxyTimeouts& t,
                                        std::function<bool()> still_allowed,
                                        std::chrono::milliseconds check_interval) {
  ProxyOutcome out;
  auto started = std::chrono::steady_clock::now();
  auto acquired = co_await internal::acquire(upstream, t, /*allow_pooled=*/false);
  if (!acquired) {
    out.error = acquired.take_error();
    co_return out;
  }
  websocket::stream<beast::tcp_stream> up(std::move(acquired->conn->stream));
  // Forward the end-to-end headers; Beast writes its own Sec-WebSocket-Key/-Version.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& f : ex.request()) {
    auto name = f.name_string();
    if (beast::iequals(name, "Sec-WebSocket-Key") ||
        beast::iequals(name, "Sec-WebSocket-Version") ||
        beast::iequals(name, "Sec-WebSocket-Extensions") || beast::iequals(name, "Host") ||
        beast::iequals(name, "Upgrade") || beast::iequals(name, "Connection") ||
        beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding") ||
        beast::iequals(name, "Keep-Alive") || beast::iequals(name, "Proxy-Connection") ||
        beast::iequals(name, "TE") || beast::iequals(name, "Trailer") ||
        beast::iequals(name, "Expect") || beast::iequals(name, "Proxy-Authorization") ||
        name.find('_') != beast::string_view::npos) {
      continue;
    }
    headers.emplace_back(std::string(name), std::string(f.value()));
  }
  up.set_option(websocket::stream_base::decorator([headers](websocket::request_type& r) {
    for (const auto& [n, v] : headers) r.insert(n, v);
  }));
  websocket::response_type up_res;
  error_code ec;
  beast::get_lowest_layer(up).expires_after(t.response_header);
  std::string target(ex.target());
  co_await up.async_handshake(up_res, upstream.authority(), target, asio::redirect_error(kAw, ec));
  if (ec) {
    out.upstream_status = up_res.result_int();
    out.error = make_error(
        Code::kWebSocket,
        "upstream " + upstream.authority() + " refused the WebSocket upgrade: " + ec.message() +
            (up_res.result_int() ? " (HTTP " + std::to_string(up_res.result_int()) + ")" : ""));
    co_return out;
  }
  beast::get_lowest_layer(up).expires_never();
  up.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  out.upstream_status = 101;
  out.upstream_latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);

  ex.deadline().disarm();  // the tunnel's own timeouts (pings, idle) take over
  websocket::stream<Stream&> down(ex.stream());
  std::string protocol(up_res[bhttp::field::sec_websocket_protocol]);
  std::string request_id = ex.request_id();
  down.set_option(
      websocket::stream_base::decorator([protocol, request_id](websocket::response_type& r) {
        if (!protocol.empty()) r.set(bhttp::field::sec_websocket_protocol, protocol);
        r.set("X-Request-Id", request_id);
      }));
  down.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  down.read_message_max(64 * 1024 * 1024);
  up.read_message_max(64 * 1024 * 1024);
  bhttp::request<bhttp::empty_body> handshake(ex.request());
  co_await down.async_accept(handshake, asio::redirect_error(kAw, ec));
  ex.close();
  ex.set_status(101);
  if (ec) {
    error_code ignored;
    co_await up.async_close(websocket::close_code::going_away, asio::redirect_error(kAw, ignored));
    co_return out;
  }

  auto exec = co_await asio::this_coro::executor;
  asio::steady_timer wake(exec);
  bool down_done = false, up_done = false;
  asio::co_spawn(exec, pump(down, up, down_done, wake), asio::detached);
  asio::co_spawn(exec, pump(up, down, up_done, wake), asio::detached);
  while (!down_done && !up_done) {
    wake.expires_after(check_interval);
    co_await wake.async_wait(asio::redirect_error(kAw, ec));
    if (down_done || up_done) break;
    if (!still_allowed()) {
      error_code ignored;
      websocket::close_reason why(websocket::close_code::policy_error, "session ended");
      co_await down.async_close(why, asio::redirect_error(kAw, ignored));
      co_await up.async_close(websocket::close_code::going_away,
                              asio::redirect_error(kAw, ignored));
      break;
    }
  }
  // Let the other direction finish its close handshake (bounded by the stream timeouts). The
  // pumps hold references to `up`, `down`, the flags and `wake` in this frame: it ends only
  // once both have. A handshake not done within 5 s is cut by closing both sockets, which ends
  // their operations (operation_aborted) and so the pumps.
  bool cut = false;
  while (!(down_done && up_done)) {
    wake.expires_after(5s);
    co_await wake.async_wait(asio::redirect_error(kAw, ec));
    if (!ec && !cut) {
      beast::get_lowest_layer(up).close();
      ex.stream().close();
      cut = true;
    }
  }
  co_return out;
}

}  // namespace cg::http
