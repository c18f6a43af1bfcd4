// Established-flow forwarding through a real DPDK port: the "net_ring" case. The port is
// rte_eth_from_rings over two rte_rings, so RX and TX are the PMD's real burst calls on real
// mbufs from a mempool. Something has to play the wire: take what the data plane transmitted,
// write the next client's frame into each mbuf (a random permutation of all flows, repeated, as
// dataplane_pipeline_bench does) and hand it back to RX. The data-plane lcore runs the
// production burst loop's steps: rx_burst, BurstQueue (pipeline.h), tx_burst, conntrack aging.
//
// One run measures two placements of the wire, one after the other:
//   - one core: the data plane's own lcore writes the frames after each TX burst, with 128 mbufs
//     in flight. Everything a packet costs, its frame's writing included, is on that one core,
//     and frames are as warm as a NIC's DMA into the cache can make them.
//   - two cores: lcore 1 writes them, with 2,048 mbufs in flight. The data plane's core writes
//     nothing it does not forward, but each frame's lines come from the other core's cache, a
//     transfer a NIC's DMA does not cause.
//
//   dataplane_ring_bench [FLOWS] [SECONDS]     (defaults 1000000 and 5 per placement; CPUs 0, 1)
//
// For each: what the data-plane lcore forwarded per second, its TSC cycles per packet, the
// share of the run it sat idle with nothing received and nothing held (with two cores, the
// wire may be the limit), and the cycles spent in the pipeline alone.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/dataplane_bench_frames.h"
#include "dataplane/mbuf_io.h"

namespace {

using namespace k8c::dp;
using namespace k8c::dp::bench;

constexpr uint16_t kBurst = 32;
constexpr unsigned kRingSize = 4096;

struct Wire {
  rte_ring* to_dp = nullptr;    // the port's RX queue
  rte_ring* from_dp = nullptr;  // the port's TX queue
  const FrameWriter* writer = nullptr;
  const std::vector<uint32_t>* order = nullptr;
  size_t next = 0;  // the next flow in order
  std::atomic<bool> stop{false};

