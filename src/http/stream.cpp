#include "http/stream.h"

#include <poll.h>

#include <boost/beast/websocket/ssl.hpp>

namespace cg::http {

awaitable<void> Stream::shutdown() {
  error_code ec;
  if (tls_) {
    transport().expires_after(std::chrono::seconds(2));
    co_await tls_->async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }
  transport().socket().shutdown(tcp::socket::shutdown_send, ec);
}

void Stream::close() {
  error_code ec;
  transport().socket().shutdown(tcp::socket::shutdown_both, ec);
  transport().socket().close(ec);
}

bool Stream::peer_closed() {
  auto& socket = transport().socket();
  if (!socket.is_open()) return true;
  pollfd p{socket.native_handle(), POLLRDHUP, 0};
  if (::poll(&p, 1, 0) < 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void teardown(beast::role_type role, Stream& s, error_code& ec) {
  if (s.tls()) {
    boost::beast::teardown(role, *s.tls(), ec);
  } else {
    boost::beast::teardown(role, s.transport(), ec);
  }
}

}  // namespace cg::http
