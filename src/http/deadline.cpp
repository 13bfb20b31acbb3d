#include "http/deadline.h"

namespace cg::http {
namespace {

// This thread's deadlines (a connection and its upstream live on one thread).
thread_local std::vector<Deadline*> tl_deadlines;

}  // namespace

Deadline::Deadline(beast::tcp_stream& s) : stream_(s), index_(tl_deadlines.size()) {
  stream_.expires_never();
  tl_deadlines.push_back(this);
}

Deadline::~Deadline() {
  // Swap-remove: the last entry takes this one's slot.
  Deadline* last = tl_deadlines.back();
  tl_deadlines[index_] = last;
  last->index_ = index_;
  tl_deadlines.pop_back();
}

void Deadline::sweep(Clock::time_point now) {
  for (Deadline* d : tl_deadlines) {
    if (d->at_ <= now) {
      d->at_ = Clock::time_point::max();
      d->fired_ = true;
      error_code ignored;
      d->stream_.socket().cancel(ignored);  // pending operations end with operation_aborted
    }
  }
}

awaitable<void> Deadline::run_sweeper(const std::atomic<bool>& stop) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!stop.load(std::memory_order_relaxed)) {
    t.expires_after(std::chrono::milliseconds(250));
    error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    sweep(Clock::now());
  }
}

}  // namespace cg::http
