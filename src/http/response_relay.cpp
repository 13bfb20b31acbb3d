// The upstream's answer, relayed to the client (proxy_http's second half).
#include <algorithm>
#include <string>

#include "http/errors.h"
#include "http/internal/relay.h"

namespace cg::http::internal {

constexpr auto kAw = asio::use_awaitable;

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

bool closed_before_answer(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

namespace {

// A Content-Length body: the bytes that came with the header, then reads of up to `buf` bytes
// straight from the socket, never past the body's end (what follows it is not read), each
// written to the client as it comes.
awaitable<RelayResult> relay_sized_body(Exchange& ex, UpstreamConnection& conn,
                                        Deadline& up_deadline, const ProxyTimeouts& t,
                                        bhttp::response_serializer<bhttp::buffer_body>& rs,
                                        bhttp::buffer_body::value_type& body, uint64_t left,
                                        std::span<char> buf) {
  RelayResult r;
  error_code ec;
  Stream& client = ex.stream();
  auto& head_bytes = conn.buffer;
  size_t have = static_cast<size_t>(std::min<uint64_t>(head_bytes.size(), left));
  if (have > 0) {
    // The header and the first body bytes: one write (a buffer sequence, one sendmsg).
    body.data = head_bytes.data().data();
    body.size = have;
    left -= have;
    body.more = left > 0;
  } else {
    // Nothing yet: the header goes out at once, so that a slow body starts promptly.
    body.data = nullptr;
    body.size = 0;
    body.more = true;
  }
  ex.deadline().arm(ex.options().body_timeout);
  co_await bhttp::async_write(client, rs, asio::redirect_error(kAw, ec));
  if (ec == bhttp::error::need_buffer) ec = {};
  ec = ex.deadline().why(ec);
  if (ec) {
    r.failed = RelayResult::kTo;
    r.ec = ec;
    co_return r;
  }
  r.bytes += have;
  head_bytes.consume(have);
  while (left > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), left));
    up_deadline.arm(t.idle);
    size_t n = co_await conn.stream.async_read_some(asio::buffer(buf.data(), want),
                                                    asio::redirect_error(kAw, ec));
    ec = up_deadline.why(ec);
    if (ec) {
      r.failed = RelayResult::kFrom;
      r.ec = ec == asio::error::eof ? error_code(bhttp::error::partial_message) : ec;
      co_return r;
    }
    left -= n;
    body.data = buf.data();
    body.size = n;
    body.more = left > 0;
    ex.deadline().arm(ex.options().body_timeout);
    co_await bhttp::async_write(client, rs, asio::redirect_error(kAw, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    ec = ex.deadline().why(ec);
    if (ec) {
      r.failed = RelayResult::kTo;
      r.ec = ec;
      co_return r;
    }
    r.bytes += n;
  }
  co_return r;
}

}  // namespace

awaitable<ResponseEnd> relay_response(Exchange& ex, UpstreamConnection& conn, Deadline& up_deadline,
                                      const Url& upstream, const ProxyTimeouts& t,
                                      const ResponseTransform& transform, bool reused,
                                      bool may_retry, std::chrono::steady_clock::time_point started,
                                      std::span<char> buf, ProxyOutcome& out) {
  error_code ec;
  beast::flat_buffer& up_buffer = conn.buffer;
  bhttp::response_parser<bhttp::buffer_body> rp;
  rp.body_limit(boost::none);
  rp.header_limit(64 * 1024);
  if (ex.method() == bhttp::verb::head) rp.skip(true);
  up_deadline.arm(t.response_header);
  co_await bhttp::async_read_header(conn.stream, up_buffer, rp, asio::redirect_error(kAw, ec));
  ec = up_deadline.why(ec);
  if (ec) {
    if (may_retry && closed_before_answer(ec) && up_buffer.size() == 0) {
      co_return ResponseEnd::kRetry;
    }
    auto e = upstream_error(ec, "reading the response of " + upstream.authority(), t);
    if (closed_before_answer(ec) && reused && !may_retry) {
      // Say why this one was not retried (a reused connection closed under the request).
      e.message += " (the upstream closed the connection before answering; a " +
                   std::string(ex.method_string()) +
                   " request is retried only when it is idempotent and sent no body)";
    }
    out.error = std::move(e);
    co_return ResponseEnd::kDone;
  }
  out.upstream_latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  auto& res = rp.get();
  out.upstream_status = res.result_int();
  bool upstream_keep_alive = res.keep_alive();
  strip_hop_by_hop(res.base());
  // Framing re-made from what the parser read: a valid Content-Length, or chunked (the
  // serializer chunks the decoded body), or until the upstream closes.
  std::optional<uint64_t> sized;
  if (!rp.is_done() && !rp.chunked() && rp.content_length()) {
    sized = *rp.content_length_remaining();
    res.content_length(*rp.content_length());
  }
  if (transform) transform(res.base());
  res.set("X-Request-Id", ex.request_id());
  res.keep_alive(ex.keep_alive());
  ex.set_status(res.result_int());
  bhttp::response_serializer<bhttp::buffer_body> rs{res};
  RelayResult got;
  bool exact = false;  // the connection stands at the answer's end
  if (sized) {
    got = co_await relay_sized_body(ex, conn, up_deadline, t, rs, res.body(), *sized, buf);
    exact = got.failed == RelayResult::kNone && up_buffer.size() == 0;
  } else {
    // No body, chunked, or until close: through the parser. When body bytes came with the
    // header (or there is no body), the header goes out with them in one write; otherwise at
    // once, so that a streamed response (SSE) starts promptly.
    if (!rp.is_done() && up_buffer.size() == 0) {
      ex.deadline().arm(ex.options().body_timeout);
      co_await bhttp::async_write_header(ex.stream(), rs, asio::redirect_error(kAw, ec));
      if (ec) {
        ex.close();
        co_return ResponseEnd::kDone;
      }
    }
    got = co_await relay_body(conn.stream, up_buffer, rp, up_deadline, t.idle, ex.stream(), rs,
                              ex.deadline(), ex.options().body_timeout, buf);
    exact = got.failed == RelayResult::kNone && rp.is_done() && up_buffer.size() == 0;
  }
  ex.bytes_out += got.bytes;
  if (got.failed == RelayResult::kFrom) {
    ex.close();  // the upstream died mid-body: the client sees a cut-off response
    out.error = upstream_error(got.ec, "reading the response body of " + upstream.authority(), t);
    co_return ResponseEnd::kDone;
  }
  if (got.failed == RelayResult::kTo) {
    ex.close();
    out.error =
        make_error(Code::kClient, "writing the response to the client: " + got.ec.message());
    co_return ResponseEnd::kDone;
  }
  co_return upstream_keep_alive&& exact ? ResponseEnd::kReusable : ResponseEnd::kDone;
}

}  // namespace cg::http::internal
