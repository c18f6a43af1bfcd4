// Pipeline throughput on one core, without NIC or EAL: 64-byte frames, 32 at a time, as an
// lcore would see them after rte_eth_rx_burst, driven as the poll loop drives them: each burst
// is staged and processed two bursts later (pipeline.h, BurstQueue).
//
// Frames arrive as a NIC hands them: written ("DMA'd") into the next buffers of a small pool
// of mbuf-sized buffers that is recycled round-robin, as an RX ring refilled from a mempool is.
// The writer copies one 64-byte template and patches the flow's source address and port (with
// their checksums); that write is included in the figures, as a stand-in for the RX descriptor
// work the bench does not have. Flows come in a random permutation of all of them, repeated:
// every flow is equally frequent and no two nearby packets share one (a cold table, the worst
// case for a million flows).
// Reported: packets/s and ns per packet, both over this thread's CPU time (the figures stay
// meaningful on a shared machine), and CPU cycles per packet at the measured TSC rate.
#include <benchmark/benchmark.h>
#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "bench/dataplane_bench_frames.h"

namespace {

using namespace k8c::dp;
using namespace k8c::dp::fixtures;

using namespace k8c::dp::bench;

constexpr uint16_t kBurst = 32;

// The receive side: a pool of buffers, a frame template, and the order flows arrive in.
class Rx {
 public:
  static constexpr size_t kPool = 1024;  // buffers: an RX ring's worth
  // An mbuf mempool element, as rte_pktmbuf_pool_create lays it out with the default data room:
  // a 64-byte object header, the 128-byte rte_mbuf, 128 bytes of headroom and 2048 of data,
  // 37 cache lines. (A power-of-two stride would alias every frame into the same few L1 sets,
  // which no DPDK pool does: it pads elements to an odd number of lines for that reason.)
  static constexpr size_t kStride = 2368;

  Rx(uint8_t flags, uint32_t dst, uint16_t dport, std::vector<uint32_t> order)
      : pool_(new (std::align_val_t{64}) uint8_t[kPool * kStride]),
        order_(std::move(order)),
        writer_(flags, dst, dport) {}
  ~Rx() { ::operator delete[](pool_, std::align_val_t{64}); }

  size_t flows() const { return order_.size(); }

  // Receives the next burst and, once the queue is full, processes the oldest, as the poll loop
  // in eal_runtime.cpp does under load (pipeline.h: BurstQueue).
  void run_burst(uint64_t now, LcoreContext& ctx) {
    PacketView* views = q_.views(q_.free_slot());
    for (uint16_t i = 0; i < kBurst; ++i) {
      uint8_t* b = pool_ + buf_ * kStride;
      buf_ = buf_ + 1 == kPool ? 0 : buf_ + 1;
      uint32_t flow = order_[next_];
      next_ = next_ + 1 == order_.size() ? 0 : next_ + 1;
      writer_.write(b, flow);
      views[i] = {b, kFrameLen, kFrameLen};
    }
    q_.push(kBurst);
    if (q_.held() == BurstQueue::kDepth) q_.pop(verdicts_, now, ctx);
  }
  // What the loop does when polls return nothing: the held bursts are processed.
  void flush(uint64_t now, LcoreContext& ctx) {
    while (q_.held()) q_.pop(verdicts_, now, ctx);
  }

