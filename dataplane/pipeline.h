// The per-packet pipeline: parse, conntrack, service lookup, Maglev pick, NAT, ARP/ICMP
// answers. Plain functions over a PacketView, so tests and the fuzzer run it without an EAL;
// the DPDK loop (eal_runtime.cpp) drives it like this, two bursts behind the NIC (see
// BurstQueue below):
//
//   LcoreContext ctx(opts);                  // per lcore, allocated before the loop starts
//   BurstQueue q;
//   rcu.online(lcore);
//   for (;;) {
//     n = rte_eth_rx_burst(port, queue, mbufs[q.free_slot()], 32);
//     for (i < n) q.views(slot)[i] = {rte_pktmbuf_mtod(..), data_len, data_len + tailroom};
//     if (n) q.push(n);
//     if (q.held() == BurstQueue::kDepth || (!n && q.held())) {
//       ctx.table = rcu.current();
//       q.pop(verdicts, rte_rdtsc() scaled to ns, ctx);  // the oldest burst
//       ... tx_burst the kForward/kReply mbufs, hand kPassToKernel to the exception path,
//           free kDrop ...
//     }
//     maintain(now, ctx);                    // bounded conntrack aging
//     rcu.quiescent(lcore);                  // ctx.table is not used past this point
//   }
//
// On this path there are no exceptions, no allocation, no locks and no system calls.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/affinity.h"
#include "dataplane/conntrack.h"
#include "dataplane/neighbour.h"
#include "dataplane/packet.h"
#include "dataplane/service_table.h"

namespace k8c::dp {

struct LcoreStats {
  Counter rx_packets, rx_bytes;
  Counter forwarded, replied, passed, new_flows;
  Counter dropped[kDropReasonCount];

  uint64_t drops(DropReason r) const { return dropped[static_cast<size_t>(r)].get(); }
  uint64_t total_drops() const {
    uint64_t n = 0;
    for (const Counter& c : dropped) n += c.get();
    return n;
  }
};

struct LcoreOptions {
  unsigned id = 0;  // 0 .. NodeConfig::lcores-1: selects the SNAT port range and counter row
  uint32_t flow_capacity = 1 << 16;
  uint32_t affinity_capacity = 1 << 14;
  uint32_t expire_budget = 64;  // most flow slots aged per maintain() call
  Timeouts timeouts{};
};

// Everything one lcore owns. Nothing in here is shared with another lcore.
struct LcoreContext {
  explicit LcoreContext(const LcoreOptions& o)
      : options(o), conntrack(o.flow_capacity, o.timeouts), affinity(o.affinity_capacity) {
    // A flow's end, however it comes, is counted off its gauge (ServiceTable::gauges()).
    conntrack.set_erase_hook(&LcoreContext::flow_ended, this);
  }
  LcoreContext(const LcoreContext&) = delete;  // the erase hook points here
  LcoreContext& operator=(const LcoreContext&) = delete;

  LcoreOptions options;
  Conntrack conntrack;
  AffinityTable affinity;
  LcoreStats stats;
  const ServiceTable* table = nullptr;  // set by the loop from Rcu::current() each iteration
  // Next hops, set like `table`. Null: every frame goes to NodeConfig::gateway_mac (tests,
  // benchmarks, and a port behind a single router).
  const NeighbourTable* neighbours = nullptr;
  // Where gleaned MACs and unresolved next hops are reported; null: nowhere.
  NeighbourEvents* neighbour_events = nullptr;
  uint32_t snat_cursor = 0;  // next SNAT port to try, offset into this lcore's range
  // The gauges of the tables this lcore opens flows under (ServiceTable::gauges()), kept here
  // so that flows ending while no table is set (aging between bursts) are still counted.
  std::shared_ptr<FlowGauges> gauges;

