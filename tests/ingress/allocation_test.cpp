// Counts heap allocations made by the proxy's worker threads per request on a warm keep-alive
// connection. The client and the backend here run on threads marked as "not proxy" and use fixed
// buffers, so every allocation counted is the proxy's. The proxy makes none: see "Allocations" in
// ingress/README.md.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>

#include "common/pki.h"
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
// GCC pairs the library's operator new with free() inlined from the replacements below and warns;
// both sides are the replacements, malloc and free.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
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

TEST_F(AllocationTest, WarmKeepAliveRequestsDoNotAllocate) {
  if (!K8C_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under sanitizers";
  t_not_proxy = true;
  // The counter sees allocations on unmarked threads (the proxy's workers are such threads).
  g_proxy_allocations = 0;
  g_counting = true;
  std::thread([] {
    static int* volatile sink;  // volatile: the compiler may not elide the new/delete pair
    sink = new int(1);
    delete sink;
  }).join();
  g_counting = false;
  ASSERT_GE(g_proxy_allocations.load(), 1u);
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
  // Sends `request` and reads until the answer ends with `tail`.
  auto one = [&](std::string_view request, std::string_view tail) {
    if (!send_all(fd, request)) return false;
    size_t have = 0;
    for (;;) {
      ssize_t n = ::recv(fd, buf + have, sizeof buf - have, 0);
      if (n <= 0) return false;
      have += static_cast<size_t>(n);
      if (have >= tail.size() && std::string_view(buf + have - tail.size(), tail.size()) == tail) {
        return true;
      }
    }
  };
  constexpr int kRequests = 2000;
  // Allocations over kRequests requests, after a warm-up in which buffers grow to their working
  // size and the upstream pool, per-table caches and the coroutine pool fill.
  auto count = [&](std::string_view request, std::string_view tail) {
    for (int i = 0; i < 200; ++i) EXPECT_TRUE(one(request, tail));
    g_proxy_allocations = 0;
    g_counting = true;
    for (int i = 0; i < kRequests; ++i) EXPECT_TRUE(one(request, tail));
    g_counting = false;
    return g_proxy_allocations.load();
  };
  std::string small = "GET /a HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
  std::string large = "GET /some/much/longer/path/" + std::string(500, 'p') +
                      "?query=1 HTTP/1.1\r\nHost: a.example.com\r\n";
  for (int i = 0; i < 40; ++i) {
    large += "X-Header-" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n";
  }
  large += "\r\n";
  std::string unrouted = "GET /a HTTP/1.1\r\nHost: nowhere.example.com\r\n\r\n";
  uint64_t small_allocs = count(small, "hello");
  uint64_t large_allocs = count(large, "hello");
  uint64_t answered_allocs = count(unrouted, "404 Not Found\n");
  ::close(fd);
  std::printf(
      "proxy heap allocations over %d warm keep-alive requests: %llu (2 headers), %llu (41 "
      "headers, 4.6 KiB head), %llu (404 answered by the proxy)\n",
      kRequests, static_cast<unsigned long long>(small_allocs),
      static_cast<unsigned long long>(large_allocs),
      static_cast<unsigned long long>(answered_allocs));
  RecordProperty("allocations_per_request", std::to_string(small_allocs / kRequests));
  // Coroutine frames and Asio operations come from the worker's recycling pool (ingress/coro.h),
  // buffers and strings belong to the connection: nothing on a warm request touches the heap.
  EXPECT_EQ(small_allocs, 0u);
  EXPECT_EQ(large_allocs, 0u);
  EXPECT_EQ(answered_allocs, 0u);
}

// The same over TLS: the proxy's TLS (ingress/tls_stream.h) reads and writes records through its
// connection's own buffers. OpenSSL's internal malloc calls are not operator new and are not
// counted (see "Allocations" in ingress/README.md).
TEST_F(AllocationTest, WarmTlsKeepAliveRequestsDoNotAllocate) {
  if (!K8C_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under sanitizers";
  t_not_proxy = true;
  RawBackend backend(fixed_backend);
  add_service("svc", {backend.port()});
  add_tls_route("a.example.com", "svc");
  publish();
  ProxyOptions o;
  o.threads = 1;
  o.metrics = nullptr;
  o.listen_http = "";
  o.listen_https = "127.0.0.1:0";
  start_proxy(o);

  TlsClient c(proxy_->https_port(), "a.example.com");
  ASSERT_TRUE(c.connected);
  SSL* ssl = c.ssl.get();
  char buf[4096];
  auto one = [&](std::string_view request, std::string_view tail) {
    if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0) return false;
    size_t have = 0;
    for (;;) {
      int n = SSL_read(ssl, buf + have, static_cast<int>(sizeof buf - have));
      if (n <= 0) return false;
      have += static_cast<size_t>(n);
      if (have >= tail.size() && std::string_view(buf + have - tail.size(), tail.size()) == tail) {
        return true;
      }
    }
  };
  constexpr int kRequests = 2000;
  std::string request = "GET /a HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(one(request, "hello"));
  g_proxy_allocations = 0;
  g_counting = true;
  for (int i = 0; i < kRequests; ++i) EXPECT_TRUE(one(request, "hello"));
  g_counting = false;
  uint64_t allocs = g_proxy_allocations.load();
  std::printf("proxy heap allocations over %d warm TLS keep-alive requests: %llu\n", kRequests,
              static_cast<unsigned long long>(allocs));
  EXPECT_EQ(allocs, 0u);
}

}  // namespace
}  // namespace k8c::ingress::testing