  void write(rte_mbuf* m) {
    writer->write(rte_pktmbuf_mtod(m, uint8_t*), (*order)[next]);
    next = next + 1 == order->size() ? 0 : next + 1;
  }
  // Each frame the data plane sent comes back as the next client's frame.
  void turn() {
    constexpr unsigned kWireBurst = 64;
    rte_mbuf* m[kWireBurst];
    unsigned n =
        rte_ring_sc_dequeue_burst(from_dp, reinterpret_cast<void**>(m), kWireBurst, nullptr);
    // The frames' lines were last written by the data plane: ask for them all at once. Lengths
    // stay 64 bytes, so the mbuf headers are only read.
    for (unsigned i = 0; i < n; ++i) __builtin_prefetch(rte_pktmbuf_mtod(m[i], uint8_t*), 1);
    for (unsigned i = 0; i < n; ++i) write(m[i]);
    unsigned put = rte_ring_sp_enqueue_burst(to_dp, reinterpret_cast<void**>(m), n, nullptr);
    if (put < n) rte_pktmbuf_free_bulk(m + put, n - put);  // cannot happen: the ring holds all
  }
};

int run_wire(void* arg) {
  Wire& w = *static_cast<Wire*>(arg);
  while (!w.stop.load(std::memory_order_relaxed)) w.turn();
  return 0;
}

struct Result {
  double mpps = 0, cycles = 0, idle = 0, pipeline_cycles = 0, full_pops = 0;
};

int fail(const std::string& what) {
  std::fprintf(stderr, "dataplane_ring_bench: %s: %s\n", what.c_str(), rte_strerror(rte_errno));
  return 1;
}

// One placement of the wire for `seconds`: primes in_flight frames on RX, runs the data plane's
// loop on this lcore, then takes every mbuf back to the pool.
bool run_phase(uint16_t port, Wire& wire, rte_mempool* pool, LcoreContext& ctx, bool two_cores,
               unsigned in_flight, double seconds, uint64_t epoch_tsc, Result* r) {
  std::vector<rte_mbuf*> prime(in_flight);
  if (rte_pktmbuf_alloc_bulk(pool, prime.data(), in_flight) != 0) return fail("mbufs") == 0;
  for (rte_mbuf* m : prime) {
    wire.write(m);
    m->data_len = m->pkt_len = kFrameLen;
  }
  rte_ring_sp_enqueue_bulk(wire.to_dp, reinterpret_cast<void**>(prime.data()), in_flight, nullptr);
  wire.stop.store(false);
  if (two_cores && rte_eal_remote_launch(run_wire, &wire, 1) != 0)
    return fail("launch lcore 1") == 0;

  BurstQueue q;
  rte_mbuf* rxb[BurstQueue::kDepth][kBurst];
  rte_mbuf* tx[kBurst];
  rte_mbuf* rel[kBurst];
  Verdict verdicts[kBurst];
  uint64_t forwarded = 0, busy_cycles = 0, pipeline_cycles = 0, pops = 0, full_pops = 0;
  Counter tx_failed;  // stays 0: the TX ring holds every mbuf in flight
  const uint64_t hz = rte_get_tsc_hz();
  const double ns_per_tsc = 1e9 / static_cast<double>(hz);
  const uint64_t start = rte_rdtsc();
  const uint64_t end = start + static_cast<uint64_t>(seconds * static_cast<double>(hz));
  uint64_t now_tsc = start;
  while (now_tsc < end || q.held() != 0) {
    const uint64_t turn = now_tsc;
    bool busy = false;
    const unsigned slot = q.free_slot();
    uint16_t n = now_tsc < end ? rte_eth_rx_burst(port, 0, rxb[slot], kBurst) : 0;
    if (n != 0) {
      PacketView* views = q.views(slot);
      for (uint16_t i = 0; i < n; ++i) views[i] = view_of(rxb[slot][i], kNoPort);
      q.push(n);
      busy = true;
    }
    const unsigned held_before = q.held();
    if (q.held() == BurstQueue::kDepth || (n == 0 && q.held() != 0)) {
      rte_mbuf** hb = rxb[q.oldest()];
      // The production loop's clock: nanoseconds from the TSC, here since the flows were opened.
      const auto now_ns =
          static_cast<uint64_t>(static_cast<double>(now_tsc - epoch_tsc) * ns_per_tsc);
      const uint64_t t0 = rte_rdtsc();
      const uint16_t hn = q.pop(verdicts, now_ns, ctx);
      pipeline_cycles += rte_rdtsc() - t0;
      pops += 1;
      full_pops += held_before == BurstQueue::kDepth;
      uint16_t ntx = 0, nrel = 0;
      for (uint16_t i = 0; i < hn; ++i) {
        if (verdicts[i].action == Action::kForward)
          tx[ntx++] = hb[i];
        else
          rel[nrel++] = hb[i];
      }
      forwarded += transmit(port, 0, tx, ntx, tx_failed);
      if (nrel) rte_pktmbuf_free_bulk(rel, nrel);
      maintain(now_ns, ctx);
      if (!two_cores) wire.turn();
      busy = true;
    }
    now_tsc = rte_rdtsc();
    if (busy) busy_cycles += now_tsc - turn;
  }
  const uint64_t cycles = now_tsc - start;
  if (two_cores) {
    wire.stop.store(true);
    rte_eal_wait_lcore(1);
  }
  for (rte_ring* ring : {wire.to_dp, wire.from_dp}) {
    void* m[kBurst];
    while (unsigned k = rte_ring_sc_dequeue_burst(ring, m, kBurst, nullptr))
      rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(m), k);
  }

  const double pkts = static_cast<double>(forwarded ? forwarded : 1);
  r->mpps = static_cast<double>(forwarded) /
            (static_cast<double>(cycles) / static_cast<double>(hz)) / 1e6;
  r->cycles = static_cast<double>(cycles) / pkts;
  r->idle = 1.0 - static_cast<double>(busy_cycles) / static_cast<double>(cycles);
  r->pipeline_cycles = static_cast<double>(pipeline_cycles) / pkts;
  r->full_pops = static_cast<double>(full_pops) / static_cast<double>(pops ? pops : 1);
  return forwarded > 0;
}

