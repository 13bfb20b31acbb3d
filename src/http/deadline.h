// Deadlines for a connection's I/O without a timer per operation. Beast's tcp_stream timeouts
// arm and cancel an Asio timer around every read and write, and each cancellation is one more
// handler and scheduler pass (profiles showed them as most of the gateway's epoll_wait calls).
// Here an operation only stores its deadline; a per-thread sweep, every 250 ms, cancels the
// socket operations of connections past due. Timeouts are thus accurate to a quarter second.
#pragma once

#include <chrono>
#include <vector>

#include "http/asio.h"

namespace cg::http {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  // Registers with this thread's sweep; the stream must outlive the Deadline.
  explicit Deadline(beast::tcp_stream& s);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // The next operation must finish within `d`.
  void arm(std::chrono::milliseconds d) {
    at_ = Clock::now() + d;
    fired_ = false;
  }
  void disarm() { at_ = Clock::time_point::max(); }
  // Whether the sweep cancelled an operation (the failed operation timed out).
  bool fired() const { return fired_; }
  // The error an operation that failed should report: timeout when the deadline cancelled it.
  error_code why(const error_code& ec) const {
    return ec && fired_ ? error_code(beast::error::timeout) : ec;
  }

  // Cancels the operations of this thread's connections past their deadline.
  static void sweep(Clock::time_point now);
  // Runs the sweep on the calling coroutine's executor until `stop` is set.
  static awaitable<void> run_sweeper(const std::atomic<bool>& stop);

 private:
  beast::tcp_stream& stream_;
  Clock::time_point at_ = Clock::time_point::max();
  bool fired_ = false;
  size_t index_ = 0;
};

}  // namespace cg::http
