// Hostile clients, as raw bytes on a socket: request smuggling shapes, oversized heads, slowloris,
// huge bodies, idle and excess connections. After each attack the proxy must still serve.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "tests/ingress/proxy_fixture.h"

namespace k8c::ingress::testing {
namespace {

class SecurityTest : public ProxyFixture {
 protected:
  void SetUp() override {
    backend_ = &add_backend("app");
    add_service("svc", {backend_->port()});
    snap_.ingresses.push_back(ingress("web", "app").default_backend(service_backend("svc", 80)));
    publish();
  }

  void expect_still_serving() {
    std::string r = request("GET", "app.example.com", "/health");
    EXPECT_EQ(status_of(r), 200) << r;
  }

  // Sends `raw`, expects `status`, and checks that no byte of the request reached the backend.
  void expect_rejected(const std::string& raw, int status) {
    int before = backend_->hits.load();
    std::string r = exchange(port(), raw);
    EXPECT_EQ(status_of(r), status) << r;
    EXPECT_EQ(backend_->hits.load(), before);
    expect_still_serving();
  }

  EchoBackend* backend_ = nullptr;
};

TEST_F(SecurityTest, ClTeSmugglingIs400) {
  start_proxy();
  expect_rejected(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n",
      400);
}

TEST_F(SecurityTest, TeClSmugglingIs400) {
  start_proxy();
  expect_rejected(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
      "5c\r\nGPOST /admin HTTP/1.1\r\n\r\n0\r\n\r\n",
      400);
}

TEST_F(SecurityTest, DuplicateContentLengthIs400) {
  start_proxy();
  expect_rejected(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400);
  expect_rejected(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400);
}

TEST_F(SecurityTest, ChunkedWithTrailingCommaIs400) {
  start_proxy();
  expect_rejected("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n",
                  400);
  expect_rejected(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400);
}

TEST_F(SecurityTest, OtherMalformedHeadsAre400) {
  start_proxy();
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
  expect_rejected("GET / HTTP/1.1\nHost: x\n\n", 400);
  expect_rejected("GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n", 400);
  expect_rejected("GET /a/%2e%2E/b HTTP/1.1\r\nHost: x\r\n\r\n", 400);
  expect_rejected("GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400);
  // NUL inside a value, at the start, middle and end of a long value and of a short one (the
  // parser checks short and long values differently).
  for (size_t size : {size_t{200}, size_t{20}}) {
    std::string value(size, 'v');
    for (size_t at : {size_t{0}, size / 2, size - 1}) {
      std::string nul = value;
      nul[at] = '\0';
      expect_rejected("GET / HTTP/1.1\r\nHost: x\r\nX-A: " + nul + "\r\n\r\n", 400);
    }
  }
}

TEST_F(SecurityTest, HundredKibOfHeadersIs431) {
  start_proxy();
  expect_rejected(
      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n", 431);
  std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 3000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  expect_rejected(many + "\r\n", 431);
  std::string count = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 101; ++i) count += "A" + std::to_string(i) + ": 1\r\n";
  expect_rejected(count + "\r\n", 431);
  expect_rejected("GET /" + std::string(100 * 1024, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n", 431);
}

// Streams up to `total` body bytes and stops as soon as the proxy answers; returns the answer.
std::string stream_body_until_answer(uint16_t port, const std::string& head, uint64_t total,
                                     bool chunked, uint64_t* sent_out) {
  int fd = connect_to(port);
  if (fd < 0) return {};
  send_all(fd, head);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string piece(64 * 1024, 'z');
  if (chunked) piece = "10000\r\n" + piece + "\r\n";
  uint64_t sent = 0;
  std::string answer;
  size_t offset = 0;
  while (sent < total) {
    pollfd p{fd, POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) break;
    ssize_t n = ::send(fd, piece.data() + offset, piece.size() - offset, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) continue;
      break;
    }
    offset += static_cast<size_t>(n);
    if (offset == piece.size()) offset = 0;
    sent += static_cast<uint64_t>(n);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  answer = read_response(fd);
  ::close(fd);
  *sent_out = sent;
  return answer;
}

TEST_F(SecurityTest, OneGibBodyAgainstOneMibLimitIs413) {
  start_proxy();  // the default proxy-body-size is 1m
  constexpr uint64_t kGib = uint64_t{1} << 30;
  uint64_t sent = 0;
  std::string r = stream_body_until_answer(
      port(), "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n", kGib, false,
      &sent);
  EXPECT_EQ(status_of(r), 413) << r;
  EXPECT_LT(sent, kGib);
  expect_still_serving();

  // Without a Content-Length the limit is enforced while streaming.
  r = stream_body_until_answer(
      port(), "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", kGib, true,
      &sent);
  EXPECT_EQ(status_of(r), 413) << r;
  EXPECT_LT(sent, kGib);
  expect_still_serving();
}

TEST_F(SecurityTest, SlowlorisOf500ConnectionsDoesNotStopANormalClient) {
  ProxyOptions o;
  o.header_timeout = std::chrono::milliseconds(1500);
  start_proxy(o);
  std::vector<int> slow;
  for (int i = 0; i < 500; ++i) {
    int fd = connect_to(port());
    ASSERT_GE(fd, 0);
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n");
    slow.push_back(fd);
  }
  // While all 500 trickle header bytes, a normal client is served.
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      for (int fd : slow) ::send(fd, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  for (int i = 0; i < 20; ++i) {
    std::string r = request("GET", "app.example.com", "/normal");
    EXPECT_EQ(status_of(r), 200) << i << r;
  }
  // Trickling did not extend the header deadline: each slow connection gets a 408 and is closed.
  int answered = 0;
  for (int fd : slow) {
    std::string r = read_some_until(fd, "\r\n\r\n", std::chrono::seconds(20));
    if (status_of(r) == 408) ++answered;
  }
  stop = true;
  trickle.join();
  for (int fd : slow) ::close(fd);
  EXPECT_EQ(answered, 500);
  expect_still_serving();
}

TEST_F(SecurityTest, IdleKeepAliveConnectionIsClosed) {
  ProxyOptions o;
  o.idle_timeout = std::chrono::milliseconds(300);
  start_proxy(o);
  int fd = connect_to(port());
  send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(read_response(fd)), 200);
  char c;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);  // closed by the proxy, no bytes
  ::close(fd);
}

TEST_F(SecurityTest, ConnectionsBeyondTheCapAreClosed) {
  ProxyOptions o;
  o.max_connections = 5;
  start_proxy(o);
  std::vector<int> held;
  for (int i = 0; i < 5; ++i) {
    int fd = connect_to(port());
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(status_of(read_response(fd)), 200);
    held.push_back(fd);
  }
  int extra = connect_to(port());
  send_all(extra, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(read_response(extra), "");
  ::close(extra);
  for (int fd : held) ::close(fd);
  // Slots free up once the proxy has seen the closes.
  std::string r;
  for (int i = 0; i < 200 && status_of(r) != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r = request("GET", "x", "/");
  }
  EXPECT_EQ(status_of(r), 200);
}

}  // namespace
}  // namespace k8c::ingress::testing
