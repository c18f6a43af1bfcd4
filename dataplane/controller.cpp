#include "dataplane/controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/metrics.h"
#include "dataplane/pipeline.h"

namespace k8c::dp {

namespace {

std::string ip_str(uint32_t host) {
  return std::to_string(host >> 24) + "." + std::to_string((host >> 16) & 0xff) + "." +
         std::to_string((host >> 8) & 0xff) + "." + std::to_string(host & 0xff);
}

// ip and port in network order.
std::string backend_label(uint32_t ip, uint16_t port) {
  return ip_str(bswap32(ip)) + ":" + std::to_string(bswap16(port));
}
std::string backend_label(const ServiceTable::Backend& b) {
  return backend_label(b.ip, b.port);
}

// Distinct (service, backend) keys a controller can count active flows for: far more than a
// node serves (the gauges cost 8 bytes per key and lcore).
constexpr uint32_t kFlowGaugeCapacity = 1 << 16;

uint32_t prefix_mask(unsigned len) {
  return len == 0 ? 0 : len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1);
}

}  // namespace

Controller::Controller(ControllerOptions options, ControllerHooks hooks)
    : opts_(std::move(options)),
      hooks_(std::move(hooks)),
      translator_(opts_.translate),
      gauges_(std::make_shared<FlowGauges>(std::max(1u, hooks_.node.lcores), kFlowGaugeCapacity)) {
  node_ip_ = opts_.translate.node_ip;
  // A retired table's counters are final once no lcore can hold it: fold them into the totals
  // so that /metrics counters never go backwards across rebuilds. reclaim() runs under mu_.
  hooks_.tables->set_retire_hook([this](const ServiceTable& t) { fold(t); });
  std::lock_guard lock(mu_);
  publish_neighbours_locked();
}

Controller::~Controller() {
  stop();
  hooks_.tables->set_retire_hook({});
}

void Controller::fold(const ServiceTable& t) {
  unsigned rows = t.node().lcores;
  for (uint32_t s = 0; s < t.service_count(); ++s) {
    Totals& tot = svc_totals_[t.service(s).name];
    for (unsigned l = 0; l < rows; ++l) {
      const TrafficCounters& c = t.service_counters(l, s);
      tot.packets += c.packets.get();
      tot.bytes += c.bytes.get();
      tot.flows += c.flows.get();
    }
  }
  for (uint32_t b = 0; b < t.backend_count(); ++b) {
    const auto& be = t.backend(b);
    Totals& tot = be_totals_[{t.service(be.service).name, backend_label(be)}];
    for (unsigned l = 0; l < rows; ++l) {
      const TrafficCounters& c = t.backend_counters(l, b);
      tot.packets += c.packets.get();
      tot.bytes += c.bytes.get();
      tot.flows += c.flows.get();
    }
  }
}

