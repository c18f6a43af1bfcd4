// The control side of `k8c dataplane`, off the lcores: turns each view of the cluster into a
// service table and publishes it, keeps the neighbour table current (gleaned MACs, ARP requests
// for the addresses it lacks), announces LoadBalancer IPs it takes over, and renders /metrics.
//
// It touches the lcores only through what they already share: the two Rcu<> cells, the
// neighbour rings and the per-lcore counters. So it runs, and is tested, without an EAL: the
// runtime hands it those through ControllerHooks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/eal_runtime.h"
#include "dataplane/neighbour.h"
#include "dataplane/rcu.h"
#include "dataplane/service_table.h"
#include "dataplane/sync.h"

namespace k8c::dp {

struct ControllerOptions {
  TranslateOptions translate;
  unsigned node_prefix_len = 0;  // with the node IP, which addresses are on-link; 0: unknown
  uint32_t gateway_ip = 0;       // host order; 0: none (everything is on-link)
  std::vector<NeighbourTable::Entry> static_neighbours;  // network order; override learned ones
  bool own_node_ip = true;                               // see NodeConfig::own_node_ip
  std::chrono::milliseconds arp_retry{1000};
};

struct ControllerHooks {
  Rcu<ServiceTable>* tables = nullptr;
  Rcu<NeighbourTable>* neighbours = nullptr;
  NodeConfig node;  // the port's part (MAC, tx port, lcores); addresses are filled in here
  std::function<uint64_t()> now_ns;
  std::function<bool(NeighbourEvent*)> poll_event;  // may be empty
  std::function<bool(const ControlFrame&)> send;    // may be empty
  std::function<std::vector<LcoreLive>()> lcores;   // may be empty
  uint64_t tsc_hz = 1;
};

class Controller {
 public:
  Controller(ControllerOptions options, ControllerHooks hooks);
  ~Controller();  // stops
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Translates and publishes. view = {Services, EndpointSlices, Nodes}. Returns false when the
  // table could not be built (the previous one stays); problems are logged either way.
  bool rebuild(std::span<const ObjectRef> services, std::span<const ObjectRef> slices,
               std::span<const ObjectRef> nodes);

  // One round of neighbour upkeep: drain the lcores' events, publish news, ask for what is
  // missing. start() runs it every `period` on a thread of its own.
  void neighbour_round();
  void start(std::chrono::milliseconds period = std::chrono::milliseconds(20));
  void stop();

  // Prometheus text exposition of everything the data plane counts.
  std::string render_metrics();

  uint64_t builds() const;
  std::vector<std::string> problems() const;
  uint32_t node_ip() const;  // host order

 private:
  struct Totals {
    uint64_t packets = 0, bytes = 0, flows = 0;
  };
  void publish_neighbours_locked();
  void fold(const ServiceTable& t);  // a retired table's counters into the totals

  ControllerOptions opts_;
  ControllerHooks hooks_;
  Translator translator_;

  mutable std::mutex mu_;  // the tables' publish/reclaim, totals, and everything below
  uint32_t node_ip_ = 0;
  uint64_t builds_ = 0, build_failures_ = 0;
  std::vector<std::string> problems_;
  std::map<std::string, Totals> svc_totals_;
  std::map<std::pair<std::string, std::string>, Totals> be_totals_;
  std::set<uint32_t> backend_ips_;  // network order: resolved ahead of their first flow
  // Active flows per (service, backend), shared by every table this controller builds.
  std::shared_ptr<FlowGauges> gauges_;

  std::map<uint32_t, Mac> learned_;         // network order
  std::map<uint32_t, uint64_t> requested_;  // target -> when last asked (ns)
  std::map<uint32_t, uint64_t> missed_;     // address -> when an lcore last missed it (ns)
  bool neighbours_dirty_ = true;
  uint64_t arp_requests_ = 0, garps_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> last_cycles_;  // per lcore: busy, total at last scrape

  std::thread thread_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool kick_ = false;
};

}  // namespace k8c::dp
