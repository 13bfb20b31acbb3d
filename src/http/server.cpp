#include "http/server.h"

#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>

#include "core/encoding.h"
#include "core/log.h"
#include "core/random.h"
#include "core/trace_context.h"
#include "http/errors.h"
#include "http/internal/upstream_pool.h"
#include "http/request_fields.h"
#include "http/request_head.h"

namespace cg::http {
namespace {

using namespace std::chrono_literals;
constexpr auto kUseAwaitable = asio::use_awaitable;

StringResponse plain_response(unsigned status, std::string_view text) {
  StringResponse res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::string(text) + "\n";
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

}  // namespace

std::string new_request_id() {
  // Ids only tell log lines apart: a per-thread generator seeded once from the kernel, not a
  // getrandom(2) call per request.
  thread_local uint64_t state = [] {
    uint64_t seed = 0;
    core::SystemRandom::instance().fill(reinterpret_cast<uint8_t*>(&seed), sizeof seed);
    return seed | 1;
  }();
  state += 0x9E3779B97F4A7C15ULL;  // splitmix64
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(z >> (8 * i));
  return core::hex_encode(b);
}

namespace {

// Trace and span ids only tell traces apart (W3C asks for random ones): per thread, two
// splitmix64 streams seeded once from the kernel (128 bits of seed), not a getrandom(2) call
// per request.
class IdRandom final : public core::Random {
 public:
  IdRandom() {
    core::SystemRandom::instance().fill(reinterpret_cast<uint8_t*>(state_), sizeof state_);
  }
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      if (left_ == 0) {
        uint64_t z = next(i & 1);
        std::memcpy(buf_, &z, sizeof z);
        left_ = sizeof buf_;
      }
      out[i] = buf_[--left_];
    }
  }