bool Controller::rebuild(std::span<const ObjectRef> services, std::span<const ObjectRef> slices,
                         std::span<const ObjectRef> nodes) {
  uint64_t now = hooks_.now_ns ? hooks_.now_ns() : 0;
  std::lock_guard lock(mu_);
  Translation tr = translator_.translate(services, slices, nodes, now);
  if (tr.problems != problems_) {
    for (const auto& p : tr.problems) spdlog::warn("dataplane sync: skipped: {}", p);
    problems_ = tr.problems;
  }
  NodeConfig node = hooks_.node;
  node.node_ip = tr.node_ip;
  node.own_node_ip = opts_.own_node_ip;
  std::string err;
  auto table = ServiceTable::build(node, tr.services, &err, gauges_);
  if (!table) {
    ++build_failures_;
    spdlog::error("dataplane sync: service table not rebuilt, the previous one stays: {}", err);
    return false;
  }

  // LoadBalancer IPs this node did not announce before: a gratuitous ARP for each, so that
  // neighbours (and a previous owner's cache entries) point at us at once.
  std::set<uint32_t> after;
  const ServiceTable* old = hooks_.tables->current();
  for (const auto& s : tr.services)
    for (uint32_t ip : s.load_balancer_ips) after.insert(ip);
  std::set<uint32_t> announced;
  if (old) {
    // The old table's LB IPs are not kept by name; compare frontends instead.
    for (uint32_t ip : after) {
      bool known = false;
      for (const auto& s : tr.services) {
        if (std::find(s.load_balancer_ips.begin(), s.load_balancer_ips.end(), ip) ==
            s.load_balancer_ips.end())
          continue;
        const auto* fe = old->lookup(hton32(ip), hton16(s.port), s.proto);
        known = known || (fe && fe->kind == FrontendKind::kLoadBalancer);
      }
      if (!known) announced.insert(ip);
    }
  } else {
    announced = after;
  }

  std::set<uint32_t> backends;
  for (const auto& s : tr.services)
    for (const auto& b : s.backends) backends.insert(hton32(b.ip));
  backend_ips_ = std::move(backends);
  if (node_ip_ != tr.node_ip) {
    node_ip_ = tr.node_ip;
    neighbours_dirty_ = true;
  }

  size_t nservices = table->service_count(), nbackends = table->backend_count();
  std::vector<uint32_t> gauges;
  for (uint32_t b = 0; b < nbackends; ++b) gauges.push_back(table->backend(b).gauge);
  hooks_.tables->publish(std::move(table));
  hooks_.tables->synchronize();  // lcores pass a quiescent point within a loop iteration
  // No lcore holds an older table now, so only flows already open count against the gauges of
  // backends that left: free those that reached zero.
  gauges_->release_idle(gauges);
  ++builds_;
  spdlog::info("dataplane sync: published service table {} ({} service ports, {} backends{})",
               builds_, nservices, nbackends,
               tr.problems.empty() ? "" : ", " + std::to_string(tr.problems.size()) + " skipped");

  if (hooks_.send) {
    for (uint32_t ip : announced) {
      ControlFrame f{};
      f.len = build_gratuitous_arp(f.data, sizeof f.data, hooks_.node.mac, ip);
      if (f.len && hooks_.send(f)) ++garps_;
    }
  }
  if (neighbours_dirty_) publish_neighbours_locked();
  // New backends want resolving now, not at the next tick: that is most of what a restart
  // waits for after its first table.
  kick_ = true;
  cv_.notify_all();
  return true;
}

void Controller::publish_neighbours_locked() {
  std::vector<NeighbourTable::Entry> entries;
  for (const auto& [ip, mac] : learned_) entries.push_back({ip, mac});
  for (const auto& e : opts_.static_neighbours) entries.push_back(e);  // later entries win
  const Mac* gw = nullptr;
  Mac gw_mac{};
  if (opts_.gateway_ip) {
    uint32_t g = hton32(opts_.gateway_ip);
    for (const auto& e : entries)
      if (e.ip == g) {
        gw_mac = e.mac;
        gw = &gw_mac;
      }
  }
  uint32_t mask = node_ip_ ? prefix_mask(opts_.node_prefix_len) : 0;
  hooks_.neighbours->publish(
      NeighbourTable::build(hton32(node_ip_ & mask), hton32(mask), gw, entries));
  hooks_.neighbours->synchronize();
  neighbours_dirty_ = false;
}

