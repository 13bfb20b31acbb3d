// What the request and the response relays share (src/http/proxy.cpp, response_relay.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/result.h"
#include "http/asio.h"
#include "http/deadline.h"
#include "http/internal/upstream_pool.h"
#include "http/proxy.h"
#include "http/server.h"

namespace cg::http::internal {

// The error of a failed upstream operation: timeout (504), protocol (the answer was not
// HTTP), or connect (the connection failed).
Error upstream_error(const error_code& ec, std::string_view what, const ProxyTimeouts& t);

// A pooled connection that the upstream closed before answering: EOF before any byte, or a
// reset (the request's first read or write found it dead).
bool closed_before_answer(const error_code& ec);

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
      co_await bhttp::async_read_some(from, from_buffer, p,
                                      asio::redirect_error(asio::use_awaitable, ec));
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
    co_await bhttp::async_write(to, sr, asio::redirect_error(asio::use_awaitable, ec));
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

enum class ResponseEnd {
  kRetry,     // the pooled connection was dead before any byte of the answer: try a fresh one
  kDone,      // answered (or failed: `out.error`); the connection is not reusable
  kReusable,  // answered, and the connection ended exactly at the end of the answer
};

// Reads the upstream's answer on `conn` (its header into conn.buffer, 16 KiB at a time) and
// writes it to the client: the header re-made by us (hop-by-hop headers stripped, framing from
// what our parser read, `transform` applied, X-Request-Id), sent with the first body bytes in
// one write. A Content-Length body is then read straight into `buf` (no parser copy) and
// written as it comes; a chunked or close-delimited one goes through the parser.
awaitable<ResponseEnd> relay_response(Exchange& ex, UpstreamConnection& conn, Deadline& up_deadline,
                                      const Url& upstream, const ProxyTimeouts& t,
                                      const ResponseTransform& transform, bool reused,
                                      bool may_retry, std::chrono::steady_clock::time_point started,
                                      std::span<char> buf, ProxyOutcome& out);

}  // namespace cg::http::internal