 private:
  uint64_t next(size_t k) {
    uint64_t z = (state_[k] += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_[2] = {};
  uint8_t buf_[8] = {};
  size_t left_ = 0;
};

// The request's trace, from its traceparent and tracestate fields (core/trace_context.h).
core::TraceContext trace_of(const bhttp::request_header<>& h) {
  thread_local IdRandom random;
  size_t count = 0;
  std::string_view traceparent;
  for (auto [it, end] = h.equal_range("traceparent"); it != end; ++it, ++count) {
    traceparent = sv(it->value());
  }
  std::string tracestate;
  for (auto [it, end] = h.equal_range("tracestate"); it != end; ++it) {
    if (!tracestate.empty()) tracestate += ',';
    tracestate += sv(it->value());
  }
  return core::continue_or_start_trace(traceparent, count, tracestate, random);
}

}  // namespace

struct Server::Connection {
  explicit Connection(Stream s) : stream(std::move(s)) {}
  Stream stream;
  bool idle = true;  // waiting for a request (touched only on the connection's own thread)
};

std::string_view Exchange::header(bhttp::field f) const {
  auto it = parser_.get().find(f);
  return it == parser_.get().end() ? std::string_view() : sv(it->value());
}

std::string_view Exchange::header(std::string_view name) const {
  auto it = parser_.get().find(beast::string_view(name.data(), name.size()));
  return it == parser_.get().end() ? std::string_view() : sv(it->value());
}

bool Exchange::expects_continue() const {
  return beast::iequals(header(bhttp::field::expect), "100-continue");
}

awaitable<Status> Exchange::send_continue() {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  error_code ec;
  deadline_.arm(options_.body_timeout);
  co_await asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                             asio::redirect_error(kUseAwaitable, ec));
  if (ec) {
    close();
    co_return fail(Code::kClient, "cannot send 100 Continue: " + ec.message());
  }
  co_return Status{};
}

awaitable<Result<std::string>> Exchange::read_body(size_t limit) {
  auto& p = parser_;
  if (auto len = p.content_length(); len && *len > limit) {
    close();
    co_return fail(Code::kBodyTooLarge, "request body of " + std::to_string(*len) +
                                            " bytes is over the limit of " + std::to_string(limit));
  }
  if (expects_continue() && !p.is_done()) {
    if (auto sent = co_await send_continue(); !sent) co_return fail(sent.take_error());
  }
  std::string out;
  char buf[16 * 1024];
  size_t head_fields = count_fields(p.get().base());
  while (!p.is_done()) {
    p.get().body().data = buf;
    p.get().body().size = sizeof buf;
    error_code ec;
    deadline_.arm(options_.body_timeout);
    co_await bhttp::async_read(stream_, buffer_, p, asio::redirect_error(kUseAwaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    ec = deadline_.why(ec);
    out.append(buf, sizeof buf - p.get().body().size);
    if (ec) {
      close();
      co_return fail(ec == beast::error::timeout ? Code::kTimeout : Code::kClient,
                     "reading the request body failed: " + ec.message());
    }
    if (out.size() > limit) {
      close();
      co_return fail(Code::kBodyTooLarge,
                     "request body is over the limit of " + std::to_string(limit) + " bytes");
    }
  }
  drop_trailer_fields(p.get().base(), head_fields);
  bytes_in += out.size();
  co_return out;
}

awaitable<void> Exchange::respond(StringResponse res) {
  if (!parser_.is_done()) close();  // an unread body: the connection cannot be reused
  res.keep_alive(keep_alive());
  res.set("X-Request-Id", request_id_);
  res.prepare_payload();
  if (method() == bhttp::verb::head) {
    // The header a GET would get, with no body (RFC 9110 9.3.2): body bytes after a HEAD
    // answer would be read as the start of the next response on this connection.
    auto n = res.body().size();
    res.body().clear();
    res.content_length(n);
  }
  status_ = res.result_int();
  bytes_out += res.body().size();
  error_code ec;
  deadline_.arm(options_.body_timeout);
  co_await bhttp::async_write(stream_, res, asio::redirect_error(kUseAwaitable, ec));
  if (ec) close();
}

awaitable<void> Exchange::respond_chunked(
    bhttp::response_header<> head, std::function<awaitable<std::optional<std::string>>()> next) {
  if (!parser_.is_done()) close();
  head.version(11);
  if (!keep_alive()) head.set(bhttp::field::connection, "close");
  head.set("X-Request-Id", request_id_);
  head.set(bhttp::field::transfer_encoding, "chunked");
  status_ = head.result_int();
  std::ostringstream os;
  os << head;
  std::string out = os.str();
  error_code ec;
  deadline_.arm(options_.body_timeout);
  co_await asio::async_write(stream_, asio::buffer(out), asio::redirect_error(kUseAwaitable, ec));
  while (!ec) {
    auto piece = co_await next();
    if (!piece) break;
    if (piece->empty()) continue;
    char size[24];
    std::snprintf(size, sizeof size, "%zx\r\n", piece->size());
    out = size;
    out += *piece;
    out += "\r\n";
    bytes_out += piece->size();
    deadline_.arm(options_.body_timeout);
    co_await asio::async_write(stream_, asio::buffer(out), asio::redirect_error(kUseAwaitable, ec));
  }
  if (!ec) {
    deadline_.arm(options_.body_timeout);
    co_await asio::async_write(stream_, asio::buffer(std::string_view("0\r\n\r\n")),
                               asio::redirect_error(kUseAwaitable, ec));
  }
  if (ec) close();
}

Server::Server(ServerOptions options, Handler handler, RejectHook on_reject)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      on_reject_(std::move(on_reject)) {}

Server::~Server() {
  stop();
  wait();
}

Status Server::start() {
  unsigned n =
      options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    work_.push_back(asio::make_work_guard(*contexts_.back()));
  }
  if (!options_.tls_cert_file.empty()) {
    tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    error_code ec;
    tls_->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec) {
      return fail(Code::kTls,
                  "cannot use TLS certificate " + options_.tls_cert_file + ": " + ec.message());
    }
    tls_->use_private_key_file(options_.tls_key_file, ssl::context::pem, ec);
    if (ec) {
      return fail(Code::kTls, "cannot use TLS key " + options_.tls_key_file + ": " + ec.message());
    }
  }
  error_code ec;
  auto addr = asio::ip::make_address(options_.host, ec);
  if (ec) return fail(Code::kListen, "listen address '" + options_.host + "' is not an IP address");
  acceptor_ = std::make_unique<tcp::acceptor>(*contexts_.front());
  tcp::endpoint ep(addr, options_.port);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(Code::kListen, "cannot listen on " + options_.host + ":" +
                                   std::to_string(options_.port) + ": " + ec.message());
  }
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(*contexts_.front(), accept_loop(), asio::detached);
  for (auto& ctx : contexts_) asio::co_spawn(*ctx, Deadline::run_sweeper(stopped_), asio::detached);
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get()] {
      for (;;) {
        try {
          c->run();
          return;
        } catch (const std::exception& e) {
          // A handler threw past every catch: log and keep serving the other connections.
          core::Logger("http").error("worker caught: ", e.what());
        }
      }
    });
  }
  return {};
}

