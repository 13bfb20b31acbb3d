#include "http/proxy.h"

#include <sys/socket.h>

#include <cerrno>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "http/deadline.h"
#include "http/errors.h"
#include "http/request_fields.h"

namespace cg::http {
namespace {

using namespace std::chrono_literals;
constexpr auto kAw = asio::use_awaitable;
constexpr size_t kRelayBuffer = 64 * 1024;
constexpr size_t kMaxIdlePerHost = 64;

// Idle upstream connections of this worker thread, by "host:port". Each worker runs its own
// io_context on one thread, so the pool needs no lock.
struct Pool {
  std::map<std::string, std::vector<beast::tcp_stream>> idle;
  size_t count = 0;
};
thread_local Pool tl_pool;

// Relay buffers of this worker thread, reused: allocating and zeroing 64 KiB per request
// (and the allocator trimming it back) showed in profiles.
class RelayBuffer {
 public:
  RelayBuffer() {
    if (free_list().empty()) {
      buf_.reset(new char[kRelayBuffer]);
    } else {
      buf_ = std::move(free_list().back());
      free_list().pop_back();
    }
  }
  ~RelayBuffer() {
    if (free_list().size() < 64) free_list().push_back(std::move(buf_));
  }
  RelayBuffer(const RelayBuffer&) = delete;
  RelayBuffer& operator=(const RelayBuffer&) = delete;
  char* data() { return buf_.get(); }

