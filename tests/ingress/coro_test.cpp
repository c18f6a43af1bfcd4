#include "ingress/coro.h"

#include <gtest/gtest.h>

// Boost.Asio 1.74 uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>

namespace k8c::ingress::coro {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

Task<int> wait_and_return(asio::steady_timer& t, int v) {
  error_code ec;
  co_await t.async_wait(ec_token(ec));
  co_return ec ? -1 : v;
}

Task<void> outer(asio::steady_timer& t, std::optional<int>& out) {
  int a = co_await wait_and_return(t, 20);
  int b = co_await wait_and_return(t, 22);
  out = a + b;
}

TEST(CoroTest, NestedTasksReturnTheirValues) {
  asio::io_context io;
  asio::steady_timer t(io);  // expired: each wait completes at the next run of the loop
  std::optional<int> out;
  spawn(outer(t, out));
  EXPECT_FALSE(out.has_value());  // suspended on the first wait
  io.run();
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, 42);
}

Task<size_t> read_some(asio::ip::tcp::socket& s, char* buf, size_t n, error_code& ec) {
  co_return co_await s.async_read_some(asio::buffer(buf, n), ec_token(ec));
}

// Coroutines take what they use as parameters (copied into the frame), never as lambda
// captures: a temporary lambda is gone when the coroutine resumes.
Task<void> read_twice(asio::ip::tcp::socket& s, char (&buf)[16], error_code& first,
                      error_code& second, size_t& n1, size_t& n2) {
  n1 = co_await read_some(s, buf, sizeof buf, first);
  n2 = co_await read_some(s, buf, sizeof buf, second);
}

TEST(CoroTest, OperationValueAndErrorCome) {
  asio::io_context io;
  asio::ip::tcp::acceptor acc(io, {asio::ip::address_v4::loopback(), 0});
  asio::ip::tcp::socket a(io), b(io);
  a.connect(acc.local_endpoint());
  acc.accept(b);
  asio::write(a, asio::buffer("hello", 5));
  a.close();
  char buf[16];
  error_code first, second;
  size_t n1 = 99, n2 = 99;
  spawn(read_twice(b, buf, first, second, n1, n2));
  io.run();
  EXPECT_FALSE(first);
  EXPECT_EQ(n1, 5u);
  EXPECT_EQ(std::string_view(buf, 5), "hello");
  EXPECT_EQ(second, asio::error::eof);
  EXPECT_EQ(n2, 0u);
}

struct Flag {
  bool* set;
  ~Flag() { *set = true; }
};

Task<void> wait_forever(asio::steady_timer& t, bool& inner_freed) {
  Flag f{&inner_freed};
  error_code ec;
  co_await t.async_wait(ec_token(ec));
  ADD_FAILURE() << "resumed after the io_context was destroyed";
}

Task<void> root_waiting_forever(asio::steady_timer& t, bool& inner_freed, bool& root_freed) {
  Flag f{&root_freed};
  co_await wait_forever(t, inner_freed);
}

// The io_context destroyed with an operation pending destroys the handler uncalled, which
// destroys the whole chain (locals of every frame) from its root.
TEST(CoroTest, DestroyingTheLoopWithAnOperationPendingFreesTheChain) {
  bool inner_freed = false, root_freed = false;
  {
    asio::io_context io;
    asio::steady_timer t(io, std::chrono::hours(1));
    spawn(root_waiting_forever(t, inner_freed, root_freed));
    io.poll();
    EXPECT_FALSE(inner_freed);
    EXPECT_FALSE(root_freed);
    // The timer goes first (its wait is cancelled and queued), then the io_context.
  }
  EXPECT_TRUE(inner_freed);
  EXPECT_TRUE(root_freed);
}

Task<int> throws() {
  throw std::runtime_error("boom");
  co_return 1;
}

Task<void> catches(std::string& what) {
  try {
    co_await throws();
  } catch (const std::runtime_error& e) {
    what = e.what();
  }
}

TEST(CoroTest, AnExceptionReachesTheAwaitingCoroutine) {
  std::string what;
  spawn(catches(what));
  EXPECT_EQ(what, "boom");
}

TEST(CoroTest, PoolReusesAFreedBlockOfTheSameClass) {
  void* p = pool_allocate(100);
  pool_deallocate(p, 100);
  void* q = pool_allocate(120);  // same 128-byte class
  EXPECT_EQ(p, q);
  pool_deallocate(q, 120);
  void* big = pool_allocate(1 << 20);  // beyond the classes: plain operator new
  pool_deallocate(big, 1 << 20);
}

}  // namespace
}  // namespace k8c::ingress::coro
