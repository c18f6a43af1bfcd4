// Servers sharing one IoLoop: many listeners, one I/O thread.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/http.h"
#include "tests/common/fixtures/threads.h"

namespace k8c::http {
namespace {

using namespace std::chrono_literals;

using k8c::test_support::thread_count;

Response get(uint16_t port, const std::string& target = "/") {
  ClientOptions co;
  co.port = port;
  co.timeout = 5000ms;
  Client c(co);
  return c.request("GET", target);
}

bool can_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A server on `loop` that answers its own name.
std::unique_ptr<Server> named(IoLoop& loop, const std::string& name,
                              const std::string& listen = "127.0.0.1:0") {
  ServerOptions so;
  so.listen = listen;
  so.threads = 8;  // ignored on a shared loop
  auto s = std::make_unique<Server>(
      so,
      [name](Request&, std::shared_ptr<Responder> r) {
        r->send({200, {}, name});
      },
      loop);
  s->start();
  return s;
}

TEST(IoLoop, FiftyServersShareOneThread) {
  size_t before = thread_count();
  ASSERT_GT(before, 0u);
  IoLoop loop(1);
  EXPECT_EQ(loop.threads(), 1);
  std::vector<std::unique_ptr<Server>> servers;
  for (int i = 0; i < 50; ++i) servers.push_back(named(loop, "s" + std::to_string(i)));
  for (int i = 0; i < 50; ++i) {
    auto r = get(servers[i]->port());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "s" + std::to_string(i));
  }
  // The loop's one thread, not one per server (options.threads = 8 was ignored).
  EXPECT_EQ(thread_count(), before + 1);
  for (auto& s : servers) s->stop();
  servers.clear();
}

TEST(IoLoop, OwnThreadsServerStillStartsItsOwn) {
  size_t before = thread_count();
  ServerOptions so;
  so.threads = 2;
  Server s(so, [](Request&, std::shared_ptr<Responder> r) { r->send({200, {}, "own"}); });
  s.start();
  EXPECT_EQ(get(s.port()).body, "own");
  EXPECT_EQ(thread_count(), before + 2);
  s.stop();
  EXPECT_EQ(thread_count(), before);
  EXPECT_FALSE(can_connect(s.port()));
}

TEST(IoLoop, StoppingOneServerReleasesItsPortAndLeavesTheOthers) {
  IoLoop loop(1);
  auto a = named(loop, "a");
  auto b = named(loop, "b");
  uint16_t pa = a->port();
  a->stop();
  EXPECT_FALSE(can_connect(pa));
  EXPECT_THROW(get(pa), std::runtime_error);
  EXPECT_EQ(get(b->port()).body, "b");
  // The port is free at once: a new server takes it over on the same loop.
  auto again = named(loop, "again", "127.0.0.1:" + std::to_string(pa));
  EXPECT_EQ(get(pa).body, "again");
}

TEST(IoLoop, AServerDestroyedWithAnOpenConnectionClosesIt) {
  IoLoop loop(1);
  auto a = named(loop, "a");
  auto b = named(loop, "b");
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(a->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const char partial[] = "GET / HTTP/1.1\r\nHost: x\r\n";  // a request left unfinished
  ASSERT_EQ(::send(fd, partial, sizeof partial - 1, MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof partial - 1));
  // b answering proves the loop has taken a's connection in.
  EXPECT_EQ(get(b->port()).body, "b");
  a.reset();  // stop() and destruction while the connection is open
  char buf[64];
  EXPECT_EQ(::recv(fd, buf, sizeof buf, 0), 0);  // closed by the server, nothing sent
  ::close(fd);
  EXPECT_EQ(get(b->port()).body, "b");
}

TEST(IoLoop, AServerStoppedFromTheLoopsOwnThreadDoesNotWaitForItself) {
  IoLoop loop(1);
  auto a = named(loop, "a");
  uint16_t pa = a->port();
  std::atomic<bool> in_loop{false};
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  Server b(
      so,
      [&](Request&, std::shared_ptr<Responder> r) {
        in_loop = loop.running_in_this_thread();
        a->stop();  // would deadlock if it waited for the loop it runs on
        r->send({200, {}, "stopped a"});
      },
      loop);
  b.start();
  EXPECT_FALSE(loop.running_in_this_thread());
  EXPECT_EQ(get(b.port()).body, "stopped a");
  EXPECT_TRUE(in_loop.load());
  // One thread runs handlers in the order they were queued: a's close, posted before b's
  // response was written, has run by the time a second request to b is answered.
  EXPECT_EQ(get(b.port()).body, "stopped a");
  EXPECT_FALSE(can_connect(pa));
  b.stop();
}

}  // namespace
}  // namespace k8c::http
