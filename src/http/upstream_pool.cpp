#include "http/internal/upstream_pool.h"

#include <poll.h>

#include <string>
#include <string_view>
#include <vector>

#include "http/errors.h"

namespace cg::http::internal {
namespace {

constexpr auto kAw = asio::use_awaitable;
constexpr size_t kMaxIdlePerHost = 64;

struct HostPool {
  std::string host;
  uint16_t port = 0;
  std::vector<ConnectionPtr> idle;  // most recently used last
};

// Few upstreams per gateway: a linear search, and no key string built per request.
struct Pool {
  std::vector<HostPool> hosts;
  size_t count = 0;
  uint64_t next_id = 1;

  size_t index_of(const Url& u) {
    for (size_t i = 0; i < hosts.size(); ++i) {
      if (hosts[i].port == u.port && hosts[i].host == u.host) return i;
    }
    hosts.push_back(HostPool{u.host, u.port, {}});
    return hosts.size() - 1;
  }
};
thread_local Pool tl_pool;

// The idle wait fired (EOF, a reset, or bytes nobody asked for): that connection is gone.
void drop(size_t host_index, uint64_t id) {
  if (host_index >= tl_pool.hosts.size()) return;
  auto& v = tl_pool.hosts[host_index].idle;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if ((*it)->id == id) {
      error_code ignored;
      (*it)->stream.socket().close(ignored);
      v.erase(it);
      --tl_pool.count;
      return;
    }
  }
}

}  // namespace

awaitable<Result<Acquired>> acquire(const Url& u, const ProxyTimeouts& t, bool allow_pooled) {
  if (allow_pooled) {
    auto& v = tl_pool.hosts[tl_pool.index_of(u)].idle;
    while (!v.empty()) {
      ConnectionPtr c = std::move(v.back());
      v.pop_back();
      --tl_pool.count;
      c->id = 0;
      error_code ignored;
      c->stream.socket().cancel(ignored);  // the idle wait (no syscall: epoll keeps the fd)
      // A pooled connection must hold nothing: bytes past the last answer's end (an upstream
      // whose Content-Length was short) would be read as the next person's answer, and a FIN
      // means it is closed. The idle wait cannot be relied on for this: with edge-triggered
      // epoll, what arrived before the wait was armed never wakes it. One poll, no wait.
      pollfd p{c->stream.socket().native_handle(), POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) != 0) {
        c->stream.socket().close(ignored);
        continue;
      }
      co_return Acquired{std::move(c), true};
    }
  }
  auto ex = co_await asio::this_coro::executor;
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
  co_return Acquired{std::make_unique<UpstreamConnection>(std::move(s)), false};
}

void release(const Url& u, ConnectionPtr c) {
  size_t index = tl_pool.index_of(u);
  auto& v = tl_pool.hosts[index].idle;
  if (v.size() >= kMaxIdlePerHost || c->buffer.size() != 0) return;
  c->id = tl_pool.next_id++;
  uint64_t id = c->id;
  c->stream.socket().async_wait(tcp::socket::wait_read, [index, id](const error_code& ec) {
    if (ec != asio::error::operation_aborted) drop(index, id);
  });
  v.push_back(std::move(c));
  ++tl_pool.count;
}

void close_idle_connections() {
  for (auto& h : tl_pool.hosts) {
    for (auto& c : h.idle) {
      error_code ignored;
      c->stream.socket().close(ignored);
    }
    tl_pool.count -= h.idle.size();
    h.idle.clear();
  }
}

size_t idle_connections() { return tl_pool.count; }

}  // namespace cg::http::internal
