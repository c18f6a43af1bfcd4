// Shared by the proxy and security tests: real backend HTTP servers on loopback, a proxy started
// in-process on 127.0.0.1:0 over a route table built from test objects, and raw-socket helpers.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/http.h"
#include "common/metrics.h"
#include "common/pki.h"
#include "ingress/proxy.h"
#include "ingress/route_publish.h"
#include "ingress/route_table.h"
#include "ingress/test_objects.h"

namespace k8c::ingress::testing {

using namespace objects;

// An HTTP backend that describes the request it received: one "name: value" line per header,
// lowercased names, plus backend/method/target/body lines.
struct EchoBackend {
  std::string name;
  std::unique_ptr<http::Server> server;
  std::atomic<int> hits{0};
  uint16_t port() const { return server->port(); }
};

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A TCP listener on 127.0.0.1 run by a thread calling `serve(fd)` per connection.
class RawBackend {
 public:
  explicit RawBackend(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 128);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard l(mu_);
        conns_.push_back(c);
        workers_.emplace_back([this, c] { serve_(c); });
      }
    });
  }
  ~RawBackend() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    std::lock_guard l(mu_);
    for (int c : conns_) ::shutdown(c, SHUT_RDWR);
    for (auto& t : workers_) t.join();
    for (int c : conns_) ::close(c);
  }
  uint16_t port() const { return port_; }

 private:
  std::function<void(int)> serve_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
};

inline int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The one receive loop of these tests: appends what arrives on `fd` to `out` until `done(out)`
// holds, the peer closes, or `timeout` passes. True when `done` held.
template <class Done>
bool read_until(int fd, std::string& out, Done done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    if (done(std::string_view(out))) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Reads until the peer closes, `until` appears, or `timeout` passes.
inline std::string read_some_until(int fd, std::string_view until,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::string out;
  read_until(
      fd, out,
      [until](std::string_view got) {
        return !until.empty() && got.find(until) != std::string_view::npos;
      },
      timeout);
  return out;
}

// True when `got` starts with one whole response whose body has a Content-Length (or none).
inline bool whole_response(std::string_view got) {
  size_t end = got.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  std::string head = lower(std::string(got.substr(0, end)));
  size_t cl = head.find("content-length:");
  size_t want = end + 4;
  if (cl != std::string::npos) want += std::stoul(head.substr(cl + 15));
  return got.size() >= want;
}

// Reads one whole response with a Content-Length body (the proxy's own answers and the echo
// backend's always have one).
inline std::string read_response(int fd,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::string out;
  read_until(fd, out, whole_response, timeout);
  return out;
}

// Backend loops: read and drop everything, or send everything back, until the peer closes.
inline void discard_until_closed(int fd) {
  std::string got;
  read_until(
      fd, got,
      [&got](std::string_view) {
        got.clear();
        return false;
      },
      std::chrono::hours(1));
}
inline void echo_until_closed(int fd) {
  std::string got;
  read_until(
      fd, got,
      [fd, &got](std::string_view) {
        bool ok = send_all(fd, got);
        got.clear();
        return !ok;
      },
      std::chrono::hours(1));
}

inline int status_of(std::string_view response) {
  if (response.size() < 12 || !response.starts_with("HTTP/1.")) return 0;
  return std::atoi(std::string(response.substr(9, 3)).c_str());
}

// One request on a fresh connection; returns the raw response.
inline std::string exchange(uint16_t port, std::string_view request) {
  int fd = connect_to(port);
  if (fd < 0) return {};
  send_all(fd, request);
  std::string r = read_response(fd);
  ::close(fd);
  return r;
}

// A TLS client connection to 127.0.0.1:port with SNI `sni` (none when empty), its handshake
// done; max_version caps the protocol version (0: OpenSSL's default). Closed when destroyed.
struct TlsClient {
  TlsClient(uint16_t port, const std::string& sni, int max_version = 0)
      : ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free), ssl(nullptr, SSL_free) {
    if (max_version) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
    if (max_version && max_version < TLS1_2_VERSION) {
      SSL_CTX_set_security_level(ctx.get(), 0);
      SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
    }
    fd = connect_to(port);
    ssl.reset(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), fd);
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
    connected = SSL_connect(ssl.get()) == 1;
  }
  ~TlsClient() {
    ssl.reset();
    if (fd >= 0) ::close(fd);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl;
  int fd = -1;
  bool connected = false;  // the handshake succeeded
};

class ProxyFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    if (proxy_) proxy_->stop();
    for (auto& b : backends_) b->server->stop();
  }

  EchoBackend& add_backend(const std::string& name) {
    auto b = std::make_unique<EchoBackend>();
    b->name = name;
    EchoBackend* raw = b.get();
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.threads = 1;
    so.max_body_bytes = 64 << 20;
    b->server = std::make_unique<http::Server>(
        so, [raw](http::Request& req, std::shared_ptr<http::Responder> r) {
          raw->hits.fetch_add(1);
          std::string body = "backend: " + raw->name + "\nmethod: " + req.method +
                             "\ntarget: " + req.target +
                             "\nbody-bytes: " + std::to_string(req.body.size()) +
                             "\nbody: " + req.body.substr(0, 64) + "\n";
          for (const auto& h : req.headers) body += lower(h.name) + ": " + h.value + "\n";
          r->send({200, {{"Content-Type", "text/plain"}}, body});
        });
    b->server->start();
    backends_.push_back(std::move(b));
    return *raw;
  }

  // A Service "web/<svc>" with port 80 named "http", and one EndpointSlice per port given.
  void add_service(const std::string& svc, const std::vector<uint16_t>& ports) {
    snap_.services.push_back(service("web", svc, {service_port("http", 80, 8080)}));
    for (size_t i = 0; i < ports.size(); ++i) {
      snap_.endpoint_slices.push_back(endpoint_slice("web", svc + "-" + std::to_string(i), svc,
                                                     {slice_port("http", ports[i])},
                                                     {endpoint("127.0.0.1")}));
    }
  }

  // An Ingress for `host` (all paths, Prefix) to Service web/<svc> port 80, terminating TLS with a
  // certificate for `host` issued by a test CA, in the Secret "<host>-tls".
  void add_tls_route(const std::string& host, const std::string& svc) {
    if (!ca_) ca_ = pki::make_ca("test-ca");
    pki::KeyPair pair = pki::issue(*ca_, host, {}, {host}, true);
    snap_.secrets.push_back(tls_secret("web", host + "-tls", pair.cert_pem, pair.key_pem));
    snap_.ingresses.push_back(
        ingress("web", host)
            .tls({host}, host + "-tls")
            .rules({rule(host, {path("/", "Prefix", service_backend(svc, 80))})}));
  }

  void publish() {
    auto table = build_route_table(snap_);
    for (const auto& d : table->diagnostics()) ADD_FAILURE() << d.object << ": " << d.message;
    holder_.publish(table);
  }

  void start_proxy(ProxyOptions o = {}) {
    if (o.metrics == nullptr) o.metrics = &registry_;
    proxy_ = std::make_unique<Proxy>(holder_, std::move(o));
    proxy_->start();
  }

  uint16_t port() const { return proxy_->http_port(); }

  // GET (or another method) with a Host header over a fresh connection.
  std::string request(std::string_view method, std::string_view host, std::string_view target,
                      std::string_view body = {}, std::string_view extra = {}) {
    std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
    if (!host.empty()) r += "Host: " + std::string(host) + "\r\n";
    r += std::string(extra);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    r += "\r\n";
    r += body;
    return exchange(port(), r);
  }

  std::vector<std::unique_ptr<EchoBackend>> backends_;
  std::optional<pki::KeyPair> ca_;  // made by the first add_tls_route
  Snapshot snap_;
  RouteTableHolder holder_;
  metrics::Registry registry_;
  std::unique_ptr<Proxy> proxy_;
};

}  // namespace k8c::ingress::testing