 private:
  uint8_t* pool_;
  size_t buf_ = 0;
  std::vector<uint32_t> order_;
  size_t next_ = 0;
  FrameWriter writer_;
  BurstQueue q_;
  Verdict verdicts_[kBurst];
};

std::vector<uint32_t> sequence(uint32_t n) {
  std::vector<uint32_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

double tsc_ghz() {
  static const double ghz = [] {
    timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t t0 = __rdtsc();
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 20e6);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    return double(__rdtsc() - t0) / ns;
  }();
  return ghz;
}

double thread_cpu_ns() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

void report(benchmark::State& state, uint64_t packets, double cpu_ns) {
  double n = double(packets ? packets : 1);
  state.counters["pkts"] = benchmark::Counter(double(packets), benchmark::Counter::kIsRate);
  state.counters["ns/pkt"] = cpu_ns / n;
  state.counters["cycles/pkt"] = cpu_ns / n * tsc_ghz();
}

// Established flows: every frame hits conntrack and is rewritten with precomputed deltas.
// The second argument adds next hops from a neighbour table (the backends on-link, the clients
// behind the gateway), as `k8c dataplane` runs; 0 sends everything to one gateway MAC.
void BM_EstablishedForwarding(benchmark::State& state) {
  uint32_t flows = static_cast<uint32_t>(state.range(0));
  bool neighbours = state.range(1) != 0;
  auto table = make_table(16);
  LcoreOptions o;
  o.flow_capacity = flows + flows / 4;
  auto ctx = std::make_unique<LcoreContext>(o);
  ctx->table = table.get();
  std::vector<NeighbourTable::Entry> backends;
  for (uint32_t i = 1; i <= 16; ++i)
    backends.push_back({hton32(ipv4(10, 1, 0, 0) + i), Mac{0x02, 0, 0, 0, 1, uint8_t(i)}});
  auto nt =
      NeighbourTable::build(hton32(ipv4(10, 1, 0, 0)), hton32(0xffff0000), &kGatewayMac, backends);
  if (neighbours) ctx->neighbours = nt.get();

  // Connections open in one random order and send in another: where a flow sits in the table
  // says nothing about when its next packet comes (packets in setup order would walk the flow
  // array sequentially, which the hardware prefetcher hides: not what a NIC delivers).
  std::vector<uint32_t> order = sequence(flows);
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  for (uint32_t i : order) {
    Frame syn = client_frame(i, tcp_flag::kSyn, kVip, 80);
    if (process(view(syn), 0, *ctx).action != Action::kForward) {
      state.SkipWithError("flow setup failed");
      return;
    }
  }
  std::shuffle(order.begin(), order.end(), std::mt19937(7));  // no locality between packets
  Rx rx(tcp_flag::kAck, kVip, 80, std::move(order));
  uint64_t packets = 0;
  double t0 = thread_cpu_ns();
  for (auto _ : state) {
    rx.run_burst(1, *ctx);
    packets += kBurst;
  }
  rx.flush(1, *ctx);
  double cpu = thread_cpu_ns() - t0;
  if (ctx->stats.forwarded.get() != uint64_t{flows} + packets)
    state.SkipWithError("a packet was not forwarded");
  report(state, packets, cpu);
  state.SetLabel(std::to_string(flows) + " flows" + (neighbours ? ", neighbour table" : ""));
}
BENCHMARK(BM_EstablishedForwarding)
    ->Args({1000, 0})
    ->Args({1000, 1})
    ->Args({1000000, 0})
    ->Args({1000000, 1});

// New flows: every frame is a SYN of a connection never seen, so each costs a Maglev pick,
// a conntrack insert of both tuples and the NAT setup (plus SNAT port choice for NodePort).
void BM_NewFlows(benchmark::State& state) {
  bool nodeport = state.range(0) != 0;
  constexpr uint32_t kFlows = 1 << 20;
  auto table = make_table(100);
  LcoreOptions o;
  o.flow_capacity = kFlows;
  Rx rx(tcp_flag::kSyn, nodeport ? kNodeIp : kVip, nodeport ? 30080 : 80, sequence(kFlows));
  auto ctx = std::make_unique<LcoreContext>(o);
  ctx->table = table.get();
  size_t next = 0;
  uint64_t packets = 0, drops = 0;
  double cpu = 0, t0 = thread_cpu_ns();
  for (auto _ : state) {
    if (next + kBurst > kFlows) {  // every tuple used: start over with an empty table
      rx.flush(1, *ctx);           // the held burst, last of this table's tuples
      state.PauseTiming();
      cpu += thread_cpu_ns() - t0;
      drops += ctx->stats.total_drops();
      ctx = std::make_unique<LcoreContext>(o);
      ctx->table = table.get();
      next = 0;
      t0 = thread_cpu_ns();
      state.ResumeTiming();
    }
    rx.run_burst(1, *ctx);
    next += kBurst;
    packets += kBurst;
  }
  rx.flush(1, *ctx);
  cpu += thread_cpu_ns() - t0;
  if (drops + ctx->stats.total_drops() != 0) state.SkipWithError("a new flow was dropped");
  report(state, packets, cpu);
  state.SetLabel(nodeport ? "NodePort, SNAT" : "ClusterIP, DNAT");
}
BENCHMARK(BM_NewFlows)->Arg(0)->Arg(1);

// The cheapest verdict: frames that are not ours, to bound the per-packet floor.
void BM_PassToKernel(benchmark::State& state) {
  auto table = make_table(16);
  LcoreContext ctx(LcoreOptions{});
  ctx.table = table.get();
  Rx rx(tcp_flag::kAck, ipv4(10, 200, 0, 1), 22, sequence(1024));
  uint64_t packets = 0;
  double t0 = thread_cpu_ns();
  for (auto _ : state) {
    rx.run_burst(1, ctx);
    packets += kBurst;
  }
  report(state, packets, thread_cpu_ns() - t0);
}
BENCHMARK(BM_PassToKernel);

}  // namespace

BENCHMARK_MAIN();
