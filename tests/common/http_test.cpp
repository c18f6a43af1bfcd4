#include "common/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "common/pki.h"

namespace k8c::http {
namespace {

using namespace std::chrono_literals;

// A blocking loopback socket for sending exact bytes; every read is bounded by a timeout.
class RawConn {
 public:
  explicit RawConn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Reads until the peer closes or `deadline` passes; returns everything read.
  std::string read_until_close(std::chrono::milliseconds limit = 5000ms) {
    std::string out;
    auto end = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (std::chrono::steady_clock::now() < end) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = n == 0 || errno == ECONNRESET;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Reads until `out` contains `count` occurrences of `needle` (or the peer closes).
  std::string read_until(std::string_view needle, int count = 1) {
    std::string out;
    char buf[4096];
    auto end = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < end) {
      int found = 0;
      for (size_t pos = out.find(needle); pos != std::string::npos;
           pos = out.find(needle, pos + needle.size())) {
        ++found;
      }
      if (found >= count) break;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = n == 0;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Non-blocking read of whatever has arrived; false once the peer closed.
  bool try_read(std::string& out) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        closed_ = true;
        return false;
      }
      return true;
    }
  }
  bool closed() const { return closed_; }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

// Echoes the request: body, and some fields as headers.
void echo(Request& req, std::shared_ptr<Responder> r) {
  Response resp;
  resp.headers = {{"X-Method", req.method},
                  {"X-Path", req.path},
                  {"X-Query", req.query},
                  {"X-Remote", req.remote},
                  {"Content-Type", "text/plain"}};
  resp.body = req.body;
  r->send(std::move(resp));
}

ServerOptions local() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  return o;
}

ClientOptions client_for(const Server& s) {
  ClientOptions o;
  o.port = s.port();
  o.timeout = 5000ms;
  return o;
}

TEST(HttpHelpers, FindHeaderIsCaseInsensitive) {
  std::vector<Header> h = {{"Content-Type", "a"}, {"X-Foo", "b"}};
  ASSERT_NE(find_header(h, "content-type"), nullptr);
  EXPECT_EQ(*find_header(h, "CONTENT-TYPE"), "a");
  EXPECT_EQ(*find_header(h, "x-foo"), "b");
  EXPECT_EQ(find_header(h, "x-fo"), nullptr);
}

TEST(HttpHelpers, QueryAndUrlCoding) {
  auto q = parse_query("a=1&b=hello+world&c=%2Fx%3D&a=2&flag&&d=");
  ASSERT_EQ(q.size(), 6u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(q[1].second, "hello world");
  EXPECT_EQ(q[2].second, "/x=");
  EXPECT_EQ(q[3], (std::pair<std::string, std::string>{"a", "2"}));
  EXPECT_EQ(q[4], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ(q[5], (std::pair<std::string, std::string>{"d", ""}));
  EXPECT_EQ(url_decode("/api/v1/a%20b+c"), "/api/v1/a b+c");
  EXPECT_EQ(url_decode("bad%zzend%4"), "bad%zzend%4");
  EXPECT_EQ(url_encode("a b/c=d~e"), "a%20b%2Fc%3Dd~e");
  EXPECT_EQ(url_decode(url_encode("k8s.io/ä?&")), "k8s.io/ä?&");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
}

TEST(HttpServer, RoundTripAndKeepAliveReuse) {
  Server server(local(), echo);
  server.start();
  ASSERT_NE(server.port(), 0);
  Client client(client_for(server));
  std::set<std::string> remotes;
  for (int i = 0; i < 3; ++i) {
    Response r = client.request("POST", "/api/v1/a%20b?x=1&y=two", "body" + std::to_string(i),
                                {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "body" + std::to_string(i));
    EXPECT_EQ(*find_header(r.headers, "x-method"), "POST");
    EXPECT_EQ(*find_header(r.headers, "x-path"), "/api/v1/a b");
    EXPECT_EQ(*find_header(r.headers, "x-query"), "x=1&y=two");
    remotes.insert(*find_header(r.headers, "x-remote"));
  }
  // One connection served all three requests.
  EXPECT_EQ(remotes.size(), 1u);
}

TEST(HttpServer, HeadAndNoContent) {
  Server server(local(), [](Request& req, std::shared_ptr<Responder> r) {
    Response resp;
    resp.status = req.path == "/empty" ? 204 : 200;
    if (resp.status == 200) resp.body = "0123456789";
    r->send(std::move(resp));
  });
  server.start();
  Client client(client_for(server));
  Response head = client.request("HEAD", "/x");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(*find_header(head.headers, "Content-Length"), "10");
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(client.request("GET", "/empty").status, 204);
  EXPECT_EQ(client.request("GET", "/x").body, "0123456789");
}

TEST(HttpServer, HandlerCompletesLaterFromAnotherThread) {
  std::vector<std::thread> workers;
  std::mutex mu;
  Server server(local(), [&](Request& req, std::shared_ptr<Responder> r) {
    std::string body = req.body;
    std::lock_guard l(mu);
    workers.emplace_back([r, body] {
      std::this_thread::sleep_for(50ms);
      r->send({201, {}, "done:" + body});
    });
  });
  server.start();
  Client client(client_for(server));
  Response r = client.request("PUT", "/x", "abc");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "done:abc");
  server.stop();
  for (auto& t : workers) t.join();
}

TEST(HttpServer, HandlerExceptionBecomes500) {
  Server server(local(),
                [](Request&, std::shared_ptr<Responder>) { throw std::runtime_error("boom"); });
  server.start();
  Client client(client_for(server));
  EXPECT_EQ(client.request("GET", "/").status, 500);
  EXPECT_EQ(client.request("GET", "/").status, 500);
}

TEST(HttpServer, PipelinedRequestsAnswerInOrder) {
  std::vector<std::thread> workers;
  std::mutex mu;
  Server server(local(), [&](Request& req, std::shared_ptr<Responder> r) {
    // The first request finishes last if the server wrongly ran them concurrently.
    auto delay = req.path == "/a" ? 150ms : 0ms;
    std::string path = req.path;
    std::lock_guard l(mu);
    workers.emplace_back([r, path, delay] {
      std::this_thread::sleep_for(delay);
      r->send({200, {}, "resp" + path});
    });
  });
  server.start();
  RawConn c(server.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"));
  std::string out = c.read_until("resp/", 3);
  size_t a = out.find("resp/a"), b = out.find("resp/b"), cc = out.find("resp/c");
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(b, std::string::npos) << out;
  ASSERT_NE(cc, std::string::npos) << out;
  EXPECT_LT(a, b);
  EXPECT_LT(b, cc);
  server.stop();
  for (auto& t : workers) t.join();
}

TEST(HttpServer, ChunkedRequestBody) {
  Server server(local(), echo);
  server.start();
  RawConn c(server.port());
  ASSERT_TRUE(
      c.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  std::string out = c.read_until("hello world");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Content-Length: 11\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\n\r\nhello world"), std::string::npos) << out;
}

TEST(HttpServer, ExpectContinue) {
  Server server(local(), echo);
  server.start();
  RawConn c(server.port());
  ASSERT_TRUE(
      c.send("PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  std::string interim = c.read_until("\r\n\r\n");
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.send("data"));
  EXPECT_NE(c.read_until("data").find("200 OK"), std::string::npos);
}

TEST(HttpServer, StreamedResponseInSeveralChunks) {
  std::vector<std::thread> workers;
  std::mutex mu;
  Server server(local(), [&](Request&, std::shared_ptr<Responder> r) {
    r->start_stream(200, {{"Content-Type", "application/json"}});
    std::lock_guard l(mu);
    workers.emplace_back([r] {
      for (int i = 0; i < 3; ++i) {
        r->write_chunk(std::make_shared<const std::string>("{\"n\":" + std::to_string(i) + "}\n"));
        std::this_thread::sleep_for(20ms);
      }
      r->end_stream();
    });
  });
  server.start();
  Client client(client_for(server));
  std::string got;
  int calls = 0;
  Response head = client.stream("GET", "/watch", {}, [&](std::string_view d) {
    got.append(d);
    ++calls;
    return true;
  });
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(*find_header(head.headers, "transfer-encoding"), "chunked");
  EXPECT_EQ(got, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
  EXPECT_GE(calls, 2);
  // The connection stays usable after a completed stream.
  Response again = client.request("GET", "/watch");
  EXPECT_EQ(again.body, got);
  server.stop();
  for (auto& t : workers) t.join();
}

TEST(HttpServer, OnCloseFiresWhenClientLeavesDuringStream) {
  std::promise<void> closed;
  std::shared_ptr<Responder> kept;
  std::mutex mu;
  Server server(local(), [&](Request&, std::shared_ptr<Responder> r) {
    r->start_stream(200, {});
    r->write_chunk(std::make_shared<const std::string>("first"));
    r->on_close([&closed] { closed.set_value(); });
    std::lock_guard l(mu);
    kept = r;
  });
  server.start();
  {
    RawConn c(server.port());
    ASSERT_TRUE(c.send("GET /watch HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_NE(c.read_until("first").find("first"), std::string::npos);
  }
  ASSERT_EQ(closed.get_future().wait_for(5s), std::future_status::ready);
  std::lock_guard l(mu);
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->closed());
  // Calls after the connection died are harmless no-ops.
  kept->write_chunk(std::make_shared<const std::string>("late"));
  kept->end_stream();
  bool ran = false;
  std::promise<void> late;
  kept->on_close([&] {
    ran = true;
    late.set_value();
  });
  ASSERT_EQ(late.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(ran);
}

TEST(HttpServer, PendingBytesDrainToZero) {
  std::promise<std::shared_ptr<Responder>> got;
  Server server(local(), [&](Request&, std::shared_ptr<Responder> r) {
    r->start_stream(200, {});
    got.set_value(r);
  });
  server.start();
  RawConn c(server.port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto fut = got.get_future();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  auto r = fut.get();
  r->write_chunk(std::make_shared<const std::string>(std::string(1000, 'x')));
  EXPECT_LE(r->pending_bytes(), 1000u);
  c.read_until(std::string(1000, 'x'));
  for (int i = 0; i < 500 && r->pending_bytes() != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(r->pending_bytes(), 0u);
  r->end_stream();
  EXPECT_NE(c.read_until("0\r\n\r\n").find("0\r\n\r\n"), std::string::npos);
}

TEST(HttpServer, TooManyHeadersIs431) {
  ServerOptions o = local();
  o.max_headers = 10;
  Server server(o, echo);
  server.start();
  RawConn c(server.port());
  std::string req = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 20; ++i) req += "X-H" + std::to_string(i) + ": v\r\n";
  ASSERT_TRUE(c.send(req + "\r\n"));
  std::string out = c.read_until_close();
  EXPECT_EQ(out.rfind("HTTP/1.1 431 ", 0), 0u) << out;
  EXPECT_TRUE(c.closed());
}

TEST(HttpServer, TooLargeHeaderIs431) {
  ServerOptions o = local();
  o.max_header_bytes = 1024;
  Server server(o, echo);
  server.start();
  RawConn c(server.port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n"));
  std::string out = c.read_until_close();
  EXPECT_EQ(out.rfind("HTTP/1.1 431 ", 0), 0u) << out;
  EXPECT_TRUE(c.closed());
}

TEST(HttpServer, HeadersJustUnderTheLimitPass) {
  ServerOptions o = local();
  o.max_headers = 10;
  Server server(o, echo);
  server.start();
  Client client(client_for(server));
  std::vector<Header> h;
  for (int i = 0; i < 8; ++i) h.push_back({"X-H" + std::to_string(i), "v"});
  EXPECT_EQ(client.request("GET", "/", {}, h).status, 200);
}

TEST(HttpServer, BodyOverLimitIs413) {
  ServerOptions o = local();
  o.max_body_bytes = 1024;
  Server server(o, echo);
  server.start();
  {
    RawConn c(server.port());
    ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\nabc"));
    std::string out = c.read_until_close();
    EXPECT_EQ(out.rfind("HTTP/1.1 413 ", 0), 0u) << out;
    EXPECT_TRUE(c.closed());
  }
  {
    RawConn c(server.port());
    std::string req = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i) req += "200\r\n" + std::string(512, 'z') + "\r\n";
    ASSERT_TRUE(c.send(req));
    std::string out = c.read_until_close();
    EXPECT_EQ(out.rfind("HTTP/1.1 413 ", 0), 0u) << out;
    EXPECT_TRUE(c.closed());
  }
  Client client(client_for(server));
  EXPECT_EQ(client.request("POST", "/", std::string(1024, 'a')).status, 200);
  EXPECT_EQ(client.request("POST", "/", std::string(1025, 'a')).status, 413);
}

TEST(HttpServer, SmugglingAndGarbageAre400) {
  Server server(local(), echo);
  server.start();
  const char* bad[] = {
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
      "NOT A REQUEST\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
  };
  for (const char* req : bad) {
    RawConn c(server.port());
    ASSERT_TRUE(c.send(req));
    std::string out = c.read_until_close();
    EXPECT_EQ(out.rfind("HTTP/1.1 400 ", 0), 0u) << req << " -> " << out;
    EXPECT_TRUE(c.closed()) << req;
  }
}

TEST(HttpServer, TricklingHeadersHitTheDeadline) {
  ServerOptions o = local();
  o.header_timeout = 300ms;
  Server server(o, echo);
  server.start();
  RawConn c(server.port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\n"));
  auto start = std::chrono::steady_clock::now();
  std::string seen;
  // One header byte every 50ms: each arrives long before any per-read timeout would fire, so
  // only a deadline for the whole header block stops this client.
  while (std::chrono::steady_clock::now() - start < 5s) {
    if (!c.send("X") || !c.try_read(seen)) break;
    std::this_thread::sleep_for(50ms);
  }
  seen += c.read_until_close(5000ms);
  EXPECT_EQ(seen.rfind("HTTP/1.1 408 ", 0), 0u) << seen;
  EXPECT_TRUE(c.closed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(HttpServer, SlowBodyHitsTheBodyDeadline) {
  ServerOptions o = local();
  o.body_timeout = 300ms;
  Server server(o, echo);
  server.start();
  RawConn c(server.port());
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"));
  std::string out = c.read_until_close(5000ms);
  EXPECT_EQ(out.rfind("HTTP/1.1 408 ", 0), 0u) << out;
  EXPECT_TRUE(c.closed());
}

TEST(HttpServer, IdleConnectionIsClosed) {
  ServerOptions o = local();
  o.idle_timeout = 200ms;
  Server server(o, echo);
  server.start();
  RawConn c(server.port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string out = c.read_until_close(5000ms);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0u) << out;
  EXPECT_TRUE(c.closed());
}

TEST(HttpServer, MaxConnectionsClosesExtraAtOnce) {
  ServerOptions o = local();
  o.max_connections = 2;
  Server server(o, echo);
  server.start();
  RawConn a(server.port()), b(server.port());
  for (RawConn* c : {&a, &b}) {
    ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_NE(c->read_until("\r\n\r\n").find("200 OK"), std::string::npos);
  }
  RawConn extra(server.port());
  extra.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(extra.read_until_close(), "");
  EXPECT_TRUE(extra.closed());
  // A freed slot is usable again.
  a.close();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    RawConn again(server.port());
    again.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    served = again.read_until("\r\n\r\n").find("200 OK") != std::string::npos;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served);
}

TEST(HttpServer, StartFailsClearly) {
  Server first(local(), echo);
  first.start();
  ServerOptions o = local();
  o.listen = "127.0.0.1:" + std::to_string(first.port());
  Server second(o, echo);
  try {
    second.start();
    ADD_FAILURE() << "expected bind failure";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(o.listen), std::string::npos) << e.what();
  }
  ServerOptions t = local();
  t.tls = TlsServerConfig{"/nonexistent/cert.pem", "/nonexistent/key.pem", ""};
  Server third(t, echo);
  try {
    third.start();
    ADD_FAILURE() << "expected certificate failure";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/cert.pem"), std::string::npos) << e.what();
  }
}

TEST(HttpClient, ReconnectsAfterServerClosedIdleConnection) {
  ServerOptions o = local();
  o.idle_timeout = 100ms;
  Server server(o, echo);
  server.start();
  Client client(client_for(server));
  EXPECT_EQ(client.request("GET", "/1").status, 200);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(client.request("GET", "/2").status, 200);
  EXPECT_EQ(client.request("POST", "/3", "x").body, "x");
}

TEST(HttpClient, TransportFailureThrows) {
  uint16_t port;
  {
    Server s(local(), echo);
    s.start();
    port = s.port();
  }
  ClientOptions o;
  o.port = port;
  o.timeout = 2000ms;
  Client client(o);
  EXPECT_THROW(client.request("GET", "/"), std::runtime_error);
}

TEST(HttpClient, ReadTimeout) {
  Server server(local(), [](Request&, std::shared_ptr<Responder>) { /* never answers */ });
  server.start();
  ClientOptions o = client_for(server);
  o.timeout = 200ms;
  Client client(o);
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(client.request("GET", "/"), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(HttpClient, StreamStopsWhenCallbackSaysSo) {
  std::promise<std::shared_ptr<Responder>> got;
  Server server(local(), [&](Request&, std::shared_ptr<Responder> r) {
    r->start_stream(200, {});
    r->write_chunk(std::make_shared<const std::string>("one"));
    got.set_value(r);
  });
  server.start();
  Client client(client_for(server));
  std::string data;
  Response head = client.stream("GET", "/w", {}, [&](std::string_view d) {
    data.append(d);
    return false;
  });
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(data, "one");
  auto fut = got.get_future();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  auto r = fut.get();
  // The client dropped the connection, which the server notices.
  for (int i = 0; i < 500 && !r->closed(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(r->closed());
}

TEST(HttpClient, CloseFromAnotherThreadUnblocksStream) {
  Server server(local(), [](Request&, std::shared_ptr<Responder> r) {
    r->start_stream(200, {});
    r->write_chunk(std::make_shared<const std::string>("hello"));
  });
  server.start();
  Client client(client_for(server));
  std::promise<void> first;
  auto result = std::async(std::launch::async, [&] {
    try {
      bool once = false;
      client.stream("GET", "/w", {}, [&](std::string_view) {
        if (!once) first.set_value();
        once = true;
        return true;
      });
      return std::string("returned");
    } catch (const std::runtime_error& e) {
      return std::string("threw");
    }
  });
  ASSERT_EQ(first.get_future().wait_for(5s), std::future_status::ready);
  client.close();
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(result.get(), "threw");
  // The client recovers with a fresh connection.
  std::string more;
  Response r = client.stream("GET", "/w", {}, [&](std::string_view d) {
    more.append(d);
    return false;
  });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(more, "hello");
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("k8c-http-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    ca_ = pki::make_ca("test-ca");
    auto server = pki::issue(ca_, "apiserver", {}, {"127.0.0.1", "localhost"}, true);
    auto alice = pki::issue(ca_, "alice", {"system:masters", "dev"}, {}, false);
    auto other_ca = pki::make_ca("other-ca");
    auto mallory = pki::issue(other_ca, "mallory", {"system:masters"}, {}, false);
    write("ca.crt", ca_.cert_pem);
    write("other-ca.crt", other_ca.cert_pem);
    write("server.crt", server.cert_pem);
    write("server.key", server.key_pem);
    write("alice.crt", alice.cert_pem);
    write("alice.key", alice.key_pem);
    write("mallory.crt", mallory.cert_pem);
    write("mallory.key", mallory.key_pem);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& data) {
    pki::write_file(path(name), data, name.ends_with(".key"));
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  ServerOptions tls_options() const {
    ServerOptions o = local();
    o.tls = TlsServerConfig{path("server.crt"), path("server.key"), path("ca.crt")};
    return o;
  }
  ClientOptions tls_client(const Server& s) const {
    ClientOptions o = client_for(s);
    o.tls = true;
    o.ca_file = path("ca.crt");
    return o;
  }

  std::filesystem::path dir_;
  pki::KeyPair ca_;
};

void identity_echo(Request& req, std::shared_ptr<Responder> r) {
  std::string orgs;
  for (const auto& o : req.client_orgs) orgs += o + ";";
  r->send({200, {{"X-CN", req.client_cn.value_or("<none>")}, {"X-Orgs", orgs}}, req.body});
}

TEST_F(TlsTest, RoundTripWithClientIdentity) {
  Server server(tls_options(), identity_echo);
  server.start();
  ClientOptions o = tls_client(server);
  o.cert_file = path("alice.crt");
  o.key_file = path("alice.key");
  Client client(o);
  for (int i = 0; i < 2; ++i) {
    Response r = client.request("POST", "/x", "secret");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "secret");
    EXPECT_EQ(*find_header(r.headers, "X-CN"), "alice");
    EXPECT_EQ(*find_header(r.headers, "X-Orgs"), "system:masters;dev;");
  }
}

TEST_F(TlsTest, NoClientCertificateMeansNoIdentity) {
  Server server(tls_options(), identity_echo);
  server.start();
  Client client(tls_client(server));
  Response r = client.request("GET", "/x");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(*find_header(r.headers, "X-CN"), "<none>");
  EXPECT_EQ(*find_header(r.headers, "X-Orgs"), "");
}

TEST_F(TlsTest, ForeignClientCertificateIsRejected) {
  Server server(tls_options(), identity_echo);
  server.start();
  ClientOptions o = tls_client(server);
  o.cert_file = path("mallory.crt");
  o.key_file = path("mallory.key");
  Client client(o);
  // TLS 1.3 reports the rejection on the first read rather than during the handshake.
  EXPECT_THROW(client.request("GET", "/x"), std::runtime_error);
}

TEST_F(TlsTest, ClientVerifiesServer) {
  Server server(tls_options(), identity_echo);
  server.start();
  ClientOptions wrong_ca = tls_client(server);
  wrong_ca.ca_file = path("other-ca.crt");
  EXPECT_THROW(Client(wrong_ca).request("GET", "/"), std::runtime_error);
  ClientOptions wrong_name = tls_client(server);
  wrong_name.server_name = "example.com";
  EXPECT_THROW(Client(wrong_name).request("GET", "/"), std::runtime_error);
  ClientOptions by_name = tls_client(server);
  by_name.server_name = "localhost";
  EXPECT_EQ(Client(by_name).request("GET", "/").status, 200);
}

TEST_F(TlsTest, StreamOverTls) {
  std::vector<std::thread> workers;
  std::mutex mu;
  Server server(tls_options(), [&](Request&, std::shared_ptr<Responder> r) {
    r->start_stream(200, {});
    std::lock_guard l(mu);
    workers.emplace_back([r] {
      for (int i = 0; i < 5; ++i) {
        r->write_chunk(std::make_shared<const std::string>("event" + std::to_string(i) + "\n"));
      }
      r->end_stream();
    });
  });
  server.start();
  Client client(tls_client(server));
  std::string got;
  client.stream("GET", "/", {}, [&](std::string_view d) {
    got.append(d);
    return true;
  });
  EXPECT_EQ(got, "event0\nevent1\nevent2\nevent3\nevent4\n");
  server.stop();
  for (auto& t : workers) t.join();
}

TEST(HttpServer, StopClosesStreamsAndRunsOnClose) {
  std::atomic<int> closes{0};
  std::promise<void> started;
  auto server = std::make_unique<Server>(local(), [&](Request&, std::shared_ptr<Responder> r) {
    r->on_close([&] { closes++; });
    r->start_stream(200, {});
    started.set_value();
  });
  server->start();
  RawConn c(server->port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(started.get_future().wait_for(5s), std::future_status::ready);
  server->stop();
  EXPECT_EQ(closes.load(), 1);
  c.read_until_close();
  EXPECT_TRUE(c.closed());
  server.reset();
}

}  // namespace
}  // namespace k8c::http