 private:
  static std::vector<std::unique_ptr<char[]>>& free_list() {
    thread_local std::vector<std::unique_ptr<char[]>> list;
    return list;
  }
  std::unique_ptr<char[]> buf_;
};

std::string pool_key(const Url& u) { return u.host + ":" + std::to_string(u.port); }

// A pooled connection is usable when a non-blocking peek finds neither data nor EOF (one
// recv(2); the socket's own blocking mode is left alone).
bool still_open(beast::tcp_stream& s) {
  char b;
  ssize_t n = ::recv(s.socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct Acquired {
  std::optional<beast::tcp_stream> stream;
  bool reused = false;
};

awaitable<Result<Acquired>> acquire(const Url& u, const ProxyTimeouts& t, bool allow_pooled) {
  auto ex = co_await asio::this_coro::executor;
  if (allow_pooled) {
    auto it = tl_pool.idle.find(pool_key(u));
    while (it != tl_pool.idle.end() && !it->second.empty()) {
      beast::tcp_stream s = std::move(it->second.back());
      it->second.pop_back();
      --tl_pool.count;
      if (still_open(s)) co_return Acquired{std::move(s), true};
    }
  }
  tcp::resolver resolver(ex);
  error_code ec;
  auto results = co_await resolver.async_resolve(u.host, std::to_string(u.port),
                                                 asio::redirect_error(kAw, ec));
  if (ec) {
    co_return fail(Code::kUpstreamConnect,
                   "cannot resolve upstream host " + u.host + ": " + ec.message());
  }
  beast::tcp_stream s(ex);
  s.expires_after(t.connect);
  co_await s.async_connect(results, asio::redirect_error(kAw, ec));
  if (ec) {
    co_return fail(ec == beast::error::timeout ? Code::kUpstreamTimeout : Code::kUpstreamConnect,
                   "cannot connect to upstream " + u.authority() + ": " +
                       (ec == beast::error::timeout
                            ? "no answer within " + std::to_string(t.connect.count()) + " ms"
                            : ec.message()));
  }
  s.expires_never();  // later operations use a Deadline (http/deadline.h)
  s.socket().set_option(tcp::no_delay(true), ec);
  co_return Acquired{std::move(s), false};
}

void release(const Url& u, beast::tcp_stream&& s) {
  auto& v = tl_pool.idle[pool_key(u)];
  if (v.size() >= kMaxIdlePerHost) return;
  s.expires_never();
  v.push_back(std::move(s));
  ++tl_pool.count;
}

Error upstream_error(const error_code& ec, std::string_view what, const ProxyTimeouts& t) {
  if (ec == beast::error::timeout) {
    return make_error(Code::kUpstreamTimeout, std::string(what) + ": no answer within " +
                                                  std::to_string(t.response_header.count()) +
                                                  " ms");
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category()) {
    return make_error(Code::kUpstreamProtocol, std::string(what) + ": " + ec.message());
  }
  return make_error(Code::kUpstreamConnect, std::string(what) + ": " + ec.message());
}

struct RelayResult {
  enum Side { kNone, kFrom, kTo };
  Side failed = kNone;  // which side's operation failed
  error_code ec;
  uint64_t bytes = 0;  // body bytes relayed
};

// Streams a message body read by `p` from `from` into `sr` writing to `to`, through `buf`
// (Beast's relay() in its HTTP examples), each read and write under its side's deadline.
// The serializer shares the parser's message; its header has been written, or goes out with
// the first body bytes.
template <class From, class Parser, class To, class Serializer>
awaitable<RelayResult> relay_body(From& from, beast::flat_buffer& from_buffer, Parser& p,
                                  Deadline& from_deadline, std::chrono::milliseconds from_timeout,
                                  To& to, Serializer& sr, Deadline& to_deadline,
                                  std::chrono::milliseconds to_timeout, std::span<char> buf) {
  RelayResult r;
  auto& body = p.get().body();
  error_code ec;
  do {
    if (!p.is_done()) {
      body.data = buf.data();
      body.size = buf.size();
      from_deadline.arm(from_timeout);
      co_await bhttp::async_read_some(from, from_buffer, p, asio::redirect_error(kAw, ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      ec = from_deadline.why(ec);
      if (ec) {
        r.failed = RelayResult::kFrom;
        r.ec = ec;
        co_return r;
      }
      body.size = buf.size() - body.size;
      body.data = buf.data();
      body.more = !p.is_done();
      r.bytes += body.size;
      // An empty buffer would be written as a chunk of size 0, which is chunked's last-chunk:
      // with more to come, read again; at the end, no buffer, so that the serializer writes
      // the last-chunk once (an empty buffer and then the end wrote it twice, and the second
      // "0\r\n\r\n" was read by a kept-alive upstream as the start of another request).
      if (body.size == 0) {
        if (body.more) continue;
        body.data = nullptr;
      }
    } else {
      // `more` must go false, or the serializer waits for a body that is not coming.
      body.data = nullptr;
      body.size = 0;
      body.more = false;
    }
    to_deadline.arm(to_timeout);
    co_await bhttp::async_write(to, sr, asio::redirect_error(kAw, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    ec = to_deadline.why(ec);
    if (ec) {
      r.failed = RelayResult::kTo;
      r.ec = ec;
      co_return r;
    }
  } while (!p.is_done() || !sr.is_done());
  co_return r;
}

}  // namespace

size_t pooled_upstream_connections() { return tl_pool.count; }

void strip_hop_by_hop(bhttp::fields& f) {
  // Headers named by Connection are hop-by-hop too.
  std::vector<std::string> named;
  for (auto it = f.find(bhttp::field::connection);
       it != f.end() && it->name() == bhttp::field::connection; ++it) {
    for (auto token : bhttp::token_list(it->value())) named.emplace_back(token);
  }
  for (const auto& n : named) {
    if (!beast::iequals(n, "close") && !beast::iequals(n, "keep-alive") &&
        !beast::iequals(n, "upgrade") && !beast::iequals(n, "transfer-encoding")) {
      f.erase(n);
    }
  }
  f.erase(bhttp::field::connection);
  f.erase(bhttp::field::keep_alive);
  f.erase(bhttp::field::proxy_connection);
  f.erase(bhttp::field::te);
  f.erase(bhttp::field::trailer);
  f.erase(bhttp::field::upgrade);
  f.erase(bhttp::field::proxy_authorization);
}

bool is_websocket_upgrade(const bhttp::request_header<>& h) {
  return websocket::is_upgrade(bhttp::request<bhttp::empty_body>(h));
}

awaitable<ProxyOutcome> proxy_http(Exchange& ex, const Url& upstream, const ProxyTimeouts& t,
                                   const ResponseTransform& transform_response) {
  ProxyOutcome out;
  auto& parser = ex.parser();
  auto& req = parser.get();
  Stream& client = ex.stream();
  error_code ec;
  auto started = std::chrono::steady_clock::now();

  bool expect_continue = ex.expects_continue();
  req.erase(bhttp::field::expect);
  req.version(11);
  req.keep_alive(true);
  // The upstream gets framing the gateway chose from what its parser read, never the
  // client's Content-Length or Transfer-Encoding.
  std::optional<uint64_t> length;
  if (auto n = parser.content_length()) length = *n;
  reframe(req.base(), parser.chunked(), length);
  size_t head_fields = count_fields(req.base());
  bool has_body = !parser.is_done();
  if (expect_continue && has_body) {
    // The caller decided to admit this request: ask for the body (nginx does the same).
    if (auto sent = co_await ex.send_continue(); !sent) {
      out.error = sent.take_error();
      co_return out;
    }
  }

  RelayBuffer relay;
  std::span<char> buf(relay.data(), kRelayBuffer);
  for (int attempt = 0;; ++attempt) {
    auto acquired = co_await acquire(upstream, t, /*allow_pooled=*/attempt == 0);
    if (!acquired) {
      out.error = acquired.take_error();
      co_return out;
    }
    beast::tcp_stream& up = *acquired->stream;
    bool reused = acquired->reused;
    Deadline up_deadline(up);

    // Request: header, then the body as it arrives from the client.
    bhttp::request_serializer<bhttp::buffer_body> sr{req};
    up_deadline.arm(t.idle);
    co_await bhttp::async_write_header(up, sr, asio::redirect_error(kAw, ec));
    ec = up_deadline.why(ec);
    if (ec) {
      if (reused && !has_body) continue;  // a pooled connection the upstream had closed
      out.error = upstream_error(ec, "sending the request to " + upstream.authority(), t);
      co_return out;
    }
    RelayResult sent =
        co_await relay_body(client, ex.buffer(), parser, ex.deadline(), ex.options().body_timeout,
                            up, sr, up_deadline, t.idle, buf);
    ex.bytes_in += sent.bytes;
    if (sent.failed == RelayResult::kFrom) {
      // The client went away, stalled, or sent a malformed chunked body mid-upload. The
      // upstream connection closes here (it is never pooled), so the body its head promised
      // cannot be completed by bytes of another request.
      ex.close();
      out.error = make_error(Code::kClient, "reading the request body: " + sent.ec.message());
      if (sent.ec.category() == bhttp::make_error_code(bhttp::error::bad_chunk).category() &&
          sent.ec != bhttp::error::end_of_stream && sent.ec != bhttp::error::partial_message &&
          !ex.answered()) {
        StringResponse res{bhttp::status::bad_request, 11};
        res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
        res.set(bhttp::field::cache_control, "no-store");
        res.body() = "Bad request: the chunked request body is malformed (" +
                     sent.ec.message() + ")\n";
        co_await ex.respond(std::move(res));
      }
      co_return out;
    }
    // Trailer fields of a chunked body are not forwarded (the serializer wrote none).
    drop_trailer_fields(req.base(), head_fields);
    bool body_failed = sent.failed == RelayResult::kTo;
    ec = sent.ec;
    if (body_failed) {
      if (reused && !has_body) continue;
      ex.close();
      out.error = upstream_error(ec, "sending the request body to " + upstream.authority(), t);
      co_return out;
    }

    // Response: header, then the body as it arrives from the upstream (no buffering, so
    // Server-Sent Events pass at once).
    beast::flat_buffer up_buffer;
    bhttp::response_parser<bhttp::buffer_body> rp;
    rp.body_limit(boost::none);
    rp.header_limit(64 * 1024);
    if (req.method() == bhttp::verb::head) rp.skip(true);
    up_deadline.arm(t.response_header);
    co_await bhttp::async_read_header(up, up_buffer, rp, asio::redirect_error(kAw, ec));
    ec = up_deadline.why(ec);
    if (ec) {
      if (reused && !has_body && ec != beast::error::timeout) continue;
      out.error = upstream_error(ec, "reading the response of " + upstream.authority(), t);
      co_return out;
    }
    out.upstream_latency = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    auto& res = rp.get();
    out.upstream_status = res.result_int();
    bool upstream_keep_alive = res.keep_alive();
    strip_hop_by_hop(res.base());
    if (transform_response) transform_response(res.base());
    res.set("X-Request-Id", ex.request_id());
    res.keep_alive(ex.keep_alive());
    ex.set_status(res.result_int());
    bhttp::response_serializer<bhttp::buffer_body> rs{res};
    // When body bytes came with the header (or there is no body), the header goes out with
    // them in one write; otherwise at once, so that a streamed response (SSE) starts promptly.
    if (!rp.is_done() && up_buffer.size() == 0) {
      ex.deadline().arm(ex.options().body_timeout);
      co_await bhttp::async_write_header(client, rs, asio::redirect_error(kAw, ec));
      if (ec) {
        ex.close();
        co_return out;
      }
    }
    RelayResult got = co_await relay_body(up, up_buffer, rp, up_deadline, t.idle, client, rs,
                                          ex.deadline(), ex.options().body_timeout, buf);
    ex.bytes_out += got.bytes;
    if (got.failed == RelayResult::kFrom) {
      ex.close();  // the upstream died mid-body: the client sees a cut-off response
      out.error = upstream_error(got.ec, "reading the response body of " + upstream.authority(), t);
      co_return out;
    }
    if (got.failed == RelayResult::kTo) {
      ex.close();
      out.error =
          make_error(Code::kClient, "writing the response to the client: " + got.ec.message());
      co_return out;
    }
    if (upstream_keep_alive && rp.is_done() && up_buffer.size() == 0) {
      up_deadline.disarm();
      release(upstream, std::move(up));
    }
    co_return out;
  }
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
  auto acquired = co_await acquire(upstream, t, /*allow_pooled=*/false);
  if (!acquired) {
    out.error = acquired.take_error();
    co_return out;
  }
  websocket::stream<beast::tcp_stream> up(std::move(*acquired->stream));
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
  // Let the other direction finish its close handshake (bounded by the stream timeouts).
  while (!(down_done && up_done)) {
    wake.expires_after(5s);
    co_await wake.async_wait(asio::redirect_error(kAw, ec));
    if (!ec) {
      beast::get_lowest_layer(up).close();
      ex.stream().close();
      break;
    }
  }
  co_return out;
}

}  // namespace cg::http