void print(const char* placement, const Result& r) {
  std::printf("  %s\n", placement);
  std::printf("    forwarded          %.2f Mpps, %.1f cycles per packet\n", r.mpps, r.cycles);
  std::printf(
      "    in the pipeline    %.1f cycles per packet (BurstQueue::pop alone; %.0f%% of "
      "bursts had two behind them to prefetch for)\n",
      r.pipeline_cycles, 100.0 * r.full_pops);
  std::printf("    idle               %.1f%% of the run (nothing received, nothing held)\n",
              100.0 * r.idle);
}

}  // namespace

int main(int argc, char** argv) {
  const uint32_t flows = argc > 1 ? static_cast<uint32_t>(std::atoi(argv[1])) : 1000000;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 5.0;
  if (flows == 0 || seconds <= 0) {
    std::fprintf(stderr, "usage: dataplane_ring_bench [FLOWS] [SECONDS]\n");
    return 2;
  }
  // A prefix of its own, removed at the end: nothing shared with other DPDK processes.
  const std::string prefix = "k8c-ring-bench-" + std::to_string(getpid());
  std::vector<std::string> words = {"dataplane_ring_bench",
                                    "-l",
                                    "0,1",
                                    "--no-pci",
                                    "--no-huge",
                                    "-m",
                                    "512",
                                    "--no-shconf",
                                    "--no-telemetry",
                                    "--file-prefix",
                                    prefix,
                                    "--log-level=warning"};
  std::vector<char*> eargv;
  for (auto& w : words) eargv.push_back(w.data());
  if (rte_eal_init(static_cast<int>(eargv.size()), eargv.data()) < 0) return fail("EAL init");
  if (rte_lcore_count() < 2) return fail("needs lcores 0 and 1");

  Wire wire;
  wire.to_dp = rte_ring_create("k8c_rb_rx", kRingSize, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  wire.from_dp = rte_ring_create("k8c_rb_tx", kRingSize, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!wire.to_dp || !wire.from_dp) return fail("rings");
  int port = rte_eth_from_rings("net_ring_bench", &wire.to_dp, 1, &wire.from_dp, 1, 0);
  if (port < 0) return fail("rte_eth_from_rings");
  constexpr unsigned kOneCoreInFlight = 128, kTwoCoreInFlight = 2048;
  rte_mempool* pool = rte_pktmbuf_pool_create("k8c_rb_pool", 2 * kTwoCoreInFlight, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  if (!pool) return fail("mbuf pool");
  const uint16_t p = static_cast<uint16_t>(port);
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(p, 1, 1, &conf) != 0 ||
      rte_eth_rx_queue_setup(p, 0, 1024, 0, nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(p, 0, 1024, 0, nullptr) != 0 || rte_eth_dev_start(p) != 0)
    return fail("port setup");

  // The flows are opened first (a SYN each, in one random order), then sent in another.
  auto table = make_table(16);
  LcoreOptions o;
  o.flow_capacity = flows + flows / 4;
  auto ctx = std::make_unique<LcoreContext>(o);
  ctx->table = table.get();
  std::vector<uint32_t> order(flows);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  const uint64_t epoch = rte_rdtsc();
  for (uint32_t i : order) {
    Frame syn = client_frame(i, tcp_flag::kSyn, kVip, 80);
    if (process(fixtures::view(syn), 0, *ctx).action != Action::kForward) return fail("flow setup");
  }
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  FrameWriter writer(tcp_flag::kAck, kVip, 80);
  wire.writer = &writer;
  wire.order = &order;

  Result one, two;
  if (!run_phase(p, wire, pool, *ctx, false, kOneCoreInFlight, seconds, epoch, &one) ||
      !run_phase(p, wire, pool, *ctx, true, kTwoCoreInFlight, seconds, epoch, &two))
    return 1;
  const uint64_t dropped = ctx->stats.total_drops();
  std::printf(
      "established flows through net_ring (rte_eth_from_rings), 64-byte TCP, %u flows, "
      "TSC %.2f GHz\n",
      flows, static_cast<double>(rte_get_tsc_hz()) / 1e9);
  print("one core: the data plane's lcore also writes every frame", one);
  print("two cores: lcore 1 writes the frames", two);
  std::printf("  dropped              %lu\n", static_cast<unsigned long>(dropped));
  rte_eth_dev_stop(p);
  rte_eth_dev_close(p);
  rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all("/var/run/dpdk/" + prefix, ec);
  return dropped == 0 ? 0 : 1;
}
