// The ingress controller: follows Ingress, IngressClass, Service, EndpointSlice and Secret
// objects through client::ObjectSync, builds a RouteTable from the whole view after every
// (coalesced) change, publishes it to the proxy threads, and reports the listen address in the
// status of every Ingress it serves.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "control/client/client.h"
#include "control/client/object_sync.h"
#include "ingress/route_publish.h"
#include "ingress/route_table.h"

namespace k8c::ingress {

struct ControllerOptions {
  BuildOptions build;
  // Addresses for status.loadBalancer.ingress (IPs or names); empty: status is not written.
  std::vector<std::string> status_addresses;
  std::chrono::milliseconds debounce{20};
};

// Pure part of a rebuild, exposed for tests: the Snapshot for an ObjectSync view whose sources
// are, in order, ingresses, ingressclasses, services, endpointslices and secrets.
Snapshot snapshot_from_view(const client::SyncView& view);

class IngressController {
 public:
  // `holder` must outlive the controller. Throws std::runtime_error when a status address is
  // unusable (e.g. 0.0.0.0).
  IngressController(std::shared_ptr<client::ApiClient> api, RouteTableHolder& holder,
                    ControllerOptions options);
  ~IngressController();

  void start();
  void stop();
  bool wait_for_first_build(std::chrono::milliseconds timeout) const;
  uint64_t builds() const;

 private:
  void rebuild(const client::SyncView& view);
  void update_statuses(const client::SyncView& view, const RouteTable& table);

  std::shared_ptr<client::ApiClient> api_;
  RouteTableHolder& holder_;
  ControllerOptions opt_;
  Json lb_ingress_;  // null when status is not written
  std::unique_ptr<client::ObjectSync> sync_;
  std::set<std::string> last_diagnostics_;
};

}  // namespace k8c::ingress
