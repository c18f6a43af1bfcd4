// Fuzz target: arbitrary bytes through the parser and the whole pipeline, with conntrack and
// affinity state carried from one input to the next and the service table republished now
// and then, so replies, reused tuples and table changes are explored too.
//
// Input layout: one control byte, then the frame. Control bit 0 asks the harness to repair
// the IPv4 header checksum first (otherwise almost every mutation stops at bad_ip_checksum);
// the other bits advance the clock, so flows age and drain deadlines pass.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "dataplane/checksum.h"
#include "dataplane/parse.h"
#include "dataplane/pipeline.h"
#include "tests/dataplane/fixtures/packet_builder.h"

namespace {

using namespace k8c::dp;

constexpr uint32_t kNodeIp = ipv4(192, 168, 1, 10);
constexpr uint32_t kVip = ipv4(10, 96, 0, 10);
constexpr uint32_t kLbIp = ipv4(203, 0, 113, 7);
constexpr uint32_t kDnsVip = ipv4(10, 96, 0, 53);

[[noreturn]] void violated(const char* what) {
  __builtin_printf("dataplane_fuzz: invariant violated: %s\n", what);
  std::abort();
}

std::vector<ServiceSpec> specs(bool variant) {
  ServiceSpec web;
  web.id = 1;
  web.name = "default/web:http";
  web.cluster_ip = kVip;
  web.port = 80;
  web.node_port = 30080;
  web.load_balancer_ips = {kLbIp};
  web.maglev_size = 251;
  web.affinity_client_ip = variant;
  web.affinity_timeout_ns = 5 * kNsPerSec;
  for (uint8_t i = 1; i <= 3; ++i) {
    BackendSpec b;
    b.ip = ipv4(10, 1, 0, i);
    b.port = 8080;
    b.local = i == 1;
    if (variant && i == 2) b.ready = false, b.terminating = true, b.terminating_since_ns = 1;
    web.backends.push_back(b);
  }
  ServiceSpec dns;
  dns.id = 2;
  dns.name = "kube-system/dns:dns";
  dns.proto = proto::kUdp;
  dns.cluster_ip = kDnsVip;
  dns.port = 53;
  dns.node_port = 30053;
  dns.external_policy = variant ? TrafficPolicy::kLocal : TrafficPolicy::kCluster;
  dns.maglev_size = 251;
  BackendSpec d;
  d.ip = ipv4(10, 1, 1, 1);
  d.port = 53;
  d.local = !variant;
  dns.backends.push_back(d);
  return {web, dns};
}

struct Env {
  Env() : ctx(options()) {
    node.node_ip = kNodeIp;
    node.mac = fixtures::kNodeMac;
    node.gateway_mac = fixtures::kGatewayMac;
    node.lcores = 2;
    publish(false);
  }
  // A summary at exit shows in CI logs how deep the corpus reached.
  ~Env() {
    const LcoreStats& st = ctx.stats;
    __builtin_printf(
        "dataplane_fuzz: %llu frames: forwarded %llu, replied %llu, passed %llu, "
        "new flows %llu\n",
        ull(st.rx_packets.get()), ull(st.forwarded.get()), ull(st.replied.get()),
        ull(st.passed.get()), ull(st.new_flows.get()));
    for (size_t i = 1; i < kDropReasonCount; ++i)
      if (st.dropped[i].get())
        __builtin_printf("  drop %s: %llu\n", drop_reason_name(static_cast<DropReason>(i)).data(),
                         ull(st.dropped[i].get()));
  }
  static unsigned long long ull(uint64_t v) { return v; }
  static LcoreOptions options() {
    LcoreOptions o;
    o.flow_capacity = 256;  // small, so the table fills and conntrack_full is explored
    o.affinity_capacity = 64;
    return o;
  }
  void publish(bool variant) {
    auto s = specs(variant);
    node.own_node_ip = variant;
    table = ServiceTable::build(node, s, nullptr);
    if (!table) violated("fixture service table does not build");
    ctx.table = table.get();
    // The variant also resolves next hops through a neighbour table: one backend known (at the
    // gateway's MAC, so the forwarding check below still holds), the rest of 10.1.0.0/16
    // unresolved (no_neighbour drops and miss reports), everything else via the gateway.
    std::vector<NeighbourTable::Entry> known = {{hton32(ipv4(10, 1, 0, 1)), fixtures::kGatewayMac}};
    neighbours = NeighbourTable::build(hton32(ipv4(10, 1, 0, 0)), hton32(0xffff0000),
                                       &fixtures::kGatewayMac, known);
    ctx.neighbours = variant ? neighbours.get() : nullptr;
    ctx.neighbour_events = variant ? &events : nullptr;
  }
  NodeConfig node;
  std::unique_ptr<ServiceTable> table;
  std::unique_ptr<NeighbourTable> neighbours;
  NeighbourEvents events;
  LcoreContext ctx;
  uint64_t now = 0;
  uint64_t runs = 0;
};

void repair_ipv4_checksum(uint8_t* f, size_t n) {
  size_t off = 14;
  if (n >= 18 && f[12] == 0x81 && f[13] == 0x00) off = 18;
  if (n < off + 20 || f[off - 2] != 0x08 || f[off - 1] != 0x00) return;
  size_t ihl = (f[off] & 0x0f) * 4u;
  if (ihl < 20 || off + ihl > n) return;
  store<uint16_t>(f + off + 10, 0);
  store<uint16_t>(f + off + 10, csum(f + off, ihl));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env env;
  if (size == 0) return 0;
  uint8_t control = data[0];
  size_t n = std::min<size_t>(size - 1, 1600);
  // Exactly n bytes on the heap, so ASan flags any read past the frame.
  std::unique_ptr<uint8_t[]> frame(new uint8_t[n ? n : 1]);
  if (n) std::memcpy(frame.get(), data + 1, n);
  if (control & 1) repair_ipv4_checksum(frame.get(), n);
  env.now += static_cast<uint64_t>(control >> 1) * 50'000'000;  // up to ~6 s per input

  PacketView view{frame.get(), static_cast<uint16_t>(n), static_cast<uint16_t>(n)};
  Parsed p;
  DropReason pr = parse(view, p);
  if (pr == DropReason::kNone && (p.l4_off > n || p.ip_end > n || p.l3_off > n))
    violated("parser offsets beyond the frame");

  Verdict v = process(view, env.now, env.ctx);
  if (static_cast<size_t>(v.reason) >= kDropReasonCount) violated("unknown drop reason");
  if ((v.action == Action::kDrop) != (v.reason != DropReason::kNone))
    violated("drop verdict and reason disagree");
  if (v.action == Action::kDrop && pr != DropReason::kNone && v.reason != pr)
    violated("pipeline and parser disagree on a malformed frame");
  if (v.action == Action::kForward || (v.action == Action::kReply && p.l3 == L3::kIpv4)) {
    // Whatever was rewritten, the IPv4 header checksum must still verify.
    if (csum(frame.get() + p.l3_off, p.l4_off - p.l3_off) != 0)
      violated("rewritten IPv4 header checksum is wrong");
  }
  if (v.action == Action::kForward &&
      std::memcmp(frame.get(), fixtures::kGatewayMac.data(), 6) != 0)
    violated("forwarded frame not addressed to the gateway");

  if (++env.runs % 512 == 0) env.publish((env.runs / 512) % 2 == 1);
  if (env.runs % 64 == 0) {  // drained now and then, so the full-ring path runs too
    NeighbourEvent ev;
    while (env.events.ring.pop(&ev)) {
    }
  }
  maintain(env.now, env.ctx);
  return 0;
}

std::vector<std::vector<uint8_t>> k8c_fuzz_seeds();

// Seeds for drivers that want them: valid frames of every kind the pipeline handles, each
// prefixed with a control byte asking for checksum repair.
std::vector<std::vector<uint8_t>> k8c_fuzz_seeds() {
  using namespace k8c::dp::fixtures;
  uint32_t client = ipv4(10, 0, 0, 1), ext = ipv4(198, 51, 100, 5);
  IpOptions vlan;
  vlan.vlan = true;
  IpOptions frag;
  frag.frag = 0x2000;
  IpOptions opts;
  opts.options = {0x94, 0x04, 0, 0};
  std::vector<Frame> frames = {
      tcp(client, 40000, kVip, 80, tcp_flag::kSyn),
      tcp(client, 40000, kVip, 80, tcp_flag::kAck, 32),
      tcp(ipv4(10, 1, 0, 1), 8080, client, 40000, tcp_flag::kSyn | tcp_flag::kAck),
      tcp(ext, 50000, kNodeIp, 30080, tcp_flag::kSyn),
      tcp(ext, 50000, kLbIp, 80, tcp_flag::kSyn, 0, vlan),
      tcp(ipv4(10, 1, 0, 2), 8080, kNodeIp, 1024, tcp_flag::kAck | tcp_flag::kFin),
      tcp(client, 40000, kVip, 80, tcp_flag::kRst),
      udp(client, 5000, kDnsVip, 53, 20),
      udp(ext, 5000, kNodeIp, 30053, 20),
      udp(ipv4(10, 1, 1, 1), 53, client, 5000, 40),
      udp(client, 5000, kDnsVip, 53, 20, frag),
      tcp(client, 1, kVip, 80, tcp_flag::kSyn, 0, opts),
      icmp_echo(client, kVip, 1, 1),
      arp(1, kClientMac, client, kLbIp),
      arp(1, kClientMac, client, kNodeIp),
  };
  std::vector<std::vector<uint8_t>> seeds;
  for (const Frame& f : frames) {
    std::vector<uint8_t> s = {1};
    s.insert(s.end(), f.begin(), f.end());
    seeds.push_back(std::move(s));
  }
  return seeds;
}

// libFuzzer calls this before it reads its corpus directories. Starting from nothing it takes
// minutes to guess a frame that reaches a service address, so the first corpus directory on
// the command line is seeded with valid frames (existing files are left alone).
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  for (int i = 1; i < *argc; ++i) {
    const char* arg = (*argv)[i];
    if (arg[0] == '-') continue;
    std::error_code ec;
    std::filesystem::create_directories(arg, ec);
    auto seeds = k8c_fuzz_seeds();
    for (size_t n = 0; n < seeds.size(); ++n) {
      std::filesystem::path file = std::filesystem::path(arg) / ("seed-" + std::to_string(n));
      if (std::filesystem::exists(file, ec)) continue;
      std::ofstream out(file, std::ios::binary);
      out.write(reinterpret_cast<const char*>(seeds[n].data()),
                static_cast<std::streamsize>(seeds[n].size()));
    }
    break;
  }
  return 0;
}