void Controller::neighbour_round() {
  uint64_t now = hooks_.now_ns ? hooks_.now_ns() : 0;
  std::lock_guard lock(mu_);
  NeighbourEvent ev;
  while (hooks_.poll_event && hooks_.poll_event(&ev)) {
    if (ev.kind == NeighbourEvent::kLearned) {
      auto it = learned_.find(ev.ip);
      if (it == learned_.end() || it->second != ev.mac) {
        if (learned_.size() >= 65536 && it == learned_.end()) continue;  // a bound, not a cache
        learned_[ev.ip] = ev.mac;
        requested_.erase(ev.ip);
        missed_.erase(ev.ip);
        neighbours_dirty_ = true;
      }
    } else {
      missed_[ev.ip] = now;
    }
  }
  if (neighbours_dirty_) publish_neighbours_locked();

  // Who to ask: backends ahead of their first flow, addresses an lcore missed in the last 10 s,
  // and the gateway. An off-link address needs only the gateway's MAC.
  const NeighbourTable* nt = hooks_.neighbours->current();
  std::erase_if(missed_, [&](const auto& m) { return now - m.second > 10 * kNsPerSec; });
  std::set<uint32_t> targets;
  uint32_t mask = node_ip_ ? hton32(prefix_mask(opts_.node_prefix_len)) : 0;
  uint32_t subnet = hton32(node_ip_) & mask;
  auto want = [&](uint32_t ip) {
    bool on_link = !opts_.gateway_ip || (mask && (ip & mask) == subnet);
    uint32_t target = on_link ? ip : hton32(opts_.gateway_ip);
    if (nt && nt->next_hop(target) && (on_link || nt->next_hop(ip))) return;
    targets.insert(target);
  };
  for (uint32_t ip : backend_ips_) want(ip);
  for (const auto& m : missed_) want(m.first);
  if (opts_.gateway_ip) want(hton32(opts_.gateway_ip));
  uint64_t retry = static_cast<uint64_t>(opts_.arp_retry.count()) * 1'000'000ULL;
  for (uint32_t target : targets) {
    bool has_static = std::any_of(opts_.static_neighbours.begin(), opts_.static_neighbours.end(),
                                  [&](const auto& e) { return e.ip == target; });
    if (has_static || learned_.count(target)) continue;
    auto it = requested_.find(target);
    if (it != requested_.end() && now - it->second < retry) continue;
    ControlFrame f{};
    f.len = build_arp_request(f.data, sizeof f.data, hooks_.node.mac, hton32(node_ip_), target);
    if (hooks_.send && f.len && hooks_.send(f)) {
      requested_[target] = now;
      ++arp_requests_;
      kick_ = true;  // answers take a millisecond or so: look for them soon
    }
  }
}

void Controller::start(std::chrono::milliseconds period) {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, period] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      neighbour_round();
      lock.lock();
      // A kick (new backends, requests just sent) shortens the wait to a couple of ms.
      auto wait = kick_ ? std::min(period, std::chrono::milliseconds(2)) : period;
      kick_ = false;
      cv_.wait_for(lock, wait, [&] { return stopping_ || kick_; });
    }
  });
}

void Controller::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t Controller::builds() const {
  std::lock_guard lock(mu_);
  return builds_;
}

std::vector<std::string> Controller::problems() const {
  std::lock_guard lock(mu_);
  return problems_;
}

uint32_t Controller::node_ip() const {
  std::lock_guard lock(mu_);
  return node_ip_;
}

