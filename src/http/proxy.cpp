// The reverse proxy's request side: framing re-made, the request (header with the first body
// bytes) and its body streamed upstream, one retry on a fresh connection for an idempotent
// request that found its pooled connection closed; the answer goes back through
// relay_response (response_relay.cpp).
#include "http/proxy.h"

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "http/deadline.h"
#include "http/errors.h"
#include "http/internal/relay.h"
#include "http/internal/upstream_pool.h"
#include "http/request_fields.h"

namespace cg::http {
namespace {

using internal::relay_body;
using internal::RelayResult;
using internal::upstream_error;
constexpr auto kAw = asio::use_awaitable;
constexpr size_t kRelayBuffer = 64 * 1024;

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

// Methods whose request may be sent twice with the effect of once (RFC 9110 9.2.2).
bool is_idempotent(bhttp::verb m) {
  return m == bhttp::verb::get || m == bhttp::verb::head || m == bhttp::verb::options ||
         m == bhttp::verb::put || m == bhttp::verb::delete_ || m == bhttp::verb::trace;
}

}  // namespace

size_t pooled_upstream_connections() { return internal::idle_connections(); }

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

  // A pooled connection may have been closed by the upstream a moment ago (the pool's idle
  // wait had not fired yet): the request's first read or write finds it, and a request that
  // can be sent again unchanged (idempotent, no body) is, once, on a fresh connection.
  bool may_retry_method = !has_body && is_idempotent(req.method());
  RelayBuffer relay;
  std::span<char> buf(relay.data(), kRelayBuffer);
  for (int attempt = 0;; ++attempt) {
    auto acquired = co_await internal::acquire(upstream, t, /*allow_pooled=*/attempt == 0);
    if (!acquired) {
      out.error = acquired.take_error();
      co_return out;
    }
    internal::UpstreamConnection& conn = *acquired->conn;
    beast::tcp_stream& up = conn.stream;
    bool reused = acquired->reused;
    bool may_retry = reused && may_retry_method;
    Deadline up_deadline(up);

    // Request: the header goes with the body bytes already read (or alone when there is no
    // body: one write either way); a body still to come follows as it arrives.
    bhttp::request_serializer<bhttp::buffer_body> sr{req};
    if (has_body && ex.buffer().size() == 0) {
      up_deadline.arm(t.idle);
      co_await bhttp::async_write_header(up, sr, asio::redirect_error(kAw, ec));
      ec = up_deadline.why(ec);
      if (ec) {
        out.error = upstream_error(ec, "sending the request to " + upstream.authority(), t);
        co_return out;
      }
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
        res.body() =
            "Bad request: the chunked request body is malformed (" + sent.ec.message() + ")\n";
        co_await ex.respond(std::move(res));
      }
      co_return out;
    }
    // Trailer fields of a chunked body are not forwarded (the serializer wrote none).
    drop_trailer_fields(req.base(), head_fields);
    if (sent.failed == RelayResult::kTo) {
      if (may_retry && internal::closed_before_answer(sent.ec)) continue;
      ex.close();
      out.error = upstream_error(sent.ec, "sending the request to " + upstream.authority(), t);
      co_return out;
    }

    // Response: header, then the body as it arrives from the upstream (no buffering, so
    // Server-Sent Events pass at once).
    auto end =
        co_await internal::relay_response(ex, conn, up_deadline, upstream, t, transform_response,
                                          reused, may_retry, started, buf, out);
    if (end == internal::ResponseEnd::kRetry) continue;
    if (end == internal::ResponseEnd::kReusable) {
      up_deadline.disarm();
      internal::release(upstream, std::move(acquired->conn));
    }
    co_return out;
  }
}

}  // namespace cg::http
