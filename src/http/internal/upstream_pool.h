// Upstream connections kept alive per worker thread (each worker runs its own io_context on one
// thread, so the pool needs no lock). An idle connection waits for readability: the upstream
// closing it (or sending bytes nobody asked for) takes it out of the pool at once, with no
// syscall on the request path (no recv(MSG_PEEK) before each reuse). A connection that dies
// between that wait and its reuse shows in the request's first read or write; proxy_http retries
// idempotent requests once on a fresh connection.
#pragma once

#include <cstdint>
#include <memory>

#include "core/result.h"
#include "http/asio.h"
#include "http/proxy.h"
#include "http/url.h"

namespace cg::http::internal {

// Bytes read from the upstream at once into a connection's buffer: a whole small answer
// (header and body) in one read.
constexpr size_t kUpstreamReadBuffer = 16 * 1024;

// One upstream connection and its read buffer, both reused while it is kept alive. Held by
// pointer, so that a Deadline (which refers to the stream) and the idle wait stay valid.
struct UpstreamConnection {
  explicit UpstreamConnection(beast::tcp_stream s) : stream(std::move(s)) {
    buffer.reserve(kUpstreamReadBuffer);
  }
  beast::tcp_stream stream;
  beast::flat_buffer buffer;  // empty whenever the connection is in the pool
  uint64_t id = 0;            // set while pooled, to find it when its idle wait fires
};
using ConnectionPtr = std::unique_ptr<UpstreamConnection>;

struct Acquired {
  ConnectionPtr conn;
  bool reused = false;  // from the pool: may have been closed by the upstream meanwhile
};

// A pooled connection to `u` when `allow_pooled` and one is idle, else a new one (resolve,
// connect within t.connect, TCP_NODELAY).
awaitable<Result<Acquired>> acquire(const Url& u, const ProxyTimeouts& t, bool allow_pooled);

// Keeps `c` for the next request to `u` (its buffer must be empty: the answer was read
// exactly); over the per-host limit it is closed.
void release(const Url& u, ConnectionPtr c);

// Closes this thread's idle connections (the server's shutdown, so that no idle wait keeps the
// io_context running).
void close_idle_connections();

size_t idle_connections();

}  // namespace cg::http::internal
