// A DPDK traffic generator for the data-plane benchmarks (issue 3, acceptance 4): it sends
// 64-byte UDP frames to a Service VIP from many source ports (so the flows spread over the
// backends and the conntrack table holds `--flows` entries), and counts what comes back on the
// same port: frames whose destination was rewritten away from the VIP are what the load
// balancer under test (k8c dataplane, or the kernel with nftables DNAT) forwarded.
//
//   dataplane_traffic_gen --eal "EAL ARGS" --dst-mac MAC --src-ip IP --vip IP --port N
//                         [--flows N] [--warmup S] [--seconds S] [--port-id N]
//
// It is a plain program, not a Google Benchmark: the figure is a rate over wall-clock seconds
// while another process does the work, so repetitions inside one process would mean nothing.
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <arpa/inet.h>

#include <array>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr uint16_t kBurst = 32;
constexpr unsigned kMaxDestinations = 16;
constexpr uint16_t kFrameLen = 60;  // 64 bytes on the wire with the FCS the NIC would add

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
  std::string eal = "--no-pci --no-huge -m 256";
  uint16_t port_id = 0;
  rte_ether_addr dst_mac{};
  bool have_dst_mac = false;
  uint32_t src_ip = 0;  // network order
  uint32_t vip = 0;     // network order
  uint16_t vport = 0;
  unsigned flows = 1024;
  double warmup = 1.0;
  double seconds = 5.0;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "dataplane_traffic_gen: %s\n"
               "usage: dataplane_traffic_gen --eal \"EAL ARGS\" --dst-mac MAC --src-ip IP --vip IP "
               "--port N [--flows N] [--warmup S] [--seconds S] [--port-id N]\n",
               why);
  std::exit(2);
}

uint32_t parse_ip(const char* s) {
  in_addr a{};
  if (inet_pton(AF_INET, s, &a) != 1) usage("bad IPv4 address");
  return a.s_addr;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    if (a == "--eal") o.eal = v;
    else if (a == "--port-id") o.port_id = static_cast<uint16_t>(std::atoi(v));
    else if (a == "--dst-mac") {
      if (rte_ether_unformat_addr(v, &o.dst_mac) != 0) usage("bad MAC");
      o.have_dst_mac = true;
    } else if (a == "--src-ip") o.src_ip = parse_ip(v);
    else if (a == "--vip") o.vip = parse_ip(v);
    else if (a == "--port") o.vport = static_cast<uint16_t>(std::atoi(v));
    else if (a == "--flows") o.flows = static_cast<unsigned>(std::atoi(v));
    else if (a == "--warmup") o.warmup = std::atof(v);
    else if (a == "--seconds") o.seconds = std::atof(v);
    else usage(("unknown option " + a).c_str());
  }
  if (!o.have_dst_mac || o.src_ip == 0 || o.vip == 0 || o.vport == 0) usage("missing option");
  if (o.flows == 0 || o.flows > 60000) usage("--flows must be 1..60000");
  return o;
}

// Writes one 64-byte UDP frame from src_port into m. The IP checksum is computed here once:
// every frame is prebuilt, so the send loop never touches packet bytes.
void build_frame(rte_mbuf* m, const rte_ether_addr& src_mac, const Options& o, uint16_t src_port) {
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kFrameLen));
  std::memset(p, 0, kFrameLen);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
  eth->dst_addr = o.dst_mac;
  eth->src_addr = src_mac;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(kFrameLen - sizeof(rte_ether_hdr));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = o.src_ip;
  ip->dst_addr = o.vip;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(src_port);
  udp->dst_port = rte_cpu_to_be_16(o.vport);
  udp->dgram_len = rte_cpu_to_be_16(kFrameLen - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr));
  udp->dgram_cksum = 0;  // optional in IPv4; a NAT that updates it incrementally keeps it 0
}

struct Counters {
  uint64_t tx = 0;
  uint64_t rx = 0;
  uint64_t forwarded = 0;  // UDP from our source address, destination no longer the VIP
  std::array<uint32_t, kMaxDestinations> dst{};
  std::array<uint64_t, kMaxDestinations> per_dst{};
  unsigned ndst = 0;
};

void count_rx(rte_mbuf* m, const Options& o, Counters& c) {
  if (m->data_len < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) return;
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return;
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
  if (ip->next_proto_id != IPPROTO_UDP || ip->src_addr != o.src_ip || ip->dst_addr == o.vip) return;
  ++c.forwarded;
  // A handful of backends: a linear scan is cheaper than any map and never allocates.
  for (unsigned i = 0; i < c.ndst; ++i)
    if (c.dst[i] == ip->dst_addr) {
      ++c.per_dst[i];
      return;
    }
  if (c.ndst < kMaxDestinations) {
    c.dst[c.ndst] = ip->dst_addr;
    c.per_dst[c.ndst++] = 1;
  }
}