std::string Controller::render_metrics() {
  std::lock_guard lock(mu_);  // no table is reclaimed while we read the current one
  const ServiceTable* t = hooks_.tables->current();
  std::map<std::string, Totals> svc = svc_totals_;
  std::map<std::pair<std::string, std::string>, Totals> be = be_totals_;
  std::map<std::string, std::string> protocol;
  std::set<std::string> live_services;
  std::set<std::pair<std::string, std::string>> live_backends;
  if (t) {
    unsigned rows = t->node().lcores;
    for (uint32_t s = 0; s < t->service_count(); ++s) {
      const auto& sv = t->service(s);
      Totals& tot = svc[sv.name];
      live_services.insert(sv.name);
      protocol[sv.name] = sv.proto == proto::kTcp ? "TCP" : "UDP";
      for (unsigned l = 0; l < rows; ++l) {
        const TrafficCounters& c = t->service_counters(l, s);
        tot.packets += c.packets.get();
        tot.bytes += c.bytes.get();
        tot.flows += c.flows.get();
      }
    }
    for (uint32_t b = 0; b < t->backend_count(); ++b) {
      const auto& bk = t->backend(b);
      std::pair<std::string, std::string> key{t->service(bk.service).name, backend_label(bk)};
      Totals& tot = be[key];
      live_backends.insert(key);
      for (unsigned l = 0; l < rows; ++l) {
        const TrafficCounters& c = t->backend_counters(l, b);
        tot.packets += c.packets.get();
        tot.bytes += c.bytes.get();
        tot.flows += c.flows.get();
      }
    }
  }

  metrics::TextWriter e;  // the text format common/metrics renders its registry with
  e.family("k8c_dataplane_service_packets_total", "counter",
           "Packets forwarded for a service port, both directions.");
  for (const auto& [name, tot] : svc) e.sample({{"service", name}}, double(tot.packets));
  e.family("k8c_dataplane_service_bytes_total", "counter",
           "Bytes forwarded for a service port, both directions.");
  for (const auto& [name, tot] : svc) e.sample({{"service", name}}, double(tot.bytes));
  e.family("k8c_dataplane_service_flows_total", "counter", "Flows started to a service port.");
  for (const auto& [name, tot] : svc) e.sample({{"service", name}}, double(tot.flows));
  e.family("k8c_dataplane_backend_packets_total", "counter",
           "Packets forwarded to and from a backend of a service port.");
  for (const auto& [k, tot] : be)
    e.sample({{"service", k.first}, {"backend", k.second}}, double(tot.packets));
  e.family("k8c_dataplane_backend_bytes_total", "counter",
           "Bytes forwarded to and from a backend of a service port.");
  for (const auto& [k, tot] : be)
    e.sample({{"service", k.first}, {"backend", k.second}}, double(tot.bytes));
  e.family("k8c_dataplane_backend_flows_total", "counter",
           "Flows started to a backend of a service port.");
  for (const auto& [k, tot] : be)
    e.sample({{"service", k.first}, {"backend", k.second}}, double(tot.flows));
  // Active flows: every (service, backend) shown above, plus any with flows still open that
  // has left the table (its counters folded under the same key).
  std::map<std::pair<std::string, std::string>, int64_t> be_active;
  for (const auto& [k, tot] : be) be_active[k] = 0;
  for (const auto& g : gauges_->snapshot())
    be_active[{g.service, backend_label(g.ip, g.port)}] += g.active;
  std::map<std::string, int64_t> svc_active;
  for (const auto& [name, tot] : svc) svc_active[name] = 0;
  for (const auto& [k, n] : be_active) svc_active[k.first] += n;
  e.family("k8c_dataplane_service_active_flows", "gauge",
           "Flows open to a service port, on all lcores (ended and expired flows are not).");
  for (const auto& [name, n] : svc_active) e.sample({{"service", name}}, double(n));
  e.family("k8c_dataplane_backend_active_flows", "gauge",
           "Flows open to a backend of a service port, including flows that outlive the backend's "
           "removal or drain.");
  for (const auto& [k, n] : be_active)
    e.sample({{"service", k.first}, {"backend", k.second}}, double(n));
  e.family("k8c_dataplane_backend_up", "gauge",
           "1 for backends in the current table, 0 for those gone (their counters remain).");
  for (const auto& [k, tot] : be)
    e.sample({{"service", k.first}, {"backend", k.second}}, live_backends.count(k) ? 1 : 0);

  std::vector<LcoreLive> lcores = hooks_.lcores ? hooks_.lcores() : std::vector<LcoreLive>{};
  uint64_t drops[kDropReasonCount] = {};
  for (const auto& l : lcores)
    for (size_t r = 0; r < kDropReasonCount; ++r) drops[r] += l.stats->dropped[r].get();
  e.family("k8c_dataplane_drops_total", "counter", "Frames dropped, by reason.");
  for (size_t r = 1; r < kDropReasonCount; ++r)
    e.sample({{"reason", std::string(drop_reason_name(static_cast<DropReason>(r)))}},
             double(drops[r]));

  auto per_lcore = [&](const char* name, const char* type, const char* help, auto value) {
    e.family(name, type, help);
    for (const auto& l : lcores) e.sample({{"lcore", std::to_string(l.lcore_id)}}, value(l));
  };
  per_lcore("k8c_dataplane_rx_packets_total", "counter", "Frames received.",
            [](const LcoreLive& l) { return double(l.stats->rx_packets.get()); });
  per_lcore("k8c_dataplane_rx_bytes_total", "counter", "Bytes received.",
            [](const LcoreLive& l) { return double(l.stats->rx_bytes.get()); });
  per_lcore("k8c_dataplane_forwarded_packets_total", "counter", "Frames forwarded after NAT.",
            [](const LcoreLive& l) { return double(l.stats->forwarded.get()); });
  per_lcore("k8c_dataplane_replied_packets_total", "counter", "ARP and ICMP answers sent.",
            [](const LcoreLive& l) { return double(l.stats->replied.get()); });
  per_lcore("k8c_dataplane_not_ours_packets_total", "counter",
            "Frames for the kernel, freed: there is no --kernel-port.",
            [](const LcoreLive& l) { return double(l.not_ours->get()); });
  per_lcore("k8c_dataplane_to_kernel_packets_total", "counter",
            "Frames handed to the kernel through the --kernel-port tap.",
            [](const LcoreLive& l) { return double(l.to_kernel->get()); });
  per_lcore("k8c_dataplane_from_kernel_packets_total", "counter",
            "Frames the kernel sent on the --kernel-port tap (out of the port, or through the "
            "pipeline when they are for a Service).",
            [](const LcoreLive& l) { return double(l.from_kernel->get()); });
  per_lcore("k8c_dataplane_steered_packets_total", "counter",
            "Frames handed to the lcore that owns their flow (several queues).",
            [](const LcoreLive& l) { return double(l.steered->get()); });
  per_lcore("k8c_dataplane_tx_failed_packets_total", "counter", "Frames the TX ring refused.",
            [](const LcoreLive& l) { return double(l.tx_failed->get()); });
  per_lcore("k8c_dataplane_new_flows_total", "counter", "Flows created.",
            [](const LcoreLive& l) { return double(l.stats->new_flows.get()); });
  per_lcore("k8c_dataplane_active_flows", "gauge", "Flows in the lcore's connection table.",
            [](const LcoreLive& l) { return double(l.conntrack->size()); });
  double hz = double(std::max<uint64_t>(1, hooks_.tsc_hz));
  per_lcore("k8c_dataplane_lcore_busy_seconds_total", "counter",
            "Time the polling loop spent on received bursts.",
            [&](const LcoreLive& l) { return double(l.busy_cycles->get()) / hz; });
  per_lcore("k8c_dataplane_lcore_seconds_total", "counter", "Time the polling loop has run.",
            [&](const LcoreLive& l) { return double(l.total_cycles->get()) / hz; });
  // Utilisation since the previous scrape: what `top` would show for a polling core that is
  // always at 100% CPU.
  last_cycles_.resize(lcores.size());
  e.family("k8c_dataplane_lcore_utilisation", "gauge",
           "Share of loop time spent on received bursts since the previous scrape (0..1).");
  for (size_t i = 0; i < lcores.size(); ++i) {
    uint64_t busy = lcores[i].busy_cycles->get(), total = lcores[i].total_cycles->get();
    uint64_t db = busy - last_cycles_[i].first, dt = total - last_cycles_[i].second;
    last_cycles_[i] = {busy, total};
    e.sample({{"lcore", std::to_string(lcores[i].lcore_id)}},
             dt ? std::min(1.0, double(db) / double(dt)) : 0.0);
  }

  e.family("k8c_dataplane_services", "gauge", "Service ports in the current table.");
  e.sample({}, t ? double(t->service_count()) : 0);
  e.family("k8c_dataplane_backends", "gauge", "Backends in the current table.");
  e.sample({}, t ? double(t->backend_count()) : 0);
  e.family("k8c_dataplane_table_builds_total", "counter", "Service tables published.");
  e.sample({}, double(builds_));
  e.family("k8c_dataplane_table_build_failures_total", "counter",
           "Rebuilds refused by ServiceTable::build (the previous table stayed).");
  e.sample({}, double(build_failures_));
  e.family("k8c_dataplane_sync_problems", "gauge",
           "Objects or parts of objects skipped by the last translation.");
  e.sample({}, double(problems_.size()));
  const NeighbourTable* nt = hooks_.neighbours->current();
  e.family("k8c_dataplane_neighbours", "gauge", "Entries in the neighbour table.");
  e.sample({}, nt ? double(nt->size()) : 0);
  e.family("k8c_dataplane_arp_requests_total", "counter",
           "ARP requests sent to resolve next hops.");
  e.sample({}, double(arp_requests_));
  e.family("k8c_dataplane_gratuitous_arps_total", "counter",
           "Gratuitous ARPs sent for LoadBalancer IPs taken over.");
  e.sample({}, double(garps_));
  return e.take();
}

}  // namespace k8c::dp
