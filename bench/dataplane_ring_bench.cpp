// Established-flow forwarding through a real DPDK port on one lcore: the "net_ring"
// case. The port is rte_eth_from_rings over two rte_rings, so RX and TX are the PMD's real
// burst calls on real mbufs from a mempool; lcore 1 plays the wire: it takes what the data plane
// transmitted, writes the next client frame into each mbuf (a random permutation of all flows,
// repeated, as dataplane_pipeline_bench does) and hands it back to RX. The data-plane lcore runs
// the production burst loop's steps: rx_burst, BurstQueue (pipeline.h), tx_burst, freeing what
// is not forwarded.
//
//   dataplane_ring_bench [FLOWS] [SECONDS]     (defaults 1000000 and 5; CPUs 0 and 1)
//
// Prints what the data-plane lcore forwarded per second, its TSC cycles per packet over the run,
// and the share of the run it sat idle with nothing received and nothing held: on two vCPUs the
// wire lcore, which rewrites every frame the data plane's core last touched, can be the limit.
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

namespace {

using namespace k8c::dp;
using namespace k8c::dp::bench;

constexpr uint16_t kBurst = 32;
constexpr unsigned kRingSize = 4096;
constexpr unsigned kInFlight = 2048;  // mbufs circulating between the two lcores

struct Wire {
  rte_ring* to_dp = nullptr;    // the port's RX queue
  rte_ring* from_dp = nullptr;  // the port's TX queue
  const FrameWriter* writer = nullptr;
  const std::vector<uint32_t>* order = nullptr;
  std::atomic<bool> stop{false};
};

// lcore 1: the wire. Each frame the data plane sent comes back as the next client's frame.
int run_wire(void* arg) {
  Wire& w = *static_cast<Wire*>(arg);
  const std::vector<uint32_t>& order = *w.order;
  size_t next = 0;
  constexpr unsigned kWireBurst = 64;
  rte_mbuf* m[kWireBurst];
  while (!w.stop.load(std::memory_order_relaxed)) {
    unsigned n =
        rte_ring_sc_dequeue_burst(w.from_dp, reinterpret_cast<void**>(m), kWireBurst, nullptr);
    // The frames' lines were last written by the data plane's core: ask for them all at once.
    // Lengths stay 64 bytes, so the mbuf headers are only read.
    for (unsigned i = 0; i < n; ++i) __builtin_prefetch(rte_pktmbuf_mtod(m[i], uint8_t*), 1);
    for (unsigned i = 0; i < n; ++i) {
      w.writer->write(rte_pktmbuf_mtod(m[i], uint8_t*), order[next]);
      next = next + 1 == order.size() ? 0 : next + 1;
    }
    unsigned put = rte_ring_sp_enqueue_burst(w.to_dp, reinterpret_cast<void**>(m), n, nullptr);
    if (put < n) rte_pktmbuf_free_bulk(m + put, n - put);  // cannot happen: the ring holds all
  }
  return 0;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "dataplane_ring_bench: %s: %s\n", what.c_str(), rte_strerror(rte_errno));
  return 1;
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
  rte_mempool* pool =
      rte_pktmbuf_pool_create("k8c_rb_pool", kInFlight * 2, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
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
  for (uint32_t i : order) {
    Frame syn = client_frame(i, tcp_flag::kSyn, kVip, 80);
    if (process(fixtures::view(syn), 0, *ctx).action != Action::kForward) return fail("flow setup");
  }
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  FrameWriter writer(tcp_flag::kAck, kVip, 80);
  wire.writer = &writer;
  wire.order = &order;

  // Prime the wire: kInFlight frames waiting on RX.
  std::vector<rte_mbuf*> prime(kInFlight);
  if (rte_pktmbuf_alloc_bulk(pool, prime.data(), kInFlight) != 0) return fail("mbufs");
  for (unsigned i = 0; i < kInFlight; ++i) {
    writer.write(rte_pktmbuf_mtod(prime[i], uint8_t*), order[i % flows]);
    prime[i]->data_len = prime[i]->pkt_len = kFrameLen;
  }
  rte_ring_sp_enqueue_bulk(wire.to_dp, reinterpret_cast<void**>(prime.data()), kInFlight, nullptr);
  if (rte_eal_remote_launch(run_wire, &wire, 1) != 0) return fail("launch lcore 1");

  // lcore 0: the data plane's loop.
  BurstQueue q;
  rte_mbuf* rxb[BurstQueue::kDepth][kBurst];
  rte_mbuf* tx[kBurst];
  rte_mbuf* rel[kBurst];
  Verdict verdicts[kBurst];
  uint64_t forwarded = 0, busy_cycles = 0, pipeline_cycles = 0, pops = 0, full_pops = 0;
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t start = rte_rdtsc();
  const uint64_t end = start + static_cast<uint64_t>(seconds * static_cast<double>(hz));
  uint64_t now_tsc = start;
  while (now_tsc < end || q.held() != 0) {
    const uint64_t turn = now_tsc;
    bool busy = false;
    const unsigned slot = q.free_slot();
    uint16_t n = now_tsc < end ? rte_eth_rx_burst(p, 0, rxb[slot], kBurst) : 0;
    if (n != 0) {
      PacketView* views = q.views(slot);
      for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = rxb[slot][i];
        views[i] = {rte_pktmbuf_mtod(m, uint8_t*), m->data_len,
                    static_cast<uint16_t>(m->data_len + rte_pktmbuf_tailroom(m))};
      }
      q.push(n);
      busy = true;
    }
    const unsigned held_before = q.held();
    if (q.held() == BurstQueue::kDepth || (n == 0 && q.held() != 0)) {
      rte_mbuf** hb = rxb[q.oldest()];
      const uint64_t t0 = rte_rdtsc();
      const uint16_t hn = q.pop(verdicts, 1, *ctx);
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
      uint16_t sent = rte_eth_tx_burst(p, 0, tx, ntx);
      forwarded += sent;
      if (sent < ntx) rte_pktmbuf_free_bulk(tx + sent, ntx - sent);
      if (nrel) rte_pktmbuf_free_bulk(rel, nrel);
      maintain(1, *ctx);
      busy = true;
    }
    now_tsc = rte_rdtsc();
    if (busy) busy_cycles += now_tsc - turn;
  }
  const uint64_t cycles = now_tsc - start;
  wire.stop.store(true);
  rte_eal_wait_lcore(1);