awaitable<void> Server::accept_loop() {
  size_t next = 0;
  while (!stopping_) {
    auto& ctx = *contexts_[next++ % contexts_.size()];
    error_code ec;
    tcp::socket socket = co_await acceptor_->async_accept(ctx.get_executor(),
                                                          asio::redirect_error(kUseAwaitable, ec));
    if (stopping_ || ec == asio::error::operation_aborted) break;
    if (ec) {
      // Out of descriptors or a transient failure: pause instead of spinning.
      asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
      co_await t.async_wait(asio::redirect_error(kUseAwaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::shared_ptr<Connection> c =
        tls_ ? std::make_shared<Connection>(Stream(std::move(socket), *tls_))
             : std::make_shared<Connection>(Stream(std::move(socket)));
    {
      std::lock_guard lock(conns_mu_);
      std::erase_if(conns_, [](const auto& w) { return w.expired(); });
      conns_.push_back(c);
    }
    asio::co_spawn(ctx, run_connection(std::move(c)), asio::detached);
  }
}

awaitable<void> Server::run_connection(std::shared_ptr<Connection> c) {
  ++open_;
  struct Done {
    std::atomic<size_t>& n;
    ~Done() { --n; }
  } done{open_};
  Stream& stream = c->stream;
  Deadline deadline(stream.transport());
  std::string client;
  {
    error_code ec;
    auto ep = stream.transport().socket().remote_endpoint(ec);
    client = ec ? "unknown" : ep.address().to_string();
  }
  auto reject = [&](unsigned status, const std::string& reason) -> awaitable<void> {
    if (on_reject_) on_reject_(status, reason, client);
    auto res = plain_response(status, reason);
    res.set("X-Request-Id", new_request_id());
    error_code ec;
    deadline.arm(2s);
    co_await bhttp::async_write(stream, res, asio::redirect_error(kUseAwaitable, ec));
  };
  if (stream.is_tls()) {
    error_code ec;
    deadline.arm(options_.header_timeout);
    co_await stream.tls()->async_handshake(ssl::stream_base::server,
                                           asio::redirect_error(kUseAwaitable, ec));
    if (ec) {
      if (on_reject_) on_reject_(0, "TLS handshake failed: " + ec.message(), client);
      stream.close();
      co_return;
    }
  }
  beast::flat_buffer buffer;
  // The first request on a connection (after the TLS handshake, if any) must arrive within
  // the header timeout: a connection that sends nothing is not held for the idle timeout.
  // Later requests wait under the idle timeout for their first byte, then the header timeout.
  deadline.arm(options_.header_timeout);
  bool first = true;
  for (;;) {
    c->idle = true;
    if (stopping_) break;
    error_code ec;
    auto pending = [&] {
      return std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size());
    };
    auto read_more = [&]() -> awaitable<size_t> {
      size_t n = co_await stream.async_read_some(buffer.prepare(16 * 1024),
                                                 asio::redirect_error(kUseAwaitable, ec));
      buffer.commit(n);
      ec = deadline.why(ec);
      co_return n;
    };
    if (buffer.size() == 0) {
      if (!first) deadline.arm(options_.idle_timeout);
      co_await read_more();
      if (ec) break;  // closed, idle too long (or nothing sent in time), or shut down
    }
    c->idle = false;
    if (!first) deadline.arm(options_.header_timeout);
    first = false;
    auto started = std::chrono::steady_clock::now();
    // The whole head is read and checked on its raw bytes (http/request_head.h) before Beast
    // parses it: nothing the checks refuse reaches the handler, let alone an upstream.
    size_t end = std::string_view::npos;
    for (;;) {
      buffer.consume(skip_empty_lines(pending()));
      end = find_head_end(pending());
      if (end != std::string_view::npos || buffer.size() > options_.header_limit) break;
      co_await read_more();
      if (ec) break;
    }
    if (ec) {
      if (ec == beast::error::timeout) co_await reject(408, "Request header not received in time");
      break;
    }
    if (end == std::string_view::npos || end > options_.header_limit) {
      co_await reject(431, "Request header fields too large (limit " +
                               std::to_string(options_.header_limit) + " bytes)");
      break;
    }
    auto checked = check_request_head(pending().substr(0, end));
    if (!checked) {
      unsigned status = status_for(checked.error());
      const char* what = status == 501   ? "Not implemented: "
                         : status == 505 ? "HTTP version not supported: "
                                         : "Bad request: ";
      co_await reject(status, what + checked.error().message);
      break;
    }
    RequestParser parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.header_limit));
    parser.body_limit(boost::none);  // bodies are limited by whoever reads them
    size_t used = parser.put(asio::buffer(buffer.data().data(), end), ec);
    if (!ec && (used != end || !parser.is_header_done())) ec = bhttp::error::bad_line_ending;
    // Beast must read the framing as the checks did, or the request is refused.
    if (!ec && (parser.chunked() != (checked->framing == Framing::kChunked) ||
                parser.content_length().value_or(0) != checked->content_length)) {
      ec = bhttp::error::bad_transfer_encoding;
    }
    if (ec) {
      co_await reject(400, "Bad request: malformed HTTP request head (" + ec.message() + ")");
      break;
    }
    buffer.consume(end);
    if (checked->underscore_fields) drop_underscore_fields(parser.get().base());
    if (!checked->origin_target.empty()) parser.get().target(checked->origin_target);
    if (checked->framing == Framing::kChunked) {
      // The chunked body bytes already here are checked before anything goes upstream.
      auto body = check_chunked_prefix(pending());
      if (body.state == ChunkedPrefix::kBad) {
        co_await reject(400, "Bad request: " + body.reason);
        break;
      }
    }
    ++in_flight_;
    Exchange ex(stream, deadline, buffer, parser, options_, client, new_request_id(), started);
    ex.set_trace(trace_of(parser.get().base()));
    // Decided from the client's header as it arrived: handlers strip Connection (hop-by-hop)
    // and the proxy asks its upstream for keep-alive through the same header.
    if (!parser.get().keep_alive()) ex.close();
    bool failed = false;
    try {
      co_await handler_(ex);
    } catch (const std::exception& e) {
      failed = true;
      if (on_reject_) on_reject_(500, std::string("handler failed: ") + e.what(), client);
    }
    --in_flight_;
    if (failed) {
      if (!ex.answered()) co_await reject(500, "Internal error; request id " + ex.request_id());
      break;
    }
    if (!ex.keep_alive() || !parser.is_done()) break;
  }
  if (!stopping_) co_await stream.shutdown();
  stream.close();
}