std::string ip_text(uint32_t a) {
  char b[INET_ADDRSTRLEN];
  in_addr x{a};
  inet_ntop(AF_INET, &x, b, sizeof b);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);

  std::vector<std::string> words{"dataplane_traffic_gen"};
  {
    std::istringstream in(o.eal);
    for (std::string w; in >> w;) words.push_back(w);
  }
  std::vector<char*> eargv;
  for (auto& w : words) eargv.push_back(w.data());
  if (rte_eal_init(static_cast<int>(eargv.size()), eargv.data()) < 0) {
    std::fprintf(stderr, "dataplane_traffic_gen: EAL init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (!rte_eth_dev_is_valid_port(o.port_id)) {
    std::fprintf(stderr, "dataplane_traffic_gen: no port %u\n", o.port_id);
    return 1;
  }

  // The prebuilt frames stay referenced for the whole run (refcount >= 1), so the pool needs
  // them plus what RX and the TX ring may hold at once.
  const unsigned mbufs = o.flows + 8192;
  rte_mempool* pool = rte_pktmbuf_pool_create("gen_pool", mbufs, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (!pool) {
    std::fprintf(stderr, "dataplane_traffic_gen: mbuf pool: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  rte_eth_conf conf{};
  uint16_t rxd = 1024, txd = 1024;
  if (rte_eth_dev_configure(o.port_id, 1, 1, &conf) != 0 ||
      rte_eth_dev_adjust_nb_rx_tx_desc(o.port_id, &rxd, &txd) != 0 ||
      rte_eth_rx_queue_setup(o.port_id, 0, rxd, rte_socket_id(), nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(o.port_id, 0, txd, rte_socket_id(), nullptr) != 0 ||
      rte_eth_dev_start(o.port_id) != 0) {
    std::fprintf(stderr, "dataplane_traffic_gen: port %u setup failed: %s\n", o.port_id,
                 rte_strerror(rte_errno));
    return 1;
  }
  (void)rte_eth_promiscuous_enable(o.port_id);
  rte_ether_addr src_mac{};
  rte_eth_macaddr_get(o.port_id, &src_mac);

  // memif reports link up only once its peer has connected; sending before that is lost.
  for (int i = 0; i < 100 && !g_stop; ++i) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(o.port_id, &link) == 0 && link.link_status) break;
    rte_delay_ms(100);
  }

  std::vector<rte_mbuf*> frames(o.flows);
  if (rte_pktmbuf_alloc_bulk(pool, frames.data(), o.flows) != 0) {
    std::fprintf(stderr, "dataplane_traffic_gen: cannot allocate %u frames\n", o.flows);
    return 1;
  }
  for (unsigned i = 0; i < o.flows; ++i)
    build_frame(frames[i], src_mac, o, static_cast<uint16_t>(10000 + i));

  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t t_start = rte_rdtsc();
  const uint64_t t_measure = t_start + static_cast<uint64_t>(o.warmup * static_cast<double>(hz));
  const uint64_t t_end = t_measure + static_cast<uint64_t>(o.seconds * static_cast<double>(hz));
  Counters warm, meas;
  Counters* c = &warm;
  rte_mbuf* tx[kBurst];
  rte_mbuf* rx[kBurst];
  unsigned next = 0;
  uint64_t now = t_start;
  while (!g_stop && (now = rte_rdtsc()) < t_end) {
    if (c == &warm && now >= t_measure) {
      c = &meas;
      // Tells the script when to sample the load balancer's own counters and CPU time.
      std::printf("measuring\n");
      std::fflush(stdout);
    }
    // The same prebuilt mbufs go out again and again: each send takes a reference that the
    // driver drops once it has copied the frame (af_packet and memif both copy), so the loop
    // neither allocates nor writes packet bytes.
    for (uint16_t i = 0; i < kBurst; ++i) {
      tx[i] = frames[next];
      rte_mbuf_refcnt_update(tx[i], 1);
      if (++next == o.flows) next = 0;
    }
    uint16_t sent = rte_eth_tx_burst(o.port_id, 0, tx, kBurst);
    c->tx += sent;
    for (uint16_t i = sent; i < kBurst; ++i) rte_mbuf_refcnt_update(tx[i], -1);
    // A refused frame is retried next burst, so the flows still go round in order.
    next = (next + o.flows - (kBurst - sent) % o.flows) % o.flows;
    uint16_t n = rte_eth_rx_burst(o.port_id, 0, rx, kBurst);
    c->rx += n;
    for (uint16_t i = 0; i < n; ++i) count_rx(rx[i], o, *c);
    if (n) rte_pktmbuf_free_bulk(rx, n);
  }
  const double secs = static_cast<double>(now - t_measure) / static_cast<double>(hz);

  rte_eth_stats st{};
  rte_eth_stats_get(o.port_id, &st);
  std::printf("generator: %u flows to %s:%u, 64-byte UDP frames, %.2f s measured after %.1f s warm-up\n",
              o.flows, ip_text(o.vip).c_str(), o.vport, secs, o.warmup);
  std::printf("tx_pps %.0f\nrx_pps %.0f\nforwarded_pps %.0f\n", static_cast<double>(meas.tx) / secs,
              static_cast<double>(meas.rx) / secs, static_cast<double>(meas.forwarded) / secs);
  std::printf("tx_packets %" PRIu64 "\nrx_packets %" PRIu64 "\nforwarded_packets %" PRIu64 "\n",
              meas.tx, meas.rx, meas.forwarded);
  for (unsigned i = 0; i < meas.ndst; ++i)
    std::printf("backend %s %" PRIu64 "\n", ip_text(meas.dst[i]).c_str(), meas.per_dst[i]);
  std::printf("port_imissed %" PRIu64 " port_oerrors %" PRIu64 "\n", st.imissed, st.oerrors);

  rte_eth_dev_stop(o.port_id);
  rte_eth_dev_close(o.port_id);
  rte_pktmbuf_free_bulk(frames.data(), o.flows);
  rte_mempool_free(pool);
  rte_eal_cleanup();
  return 0;
}