  const double secs = static_cast<double>(cycles) / static_cast<double>(hz);
  const uint64_t dropped = ctx->stats.total_drops();
  std::printf("established flows through net_ring (rte_eth_from_rings), 64-byte TCP, %u flows\n",
              flows);
  const double pkts = static_cast<double>(forwarded ? forwarded : 1);
  const double idle = 1.0 - static_cast<double>(busy_cycles) / static_cast<double>(cycles);
  std::printf("  forwarded            %.2f Mpps\n", static_cast<double>(forwarded) / secs / 1e6);
  std::printf("  cycles per packet    %.1f over the run, TSC %.2f GHz\n",
              static_cast<double>(cycles) / pkts, static_cast<double>(hz) / 1e9);
  std::printf(
      "  idle                 %.1f%% of the run (turns with nothing received and nothing "
      "held: the wire lcore, not the data plane, was the limit then)\n",
      100.0 * idle);
  std::printf(
      "  in the pipeline      %.1f cycles per packet (BurstQueue::pop alone; %.0f%% of bursts "
      "had two behind them to prefetch for)\n",
      static_cast<double>(pipeline_cycles) / pkts,
      100.0 * static_cast<double>(full_pops) / static_cast<double>(pops ? pops : 1));
  std::printf("  dropped              %lu\n", static_cast<unsigned long>(dropped));
  rte_eth_dev_stop(p);
  rte_eth_dev_close(p);
  rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all("/var/run/dpdk/" + prefix, ec);
  return dropped == 0 && forwarded > 0 ? 0 : 1;
}
