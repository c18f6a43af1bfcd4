// Counts heap allocations made by the proxy's worker threads per request on a warm keep-alive
// connection. The client and the backend here run on threads marked as "not proxy" and use fixed
// buffers, so every allocation counted is the proxy's.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "tests/ingress/proxy_fixture.h"

namespace {
std::atomic<uint64_t> g_proxy_allocations{0};
thread_local bool t_not_proxy = false;
std::atomic<bool> g_counting{false};
}  // namespace

// Sanitizers bring their own allocator (and check new/delete pairing): the count is only taken in
// plain builds.
#if defined(__SANITIZE_ADDRESS__)
#define K8C_COUNT_ALLOCATIONS 0
#else
#define K8C_COUNT_ALLOCATIONS 1
void* operator new(size_t n) {
  if (g_counting.load(std::memory_order_relaxed) && !t_not_proxy) {
    g_proxy_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void* operator new[](size_t n) {
  return operator new(n);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}
#endif

namespace k8c::ingress::testing {
namespace {

// Answers every request on a connection with the same fixed response, using fixed buffers.
void fixed_backend(int fd) {
  t_not_proxy = true;
  static constexpr char kResponse[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  char buf[8192];
  size_t have = 0;
  for (;;) {
    ssize_t n = ::recv(fd, buf + have, sizeof buf - have, 0);
    if (n <= 0) return;
    have += static_cast<size_t>(n);
    // Requests here have no body: each ends with an empty line.
    for (;;) {
      void* end = memmem(buf, have, "\r\n\r\n", 4);
      if (!end) break;
      size_t used = static_cast<size_t>(static_cast<char*>(end) - buf) + 4;
      send_all(fd, std::string_view(kResponse, sizeof kResponse - 1));
      std::memmove(buf, buf + used, have - used);
      have -= used;
    }
  }
}

class AllocationTest : public ProxyFixture {};

TEST_F(AllocationTest, AllocationsDoNotGrowWithTheRequest) {
  if (!K8C_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under sanitizers";
  t_not_proxy = true;
  RawBackend backend(fixed_backend);
  add_service("svc", {backend.port()});
  snap_.ingresses.push_back(
      ingress("web", "a")
          .rules({rule("a.example.com", {path("/", "Prefix", service_backend("svc", 80))})}));
  publish();
  ProxyOptions o;
  o.threads = 1;
  o.metrics = nullptr;
  start_proxy(o);

  int fd = connect_to(port());
  char buf[4096];
  auto one = [&](std::string_view request) {
    if (!send_all(fd, request)) return false;
    size_t have = 0;
    for (;;) {
      ssize_t n = ::recv(fd, buf + have, sizeof buf - have, 0);
      if (n <= 0) return false;
      have += static_cast<size_t>(n);
      if (have >= 5 && std::string_view(buf + have - 5, 5) == "hello") return true;
    }
  };
  auto per_request = [&](std::string_view request) {
    // Warm up: buffers grow to their working size, the pool and per-table caches fill.
    for (int i = 0; i < 200; ++i) EXPECT_TRUE(one(request));
    constexpr int kRequests = 2000;
    g_proxy_allocations = 0;
    g_counting = true;
    for (int i = 0; i < kRequests; ++i) EXPECT_TRUE(one(request));
    g_counting = false;
    return static_cast<double>(g_proxy_allocations.load()) / kRequests;
  };
  std::string small = "GET /a HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
  std::string large = "GET /some/much/longer/path/" + std::string(500, 'p') +
                      "?query=1 HTTP/1.1\r\nHost: a.example.com\r\n";
  for (int i = 0; i < 40; ++i) {
    large += "X-Header-" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n";
  }
  large += "\r\n";
  double small_allocs = per_request(small);
  double large_allocs = per_request(large);
  ::close(fd);
  std::printf(
      "proxy heap allocations per warm keep-alive request: %.2f (2 headers), %.2f (41 headers, 4.6 "
      "KiB head)\n",
      small_allocs, large_allocs);
  RecordProperty("allocations_per_request", std::to_string(small_allocs));
  // What the proxy allocates per request is Asio 1.74's coroutine machinery (a frame and a
  // handler per asynchronous operation, beyond its one-block-per-thread cache); nothing grows
  // with the number or size of headers, which is what this asserts.
  EXPECT_LT(large_allocs - small_allocs, 0.5);
  EXPECT_LT(small_allocs, 12.0);
}

}  // namespace
}  // namespace k8c::ingress::testing
