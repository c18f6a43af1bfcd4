// From Kubernetes objects to service-table specs: Services, EndpointSlices and this node's Node
// become the vector<ServiceSpec> and node address that ServiceTable::build takes.
//
// The translation is a pure function of the objects plus a little memory carried from one
// rebuild to the next (the Translator): service ids must stay stable, because session affinity
// is keyed by them, and an endpoint's drain deadline must count from when it was first seen
// terminating, not from the latest rebuild. It runs on the sync thread, never on an lcore.
//
// One bad object never stops the others: it is skipped (or the part of it that is bad is) and
// reported as one line in Translation::problems.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "dataplane/service_table.h"

namespace k8c::dp {

using ObjectRef = std::shared_ptr<const Json>;

struct TranslateOptions {
  std::string node_name;  // endpoints with this nodeName are local; this Node gives the node IP
  uint32_t node_ip = 0;   // host order; nonzero overrides the Node object's address
  uint64_t drain_timeout_ns = 30 * kNsPerSec;
  uint32_t maglev_size = kMaglevDefaultSize;
};

struct Translation {
  uint32_t node_ip = 0;  // host order; 0 when neither the flag nor the Node gives one
  std::vector<ServiceSpec> services;
  std::vector<std::string> problems;  // "default/web: port 0 is out of range", one per issue
};

// "a.b.c.d" to a host-order address; nullopt for anything else (IPv6 included).
std::optional<uint32_t> parse_ipv4(std::string_view s);

// A Service this node must answer health checks for (kube-proxy's service health server):
// externalTrafficPolicy Local with a spec.healthCheckNodePort, which the API server allocates
// for such LoadBalancer Services.
struct HealthCheckSpec {
  std::string ns, name;
  uint16_t port = 0;             // spec.healthCheckNodePort
  uint32_t local_endpoints = 0;  // distinct ready, not terminating endpoints on this node
  bool operator==(const HealthCheckSpec&) const = default;
};

// Every such Service, sorted by port. Two Services with one healthCheckNodePort: the first by
// name keeps it, the other is reported in *problems (may be null).
std::vector<HealthCheckSpec> health_checks(std::span<const ObjectRef> services,
                                           std::span<const ObjectRef> slices,
                                           const std::string& node_name,
                                           std::vector<std::string>* problems);

class Translator {
 public:
  explicit Translator(TranslateOptions options) : opts_(std::move(options)) {}

  // now_ns is the data-plane clock (EalRuntime::now_ns), used to stamp endpoints that start
  // terminating. Objects may arrive in any order; the output is sorted by service name.
  Translation translate(std::span<const ObjectRef> services, std::span<const ObjectRef> slices,
                        std::span<const ObjectRef> nodes, uint64_t now_ns);

  const TranslateOptions& options() const { return opts_; }

 private:
  TranslateOptions opts_;
  // "ns/name/portname/proto" -> id. Ids are never reused while the process lives, so a stale
  // affinity record can never point a new service at an old one's backend.
  std::map<std::string, uint32_t> ids_;
  uint32_t next_id_ = 1;
  // "ns/name/portname/proto ip:port" -> when it was first seen terminating.
  std::map<std::string, uint64_t> terminating_since_;
};

}  // namespace k8c::dp
