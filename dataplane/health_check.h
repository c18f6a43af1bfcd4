// The service health server: for every Service with externalTrafficPolicy Local and a
// healthCheckNodePort, an HTTP server on the node address and that port which tells a cloud
// load balancer whether this node has endpoints for the Service, as kube-proxy's does:
//
//   200 (or 503 with no local endpoints)
//   Content-Type: application/json
//   X-Content-Type-Options: nosniff
//   X-Load-Balancing-Endpoint-Weight: <local endpoints>
//
//   {"service":{"namespace":"..","name":".."},"localEndpoints":N,"serviceProxyHealthy":true}
//   (tab-indented, as kube-proxy writes it), for any path and method.
//
// It runs off the lcores: each port is a common/http Server with one I/O thread. The sync
// thread calls update() after each change, which opens the ports of new Services, closes those
// of Services gone, and changes the answers in place. When the NIC is owned by DPDK, the node
// address lives on the exception path's tap (--kernel-port), which is how checks reach it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/http.h"
#include "dataplane/sync.h"

namespace k8c::dp {

// The answer for one Service; `healthy` is serviceProxyHealthy.
http::Response health_check_response(const HealthCheckSpec& spec, bool healthy = true);

class HealthCheckServer {
 public:
  HealthCheckServer();
  ~HealthCheckServer();  // closes every port
  HealthCheckServer(const HealthCheckServer&) = delete;
  HealthCheckServer& operator=(const HealthCheckServer&) = delete;

  // Serves exactly `specs` on `address` (host order; 0: not known yet, nothing is served). A
  // port that cannot be opened (address not local, port taken) is logged once and retried on
  // later updates. Thread-safe.
  void update(uint32_t address, const std::vector<HealthCheckSpec>& specs);
  void stop();

  // Ports listening now -> "namespace/name", and "port: why" for those that could not open.
  std::map<uint16_t, std::string> listening() const;
  std::vector<std::string> failures() const;

 private:
  struct Entry;
  mutable std::mutex mu_;
  uint32_t address_ = 0;
  std::map<uint16_t, std::shared_ptr<Entry>> entries_;
  std::map<uint16_t, std::string> failed_;  // port -> last error, logged when it changes
};

}  // namespace k8c::dp
