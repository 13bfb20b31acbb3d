// A client connection's byte stream: plain TCP, or TLS over TCP. One type for both, so the
// server, the proxy and the WebSocket tunnel are written once. Timeouts come from the TCP
// layer (beast::tcp_stream::expires_after), which TLS reads and writes go through.
#pragma once

#include <memory>
#include <optional>

#include "http/asio.h"

namespace cg::http {

class Stream {
 public:
  using executor_type = beast::tcp_stream::executor_type;

  explicit Stream(tcp::socket socket) : tcp_(std::move(socket)) {}
  Stream(tcp::socket socket, ssl::context& tls)
      : tls_(std::make_unique<ssl::stream<beast::tcp_stream>>(std::move(socket), tls)) {}

  executor_type get_executor() { return transport().get_executor(); }
  beast::tcp_stream& transport() { return tls_ ? tls_->next_layer() : *tcp_; }
  bool is_tls() const { return tls_ != nullptr; }
  ssl::stream<beast::tcp_stream>* tls() { return tls_.get(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            tcp_->async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            tcp_->async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  // Ends the connection politely: TLS close_notify (bounded by the stream's timeout), then
  // a TCP shutdown of the send side.
  awaitable<void> shutdown();
  // Closes the socket at once (cancels pending operations).
  void close();
  // Whether the client has closed its side or the connection broke (poll, no wait): how a
  // long answer that has nothing to send yet (a followed log) notices a client that has gone,
  // rather than holding the stream until its next write fails.
  bool peer_closed();

 private:
  std::optional<beast::tcp_stream> tcp_;
  std::unique_ptr<ssl::stream<beast::tcp_stream>> tls_;
};

// Beast's close_socket customisation (used when a WebSocket operation fails).
inline void beast_close_socket(Stream& s) { s.close(); }

// WebSocket teardown for websocket::stream<Stream&> (found by argument-dependent lookup).
void teardown(beast::role_type role, Stream& s, error_code& ec);
template <class Handler>
void async_teardown(beast::role_type role, Stream& s, Handler&& handler) {
  if (s.tls()) {
    boost::beast::async_teardown(role, *s.tls(), std::forward<Handler>(handler));
  } else {
    boost::beast::async_teardown(role, s.transport(), std::forward<Handler>(handler));
  }
}

}  // namespace cg::http
