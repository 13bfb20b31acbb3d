// Blocking store work (SQLite statements, the Redis client's commands) off the event loops: a
// small, bounded pool of threads. A request coroutine awaits `run`, which runs the call on a
// pool thread and resumes the coroutine on its own executor with the result, so the other
// connections of that event loop go on while the store is slow or stalled.
//
// Bounded twice: at most `max_waiting` calls queued or running (more fail at once: the store
// is not keeping up), and each call has a deadline (passed: the awaiting request fails with
// `late`; the call itself still finishes on the pool and its result is dropped, so it must
// own what it uses: capture by value).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "core/result.h"

namespace cg::storage {

class WorkPool {
 public:
  WorkPool(size_t threads, size_t max_waiting) : pool_(threads), max_waiting_(max_waiting) {}
  // Waits for the calls still running (the stores they use must outlive the pool).
  ~WorkPool() { pool_.join(); }
  // Waits for the calls still running, while the event loops they answer to still exist: a
  // call that finishes later posts its result to its coroutine's executor, which must not have
  // been destroyed (the server's event loops go before the stores at a stop).
  void join() { pool_.join(); }
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // `fn()` returns a Result<T> (or Status); `late` is the error (code, name, message) when
  // the deadline passes or the pool is full.
  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F&>> run(F fn, std::chrono::milliseconds deadline,
                                                       Error late) {
    using R = std::invoke_result_t<F&>;
    namespace asio = boost::asio;
    auto ex = co_await asio::this_coro::executor;
    if (waiting_.fetch_add(1) >= max_waiting_) {
      waiting_.fetch_sub(1);
      late.message += " (" + std::to_string(max_waiting_) + " store calls already waiting)";
      co_return fail(std::move(late));
    }
    struct State {
      explicit State(asio::any_io_executor e) : timer(std::move(e)) {}
      asio::steady_timer timer;
      std::optional<R> out;
    };
    auto st = std::make_shared<State>(ex);
    st->timer.expires_after(deadline);
    // Counted as work of the awaiting event loop until the result is posted back: its run()
    // does not return (and so its owner does not destroy it) with a call still out.
    auto work = asio::prefer(ex, asio::execution::outstanding_work.tracked);
    asio::post(pool_, [this, st, work = std::move(work), fn = std::move(fn)]() mutable {
      R r = fn();
      waiting_.fetch_sub(1);
      // Back on the awaiting coroutine's executor: only that thread touches `st` (moved there,
      // so that its timer is never destroyed here), and the loop's work count drops last.
      auto loop = st->timer.get_executor();
      asio::post(loop, [st = std::move(st), r = std::move(r)]() mutable {
        st->out.emplace(std::move(r));
        st->timer.cancel();
      });
      work = asio::any_io_executor();
    });
    boost::system::error_code ec;
    co_await st->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (st->out) co_return std::move(*st->out);
    late.message += " (no answer within " + std::to_string(deadline.count()) + " ms)";
    co_return fail(std::move(late));
  }

  // Calls queued or running now (metrics, tests).
  size_t waiting() const { return waiting_.load(); }

 private:
  boost::asio::thread_pool pool_;
  size_t max_waiting_;
  std::atomic<size_t> waiting_{0};
};

}  // namespace cg::storage
