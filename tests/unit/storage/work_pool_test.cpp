#include "storage/work_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <thread>

namespace cg::storage {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

Error late_error() { return Error{5005, "session.redis", "Redis did not answer in time"}; }

// A call runs on a pool thread and the coroutine resumes on its own thread with the result;
// meanwhile the event loop runs other work (a timer fires while the call blocks).
TEST(WorkPoolTest, RunsOffTheEventLoopAndResumesOnIt) {
  WorkPool pool(2, 8);
  asio::io_context ioc;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::thread::id loop_thread, call_thread, resumed_thread;
  bool timer_fired_meanwhile = false;
  std::optional<Result<int>> got;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        loop_thread = std::this_thread::get_id();
        // (Named: GCC 12 destroys a lambda written inside a co_await expression twice, which
        // freed the shared future's state under the pool thread; see gateway.h.)
        auto call = [&call_thread, released]() -> Result<int> {
          call_thread = std::this_thread::get_id();
          released.wait();  // blocks until the event loop has done other work
          return 42;
        };
        got.emplace(co_await pool.run(std::move(call), 10s, late_error()));
        resumed_thread = std::this_thread::get_id();
      },
      asio::detached);
  asio::steady_timer t(ioc, 1ms);
  t.async_wait([&](boost::system::error_code) {
    timer_fired_meanwhile = !got.has_value();
    release.set_value();
  });
  ioc.run();
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ(**got, 42);
  EXPECT_TRUE(timer_fired_meanwhile);
  EXPECT_NE(call_thread, loop_thread);
  EXPECT_EQ(resumed_thread, loop_thread);
}

// A call that does not answer within its deadline fails with the store's error (the call
// itself still finishes on the pool); a full pool refuses at once.
TEST(WorkPoolTest, DeadlineAndBound) {
  WorkPool pool(1, 1);
  asio::io_context ioc;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::optional<Status> slow, refused;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto call = [released]() -> Status {  // (named: see above)
          released.wait();
          return {};
        };
        slow.emplace(co_await pool.run(std::move(call), 20ms, late_error()));
        release.set_value();
      },
      asio::detached);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto call = []() -> Status { return {}; };
        refused.emplace(co_await pool.run(std::move(call), 10s, late_error()));
      },
      asio::detached);
  ioc.run();
  ASSERT_TRUE(slow && refused);
  ASSERT_FALSE(slow->has_value());
  EXPECT_EQ(slow->error().code, 5005);
  EXPECT_NE(slow->error().message.find("no answer within 20 ms"), std::string::npos);
  ASSERT_FALSE(refused->has_value());
  EXPECT_NE(refused->error().message.find("already waiting"), std::string::npos);
}

}  // namespace
}  // namespace cg::storage
