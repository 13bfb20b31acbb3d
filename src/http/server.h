// The HTTP/1.1 server: one coroutine per connection (Beast's advanced_server_flex_awaitable
// shape), keep-alive, header and body limits and deadlines, optional TLS, worker threads each
// running their own io_context (a connection lives on one thread: no locks on its path), and
// graceful shutdown (in-flight requests finish within a bound; idle connections close).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "core/result.h"
#include "core/trace_context.h"
#include "http/asio.h"
#include "http/deadline.h"
#include "http/stream.h"

namespace cg::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  unsigned threads = 0;       // 0: one per core
  std::string tls_cert_file;  // both set: TLS
  std::string tls_key_file;
  size_t header_limit = 16 * 1024;                   // request line + headers; more: 431
  std::chrono::milliseconds header_timeout{10'000};  // to receive a whole header
  std::chrono::milliseconds body_timeout{60'000};    // with no body bytes arriving
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive wait for the next request
  std::chrono::milliseconds shutdown_grace{10'000};  // for in-flight requests on SIGTERM
};

using RequestParser = bhttp::request_parser<bhttp::buffer_body>;
using StringResponse = bhttp::response<bhttp::string_body>;

// One request on a connection: its header (read), the means to read its body (small, whole;
// or streamed by the proxy) and to answer. A handler must answer exactly once, or set
// close() when it wrote an answer of its own (a proxied response, a WebSocket upgrade).
class Exchange {
 public:
  Exchange(Stream& stream, Deadline& deadline, beast::flat_buffer& buffer, RequestParser& parser,
           const ServerOptions& options, std::string client_address, std::string request_id,
           std::chrono::steady_clock::time_point started)
      : stream_(stream),
        deadline_(deadline),
        buffer_(buffer),
        parser_(parser),
        options_(options),
        client_address_(std::move(client_address)),
        request_id_(std::move(request_id)),
        started_(started) {}

  const bhttp::request_header<>& request() const { return parser_.get().base(); }
  bhttp::request_header<>& mutable_request() { return parser_.get().base(); }
  bhttp::verb method() const { return parser_.get().method(); }
  std::string_view method_string() const {
    auto m = parser_.get().method_string();
    return {m.data(), m.size()};
  }
  std::string_view target() const {
    auto t = parser_.get().target();
    return {t.data(), t.size()};
  }
  std::string_view header(bhttp::field f) const;
  std::string_view header(std::string_view name) const;

  Stream& stream() { return stream_; }
  // The client connection's I/O deadline: arm it before each read or write.
  Deadline& deadline() { return deadline_; }
  beast::flat_buffer& buffer() { return buffer_; }
  RequestParser& parser() { return parser_; }
  const ServerOptions& options() const { return options_; }
  const std::string& client_address() const { return client_address_; }
  const std::string& request_id() const { return request_id_; }
  // The request's W3C trace (continued from a valid traceparent, else started here).
  const core::TraceContext& trace() const { return trace_; }
  void set_trace(core::TraceContext t) { trace_ = std::move(t); }
  // What every log line of this request names: its request id and trace id.
  core::LogContext log_context() const { return {request_id_, trace_.trace_id}; }
  bool is_tls() const { return stream_.is_tls(); }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // Whether the client waits for "100 Continue" before sending its body.
  bool expects_continue() const;
  // Writes "100 Continue" (once the request is admitted and its body wanted).
  awaitable<Status> send_continue();
  // Reads the whole body, up to `limit` bytes (more: an error, and the answer should be 413).
  awaitable<Result<std::string>> read_body(size_t limit);
  // Writes `res` (keep-alive set from the request, X-Request-Id added).
  awaitable<void> respond(StringResponse res);
  // Writes `head` with chunked transfer encoding, then each piece `next` produces until it
  // returns nullopt (the end); an empty piece writes nothing (the producer is waiting). Stops
  // early when the client goes away. `next` may wait (timers) between pieces.
  awaitable<void> respond_chunked(bhttp::response_header<> head,
                                  std::function<awaitable<std::optional<std::string>>()> next);
  // The status of the answer written (0 before), for logs and metrics.
  unsigned status() const { return status_; }
  void set_status(unsigned s) { status_ = s; }
  bool answered() const { return status_ != 0; }
  // The connection must close after this exchange (an unread body, a tunnel, an error).
  void close() { keep_alive_ = false; }
  bool keep_alive() const { return keep_alive_ && parser_.get().keep_alive(); }
  // Bytes of body relayed, both ways (for logs).
  uint64_t bytes_in = 0, bytes_out = 0;

 private:
  Stream& stream_;
  Deadline& deadline_;
  beast::flat_buffer& buffer_;
  RequestParser& parser_;
  const ServerOptions& options_;
  std::string client_address_;
  std::string request_id_;
  core::TraceContext trace_;
  std::chrono::steady_clock::time_point started_;
  unsigned status_ = 0;
  bool keep_alive_ = true;
};

using Handler = std::function<awaitable<void>(Exchange&)>;
// Called for requests that never reach the handler (malformed, too large headers, timeouts).
using RejectHook =
    std::function<void(unsigned status, const std::string& reason, const std::string& client)>;

class Server {
 public:
  Server(ServerOptions options, Handler handler, RejectHook on_reject = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the worker threads.
  Status start();
  uint16_t port() const { return port_; }
  // Stops accepting, closes idle connections, lets in-flight requests finish within the
  // grace period, then stops. Safe to call from any thread, once or more.
  void stop();
  // Blocks until the workers have stopped.
  void wait();
  // Runs `fn` on the first worker's io_context (timers of the application).
  asio::io_context& main_context() { return *contexts_.front(); }
  size_t open_connections() const { return open_.load(); }
  size_t in_flight() const { return in_flight_.load(); }

 private:
  struct Connection;
  awaitable<void> accept_loop();
  awaitable<void> run_connection(std::shared_ptr<Connection> c);
  awaitable<void> drain();

  ServerOptions options_;
  Handler handler_;
  RejectHook on_reject_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::unique_ptr<ssl::context> tls_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};  // the deadline sweepers end
  std::atomic<size_t> open_{0}, in_flight_{0};
  std::mutex conns_mu_;
  std::list<std::weak_ptr<Connection>> conns_;
  std::atomic<uint64_t> next_id_{0};
};

// A fresh request id: 16 hex characters.
std::string new_request_id();

}  // namespace cg::http