void Server::stop() {
  if (stopping_.exchange(true) || contexts_.empty()) return;
  asio::post(*contexts_.front(), [this] {
    error_code ec;
    if (acceptor_) acceptor_->close(ec);
  });
  // Idle keep-alive connections close now; busy ones after their request.
  {
    std::lock_guard lock(conns_mu_);
    for (auto& w : conns_) {
      if (auto c = w.lock()) {
        asio::post(c->stream.get_executor(), [c] {
          if (c->idle) c->stream.close();
        });
      }
    }
  }
  // Posted, not spawned here: co_spawn may start the coroutine inline on this thread.
  asio::post(*contexts_.front(),
             [this] { asio::co_spawn(*contexts_.front(), drain(), asio::detached); });
}

awaitable<void> Server::drain() {
  auto deadline = std::chrono::steady_clock::now() + options_.shutdown_grace;
  asio::steady_timer t(co_await asio::this_coro::executor);
  error_code ec;
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
    t.expires_after(20ms);
    co_await t.async_wait(asio::redirect_error(kUseAwaitable, ec));
  }
  {
    std::lock_guard lock(conns_mu_);
    for (auto& w : conns_) {
      if (auto c = w.lock()) {
        asio::post(c->stream.get_executor(), [c] { c->stream.close(); });
      }
    }
  }
  // Idle upstream connections wait for readability on their worker's io_context: close them
  // there, so that nothing keeps a worker running.
  for (auto& ctx : contexts_) asio::post(*ctx, [] { internal::close_idle_connections(); });
  work_.clear();
  stopped_ = true;
  // Whatever still runs a second later (a stuck upstream) is stopped.
  t.expires_after(1s);
  co_await t.async_wait(asio::redirect_error(kUseAwaitable, ec));
  for (auto& ctx : contexts_) ctx->stop();
}

void Server::wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace cg::http