 private:
  static void flow_ended(void* self, const Flow& f) {
    auto* c = static_cast<LcoreContext*>(self);
    if (c->gauges) c->gauges->closed(c->options.id, f.gauge);
  }
};

// Processes one frame in place. now_ns is a monotonic clock in nanoseconds.
Verdict process(PacketView pkt, uint64_t now_ns, LcoreContext& ctx);

// A burst, in l3fwd's style: a first pass hashes each frame's tuple and prefetches its
// conntrack index slot; then each frame is processed while the flow named by the slot of a
// frame a few places ahead is prefetched, so the cache misses of a burst overlap (what keeps a
// million-flow table fast). The hashes are reused by the lookups.
void process_burst(const PacketView* pkts, Verdict* out, uint16_t n, uint64_t now_ns,
                   LcoreContext& ctx);

// Software pipelining across bursts, for a loop that holds received bursts back (as VPP's and
// l3fwd's loops do): a frame's two dependent misses (its conntrack index slot, then its flow)
// are each requested while a whole earlier burst is processed. While burst k runs, frame i of
// burst k+2 has its slot requested and frame i of burst k+1 its flow (whose slot arrived during
// burst k-1), so each miss has a burst's worth of work to arrive in, and the requests are spread
// evenly instead of 32 at once. BurstQueue below holds the bursts; a held burst is processed as
// soon as a poll returns nothing, so no frame waits for traffic that may never come, and frames
// keep their order.
inline constexpr uint16_t kMaxStagedBurst = 64;
struct BurstStage {
  uint16_t n = 0;
  bool slots_requested = false;  // its index slots were prefetched while an earlier burst ran
  bool flows_requested = false;  // and then its flows
  bool known[kMaxStagedBurst];
  uint64_t hash[kMaxStagedBurst];
};
// Stage one: hashes each frame's tuple (common frame shapes only) and prefetches its first
// bytes. n <= kMaxStagedBurst (more are not staged: s.n is clamped).
void stage_burst(const PacketView* pkts, uint16_t n, BurstStage& s);
// Stage two: processes the staged burst `s` (s.n frames of pkts) while requesting the flows of
// `next` and the index slots of `after` (either may be null; both staged, not yet processed).
// What no earlier burst requested for `s` is requested here, a few frames ahead. The hashes
// only steer prefetches and lookups; a table published between the stages changes nothing.
void process_staged(const PacketView* pkts, Verdict* out, uint64_t now_ns, LcoreContext& ctx,
                    const BurstStage& s, BurstStage* next, BurstStage* after);

// The bursts a poll loop holds: up to kDepth received and staged but not processed. Slots are
// reused round-robin; a caller keeps its own per-slot data (its mbufs) beside them.
//
//   if (q.held() < BurstQueue::kDepth) {          // always, once pop() ran
//     unsigned s = q.free_slot();
//     n = receive into q.views(s) ...;
//     if (n) q.push(n);
//   }
//   if (q.held() == BurstQueue::kDepth || (n == 0 && q.held() > 0)) {
//     unsigned s = q.oldest();  uint16_t m = q.pop(verdicts, now, ctx);  ... verdicts of slot s
//   }
class BurstQueue {
 public:
  static constexpr unsigned kDepth = 3;
  unsigned held() const { return held_; }
  unsigned oldest() const { return first_; }
  unsigned free_slot() const { return (first_ + held_) % kDepth; }  // valid while held() < kDepth
  PacketView* views(unsigned slot) { return views_[slot]; }
  // Stages the n frames just written to views(free_slot()).
  void push(uint16_t n) {
    stage_burst(views_[free_slot()], n, stages_[free_slot()]);
    ++held_;
  }
  // Processes the oldest burst into out (its frame count is returned) and frees its slot.
  uint16_t pop(Verdict* out, uint64_t now_ns, LcoreContext& ctx);

 private:
  PacketView views_[kDepth][kMaxStagedBurst];
  BurstStage stages_[kDepth];
  unsigned first_ = 0, held_ = 0;
};

// Off-packet work for one loop iteration, busy or idle: ages the slice of the flow table the
// clock has made due (Conntrack::age).
inline void maintain(uint64_t now_ns, LcoreContext& ctx) {
  ctx.conntrack.age(now_ns, ctx.options.expire_budget);
}

// The exception path's other direction. A node routes the service CIDR into the tap, so what
// the kernel sends there may be for a Service: an ARP request for a VIP (answered, back into the
// tap), or IPv4 to a VIP (through the pipeline with PacketView::from_kernel set, out of the port
// like any client's; its flow remembers, and the backend's answers go back into the tap). True
// for those; the rest of the kernel's frames leave by the port untouched.
bool kernel_frame_for_services(const PacketView& pkt, const ServiceTable& t);

// Builds a gratuitous ARP (a request for `ip` from `ip`, broadcast), sent when this node takes
// over a LoadBalancer IP so that neighbours update their caches. Returns the frame length
// (60, padded to the Ethernet minimum) or 0 if cap is too small. ip is in host order.
uint16_t build_gratuitous_arp(uint8_t* buf, uint16_t cap, const Mac& mac, uint32_t ip);

}  // namespace k8c::dp
