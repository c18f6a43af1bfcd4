// The proxy end to end in one process: real backend servers on loopback, real sockets, a route
// table built from API-shaped objects.
#include <gtest/gtest.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <thread>

#include "common/pki.h"
#include "tests/ingress/proxy_fixture.h"

namespace k8c::ingress::testing {
namespace {

class ProxyTest : public ProxyFixture {};

TEST_F(ProxyTest, RoutesByHostAndPath) {
  auto& a = add_backend("a");
  auto& b = add_backend("b");
  add_service("svc-a", {a.port()});
  add_service("svc-b", {b.port()});
  snap_.ingresses.push_back(
      ingress("web", "shop")
          .rules({rule("shop.example.com",
                       {path("/a", "Prefix", service_backend("svc-a", 80)),
                        path("/b", "Prefix", service_backend("svc-b", "http"))})}));
  publish();
  start_proxy();

  EXPECT_NE(request("GET", "shop.example.com", "/a/x?q=1").find("backend: a\n"), std::string::npos);
  EXPECT_NE(request("GET", "SHOP.example.com:80", "/b").find("backend: b\n"), std::string::npos);
  std::string r = request("GET", "shop.example.com", "/a/x?q=1");
  EXPECT_NE(r.find("target: /a/x?q=1\n"), std::string::npos) << r;
  EXPECT_EQ(status_of(request("GET", "shop.example.com", "/c")), 404);
  EXPECT_EQ(status_of(request("GET", "other.example.com", "/a")), 404);
}

// One response read off a keep-alive connection (Content-Length bodies only).
std::string read_one_response(int fd) {
  std::string got;
  char buf[4096];
  for (;;) {
    size_t end = got.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string head = lower(got.substr(0, end));
      size_t cl = head.find("content-length:");
      size_t want = end + 4 + (cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15)));
      if (got.size() >= want) return got.substr(0, want);
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

TEST_F(ProxyTest, RequestsArrivingInTwoPiecesAreRoutedWhereverTheySplit) {
  auto& a = add_backend("a");
  add_service("svc-a", {a.port()});
  snap_.ingresses.push_back(
      ingress("web", "shop")
          .rules({rule("shop.example.com", {path("/a", "Prefix", service_backend("svc-a", 80))})}));
  publish();
  start_proxy();
  const std::string req = "GET /a/x HTTP/1.1\r\nHost: shop.example.com\r\nX-Y: z\r\n\r\n";
  int fd = connect_to(port());
  for (size_t at = 1; at < req.size(); ++at) {
    ASSERT_TRUE(send_all(fd, std::string_view(req).substr(0, at)));
    // Long enough for the proxy to read the first piece on its own.
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    ASSERT_TRUE(send_all(fd, std::string_view(req).substr(at)));
    std::string r = read_one_response(fd);
    ASSERT_EQ(status_of(r), 200) << "split at " << at << ": " << r;
    EXPECT_NE(r.find("backend: a\n"), std::string::npos) << r;
  }
  ::close(fd);
}

TEST_F(ProxyTest, DefaultBackendTakesEveryMethodWithAndWithoutHost) {
  auto& d = add_backend("default");
  add_service("svc-d", {d.port()});
  snap_.ingresses.push_back(
      ingress("web", "catch-all").default_backend(service_backend("svc-d", 80)));
  publish();
  start_proxy();

  for (std::string method : {"GET", "POST", "PUT", "DELETE", "PATCH"}) {
    std::string body = method == "GET" || method == "DELETE" ? "" : "payload-" + method;
    std::string with_host = request(method, "anything.example", "/some/path", body);
    EXPECT_EQ(status_of(with_host), 200) << method << "\n" << with_host;
    EXPECT_NE(with_host.find("backend: default\n"), std::string::npos) << with_host;
    EXPECT_NE(with_host.find("method: " + method + "\n"), std::string::npos) << with_host;
    if (!body.empty()) {
      EXPECT_NE(with_host.find("body: " + body + "\n"), std::string::npos);
    }

    std::string no_host = request(method, "", "/other", body);
    EXPECT_EQ(status_of(no_host), 200) << method << "\n" << no_host;
    EXPECT_NE(no_host.find("backend: default\n"), std::string::npos) << no_host;
    EXPECT_NE(no_host.find("method: " + method + "\n"), std::string::npos) << no_host;

    std::string http10 = exchange(port(), method + " /old HTTP/1.0\r\nContent-Length: " +
                                              std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_EQ(status_of(http10), 200) << method << "\n" << http10;
    EXPECT_NE(http10.find("method: " + method + "\n"), std::string::npos) << http10;
  }
}

TEST_F(ProxyTest, HundredRequestsSpreadOverTenEndpoints) {
  std::vector<uint16_t> ports;
  for (int i = 0; i < 10; ++i) ports.push_back(add_backend("ep" + std::to_string(i)).port());
  add_service("svc", ports);
  snap_.ingresses.push_back(
      ingress("web", "spread")
          .rules({rule("spread.example.com", {path("/", "Prefix", service_backend("svc", 80))})}));
  publish();
  ProxyOptions o;
  o.threads = 1;  // one worker: round-robin is exact
  start_proxy(o);

  int fd = connect_to(port());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: spread.example.com\r\n\r\n"));
    ASSERT_EQ(status_of(read_response(fd)), 200) << i;
  }
  ::close(fd);
  for (auto& b : backends_) EXPECT_EQ(b->hits.load(), 10) << b->name;
}

TEST_F(ProxyTest, LeastRequestAlsoUsesEveryEndpoint) {
  std::vector<uint16_t> ports;
  for (int i = 0; i < 4; ++i) ports.push_back(add_backend("ep" + std::to_string(i)).port());
  add_service("svc", ports);
  snap_.ingresses.push_back(ingress("web", "lr").default_backend(service_backend("svc", 80)));
  publish();
  ProxyOptions o;
  o.least_request = true;
  start_proxy(o);
  for (int i = 0; i < 40; ++i) ASSERT_EQ(status_of(request("GET", "x", "/")), 200);
  for (auto& b : backends_) EXPECT_GT(b->hits.load(), 0) << b->name;
}

uint16_t closed_port() {
  RawBackend probe([](int) {});
  return probe.port();  // closed again when probe goes away
}

TEST_F(ProxyTest, FailedConnectIsRetriedOnAnotherEndpointAndTheDeadOneIsEjected) {
  uint16_t dead = closed_port();
  auto& live = add_backend("live");
  add_service("svc", {dead, live.port()});
  snap_.ingresses.push_back(ingress("web", "retry").default_backend(service_backend("svc", 80)));
  publish();
  ProxyOptions o;
  o.threads = 1;
  o.max_fails = 3;
  o.fail_timeout = std::chrono::minutes(5);
  start_proxy(o);
  for (int i = 0; i < 20; ++i) {
    std::string r = request("GET", "x", "/");
    ASSERT_EQ(status_of(r), 200) << i << "\n" << r;
  }
  EXPECT_EQ(live.hits.load(), 20);
  // Three refused connects eject the endpoint; later requests do not try it again.
  EXPECT_EQ(registry_.counter("k8c_ingress_upstream_errors_total", "", {"reason"})
                .labels({"refused"})
                .value(),
            3);
}

TEST_F(ProxyTest, BeforeTheFirstTableEverythingIs503ThenUnroutedIs404) {
  add_service("app", {add_backend("app").port()});
  snap_.ingresses.push_back(
      ingress("web", "app")
          .rules({rule("app.example.com", {path("/", "Prefix", service_backend("app", 80))})}));
  start_proxy();
  EXPECT_EQ(status_of(request("GET", "app.example.com", "/")), 503);
  EXPECT_EQ(status_of(request("GET", "other.example.com", "/")), 503);
  publish();
  EXPECT_EQ(status_of(request("GET", "app.example.com", "/")), 200);
  EXPECT_EQ(status_of(request("GET", "other.example.com", "/")), 404);
}

TEST_F(ProxyTest, ErrorStatuses) {
  uint16_t dead = closed_port();
  // Accepts and never answers.
  RawBackend silent([](int fd) { discard_until_closed(fd); });
  snap_.services.push_back(service("web", "refused", {service_port("http", 80, 80)}));
  snap_.endpoint_slices.push_back(endpoint_slice(
      "web", "refused-1", "refused", {slice_port("http", dead)}, {endpoint("127.0.0.1")}));
  snap_.services.push_back(service("web", "silent", {service_port("http", 80, 80)}));
  snap_.endpoint_slices.push_back(endpoint_slice(
      "web", "silent-1", "silent", {slice_port("http", silent.port())}, {endpoint("127.0.0.1")}));
  snap_.services.push_back(service("web", "empty", {service_port("http", 80, 80)}));
  snap_.ingresses.push_back(
      ingress("web", "errors")
          .annotation(kProxyReadTimeout, "300ms")
          .rules({rule("err.example.com",
                       {path("/refused", "Exact", service_backend("refused", 80)),
                        path("/silent", "Exact", service_backend("silent", 80)),
                        path("/empty", "Exact", service_backend("empty", 80)),
                        path("/missing", "Exact", service_backend("nonexistent", 80))})}));
  auto table = build_route_table(snap_);
  holder_.publish(table);
  start_proxy();
  EXPECT_EQ(status_of(request("GET", "err.example.com", "/refused")), 502);
  EXPECT_EQ(status_of(request("GET", "err.example.com", "/silent")), 504);
  EXPECT_EQ(status_of(request("GET", "err.example.com", "/empty")), 503);
  EXPECT_EQ(status_of(request("GET", "err.example.com", "/missing")), 503);
  EXPECT_EQ(status_of(request("GET", "err.example.com", "/none")), 404);
  EXPECT_EQ(status_of(request("CONNECT", "err.example.com:443", "err.example.com:443")), 405);
}

TEST_F(ProxyTest, ExternalNameServiceIsDialledByName) {
  auto& a = add_backend("external");
  Json svc = service("web", "ext", {service_port("http", a.port(), a.port())});
  svc["spec"]["type"] = "ExternalName";
  svc["spec"]["externalName"] = "localhost";  // resolves on this machine only
  snap_.services.push_back(svc);
  snap_.ingresses.push_back(
      ingress("web", "ext").default_backend(service_backend("ext", a.port())));
  publish();
  start_proxy();
  for (int i = 0; i < 3; ++i) {
    std::string r = request("GET", "x", "/");
    EXPECT_EQ(status_of(r), 200) << r;
    EXPECT_NE(r.find("backend: external\n"), std::string::npos) << r;
  }
}

TEST_F(ProxyTest, ForwardedHeadersAreOursAndHopByHopHeadersAreStripped) {
  auto& a = add_backend("a");
  add_service("svc", {a.port()});
  snap_.ingresses.push_back(ingress("web", "h").default_backend(service_backend("svc", 80)));
  publish();
  start_proxy();
  std::string r = request("GET", "shop.example.com", "/", {},
                          "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
                          "X-Forwarded-Host: evil.example\r\nX-Request-ID: evil\r\n"
                          "X-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n"
                          "Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n"
                          "TE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Normal: ok\r\n");
  ASSERT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("x-forwarded-for: 127.0.0.1\n"), std::string::npos) << r;
  EXPECT_NE(r.find("x-forwarded-proto: http\n"), std::string::npos) << r;
  EXPECT_NE(r.find("x-forwarded-host: shop.example.com\n"), std::string::npos) << r;
  EXPECT_NE(r.find("x-real-ip: 127.0.0.1\n"), std::string::npos) << r;
  EXPECT_NE(r.find("x-normal: ok\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("6.6.6.6"), std::string::npos) << r;
  EXPECT_EQ(r.find("evil"), std::string::npos) << r;
  EXPECT_EQ(r.find("x-secret"), std::string::npos) << r;
  EXPECT_EQ(r.find("keep-alive: 5"), std::string::npos) << r;
  EXPECT_EQ(r.find("te: trailers"), std::string::npos) << r;
  EXPECT_EQ(r.find("proxy-authorization"), std::string::npos) << r;
  size_t id = r.find("x-request-id: ");
  ASSERT_NE(id, std::string::npos) << r;
  std::string value = r.substr(id + 14, r.find('\n', id) - id - 14);
  EXPECT_EQ(value.size(), 32u);
  EXPECT_EQ(value.find_first_not_of("0123456789abcdef"), std::string::npos) << value;
}

TEST_F(ProxyTest, RewriteTargetAndPipelining) {
  auto& a = add_backend("a");
  add_service("svc", {a.port()});
  snap_.ingresses.push_back(
      ingress("web", "rw")
          .annotation(kRewriteTarget, "/")
          .rules({rule("rw.example.com", {path("/api", "Prefix", service_backend("svc", 80))})}));
  publish();
  start_proxy();
  int fd = connect_to(port());
  ASSERT_TRUE(send_all(fd,
                       "GET /api/users?x=1 HTTP/1.1\r\nHost: rw.example.com\r\n\r\n"
                       "GET /api HTTP/1.1\r\nHost: rw.example.com\r\n\r\n"));
  // Both answers, in request order (they may arrive in one read).
  std::string both = read_some_until(fd, "target: /\n");
  ::close(fd);
  size_t first = both.find("target: /users?x=1\n");
  size_t second = both.find("target: /\n");
  ASSERT_NE(first, std::string::npos) << both;
  ASSERT_NE(second, std::string::npos) << both;
  EXPECT_LT(first, second) << both;
}

TEST_F(ProxyTest, ChunkedRequestBodyIsForwardedChunked) {
  auto& a = add_backend("a");
  add_service("svc", {a.port()});
  snap_.ingresses.push_back(ingress("web", "c").default_backend(service_backend("svc", 80)));
  publish();
  start_proxy();
  std::string r = exchange(port(),
                           "POST /up HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  ASSERT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("body: hello world\n"), std::string::npos) << r;
  EXPECT_NE(r.find("transfer-encoding: chunked\n"), std::string::npos) << r;
}

TEST_F(ProxyTest, BodyOverTheRouteLimitIs413) {
  auto& a = add_backend("a");
  add_service("svc", {a.port()});
  snap_.ingresses.push_back(ingress("web", "small")
                                .annotation(kProxyBodySize, "1k")
                                .default_backend(service_backend("svc", 80)));
  publish();
  start_proxy();
  EXPECT_EQ(status_of(request("POST", "x", "/", std::string(1024, 'a'))), 200);
  EXPECT_EQ(status_of(request("POST", "x", "/", std::string(1025, 'a'))), 413);
  std::string chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "200\r\n" + std::string(512, 'b') + "\r\n";
  chunked += "0\r\n\r\n";
  EXPECT_EQ(status_of(exchange(port(), chunked)), 413);
  EXPECT_EQ(a.hits.load(), 1);
}

// The response streams: the backend sends its second chunk only after the client has received
// the first, which deadlocks (and fails) if the proxy buffered the response.
TEST_F(ProxyTest, ResponseStreamsChunkByChunk) {
  std::atomic<bool> first_seen{false};
  RawBackend streaming([&](int fd) {
    std::string head = read_some_until(fd, "\r\n\r\n");
    if (head.empty()) return;
    send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
    for (int i = 0; i < 1000 && !first_seen.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    send_all(fd, first_seen.load() ? "6\r\nsecond\r\n0\r\n\r\n" : "7\r\ntoolate\r\n0\r\n\r\n");
  });
  add_service("svc", {streaming.port()});
  snap_.ingresses.push_back(ingress("web", "s").default_backend(service_backend("svc", 80)));
  publish();
  start_proxy();
  int fd = connect_to(port());
  ASSERT_TRUE(send_all(fd, "GET /stream HTTP/1.1\r\nHost: s\r\n\r\n"));
  std::string got = read_some_until(fd, "first\r\n");
  ASSERT_NE(got.find("first"), std::string::npos) << got;
  EXPECT_NE(lower(got).find("transfer-encoding: chunked"), std::string::npos) << got;
  first_seen = true;
  got += read_some_until(fd, "0\r\n\r\n");
  ::close(fd);
  EXPECT_NE(got.find("6\r\nsecond\r\n0\r\n\r\n"), std::string::npos) << got;
}

TEST_F(ProxyTest, LargeBodiesStreamBothWaysWithTheirLengths) {
  const std::string big(3 << 20, 'q');
  RawBackend large([&](int fd) {
    for (;;) {
      std::string head = read_some_until(fd, "\r\n\r\n");
      if (head.empty()) return;
      // The request body (Content-Length in the head) is read and counted before answering.
      size_t cl = lower(head).find("content-length: ");
      size_t want = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
      size_t have = head.size() - head.find("\r\n\r\n") - 4;
      std::string body;
      auto whole = [&](std::string_view got) {
        have += got.size();
        body.clear();
        return have >= want;
      };
      if (!read_until(fd, body, whole)) return;
      send_all(fd, "HTTP/1.1 200 OK\r\nX-Got: " + std::to_string(have) +
                       "\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big);
    }
  });
  add_service("svc", {large.port()});
  snap_.ingresses.push_back(ingress("web", "big")
                                .annotation(kProxyBodySize, "10m")
                                .default_backend(service_backend("svc", 80)));
  publish();
  start_proxy();
  int fd = connect_to(port());
  for (int round = 0; round < 2; ++round) {
    std::string body(5 << 20, 'u');
    ASSERT_TRUE(send_all(fd, "POST /big HTTP/1.1\r\nHost: big\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body));
    std::string r = read_response(fd);
    ASSERT_EQ(status_of(r), 200) << r.substr(0, 200);
    EXPECT_NE(r.find("X-Got: 5242880\r\n"), std::string::npos) << r.substr(0, 200);
    EXPECT_NE(r.find("Content-Length: 3145728\r\n"), std::string::npos) << r.substr(0, 200);
    EXPECT_EQ(r.size() - r.find("\r\n\r\n") - 4, big.size());
  }
  ::close(fd);
}

// The upstream's hop-by-hop headers do not reach the client; a body read until the upstream
// closes reaches an HTTP/1.1 client chunked, and the client connection stays usable.
TEST_F(ProxyTest, ResponseHeadersAreReserializedAndCloseDelimitedBodiesRechunked) {
  RawBackend old_style([](int fd) {
    for (;;) {
      std::string head = read_some_until(fd, "\r\n\r\n");
      if (head.empty()) return;
      if (head.starts_with("HEAD")) {
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Head: yes\r\n\r\n");
        continue;  // a keep-alive connection: the proxy may send the next request on it
      }
      send_all(fd,
               "HTTP/1.0 200 OK\r\nConnection: close, X-Internal\r\nX-Internal: secret\r\n"
               "Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-Public: ok\r\n\r\n"
               "read until close");
      ::shutdown(fd, SHUT_WR);
      return;
    }
  });
  add_service("svc", {old_style.port()});
  snap_.ingresses.push_back(ingress("web", "old").default_backend(service_backend("svc", 80)));
  publish();
  start_proxy();
  int fd = connect_to(port());
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: old\r\n\r\n"));
  std::string r = read_some_until(fd, "0\r\n\r\n");
  std::string head = lower(r.substr(0, r.find("\r\n\r\n")));
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(head.find("x-public: ok"), std::string::npos) << r;
  EXPECT_NE(head.find("transfer-encoding: chunked"), std::string::npos) << r;
  EXPECT_EQ(head.find("x-internal"), std::string::npos) << r;
  EXPECT_EQ(head.find("keep-alive"), std::string::npos) << r;
  EXPECT_EQ(head.find("proxy-authenticate"), std::string::npos) << r;
  EXPECT_EQ(head.find("connection: close"), std::string::npos) << r;
  EXPECT_NE(r.find("10\r\nread until close\r\n0\r\n\r\n"), std::string::npos) << r;
  // HEAD: the Content-Length is passed on, and no body is expected after the head.
  ASSERT_TRUE(send_all(fd, "HEAD / HTTP/1.1\r\nHost: old\r\n\r\n"));
  std::string h = read_some_until(fd, "\r\n\r\n");
  EXPECT_EQ(status_of(h), 200) << h;
  EXPECT_NE(h.find("Content-Length: 1234\r\n"), std::string::npos) << h;
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: old\r\n\r\n"));
  EXPECT_EQ(status_of(read_some_until(fd, "0\r\n\r\n")), 200);
  ::close(fd);
}

// A WebSocket upstream: accepts the Upgrade, then echoes every byte until the client closes.
void websocket_echo(int fd) {
  std::string head = read_some_until(fd, "\r\n\r\n");
  if (lower(head).find("upgrade: websocket") == std::string::npos) return;
  send_all(fd,
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  echo_until_closed(fd);
}

TEST_F(ProxyTest, WebSocketUpgradeBecomesATunnel) {
  RawBackend ws(websocket_echo);
  add_service("svc", {ws.port()});
  snap_.ingresses.push_back(ingress("web", "ws").default_backend(service_backend("svc", 80)));
  publish();
  start_proxy();
  int fd = connect_to(port());
  ASSERT_TRUE(send_all(fd,
                       "GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n"));
  std::string head = read_some_until(fd, "\r\n\r\n");
  EXPECT_EQ(status_of(head), 101) << head;
  EXPECT_NE(lower(head).find("upgrade: websocket"), std::string::npos) << head;
  for (const std::string& msg :
       std::vector<std::string>{"ping-1", "ping-2", std::string(100000, 'x')}) {
    ASSERT_TRUE(send_all(fd, msg));
    std::string echo;
    while (echo.size() < msg.size()) {
      std::string part = read_some_until(fd, {}, std::chrono::milliseconds(200));
      if (part.empty()) break;
      echo += part;
    }
    EXPECT_EQ(echo, msg);
  }
  ::close(fd);
}

TEST_F(ProxyTest, UpgradeRefusedByTheUpstreamEndsTheConnectionCleanly) {
  auto& a = add_backend("a");  // answers 200 to everything, Upgrade or not
  add_service("svc", {a.port()});
  snap_.ingresses.push_back(ingress("web", "nows").default_backend(service_backend("svc", 80)));
  publish();
  start_proxy();
  int fd = connect_to(port());
  ASSERT_TRUE(send_all(fd,
                       "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\n\r\n"));
  std::string r = read_response(fd);
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
  ::close(fd);
  EXPECT_EQ(status_of(request("GET", "x", "/")), 200);
}

// An upstream that closes each connection right after answering without saying so (no
// Connection: close), so the pooled connection is dead by the next request. A body-less request
// on it is retried once on a fresh connection; a request with a body checks the pooled
// connection before sending. Every request succeeds and reaches the upstream exactly once.
TEST_F(ProxyTest, UpstreamClosingPooledConnectionsSilently) {
  std::atomic<int> served{0};
  RawBackend closer([&served](int fd) {
    std::string got;
    if (!read_until(fd, got, whole_response)) return;
    served.fetch_add(1);
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    ::shutdown(fd, SHUT_RDWR);  // RawBackend closes the descriptor itself
  });
  add_service("svc", {closer.port()});
  snap_.ingresses.push_back(ingress("web", "c").default_backend(service_backend("svc", 80)));
  publish();
  start_proxy();
  EXPECT_EQ(status_of(request("GET", "x", "/1")), 200);
  EXPECT_EQ(status_of(request("GET", "x", "/2")), 200);
  EXPECT_EQ(status_of(request("POST", "x", "/3", "body")), 200);
  EXPECT_EQ(status_of(request("GET", "x", "/4")), 200);
  EXPECT_EQ(served.load(), 4);
}

// Stopping with connections in every state (idle, half a head, waiting on a silent upstream, a
// tunnel) closes them all and frees everything (the sanitizer build checks the latter).
TEST_F(ProxyTest, StopWithOpenConnectionsClosesThem) {
  RawBackend silent([](int fd) { discard_until_closed(fd); });
  RawBackend ws([](int fd) {
    if (read_some_until(fd, "\r\n\r\n").empty()) return;
    send_all(
        fd,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    discard_until_closed(fd);
  });
  add_service("silent", {silent.port()});
  add_service("ws", {ws.port()});
  snap_.ingresses.push_back(
      ingress("web", "stop")
          .rules({rule("silent.example.com", {path("/", "Prefix", service_backend("silent", 80))}),
                  rule("ws.example.com", {path("/", "Prefix", service_backend("ws", 80))})}));
  publish();
  ProxyOptions o;
  o.threads = 2;
  start_proxy(o);
  std::vector<int> fds;
  fds.push_back(connect_to(port()));  // idle
  fds.push_back(connect_to(port()));
  send_all(fds.back(), "GET / HTTP/1.1\r\nHost: x\r\nX-Half: ");  // half a head
  fds.push_back(connect_to(port()));
  send_all(fds.back(), "GET / HTTP/1.1\r\nHost: silent.example.com\r\n\r\n");  // waiting
  fds.push_back(connect_to(port()));
  send_all(fds.back(),
           "GET / HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\nConnection: "
           "Upgrade\r\n\r\n");
  ASSERT_EQ(status_of(read_some_until(fds.back(), "\r\n\r\n")), 101);
  for (int i = 0; i < 500 && proxy_->active_connections() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(proxy_->active_connections(), 4u);
  proxy_->stop();
  EXPECT_EQ(proxy_->active_connections(), 0u);
  for (int fd : fds) {
    read_some_until(fd, "never", std::chrono::seconds(5));  // returns at EOF
    char c;
    EXPECT_LE(::recv(fd, &c, 1, MSG_DONTWAIT), 0);
    ::close(fd);
  }
}

TEST_F(ProxyTest, DrainFinishesRequestsInFlightAndClosesIdleConnections) {
  std::atomic<bool> release{false}, arrived{false};
  RawBackend slow([&](int fd) {
    if (read_some_until(fd, "\r\n\r\n").empty()) return;
    arrived = true;
    for (int i = 0; i < 1000 && !release.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
  });
  add_service("slow", {slow.port()});
  snap_.ingresses.push_back(ingress("web", "slow").default_backend(service_backend("slow", 80)));
  publish();
  ProxyOptions o;
  o.threads = 2;
  start_proxy(o);
  uint16_t p = port();
  int idle = connect_to(p);
  int busy = connect_to(p);
  ASSERT_TRUE(send_all(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  // In flight means the request reached the upstream; the idle connection must be open too.
  for (int i = 0; i < 500 && (!arrived || proxy_->active_connections() < 2); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(arrived.load());
  std::atomic<bool> drained{false};
  std::thread drainer([&] { drained = proxy_->drain(std::chrono::seconds(30)); });
  // The idle connection is closed without an answer, and no new connection is accepted.
  EXPECT_EQ(read_some_until(idle, "never", std::chrono::seconds(10)), "");
  int late = -1;
  for (int i = 0; i < 500; ++i) {
    late = connect_to(p);
    if (late < 0) break;
    ::close(late);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_LT(late, 0);
  EXPECT_FALSE(drained.load());  // still waiting for the request in flight
  release = true;
  std::string r = read_response(busy);
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("done"), std::string::npos) << r;
  drainer.join();
  EXPECT_TRUE(drained.load());
  ::close(idle);
  ::close(busy);
}

// Issue 4, acceptance 4 in-process: while clients keep sending requests, 1,000 route tables are
// published (each Ingress change is one); no request fails and an open WebSocket keeps working.
TEST_F(ProxyTest, ThousandReloadsUnderLoadFailNothingAndKeepAWebSocketOpen) {
  auto& a = add_backend("a");
  auto& b = add_backend("b");
  RawBackend ws([](int fd) {
    std::string head = read_some_until(fd, "\r\n\r\n");
    if (head.empty()) return;
    send_all(
        fd,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    echo_until_closed(fd);
  });
  add_service("svc-a", {a.port()});
  add_service("svc-b", {b.port()});
  add_service("svc-ws", {ws.port()});
  auto make = [](int i) {
    return ingress("web", "app")
        .annotation(kProxyReadTimeout, std::to_string(10 + i % 50) + "s")
        .rules({rule("load.example.com",
                     {path("/", "Prefix", service_backend(i % 2 ? "svc-a" : "svc-b", 80))}),
                rule("ws.example.com", {path("/", "Prefix", service_backend("svc-ws", 80))})});
  };
  snap_.ingresses.push_back(make(0));
  publish();
  ProxyOptions o;
  o.threads = 2;
  start_proxy(o);

  int wsfd = connect_to(port());
  ASSERT_TRUE(send_all(wsfd,
                       "GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\n\r\n"));
  ASSERT_EQ(status_of(read_some_until(wsfd, "\r\n\r\n")), 101);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      int fd = -1;
      for (int i = 0; !stop.load(); ++i) {
        // Half the clients keep their connection, half reconnect every few requests.
        if (fd < 0 || (c % 2 && i % 5 == 0)) {
          if (fd >= 0) ::close(fd);
          fd = connect_to(port());
        }
        std::string r;
        if (send_all(fd, "GET /x HTTP/1.1\r\nHost: load.example.com\r\n\r\n"))
          r = read_response(fd);
        if (status_of(r) == 200) {
          ++ok;
        } else {
          ++failed;
          ::close(fd);
          fd = -1;
        }
      }
      if (fd >= 0) ::close(fd);
    });
  }
  uint64_t before = holder_.generation();
  for (int i = 1; i <= 1000; ++i) {
    snap_.ingresses[0] = make(i);
    holder_.publish(build_route_table(snap_));
    if (i % 100 == 0) {
      std::string msg = "still-open-" + std::to_string(i);
      ASSERT_TRUE(send_all(wsfd, msg));
      EXPECT_EQ(read_some_until(wsfd, msg), msg);
    }
  }
  // Let the load run on the last table too before stopping it.
  int ok_at_end = ok.load();
  for (int i = 0; i < 10000 && ok.load() < ok_at_end + 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop = true;
  for (auto& t : clients) t.join();
  ::close(wsfd);
  EXPECT_EQ(holder_.generation() - before, 1000u);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 100);
  EXPECT_GT(a.hits.load(), 0);
  EXPECT_GT(b.hits.load(), 0);
}

TEST_F(ProxyTest, NewTableTakesEffectOnAnOpenConnection) {
  auto& a = add_backend("a");
  auto& b = add_backend("b");
  add_service("svc-a", {a.port()});
  add_service("svc-b", {b.port()});
  snap_.ingresses.push_back(ingress("web", "swap").default_backend(service_backend("svc-a", 80)));
  publish();
  start_proxy();
  int fd = connect_to(port());
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(read_response(fd).find("backend: a\n"), std::string::npos);
  snap_.ingresses[0] = ingress("web", "swap").default_backend(service_backend("svc-b", 80));
  publish();
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(read_response(fd).find("backend: b\n"), std::string::npos);
  ::close(fd);
}

TEST_F(ProxyTest, MetricSeriesAreBoundedByRouteCount) {
  auto& a = add_backend("a");
  add_service("svc", {a.port()});
  std::vector<Json> rules;
  for (int i = 0; i < 5; ++i) {
    rules.push_back(rule("h" + std::to_string(i) + ".example.com",
                         {path("/", "Prefix", service_backend("svc", 80))}));
  }
  snap_.ingresses.push_back(ingress("web", "many").rules(rules));
  publish();
  ProxyOptions o;
  o.threads = 1;
  o.metrics_max_routes = 2;
  start_proxy(o);
  for (int i = 0; i < 5; ++i) {
    // Request paths never become labels: only the route's host and path do.
    EXPECT_EQ(status_of(request("GET", "h" + std::to_string(i) + ".example.com",
                                "/unique-" + std::to_string(i))),
              200);
  }
  std::string text;
  for (int i = 0; i < 500; ++i) {
    text = registry_.render();
    if (text.find("host=\"_other\",path=\"_other\",status=\"2xx\"} 3") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  size_t series = 0;
  for (size_t at = 0; (at = text.find("k8c_ingress_requests_total{", at)) != std::string::npos;
       ++at) {
    ++series;
  }
  EXPECT_EQ(series, 3u) << text;  // two routes of their own, the rest share "_other"
  EXPECT_NE(text.find("host=\"_other\",path=\"_other\",status=\"2xx\"} 3"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("unique-"), std::string::npos) << text;
}

TEST_F(ProxyTest, AccessLogLinesAreJson) {
  auto& a = add_backend("a");
  add_service("svc", {a.port()});
  snap_.ingresses.push_back(
      ingress("web", "logged")
          .rules({rule("log.example.com", {path("/", "Prefix", service_backend("svc", 80))})}));
  publish();
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  ProxyOptions o;
  o.access_log = log;
  start_proxy(o);
  EXPECT_EQ(status_of(request("GET", "log.example.com", "/ok?x=\"quoted\"")), 200);
  EXPECT_EQ(status_of(request("GET", "other\xff.example.com", "/")), 404);
  // A request is logged after its answer is written: wait for the 404 to be counted (the line
  // is written right after, on the same thread), then stop, which joins the workers.
  auto both_counted = [&] {
    std::string text = registry_.render();
    return text.find("_no_route") != std::string::npos &&
           text.find("host=\"log.example.com\"") != std::string::npos;
  };
  for (int i = 0; i < 500 && !both_counted(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  proxy_->stop();
  std::fflush(log);
  std::rewind(log);
  std::vector<Json> lines;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, log)) lines.push_back(Json::parse(buf));  // throws if not JSON
  std::fclose(log);
  ASSERT_EQ(lines.size(), 2u) << (lines.empty() ? std::string() : lines[0].dump());
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["method"], "GET");
  EXPECT_EQ(lines[0]["host"], "log.example.com");
  EXPECT_EQ(lines[0]["target"], "/ok?x=\"quoted\"");
  EXPECT_EQ(lines[0]["ingress"], "web/logged");
  EXPECT_EQ(lines[0]["upstream"], "127.0.0.1:" + std::to_string(a.port()));
  EXPECT_EQ(lines[0]["request_id"].get<std::string>().size(), 32u);
  EXPECT_EQ(lines[0]["tls"], false);
  EXPECT_GT(lines[0]["bytes_out"].get<int>(), 0);
  EXPECT_EQ(lines[1]["status"], 404);
  EXPECT_EQ(lines[1]["ingress"], "");
  // Bytes outside printable ASCII are escaped one by one (\u00ff), so the line stays JSON.
  EXPECT_EQ(lines[1]["host"], "other\u00ff.example.com");
}

TEST_F(ProxyTest, MetricsCountByRouteAndStatusClass) {
  auto& a = add_backend("a");
  add_service("svc", {a.port()});
  snap_.ingresses.push_back(
      ingress("web", "m")
          .rules({rule("m.example.com", {path("/ok", "Prefix", service_backend("svc", 80))})}));
  publish();
  start_proxy();
  for (int i = 0; i < 3; ++i) request("GET", "m.example.com", "/ok");
  request("GET", "m.example.com", "/nope");
  // The proxy counts a request after writing its answer: wait for the last one to land.
  std::string text;
  for (int i = 0; i < 500; ++i) {
    text = registry_.render();
    if (text.find("_no_route") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(
      text.find("k8c_ingress_requests_total{host=\"m.example.com\",path=\"/ok\",status=\"2xx\"} 3"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "k8c_ingress_requests_total{host=\"_no_route\",path=\"_no_route\",status=\"4xx\"} 1"),
      std::string::npos)
      << text;
}

struct TlsResult {
  bool handshake = false;
  std::string peer_cn;
  std::string response;
};

// One request over TLS with the given SNI (none when empty); the certificate is not verified
// here: the test checks which one was presented.
TlsResult tls_exchange(uint16_t port, const std::string& sni, const std::string& request,
                       int max_version = 0) {
  TlsResult out;
  TlsClient c(port, sni, max_version);
  SSL* ssl = c.ssl.get();
  if (c.connected) {
    out.handshake = true;
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      out.peer_cn = cn;
      X509_free(peer);
    }
    SSL_write(ssl, request.data(), static_cast<int>(request.size()));
    char buf[16384];
    for (;;) {
      size_t end = out.response.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = lower(out.response.substr(0, end));
        size_t cl = head.find("content-length:");
        size_t want = end + 4 + (cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15)));
        if (out.response.size() >= want) break;
      }
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      out.response.append(buf, static_cast<size_t>(n));
    }
  }
  return out;
}

class TlsProxyTest : public ProxyFixture {
 protected:
  void SetUp() override {
    ca_ = pki::make_ca("test-ca");
    auto& shop = add_backend("shop");
    auto& blog = add_backend("blog");
    add_service("shop", {shop.port()});
    add_service("blog", {blog.port()});
    for (const char* host : {"shop.example.com", "blog.example.com"}) {
      auto pair = pki::issue(*ca_, host, {}, {host}, true);
      snap_.secrets.push_back(
          tls_secret("web", std::string(host) + "-tls", pair.cert_pem, pair.key_pem));
    }
    snap_.ingresses.push_back(
        ingress("web", "shop")
            .tls({"shop.example.com"}, "shop.example.com-tls")
            .rules({rule("shop.example.com", {path("/", "Prefix", service_backend("shop", 80))})}));
    snap_.ingresses.push_back(
        ingress("web", "blog")
            .annotation(kSslRedirect, "false")
            .tls({"blog.example.com"}, "blog.example.com-tls")
            .rules({rule("blog.example.com", {path("/", "Prefix", service_backend("blog", 80))})}));
    publish();
    ProxyOptions o;
    o.listen_https = "127.0.0.1:0";
    start_proxy(o);
  }
  static std::string get(const std::string& host) {
    return "GET /page HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  }
};

TEST_F(TlsProxyTest, SniPicksTheCertificateOfEachHost) {
  TlsResult shop = tls_exchange(proxy_->https_port(), "shop.example.com", get("shop.example.com"));
  ASSERT_TRUE(shop.handshake);
  EXPECT_EQ(shop.peer_cn, "shop.example.com");
  EXPECT_NE(shop.response.find("backend: shop\n"), std::string::npos) << shop.response;
  EXPECT_NE(shop.response.find("x-forwarded-proto: https\n"), std::string::npos) << shop.response;

  TlsResult blog = tls_exchange(proxy_->https_port(), "blog.example.com", get("blog.example.com"));
  ASSERT_TRUE(blog.handshake);
  EXPECT_EQ(blog.peer_cn, "blog.example.com");
  EXPECT_NE(blog.response.find("backend: blog\n"), std::string::npos) << blog.response;
}

TEST_F(TlsProxyTest, HostDisagreeingWithSniIs421) {
  TlsResult r = tls_exchange(proxy_->https_port(), "shop.example.com", get("blog.example.com"));
  ASSERT_TRUE(r.handshake);
  EXPECT_EQ(status_of(r.response), 421) << r.response;
  // Port and case do not count as disagreement.
  r = tls_exchange(proxy_->https_port(), "shop.example.com", get("SHOP.example.com:443"));
  EXPECT_EQ(status_of(r.response), 200) << r.response;
}

TEST_F(TlsProxyTest, UnknownNameWithoutDefaultCertificateFailsTheHandshake) {
  EXPECT_FALSE(
      tls_exchange(proxy_->https_port(), "other.example.com", get("other.example.com")).handshake);
  EXPECT_FALSE(tls_exchange(proxy_->https_port(), "", get("shop.example.com")).handshake);
}

// The tunnel over TLS: reads and writes of one TLS connection run concurrently (TlsSocket).
TEST_F(ProxyTest, WebSocketOverTlsBecomesATunnel) {
  RawBackend ws(websocket_echo);
  add_service("svc", {ws.port()});
  add_tls_route("ws.example.com", "svc");
  publish();
  ProxyOptions o;
  o.listen_https = "127.0.0.1:0";
  start_proxy(o);

  TlsClient c(proxy_->https_port(), "ws.example.com");
  ASSERT_TRUE(c.connected);
  SSL* ssl = c.ssl.get();
  std::string req =
      "GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  ASSERT_EQ(SSL_write(ssl, req.data(), static_cast<int>(req.size())), static_cast<int>(req.size()));
  std::string got;
  char buf[16384];
  while (got.find("\r\n\r\n") == std::string::npos) {
    int n = SSL_read(ssl, buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(status_of(got), 101) << got;
  got.erase(0, got.find("\r\n\r\n") + 4);
  for (const std::string& msg :
       std::vector<std::string>{"ping-1", "ping-2", std::string(100000, 'x')}) {
    ASSERT_EQ(SSL_write(ssl, msg.data(), static_cast<int>(msg.size())),
              static_cast<int>(msg.size()));
    std::string echo = std::move(got);
    got.clear();
    while (echo.size() < msg.size()) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      echo.append(buf, static_cast<size_t>(n));
    }
    EXPECT_TRUE(echo == msg) << echo.size() << " of " << msg.size() << " bytes";
  }
}

TEST_F(TlsProxyTest, OldProtocolVersionsAreRefused) {
  EXPECT_FALSE(tls_exchange(proxy_->https_port(), "shop.example.com", get("shop.example.com"),
                            TLS1_1_VERSION)
                   .handshake);
  EXPECT_TRUE(tls_exchange(proxy_->https_port(), "shop.example.com", get("shop.example.com"),
                           TLS1_2_VERSION)
                  .handshake);
}

TEST_F(TlsProxyTest, PlainHttpIsRedirectedForHostsWithACertificate) {
  std::string r = request("GET", "shop.example.com", "/page?x=1");
  EXPECT_EQ(status_of(r), 308) << r;
  EXPECT_NE(r.find("Location: https://shop.example.com:" + std::to_string(proxy_->https_port()) +
                   "/page?x=1\r\n"),
            std::string::npos)
      << r;
  // ssl-redirect: "false" keeps plain HTTP.
  EXPECT_EQ(status_of(request("GET", "blog.example.com", "/page")), 200);
}

TEST_F(TlsProxyTest, ChangedSecretIsServedOnTheNextHandshake) {
  auto renewed = pki::issue(*ca_, "shop.example.com renewed", {}, {"shop.example.com"}, true);
  Json secret = tls_secret("web", "shop.example.com-tls", renewed.cert_pem, renewed.key_pem);
  secret["metadata"]["resourceVersion"] = "2";
  snap_.secrets[0] = secret;
  publish();
  TlsResult r = tls_exchange(proxy_->https_port(), "shop.example.com", get("shop.example.com"));
  ASSERT_TRUE(r.handshake);
  EXPECT_EQ(r.peer_cn, "shop.example.com renewed");
}

}  // namespace
}  // namespace k8c::ingress::testing
