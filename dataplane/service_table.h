// The service table: an immutable snapshot of every Service frontend this node serves, built
// by the control thread from Services/EndpointSlices/Node and published through Rcu<>.
//
// Specs are in host byte order (what a control plane naturally has); the built table keys
// everything in network order so that lookups use header fields as they sit in the frame.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "dataplane/maglev.h"
#include "dataplane/packet.h"

namespace k8c::dp {

inline constexpr uint64_t kNsPerSec = 1'000'000'000ULL;

enum class TrafficPolicy : uint8_t { kCluster, kLocal };

struct BackendSpec {
  uint32_t ip = 0;  // host order
  uint16_t port = 0;
  uint32_t weight = 1;
  // EndpointSlice conditions. New flows go to ready endpoints; when none is ready, to serving
  // terminating ones (Kubernetes' ProxyTerminatingEndpoints behaviour).
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  bool local = false;                 // the endpoint runs on this node
  uint64_t terminating_since_ns = 0;  // data-plane clock; drain deadline = this + drain timeout
};

struct ServiceSpec {
  uint32_t id = 0;   // stable across snapshots (session affinity is keyed by it)
  std::string name;  // "namespace/name:port", the metrics label
  uint8_t proto = proto::kTcp;
  uint32_t cluster_ip = 0;  // 0: no ClusterIP frontend (headless)
  uint16_t port = 0;        // ClusterIP and LoadBalancer port
  uint16_t node_port = 0;   // 0: no NodePort frontend
  std::vector<uint32_t> load_balancer_ips;
  std::vector<BackendSpec> backends;
  bool affinity_client_ip = false;
  uint64_t affinity_timeout_ns = 10800 * kNsPerSec;  // Kubernetes' default timeoutSeconds
  TrafficPolicy external_policy = TrafficPolicy::kCluster;
  TrafficPolicy internal_policy = TrafficPolicy::kCluster;
  uint64_t drain_timeout_ns = 30 * kNsPerSec;
  uint32_t maglev_size = kMaglevDefaultSize;
};

struct NodeConfig {
  uint32_t node_ip = 0;  // host order; NodePort frontends and the SNAT source address
  Mac mac{};             // this port's MAC
  Mac gateway_mac{};     // next hop for everything forwarded when there is no NeighbourTable
  // No kernel shares this port (there is no exception path yet), so the data plane answers ARP
  // and ICMP echo for the node address itself; otherwise the kernel does.
  bool own_node_ip = false;
  uint16_t tx_port = 0;
  // SNAT source ports, split evenly between lcores so that a reply's destination port names
  // the lcore owning its flow (DPVS's per-lcore local-address port ranges; the port layer
  // steers replies with flow-director rules or a software redirect on these ranges).
  uint16_t snat_port_min = 1024;
  uint16_t snat_port_max = 65535;
  unsigned lcores = 1;
};

enum class FrontendKind : uint8_t { kClusterIp, kNodePort, kLoadBalancer };

enum class AddressKind : uint8_t {
  kNone,    // not ours: pass to the kernel
  kVip,     // ClusterIP or LoadBalancer IP: we answer ARP/ICMP and drop what matches nothing
  kNodeIp,  // the node's own address: NodePorts are ours, everything else is the kernel's
};

// A plain counter written by one lcore and read by the metrics thread. Relaxed load + store
// (not fetch_add) compiles to an ordinary add: there is exactly one writer.
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n) {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

struct TrafficCounters {
  Counter packets, bytes, flows;
};

// Active flows per (service, backend). Unlike the packet counters, which belong to one table,
// these outlive table rebuilds: a flow counts against the backend it started on until it ends,
// also when a later table drops that backend (an orphaned TCP flow) or the backend drains.
//
// The control thread gives each (service name, backend address) a gauge id when it builds a
// table (ServiceTable::Backend::gauge) and frees it once no table names it and no flow holds
// it. Lcores count when a flow is inserted and when it is erased (ended, expired, replaced),
// each in its own row: no atomic read-modify-write, nothing shared between lcores, and nothing
// per packet on the established path. A row's count is that lcore's flows, so never negative.
class FlowGauges {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  FlowGauges(unsigned lcores, uint32_t capacity);

  // Control thread. The id of a key, allocated if new; kNone when every id is taken (those
  // flows are then not counted). ip and port in network order.
  uint32_t acquire(const std::string& service, uint32_t ip, uint16_t port);
  // Control thread, once no lcore can hold a table older than the current one (after an RCU
  // synchronize): frees the ids not in `current` whose count is zero. Nothing can count
  // against such an id any more, so it may be handed to another key.
  void release_idle(const std::vector<uint32_t>& current);

  // The owning lcore, on flow insert and erase. Ids beyond the capacity are ignored.
  void opened(unsigned lcore, uint32_t id) {
    if (id < capacity_ && lcore < lcores_) counts_[size_t{lcore} * capacity_ + id].add(1);
  }
  void closed(unsigned lcore, uint32_t id) {
    if (id < capacity_ && lcore < lcores_)
      counts_[size_t{lcore} * capacity_ + id].add(~uint64_t{0});  // -1
  }

  // Any thread: the flows open against an id, summed over lcores.
  int64_t active(uint32_t id) const;
  struct Entry {
    std::string service;
    uint32_t ip;    // network order
    uint16_t port;  // network order
    int64_t active;
  };
  // Any thread: every allocated key and its count.
  std::vector<Entry> snapshot() const;

 private:
  struct Key {
    std::string service;
    uint32_t ip;
    uint16_t port;
    bool operator<(const Key& o) const {
      return std::tie(service, ip, port) < std::tie(o.service, o.ip, o.port);
    }
  };
  unsigned lcores_;
  uint32_t capacity_;
  std::unique_ptr<Counter[]> counts_;  // [lcore * capacity + id]; uint64 arithmetic, read signed
  mutable std::mutex mu_;              // the key maps; lcores never take it
  std::map<Key, uint32_t> ids_;
  std::vector<const Key*> keys_;  // by id; null when free
  std::vector<uint32_t> free_;
};

class ServiceTable {
 public:
  struct Backend {
    uint32_t ip;    // network order
    uint16_t port;  // network order
    bool local;
    bool terminating;
    uint64_t drain_deadline_ns;  // 0 unless terminating
    uint32_t service;
    uint32_t gauge;  // FlowGauges id of (service, backend), or FlowGauges::kNone
  };
  struct Service {
    uint32_t id;
    std::string name;
    uint8_t proto;
    bool affinity;
    TrafficPolicy external_policy, internal_policy;
    uint64_t affinity_timeout_ns;
    uint32_t first_backend, n_backends;  // range in backends()
    // Maglev slots index these lists of candidate backends (global indices into backends()).
    std::vector<uint32_t> cluster_candidates, local_candidates;
    MaglevTable cluster_table, local_table;
  };
  struct Frontend {
    uint32_t service;
    FrontendKind kind;
  };

  // Builds a snapshot. Returns nullptr and sets *error when two services claim the same
  // (address, port, protocol) or a spec is invalid. Every table one lcore sees must share one
  // FlowGauges (the controller passes its own); without one the table gets a private set,
  // which is enough for a table that is never replaced.
  static std::unique_ptr<ServiceTable> build(const NodeConfig& node,
                                             std::span<const ServiceSpec> services,
                                             std::string* error,
                                             std::shared_ptr<FlowGauges> gauges = nullptr);

  // Fast path. Arguments are in network order.
  const Frontend* lookup(uint32_t ip, uint16_t port, uint8_t proto) const {
    uint64_t key = frontend_key(ip, port, proto);
    for (uint32_t i = static_cast<uint32_t>(mix64(key)) & fe_mask_;; i = (i + 1) & fe_mask_) {
      const FeSlot& s = frontends_[i];
      if (s.key == key) return &s.fe;
      if (s.key == 0) return nullptr;
    }
  }
  AddressKind address_kind(uint32_t ip) const {
    for (uint32_t i = static_cast<uint32_t>(mix64(ip)) & addr_mask_;; i = (i + 1) & addr_mask_) {
      const AddrSlot& s = addresses_[i];
      if (s.ip == ip && s.kind != AddressKind::kNone) return s.kind;
      if (s.kind == AddressKind::kNone) return AddressKind::kNone;
    }
  }
  // Picks a backend for a new flow (global index into backends(), or -1).
  int64_t pick(const Service& svc, bool local_only, uint64_t hash) const {
    const MaglevTable& t = local_only ? svc.local_table : svc.cluster_table;
    uint16_t slot = t.lookup(hash);
    if (slot == kMaglevEmpty) return -1;
    return (local_only ? svc.local_candidates : svc.cluster_candidates)[slot];
  }
  // Whether a new flow may go to this backend (used to honour an affinity record).
  bool eligible(const Service& svc, bool local_only, uint32_t backend) const;
  // Finds a backend of a service by address (network order); -1 when it is gone.
  int64_t find_backend(uint32_t service, uint32_t ip, uint16_t port) const;

  const Service& service(uint32_t i) const { return services_[i]; }
  const Backend& backend(uint32_t i) const { return backends_[i]; }
  size_t service_count() const { return services_.size(); }
  size_t backend_count() const { return backends_.size(); }
  const NodeConfig& node() const { return node_; }
  uint32_t node_ip() const { return node_ip_be_; }
  // Distinguishes snapshots, so that flows re-resolve their indices after a publish.
  uint64_t generation() const { return generation_; }

  // SNAT port range of an lcore (host order, inclusive) and the inverse, for reply steering.
  std::pair<uint16_t, uint16_t> snat_range(unsigned lcore) const;
  unsigned snat_owner(uint16_t port_host) const;

  FlowGauges& gauges() const { return *gauges_; }
  const std::shared_ptr<FlowGauges>& shared_gauges() const { return gauges_; }

  // Per-lcore counters, one row per lcore so no cache line has two writers.
  TrafficCounters& service_counters(unsigned lcore, uint32_t svc) const {
    return svc_counters_[lcore * svc_row_ + svc];
  }
  TrafficCounters& backend_counters(unsigned lcore, uint32_t b) const {
    return be_counters_[lcore * be_row_ + b];
  }

 private:
  static uint64_t frontend_key(uint32_t ip, uint16_t port, uint8_t proto) {
    // Never 0 for a real frontend: the protocol byte is nonzero, so 0 marks an empty slot.
    return uint64_t{ip} << 32 | uint64_t{port} << 16 | proto;
  }
  struct FeSlot {
    uint64_t key = 0;
    Frontend fe{};
  };
  struct AddrSlot {
    uint32_t ip = 0;
    AddressKind kind = AddressKind::kNone;
  };

  NodeConfig node_;
  uint32_t node_ip_be_ = 0;
  uint64_t generation_ = 0;
  std::vector<Service> services_;
  std::vector<Backend> backends_;
  std::vector<FeSlot> frontends_;
  uint32_t fe_mask_ = 0;
  std::vector<AddrSlot> addresses_;
  uint32_t addr_mask_ = 0;
  std::unique_ptr<TrafficCounters[]> svc_counters_, be_counters_;
  uint32_t svc_row_ = 0, be_row_ = 0;  // services_.size(), backends_.size(): no division per packet
  std::shared_ptr<FlowGauges> gauges_;
};

}  // namespace k8c::dp
