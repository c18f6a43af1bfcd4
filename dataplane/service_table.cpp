#include "dataplane/service_table.h"

#include <algorithm>
#include <bit>

namespace k8c::dp {

namespace {

std::atomic<uint64_t> g_generation{0};

std::string ip_str(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

uint64_t backend_key(const BackendSpec& b) {
  return uint64_t{b.ip} << 16 | b.port;
}

}  // namespace

std::unique_ptr<ServiceTable> ServiceTable::build(const NodeConfig& node,
                                                  std::span<const ServiceSpec> services,
                                                  std::string* error,
                                                  std::shared_ptr<FlowGauges> gauges) {
  auto fail = [&](std::string msg) {
    if (error) *error = std::move(msg);
    return nullptr;
  };
  if (node.lcores == 0) return fail("node config: lcores must be at least 1");
  if (node.snat_port_min == 0 || node.snat_port_min > node.snat_port_max ||
      uint32_t{node.snat_port_max} - node.snat_port_min + 1 < node.lcores)
    return fail("node config: the SNAT port range must give every lcore at least one port");

  auto t = std::unique_ptr<ServiceTable>(new ServiceTable());
  t->node_ = node;
  t->node_ip_be_ = hton32(node.node_ip);
  t->generation_ = g_generation.fetch_add(1) + 1;

  struct PendingFe {
    uint64_t key;
    Frontend fe;
    std::string what;
  };
  std::vector<PendingFe> fes;
  std::vector<std::pair<uint32_t, AddressKind>> addrs;
  if (node.node_ip) addrs.push_back({t->node_ip_be_, AddressKind::kNodeIp});

  t->services_.reserve(services.size());
  for (const ServiceSpec& s : services) {
    if (s.proto != proto::kTcp && s.proto != proto::kUdp)
      return fail("service " + s.name + ": protocol must be TCP or UDP");
    if (!is_prime(s.maglev_size))
      return fail("service " + s.name + ": maglev table size must be prime");
    if (s.backends.size() >= kMaglevEmpty) return fail("service " + s.name + ": too many backends");
    uint32_t si = static_cast<uint32_t>(t->services_.size());
    Service svc{s.id,
                s.name,
                s.proto,
                s.affinity_client_ip,
                s.external_policy,
                s.internal_policy,
                s.affinity_timeout_ns,
                static_cast<uint32_t>(t->backends_.size()),
                static_cast<uint32_t>(s.backends.size()),
                {},
                {},
                {},
                {}};

    bool any_ready = false;
    for (const BackendSpec& b : s.backends) any_ready |= b.ready;
    std::vector<MaglevBackend> cluster, local;
    for (const BackendSpec& b : s.backends) {
      uint32_t gi = static_cast<uint32_t>(t->backends_.size());
      uint64_t deadline = b.terminating ? b.terminating_since_ns + s.drain_timeout_ns : 0;
      if (b.terminating && deadline == 0) deadline = 1;  // terminating at time 0: already due
      t->backends_.push_back(
          {hton32(b.ip), hton16(b.port), b.local, b.terminating, deadline, si, FlowGauges::kNone});
      bool candidate = any_ready ? b.ready : (b.serving && b.terminating);
      if (!candidate || b.weight == 0) continue;
      svc.cluster_candidates.push_back(gi);
      cluster.push_back({backend_key(b), b.weight});
      if (b.local) {
        svc.local_candidates.push_back(gi);
        local.push_back({backend_key(b), b.weight});
      }
    }
    svc.cluster_table = MaglevTable::build(cluster, s.maglev_size);
    if (s.external_policy == TrafficPolicy::kLocal || s.internal_policy == TrafficPolicy::kLocal)
      svc.local_table = MaglevTable::build(local, s.maglev_size);
    t->services_.push_back(std::move(svc));

    auto add_fe = [&](uint32_t ip, uint16_t port, FrontendKind kind, const char* what) {
      fes.push_back({frontend_key(hton32(ip), hton16(port), s.proto),
                     {si, kind},
                     s.name + " " + what + " " + ip_str(ip) + ":" + std::to_string(port)});
    };
    if (s.cluster_ip && s.port) {
      add_fe(s.cluster_ip, s.port, FrontendKind::kClusterIp, "ClusterIP");
      addrs.push_back({hton32(s.cluster_ip), AddressKind::kVip});
    }
    if (s.node_port && node.node_ip)
      add_fe(node.node_ip, s.node_port, FrontendKind::kNodePort, "NodePort");
    for (uint32_t ip : s.load_balancer_ips) {
      if (!s.port) break;
      add_fe(ip, s.port, FrontendKind::kLoadBalancer, "LoadBalancer");
      addrs.push_back({hton32(ip), AddressKind::kVip});
    }
  }

  // Open addressing at load factor <= 1/2, so misses stop after a probe or two.
  size_t fe_size = std::bit_ceil(std::max<size_t>(16, fes.size() * 2));
  t->frontends_.resize(fe_size);
  t->fe_mask_ = static_cast<uint32_t>(fe_size - 1);
  for (const PendingFe& f : fes) {
    for (uint32_t i = static_cast<uint32_t>(mix64(f.key)) & t->fe_mask_;;
         i = (i + 1) & t->fe_mask_) {
      FeSlot& slot = t->frontends_[i];
      if (slot.key == f.key) {  // the first frontend with this key is the one in the slot
        auto first = std::find_if(fes.begin(), fes.end(),
                                  [&](const PendingFe& o) { return o.key == f.key; });
        return fail(f.what + " conflicts with " + first->what);
      }
      if (slot.key == 0) {
        slot = {f.key, f.fe};
        break;
      }
    }
  }

  size_t addr_size = std::bit_ceil(std::max<size_t>(16, addrs.size() * 2));
  t->addresses_.resize(addr_size);
  t->addr_mask_ = static_cast<uint32_t>(addr_size - 1);
  for (auto [ip, kind] : addrs) {
    for (uint32_t i = static_cast<uint32_t>(mix64(ip)) & t->addr_mask_;;
         i = (i + 1) & t->addr_mask_) {
      AddrSlot& slot = t->addresses_[i];
      if (slot.kind != AddressKind::kNone && slot.ip == ip) {
        // A VIP that is also the node address: the node keeps its non-service traffic.
        if (kind == AddressKind::kNodeIp) slot.kind = kind;
        break;
      }
      if (slot.kind == AddressKind::kNone) {
        slot = {ip, kind};
        break;
      }
    }
  }

  if (!gauges)
    gauges = std::make_shared<FlowGauges>(
        node.lcores, static_cast<uint32_t>(std::max<size_t>(1, t->backends_.size())));
  for (Backend& b : t->backends_)
    b.gauge = gauges->acquire(t->services_[b.service].name, b.ip, b.port);
  t->gauges_ = std::move(gauges);
  t->svc_row_ = static_cast<uint32_t>(t->services_.size());
  t->be_row_ = static_cast<uint32_t>(t->backends_.size());
  t->svc_counters_ = std::make_unique<TrafficCounters[]>(node.lcores * t->svc_row_);
  t->be_counters_ = std::make_unique<TrafficCounters[]>(node.lcores * t->be_row_);
  return t;
}

FlowGauges::FlowGauges(unsigned lcores, uint32_t capacity)
    : lcores_(lcores),
      capacity_(capacity),
      counts_(std::make_unique<Counter[]>(size_t{lcores} * capacity)),
      keys_(capacity, nullptr) {
  free_.reserve(capacity);
  for (uint32_t i = capacity; i-- > 0;) free_.push_back(i);  // low ids first
}

uint32_t FlowGauges::acquire(const std::string& service, uint32_t ip, uint16_t port) {
  std::lock_guard lock(mu_);
  Key k{service, ip, port};
  auto it = ids_.find(k);
  if (it != ids_.end()) return it->second;
  if (free_.empty()) return kNone;
  uint32_t id = free_.back();
  free_.pop_back();
  it = ids_.emplace(std::move(k), id).first;
  keys_[id] = &it->first;
  return id;
}

int64_t FlowGauges::active(uint32_t id) const {
  if (id >= capacity_) return 0;
  uint64_t n = 0;
  for (unsigned l = 0; l < lcores_; ++l) n += counts_[size_t{l} * capacity_ + id].get();
  return static_cast<int64_t>(n);
}

void FlowGauges::release_idle(const std::vector<uint32_t>& current) {
  std::lock_guard lock(mu_);
  std::vector<bool> keep(capacity_, false);
  for (uint32_t id : current)
    if (id < capacity_) keep[id] = true;
  for (auto it = ids_.begin(); it != ids_.end();) {
    uint32_t id = it->second;
    if (keep[id] || active(id) != 0) {
      ++it;
      continue;
    }
    keys_[id] = nullptr;
    free_.push_back(id);
    it = ids_.erase(it);
  }
}

std::vector<FlowGauges::Entry> FlowGauges::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<Entry> out;
  out.reserve(ids_.size());
  for (const auto& [k, id] : ids_) out.push_back({k.service, k.ip, k.port, active(id)});
  return out;
}

bool ServiceTable::eligible(const Service& svc, bool local_only, uint32_t backend) const {
  const auto& c = local_only ? svc.local_candidates : svc.cluster_candidates;
  for (uint32_t b : c)
    if (b == backend) return true;
  return false;
}

int64_t ServiceTable::find_backend(uint32_t service, uint32_t ip, uint16_t port) const {
  const Service& s = services_[service];
  for (uint32_t i = s.first_backend; i < s.first_backend + s.n_backends; ++i)
    if (backends_[i].ip == ip && backends_[i].port == port) return i;
  return -1;
}

std::pair<uint16_t, uint16_t> ServiceTable::snat_range(unsigned lcore) const {
  uint32_t span = (uint32_t{node_.snat_port_max} - node_.snat_port_min + 1) / node_.lcores;
  uint32_t lo = node_.snat_port_min + lcore * span;
  uint32_t hi = lcore + 1 == node_.lcores ? node_.snat_port_max : lo + span - 1;
  return {static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
}

unsigned ServiceTable::snat_owner(uint16_t port_host) const {
  uint32_t span = (uint32_t{node_.snat_port_max} - node_.snat_port_min + 1) / node_.lcores;
  if (port_host < node_.snat_port_min || port_host > node_.snat_port_max) return 0;
  return std::min<unsigned>((port_host - node_.snat_port_min) / span, node_.lcores - 1);
}

}  // namespace k8c::dp
