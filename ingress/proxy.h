// The ingress proxy: HTTP/1.1 (and HTTPS with SNI) in front of the endpoints a RouteTable names.
//
// Threads. N workers, each with its own io_context and its own SO_REUSEPORT listener(s), so the
// kernel spreads connections across threads and a connection never changes thread. Everything a
// request touches on its way (route table reader, upstream pools, endpoint health, metric series
// cache) is per worker, so the request path takes no lock.
//
// A request. The request head is parsed with llhttp in strict mode (smuggling shapes such as
// Content-Length with Transfer-Encoding, duplicate Content-Length or "chunked," are 400), under
// header size/count limits (431) and a header deadline that runs from the first byte and is not
// extended by later bytes (408). It is routed with RouteTable::match, sent to an endpoint of the
// route's backend over a per-worker keep-alive pool, and the bodies are streamed both ways,
// re-framed (chunked stays chunked) without ever being held whole. Headers are re-serialized:
// hop-by-hop headers and the client's X-Forwarded-*, X-Real-IP, Forwarded and X-Request-ID are
// dropped and ours are set. An Upgrade request answered with 101 becomes a byte tunnel.
//
// Failure answers: 404 no route, 503 no ready endpoint, 502 connect refused or a broken upstream
// response, 504 connect or read timeout, 413 body over the route's proxy-body-size, 421 Host
// naming another name than the TLS SNI, 308 to HTTPS for ssl-redirect routes on plain HTTP.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "ingress/route_publish.h"

namespace k8c::metrics {
class Registry;
}

namespace k8c::ingress {

struct ProxyOptions {
  std::string listen_http = "127.0.0.1:0";  // HOST:PORT; empty: no plain HTTP listener
  std::string listen_https;                 // HOST:PORT; empty: no TLS listener
  int threads = 1;

  size_t max_header_bytes = 32 * 1024;  // request line + header block; larger: 431
  size_t max_headers = 100;             // more: 431
  size_t max_connections = 10000;       // client connections over all workers; beyond: closed
  std::chrono::milliseconds header_timeout{10'000};  // whole header block, from its first byte
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive wait and tunnel silence
  std::chrono::milliseconds client_timeout{60'000};  // each body read from / write to a client

  // Upstreams. Per worker and endpoint at most this many idle keep-alive connections are kept.
  size_t upstream_idle_per_endpoint = 64;
  int connect_attempts = 3;  // distinct endpoints tried when connecting fails
  // Passive health: after `max_fails` consecutive failures an endpoint gets no new requests
  // for `fail_timeout` (per worker), unless every endpoint of the backend is ejected.
  uint32_t max_fails = 3;
  std::chrono::milliseconds fail_timeout{10'000};
  bool least_request = false;  // pick the less busy of two endpoints instead of round-robin

  // One JSON line per request; null: no access log. Written with one fwrite per line.
  std::FILE* access_log = nullptr;
  // Counters per route host, path and status class; null: no metrics. At most
  // `metrics_max_routes` distinct host/path pairs get their own series; others share "_other".
  metrics::Registry* metrics = nullptr;
  size_t metrics_max_routes = 500;
};

class Proxy {
 public:
  // `routes` must outlive the proxy.
  Proxy(const RouteTableHolder& routes, ProxyOptions options);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Binds the listeners and starts the workers. Throws std::runtime_error naming the problem
  // (bad address, port in use, ...).
  void start();
  // Graceful shutdown, first half: stops accepting, closes connections waiting for a request,
  // lets requests in flight finish (their answers say Connection: close) and waits up to
  // `timeout` for every connection to end. Tunnels are not waited for past the timeout. True
  // when no connection was left. Call stop() afterwards.
  bool drain(std::chrono::milliseconds timeout);
  // Closes listeners and connections and joins the workers. Idempotent.
  void stop();

  uint16_t http_port() const;   // 0 when there is no HTTP listener
  uint16_t https_port() const;  // 0 when there is no HTTPS listener
  size_t active_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace k8c::ingress
