// The data plane's health, as kube-proxy reports its own (pkg/proxy/healthcheck), off the lcores.
//
// Service health checks: for every Service with externalTrafficPolicy Local and a
// healthCheckNodePort, an HTTP server on the node address and that port which tells a cloud
// load balancer whether this node should get the Service's traffic:
//
//   200 (503 with no local endpoints, or when the data plane itself is unhealthy)
//   Content-Type: application/json
//   X-Content-Type-Options: nosniff
//   X-Load-Balancing-Endpoint-Weight: <local endpoints>
//
//   {"service":{"namespace":"..","name":".."},"localEndpoints":N,"serviceProxyHealthy":B}
//   (tab-indented, as kube-proxy writes it), for any path and method.
//
// As in kube-proxy since 1.28 (KEP-3836), serviceProxyHealthy is the proxy's own health and an
// unhealthy proxy answers 503 on every port, so load balancers drain the node. For k8c that is
// ProxyHealthTracker below: the polling lcores are alive, and the tables are not stale.
//
// The proxy health server (optional, serve_healthz): /healthz and /livez with kube-proxy's
// status codes and JSON ({"lastUpdated": .., "currentTime": .., "nodeEligible": ..}).
//
// Every port is a common/http Server on one shared IoLoop: one I/O thread for all of them,
// however many Local Services there are. The sync thread calls update() after each change, which
// opens the ports of new Services, closes those of Services gone, and changes the answers in
// place. When the NIC is owned by DPDK, the node address lives on the exception path's tap
// (--kernel-port), which is how checks reach it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/http.h"
#include "dataplane/sync.h"

namespace k8c::dp {

// The proxy's health at one moment, what kube-proxy's healthz server knows.
struct ProxyHealth {
  bool healthy = true;        // serviceProxyHealthy; /livez's answer
  bool node_eligible = true;  // the Node is not being deleted; /healthz also needs it
  // Wall-clock time of the last applied update; the epoch when there was none.
  std::chrono::system_clock::time_point last_updated{};
  std::chrono::system_clock::time_point current_time{};
  std::string reason;  // why not healthy, for logs; empty when healthy
};

// Where the health-check servers get the proxy's health from, on every request. Empty: always
// healthy (tests, and callers with nothing to watch).
using HealthSource = std::function<ProxyHealth()>;

// kube-proxy's ProxyHealthServer state for the k8c data plane. Healthy when both hold:
//   - tables not stale: no change is pending, or the oldest pending one was queued less than
//     table_timeout ago (kube-proxy's QueuedUpdate()/Updated() with healthTimeout). A change is
//     queued when the sync hands a view over and applied once its table is published; a view
//     that waits for the runtime to start, a build that hangs or fails, all stay pending.
//   - lcores alive: every polling lcore's loop-iteration counter moved within lcore_timeout. An
//     lcore is sampled on each check; the first sample of one counts as movement (start-up).
// Thread-safe.
class ProxyHealthTracker {
 public:
  struct Time {
    std::chrono::steady_clock::time_point mono;  // for the timeouts
    std::chrono::system_clock::time_point wall;  // for lastUpdated/currentTime
  };
  struct Options {
    std::chrono::nanoseconds table_timeout = std::chrono::seconds(10);
    std::chrono::nanoseconds lcore_timeout = std::chrono::seconds(10);
    std::function<Time()> now;  // empty: the real clocks (tests pass their own)
  };

  ProxyHealthTracker();  // the defaults
  explicit ProxyHealthTracker(Options options);

  // An informer change reached the data plane (kube-proxy's QueuedUpdate): the oldest pending
  // change's time is kept.
  void queued();
  // Its table was built and published (Updated): nothing is pending any more.
  void updated();
  // From the Node: false while it is being deleted or tainted ToBeDeletedByClusterAutoscaler.
  void set_node_eligible(bool eligible);
  // Loop-iteration counters of the polling lcores, one per lcore; empty: none to watch. The
  // function must stay callable until it is replaced (set it to {} before the runtime stops).
  void set_lcores(std::function<std::vector<uint64_t>()> iterations);

  ProxyHealth check();

 private:
  Time now() const;

  Options opts_;
  std::mutex mu_;
  bool pending_ = false;
  std::chrono::steady_clock::time_point oldest_pending_{};
  bool ever_updated_ = false;
  std::chrono::system_clock::time_point last_updated_{};
  bool node_eligible_ = true;
  std::function<std::vector<uint64_t>()> lcores_;
  struct Lcore {
    uint64_t iterations = 0;
    std::chrono::steady_clock::time_point moved{};  // when the counter was last seen moving
  };
  std::vector<Lcore> seen_;
  bool was_healthy_ = true;  // a change is logged
};

// Whether the Node named `node_name` among `nodes` may get traffic (kube-proxy's nodeEligible):
// not when it has a deletionTimestamp or the ToBeDeletedByClusterAutoscaler taint. A Node not
// (yet) seen is eligible, as kube-proxy's is at start-up.
bool node_eligible(std::span<const ObjectRef> nodes, const std::string& node_name);

// The answer for one Service; `healthy` is serviceProxyHealthy.
http::Response health_check_response(const HealthCheckSpec& spec, bool healthy = true);

// kube-proxy's /healthz (livez = false) or /livez answer. /healthz: 200 when healthy and the
// node is eligible, else 503; /livez ignores eligibility. A healthy answer's lastUpdated is the
// current time, as kube-proxy's is. Times are written as Go's time.Time.String() does, in UTC
// ("2026-11-25 05:47:00.123456789 +0000 UTC"), without its monotonic-clock suffix.
http::Response healthz_response(const ProxyHealth& health, bool livez = false);

class HealthCheckServer {
 public:
  explicit HealthCheckServer(HealthSource source = {});
  ~HealthCheckServer();  // closes every port
  HealthCheckServer(const HealthCheckServer&) = delete;
  HealthCheckServer& operator=(const HealthCheckServer&) = delete;

  // Serves exactly `specs` on `address` (host order; 0: not known yet, nothing is served). A
  // port that cannot be opened (address not local, port taken) is logged once and retried on
  // later updates. Thread-safe; does nothing once stop() has been called.
  void update(uint32_t address, const std::vector<HealthCheckSpec>& specs);

  // Serves /healthz and /livez on `listen` (HOST:PORT) from now until stop(), on the same I/O
  // thread as the Service ports. Returns the port; throws std::runtime_error when it cannot
  // listen. Once only.
  uint16_t serve_healthz(const std::string& listen);

  // Closes every port and the I/O thread, for good.
  void stop();

  // Ports listening now -> "namespace/name", and "port: why" for those that could not open.
  std::map<uint16_t, std::string> listening() const;
  std::vector<std::string> failures() const;

 private:
  struct Entry;
  http::IoLoop& loop_locked();  // created with the first port

  // Shared with every handler, so that none depends on this object outliving it.
  std::shared_ptr<const HealthSource> source_;
  mutable std::mutex mu_;
  bool stopped_ = false;
  uint32_t address_ = 0;
  std::unique_ptr<http::IoLoop> loop_;
  std::unique_ptr<http::Server> healthz_;
  std::map<uint16_t, std::shared_ptr<Entry>> entries_;
  std::map<uint16_t, std::string> failed_;  // port -> last error, logged when it changes
};

}  // namespace k8c::dp
