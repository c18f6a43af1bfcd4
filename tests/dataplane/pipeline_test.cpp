// The pipeline end to end on built frames: requests in, replies in, rewritten headers and
// checksums checked against full recomputation.
#include "dataplane/pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "tests/dataplane/fixtures/packet_builder.h"

namespace k8c::dp {
namespace {

using namespace fixtures;

const uint32_t kNodeIp = ipv4(192, 168, 1, 10);
const uint32_t kWebVip = ipv4(10, 96, 0, 10);
const uint32_t kWebLb = ipv4(203, 0, 113, 7);
const uint32_t kDnsVip = ipv4(10, 96, 0, 53);
const uint32_t kLocalVip = ipv4(10, 96, 0, 20);
const uint32_t kStickyVip = ipv4(10, 96, 0, 30);
const uint32_t kEmptyVip = ipv4(10, 96, 0, 40);
const uint32_t kItpVip = ipv4(10, 96, 0, 50);
const uint32_t kClient = ipv4(10, 0, 0, 1);
const uint32_t kExternal = ipv4(198, 51, 100, 5);
constexpr uint64_t kSec = kNsPerSec;

BackendSpec be(uint32_t ip, uint16_t port, bool local = false) {
  BackendSpec b;
  b.ip = ip;
  b.port = port;
  b.local = local;
  return b;
}

ServiceSpec svc(uint32_t id, const char* name, uint32_t vip, uint16_t port,
                std::vector<BackendSpec> backends, uint8_t p = proto::kTcp) {
  ServiceSpec s;
  s.id = id;
  s.name = name;
  s.cluster_ip = vip;
  s.port = port;
  s.proto = p;
  s.backends = std::move(backends);
  s.maglev_size = 251;
  return s;
}

std::vector<ServiceSpec> default_services() {
  std::vector<ServiceSpec> v;
  ServiceSpec web =
      svc(1, "default/web:http", kWebVip, 80,
          {be(ipv4(10, 1, 0, 1), 8080), be(ipv4(10, 1, 0, 2), 8080), be(ipv4(10, 1, 0, 3), 8080)});
  web.node_port = 30080;
  web.load_balancer_ips = {kWebLb};
  v.push_back(web);
  v.push_back(svc(2, "kube-system/dns:dns", kDnsVip, 53,
                  {be(ipv4(10, 1, 1, 1), 5353), be(ipv4(10, 1, 1, 2), 5353)}, proto::kUdp));
  ServiceSpec local = svc(3, "default/local:http", kLocalVip, 80,
                          {be(ipv4(10, 1, 2, 1), 80, true), be(ipv4(10, 1, 2, 2), 80)});
  local.node_port = 30090;
  local.external_policy = TrafficPolicy::kLocal;
  v.push_back(local);
  ServiceSpec sticky =
      svc(4, "default/sticky:http", kStickyVip, 80,
          {be(ipv4(10, 1, 3, 1), 80), be(ipv4(10, 1, 3, 2), 80), be(ipv4(10, 1, 3, 3), 80)});
  sticky.affinity_client_ip = true;
  sticky.affinity_timeout_ns = 100 * kSec;
  v.push_back(sticky);
  v.push_back(svc(5, "default/empty:http", kEmptyVip, 80, {}));
  ServiceSpec itp = svc(6, "default/itp:http", kItpVip, 80,
                        {be(ipv4(10, 1, 4, 1), 80, true), be(ipv4(10, 1, 4, 2), 80)});
  itp.internal_policy = TrafficPolicy::kLocal;
  v.push_back(itp);
  ServiceSpec remote_only = svc(7, "default/remote:http", 0, 0, {be(ipv4(10, 1, 5, 1), 80)});
  remote_only.node_port = 30100;
  remote_only.external_policy = TrafficPolicy::kLocal;
  v.push_back(remote_only);
  return v;
}

struct Harness {
  explicit Harness(LcoreOptions o = {}) : ctx(o) {
    node.node_ip = kNodeIp;
    node.mac = kNodeMac;
    node.gateway_mac = kGatewayMac;
    node.tx_port = 3;
    node.lcores = 2;
    specs = default_services();
    rebuild();
  }
  void rebuild() {
    std::string err;
    table = ServiceTable::build(node, specs, &err, gauges);
    ASSERT_TRUE(table) << err;
    ctx.table = table.get();  // the old snapshot is freed: no lcore runs concurrently here
  }
  ServiceSpec& spec(uint32_t id) {
    for (auto& s : specs)
      if (s.id == id) return s;
    throw std::runtime_error("no such spec");
  }
  Verdict run(Frame& f, uint64_t now = 0) { return process(view(f), now, ctx); }

  // Active flows for a backend (host order), whether or not the table still has it.
  int64_t active(const std::string& service, uint32_t ip, uint16_t port) const {
    for (const auto& g : gauges->snapshot())
      if (g.service == service && g.ip == hton32(ip) && g.port == hton16(port)) return g.active;
    return -1;  // no such key
  }
  int64_t active(const std::string& service) const {
    int64_t n = 0;
    for (const auto& g : gauges->snapshot())
      if (g.service == service) n += g.active;
    return n;
  }

  NodeConfig node;
  std::vector<ServiceSpec> specs;
  // Shared by every table, as the controller's is.
  std::shared_ptr<FlowGauges> gauges = std::make_shared<FlowGauges>(2, 256);
  std::unique_ptr<ServiceTable> table;
  LcoreContext ctx;
};

void expect_checksums_valid(const Frame& f) {
  EXPECT_EQ(ip_checksum(f), ip_checksum_recomputed(f));
  EXPECT_EQ(l4_checksum(f), l4_checksum_recomputed(f));
}

TEST(Pipeline, ClusterIpDnatAndReverseNat) {
  Harness h;
  Frame syn = tcp(kClient, 40000, kWebVip, 80, tcp_flag::kSyn, 0);
  Verdict v = h.run(syn);
  ASSERT_EQ(v.action, Action::kForward) << drop_reason_name(v.reason);
  EXPECT_EQ(v.port, 3);
  uint32_t backend = dst_ip(syn);
  EXPECT_TRUE(backend == ipv4(10, 1, 0, 1) || backend == ipv4(10, 1, 0, 2) ||
              backend == ipv4(10, 1, 0, 3));
  EXPECT_EQ(dst_port(syn), 8080);
  EXPECT_EQ(src_ip(syn), kClient);  // ClusterIP: no SNAT
  EXPECT_EQ(src_port(syn), 40000);
  EXPECT_EQ(dst_mac(syn), kGatewayMac);
  EXPECT_EQ(src_mac(syn), kNodeMac);
  expect_checksums_valid(syn);

  Frame synack = tcp(backend, 8080, kClient, 40000, tcp_flag::kSyn | tcp_flag::kAck, 0);
  v = h.run(synack, 1);
  ASSERT_EQ(v.action, Action::kForward);
  EXPECT_EQ(src_ip(synack), kWebVip);
  EXPECT_EQ(src_port(synack), 80);
  EXPECT_EQ(dst_ip(synack), kClient);
  EXPECT_EQ(dst_port(synack), 40000);
  expect_checksums_valid(synack);

  // The rest of the connection, with payload, sticks to the backend.
  for (int i = 0; i < 5; ++i) {
    Frame data = tcp(kClient, 40000, kWebVip, 80, tcp_flag::kAck, 100 + i);
    ASSERT_EQ(h.run(data, 2 + i).action, Action::kForward);
    EXPECT_EQ(dst_ip(data), backend);
    expect_checksums_valid(data);
  }
  EXPECT_EQ(h.ctx.conntrack.size(), 1u);
  EXPECT_EQ(h.ctx.stats.new_flows.get(), 1u);
  EXPECT_EQ(h.ctx.stats.forwarded.get(), 7u);
  const auto& counters = h.table->service_counters(0, 0);
  EXPECT_EQ(counters.packets.get(), 7u);
  EXPECT_EQ(counters.flows.get(), 1u);
}

TEST(Pipeline, VlanTaggedFramesAreRewrittenToo) {
  Harness h;
  IpOptions o;
  o.vlan = true;
  Frame f = udp(kClient, 5000, kDnsVip, 53, 12, o);
  ASSERT_EQ(h.run(f).action, Action::kForward);
  EXPECT_EQ(dst_port(f), 5353);
  expect_checksums_valid(f);
}

TEST(Pipeline, UdpServiceAndReply) {
  Harness h;
  Frame q = udp(kClient, 5000, kDnsVip, 53, 30);
  ASSERT_EQ(h.run(q).action, Action::kForward);
  uint32_t backend = dst_ip(q);
  EXPECT_EQ(dst_port(q), 5353);
  expect_checksums_valid(q);
  Frame a = udp(backend, 5353, kClient, 5000, 60);
  ASSERT_EQ(h.run(a, 1).action, Action::kForward);
  EXPECT_EQ(src_ip(a), kDnsVip);
  EXPECT_EQ(src_port(a), 53);
  expect_checksums_valid(a);
}

void snat_round_trip(Harness& h, uint32_t frontend_ip, uint16_t frontend_port) {
  Frame syn = tcp(kExternal, 50000, frontend_ip, frontend_port, tcp_flag::kSyn);
  Verdict v = h.run(syn);
  ASSERT_EQ(v.action, Action::kForward) << drop_reason_name(v.reason);
  uint32_t backend = dst_ip(syn);
  EXPECT_EQ(dst_port(syn), 8080);
  EXPECT_EQ(src_ip(syn), kNodeIp);  // Cluster policy: masqueraded to the node address
  uint16_t snat_port = src_port(syn);
  auto [lo, hi] = h.table->snat_range(0);
  EXPECT_GE(snat_port, lo);
  EXPECT_LE(snat_port, hi);
  EXPECT_EQ(h.table->snat_owner(snat_port), 0u);  // the reply will be steered back here
  expect_checksums_valid(syn);

  Frame synack = tcp(backend, 8080, kNodeIp, snat_port, tcp_flag::kSyn | tcp_flag::kAck);
  ASSERT_EQ(h.run(synack, 1).action, Action::kForward);
  EXPECT_EQ(src_ip(synack), frontend_ip);
  EXPECT_EQ(src_port(synack), frontend_port);
  EXPECT_EQ(dst_ip(synack), kExternal);
  EXPECT_EQ(dst_port(synack), 50000);
  expect_checksums_valid(synack);
}

TEST(Pipeline, NodePortClusterPolicySnatAndReverse) {
  Harness h;
  snat_round_trip(h, kNodeIp, 30080);
}

TEST(Pipeline, LoadBalancerClusterPolicySnatAndReverse) {
  Harness h;
  snat_round_trip(h, kWebLb, 80);
}

TEST(Pipeline, SnatPortsDifferPerFlow) {
  Harness h;
  std::set<std::pair<uint32_t, uint16_t>> seen;
  for (uint16_t p = 0; p < 200; ++p) {
    Frame syn = tcp(kExternal, static_cast<uint16_t>(1000 + p), kNodeIp, 30080, tcp_flag::kSyn);
    ASSERT_EQ(h.run(syn).action, Action::kForward);
    EXPECT_TRUE(seen.insert({dst_ip(syn), src_port(syn)}).second);
  }
}

TEST(Pipeline, LocalPolicyPreservesClientIpAndUsesLocalEndpoints) {
  Harness h;
  for (uint16_t p = 0; p < 50; ++p) {
    Frame syn = tcp(kExternal, static_cast<uint16_t>(2000 + p), kNodeIp, 30090, tcp_flag::kSyn);
    ASSERT_EQ(h.run(syn).action, Action::kForward);
    EXPECT_EQ(dst_ip(syn), ipv4(10, 1, 2, 1));
    EXPECT_EQ(src_ip(syn), kExternal);
    EXPECT_EQ(src_port(syn), 2000 + p);
    expect_checksums_valid(syn);
    Frame reply = tcp(ipv4(10, 1, 2, 1), 80, kExternal, static_cast<uint16_t>(2000 + p),
                      tcp_flag::kSyn | tcp_flag::kAck);
    ASSERT_EQ(h.run(reply).action, Action::kForward);
    EXPECT_EQ(src_ip(reply), kNodeIp);
    EXPECT_EQ(src_port(reply), 30090);
    expect_checksums_valid(reply);
  }
  // Inside the cluster the same Service (internalTrafficPolicy Cluster) uses every endpoint.
  std::set<uint32_t> backends;
  for (uint16_t p = 0; p < 50; ++p) {
    Frame syn = tcp(kClient, static_cast<uint16_t>(3000 + p), kLocalVip, 80, tcp_flag::kSyn);
    ASSERT_EQ(h.run(syn).action, Action::kForward);
    backends.insert(dst_ip(syn));
  }
  EXPECT_EQ(backends.size(), 2u);
}

TEST(Pipeline, InternalTrafficPolicyLocal) {
  Harness h;
  for (uint16_t p = 0; p < 50; ++p) {
    Frame syn = tcp(kClient, static_cast<uint16_t>(3000 + p), kItpVip, 80, tcp_flag::kSyn);
    ASSERT_EQ(h.run(syn).action, Action::kForward);
    EXPECT_EQ(dst_ip(syn), ipv4(10, 1, 4, 1));
  }
}

TEST(Pipeline, HairpinIsMasqueraded) {
  Harness h;
  // Service "remote" has one backend; a pod reaching itself through the Service.
  h.spec(7).cluster_ip = ipv4(10, 96, 0, 70);
  h.spec(7).port = 80;
  h.rebuild();
  Frame syn = tcp(ipv4(10, 1, 5, 1), 4444, ipv4(10, 96, 0, 70), 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(syn).action, Action::kForward);
  EXPECT_EQ(dst_ip(syn), ipv4(10, 1, 5, 1));
  EXPECT_EQ(src_ip(syn), kNodeIp);
}

TEST(Pipeline, FlowsSpreadAcrossBackends) {
  Harness h;
  std::map<uint32_t, int> hits;
  for (uint32_t c = 0; c < 1000; ++c) {
    Frame syn = tcp(ipv4(10, 0, 1, 0) + c % 250, static_cast<uint16_t>(10000 + c), kWebVip, 80,
                    tcp_flag::kSyn);
    ASSERT_EQ(h.run(syn).action, Action::kForward);
    hits[dst_ip(syn)]++;
  }
  ASSERT_EQ(hits.size(), 3u);
  for (auto [ip, n] : hits) {
    EXPECT_GT(n, 250) << ip;  // 1/3 each, give or take sampling noise
    EXPECT_LT(n, 420) << ip;
  }
}

TEST(Pipeline, ExistingFlowsKeepTheirBackendWhenEndpointsChange) {
  Harness h;
  std::map<uint16_t, uint32_t> chosen;
  for (uint16_t p = 0; p < 60; ++p) {
    Frame syn = tcp(kClient, static_cast<uint16_t>(20000 + p), kWebVip, 80, tcp_flag::kSyn);
    ASSERT_EQ(h.run(syn).action, Action::kForward);
    chosen[static_cast<uint16_t>(20000 + p)] = dst_ip(syn);
  }
  h.spec(1).backends.push_back(be(ipv4(10, 1, 0, 4), 8080));
  h.spec(1).backends.push_back(be(ipv4(10, 1, 0, 5), 8080));
  h.rebuild();
  for (auto [port, backend] : chosen) {
    Frame ack = tcp(kClient, port, kWebVip, 80, tcp_flag::kAck, 10);
    ASSERT_EQ(h.run(ack, kSec).action, Action::kForward);
    EXPECT_EQ(dst_ip(ack), backend);
  }
  EXPECT_EQ(h.ctx.stats.new_flows.get(), 60u);
}

TEST(Pipeline, RemovedBackendTcpFlowContinuesUdpFlowRepicks) {
  Harness h;
  Frame syn = tcp(kClient, 30000, kWebVip, 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(syn).action, Action::kForward);
  uint32_t tcp_backend = dst_ip(syn);
  Frame q = udp(kClient, 30001, kDnsVip, 53, 4);
  ASSERT_EQ(h.run(q).action, Action::kForward);
  uint32_t udp_backend = dst_ip(q);

  std::erase_if(h.spec(1).backends, [&](const BackendSpec& b) { return b.ip == tcp_backend; });
  std::erase_if(h.spec(2).backends, [&](const BackendSpec& b) { return b.ip == udp_backend; });
  h.rebuild();
  Frame ack = tcp(kClient, 30000, kWebVip, 80, tcp_flag::kAck, 5);
  ASSERT_EQ(h.run(ack, kSec).action, Action::kForward);
  EXPECT_EQ(dst_ip(ack), tcp_backend);
  Frame q2 = udp(kClient, 30001, kDnsVip, 53, 4);
  ASSERT_EQ(h.run(q2, kSec).action, Action::kForward);
  EXPECT_NE(dst_ip(q2), udp_backend);
  expect_checksums_valid(q2);
}

TEST(Pipeline, TerminatingEndpointDrains) {
  Harness h;
  uint64_t now = 10 * kSec;
  Frame syn = tcp(kClient, 41000, kWebVip, 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(syn, now).action, Action::kForward);
  uint32_t victim = dst_ip(syn);

  for (auto& b : h.spec(1).backends) {
    if (b.ip != victim) continue;
    b.ready = false;
    b.terminating = true;
    b.terminating_since_ns = now;
  }
  h.spec(1).drain_timeout_ns = 30 * kSec;
  h.rebuild();

  // The existing connection continues...
  Frame ack = tcp(kClient, 41000, kWebVip, 80, tcp_flag::kAck, 1);
  ASSERT_EQ(h.run(ack, now + kSec).action, Action::kForward);
  EXPECT_EQ(dst_ip(ack), victim);
  // ...no new connection goes there...
  for (uint16_t p = 0; p < 100; ++p) {
    Frame s = tcp(kClient, static_cast<uint16_t>(42000 + p), kWebVip, 80, tcp_flag::kSyn);
    ASSERT_EQ(h.run(s, now + kSec).action, Action::kForward);
    EXPECT_NE(dst_ip(s), victim);
  }
  // ...and past the drain deadline the old connection is cut over.
  Frame late = tcp(kClient, 41000, kWebVip, 80, tcp_flag::kAck, 1);
  ASSERT_EQ(h.run(late, now + 31 * kSec).action, Action::kForward);
  EXPECT_NE(dst_ip(late), victim);
}

TEST(Pipeline, DrainingFlowEndsAtDeadlineEvenIfIdle) {
  Harness h;
  Frame syn = tcp(kClient, 41000, kWebVip, 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(syn, 0).action, Action::kForward);
  uint32_t victim = dst_ip(syn);
  for (auto& b : h.spec(1).backends)
    if (b.ip == victim) b.ready = false, b.terminating = true, b.terminating_since_ns = 1;
  h.spec(1).drain_timeout_ns = 5 * kSec;
  h.rebuild();
  Frame ack = tcp(kClient, 41000, kWebVip, 80, tcp_flag::kAck);
  ASSERT_EQ(h.run(ack, kSec).action, Action::kForward);  // picks up the drain deadline
  h.ctx.conntrack.expire(6 * kSec, h.ctx.conntrack.capacity());
  EXPECT_EQ(h.ctx.conntrack.size(), 0u);
}

TEST(Pipeline, ActiveFlowGaugesFollowFlowsToTheirEnd) {
  Harness h;
  std::map<uint32_t, int64_t> web;  // backend -> flows opened to it
  for (uint16_t p = 0; p < 30; ++p) {
    Frame syn = tcp(kClient, static_cast<uint16_t>(50000 + p), kWebVip, 80, tcp_flag::kSyn);
    ASSERT_EQ(h.run(syn).action, Action::kForward);
    ++web[dst_ip(syn)];
  }
  std::map<uint32_t, int64_t> dns;
  for (uint16_t p = 0; p < 4; ++p) {
    Frame q = udp(kClient, static_cast<uint16_t>(50100 + p), kDnsVip, 53, 4);
    ASSERT_EQ(h.run(q).action, Action::kForward);
    ++dns[dst_ip(q)];
  }
  // Packets of established flows count nothing more.
  for (uint16_t p = 0; p < 30; ++p) {
    Frame ack = tcp(kClient, static_cast<uint16_t>(50000 + p), kWebVip, 80, tcp_flag::kAck, 1);
    ASSERT_EQ(h.run(ack, kSec).action, Action::kForward);
  }
  EXPECT_EQ(h.active("default/web:http"), 30);
  EXPECT_EQ(h.active("kube-system/dns:dns"), 4);
  for (auto [ip, n] : web) EXPECT_EQ(h.active("default/web:http", ip, 8080), n);
  for (auto [ip, n] : dns) EXPECT_EQ(h.active("kube-system/dns:dns", ip, 5353), n);

  // Five connections are reset; they end when their closed state times out.
  std::map<uint32_t, int64_t> reset;
  for (uint16_t p = 0; p < 5; ++p) {
    Frame rst = tcp(kClient, static_cast<uint16_t>(50000 + p), kWebVip, 80, tcp_flag::kRst);
    ASSERT_EQ(h.run(rst, 2 * kSec).action, Action::kForward);
    ++reset[dst_ip(rst)];
  }
  EXPECT_EQ(h.active("default/web:http"), 30);
  EXPECT_EQ(h.ctx.conntrack.expire(13 * kSec, h.ctx.conntrack.capacity()), 5u);
  EXPECT_EQ(h.active("default/web:http"), 25);
  for (auto& [ip, n] : web) {
    n -= reset[ip];
    EXPECT_EQ(h.active("default/web:http", ip, 8080), n);
  }

  // A web backend and a DNS backend leave the table. The TCP flows of the first run on as
  // orphans and still count against it; the UDP flow of the second ends at its next datagram
  // and counts against the backend it moves to.
  uint32_t web_gone = 0;
  for (auto [ip, n] : web)
    if (n > 0) web_gone = ip;
  uint32_t dns_gone = dns.begin()->first;
  std::erase_if(h.spec(1).backends, [&](const BackendSpec& b) { return b.ip == web_gone; });
  std::erase_if(h.spec(2).backends, [&](const BackendSpec& b) { return b.ip == dns_gone; });
  h.rebuild();
  EXPECT_EQ(h.active("default/web:http", web_gone, 8080), web[web_gone]);
  EXPECT_EQ(h.active("default/web:http"), 25);
  for (uint16_t p = 0; p < 4; ++p) {
    Frame q = udp(kClient, static_cast<uint16_t>(50100 + p), kDnsVip, 53, 4);
    ASSERT_EQ(h.run(q, 14 * kSec).action, Action::kForward);
    EXPECT_NE(dst_ip(q), dns_gone);
  }
  EXPECT_EQ(h.active("kube-system/dns:dns", dns_gone, 5353), 0);
  EXPECT_EQ(h.active("kube-system/dns:dns"), 4);

  // Everything times out: every gauge is back to zero.
  h.ctx.conntrack.expire(10'000 * kSec, h.ctx.conntrack.capacity());
  EXPECT_EQ(h.ctx.conntrack.size(), 0u);
  EXPECT_EQ(h.active("default/web:http"), 0);
  EXPECT_EQ(h.active("kube-system/dns:dns"), 0);
  EXPECT_EQ(h.active("default/web:http", web_gone, 8080), 0);
  // Once idle and out of the table, a gone backend's gauge is freed.
  std::vector<uint32_t> current;
  for (uint32_t b = 0; b < h.table->backend_count(); ++b)
    current.push_back(h.table->backend(b).gauge);
  h.gauges->release_idle(current);
  EXPECT_EQ(h.active("default/web:http", web_gone, 8080), -1);
  EXPECT_EQ(
      h.active("default/web:http",
               web.begin()->first == web_gone ? web.rbegin()->first : web.begin()->first, 8080),
      0);
}

TEST(Pipeline, OnlyTerminatingEndpointsStillServe) {
  Harness h;
  for (auto& b : h.spec(1).backends) b.ready = false, b.terminating = true;
  h.spec(1).backends[0].serving = false;
  h.rebuild();
  for (uint16_t p = 0; p < 30; ++p) {
    Frame s = tcp(kClient, static_cast<uint16_t>(43000 + p), kWebVip, 80, tcp_flag::kSyn);
    ASSERT_EQ(h.run(s, 0).action, Action::kForward);
    EXPECT_NE(dst_ip(s), ipv4(10, 1, 0, 1));
  }
}

TEST(Pipeline, SessionAffinityClientIp) {
  Harness h;
  Frame first = tcp(kClient, 50000, kStickyVip, 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(first, 0).action, Action::kForward);
  uint32_t sticky = dst_ip(first);
  // Same client, new connections, and even a changed endpoint set: same backend.
  h.spec(4).backends.push_back(be(ipv4(10, 1, 3, 4), 80));
  h.rebuild();
  for (uint16_t p = 1; p < 30; ++p) {
    Frame s = tcp(kClient, static_cast<uint16_t>(50000 + p), kStickyVip, 80, tcp_flag::kSyn);
    ASSERT_EQ(h.run(s, p * kSec).action, Action::kForward);
    EXPECT_EQ(dst_ip(s), sticky);
  }
  // Past the timeout (counted from the last new connection) the client is balanced afresh.
  std::set<uint32_t> after;
  for (uint16_t p = 0; p < 30; ++p) {
    uint64_t t = (29 + 101) * kSec + p * 200 * kSec;  // each pick's record expires before the next
    Frame s = tcp(kClient, static_cast<uint16_t>(51000 + p), kStickyVip, 80, tcp_flag::kSyn);
    ASSERT_EQ(h.run(s, t).action, Action::kForward);
    after.insert(dst_ip(s));
  }
  EXPECT_GT(after.size(), 1u);
  // A different client gets its own record.
  Frame other = tcp(ipv4(10, 0, 0, 2), 50000, kStickyVip, 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(other, 0).action, Action::kForward);
}

TEST(Pipeline, AffinityYieldsWhenTheBackendIsNoLongerReady) {
  Harness h;
  Frame first = tcp(kClient, 50000, kStickyVip, 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(first, 0).action, Action::kForward);
  uint32_t sticky = dst_ip(first);
  for (auto& b : h.spec(4).backends)
    if (b.ip == sticky) b.ready = false;
  h.rebuild();
  for (uint16_t p = 1; p < 10; ++p) {
    Frame s = tcp(kClient, static_cast<uint16_t>(50000 + p), kStickyVip, 80, tcp_flag::kSyn);
    ASSERT_EQ(h.run(s, kSec).action, Action::kForward);
    EXPECT_NE(dst_ip(s), sticky);
  }
}

TEST(Pipeline, ClosedConnectionReuseStartsANewFlow) {
  Harness h;
  Frame syn = tcp(kClient, 44000, kWebVip, 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(syn, 0).action, Action::kForward);
  Frame rst = tcp(kClient, 44000, kWebVip, 80, tcp_flag::kRst);
  ASSERT_EQ(h.run(rst, 1).action, Action::kForward);
  Frame again = tcp(kClient, 44000, kWebVip, 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(again, 2).action, Action::kForward);
  EXPECT_EQ(h.ctx.stats.new_flows.get(), 2u);
  EXPECT_EQ(h.ctx.conntrack.size(), 1u);
}

TEST(Pipeline, ArpRepliesForVipsOnly) {
  Harness h;
  Frame req = arp(1, kClientMac, kClient, kWebLb);
  ASSERT_EQ(h.run(req).action, Action::kReply);
  const uint8_t* a = req.data() + kEthHdrLen;
  EXPECT_EQ(get16(a + 6), 2);
  EXPECT_EQ(Mac({a[8], a[9], a[10], a[11], a[12], a[13]}), kNodeMac);
  EXPECT_EQ(get32(a + 14), kWebLb);
  EXPECT_EQ(Mac({a[18], a[19], a[20], a[21], a[22], a[23]}), kClientMac);
  EXPECT_EQ(get32(a + 24), kClient);
  EXPECT_EQ(dst_mac(req), kClientMac);
  EXPECT_EQ(src_mac(req), kNodeMac);

  Frame cluster = arp(1, kClientMac, kClient, kWebVip);
  EXPECT_EQ(h.run(cluster).action, Action::kReply);
  Frame node = arp(1, kClientMac, kClient, kNodeIp);
  EXPECT_EQ(h.run(node).action, Action::kPassToKernel);
  Frame other = arp(1, kClientMac, kClient, ipv4(192, 168, 1, 1));
  EXPECT_EQ(h.run(other).action, Action::kPassToKernel);
  Frame reply = arp(2, kClientMac, kClient, kWebLb);
  EXPECT_EQ(h.run(reply).action, Action::kPassToKernel);
}

TEST(Pipeline, GratuitousArp) {
  uint8_t buf[64];
  EXPECT_EQ(build_gratuitous_arp(buf, 32, kNodeMac, kWebLb), 0);
  ASSERT_EQ(build_gratuitous_arp(buf, sizeof buf, kNodeMac, kWebLb), 60);
  Frame f(buf, buf + 60);
  EXPECT_EQ(dst_mac(f), (Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(src_mac(f), kNodeMac);
  Parsed p;
  ASSERT_EQ(parse(view(f), p), DropReason::kNone);
  ASSERT_EQ(p.l3, L3::kArp);
  const uint8_t* a = f.data() + kEthHdrLen;
  EXPECT_EQ(get16(a + 6), 1);
  EXPECT_EQ(get32(a + 14), kWebLb);
  EXPECT_EQ(get32(a + 24), kWebLb);
}

TEST(Pipeline, IcmpEchoToVipIsAnswered) {
  Harness h;
  Frame ping = icmp_echo(kClient, kWebVip, 77, 3, 24);
  ASSERT_EQ(h.run(ping).action, Action::kReply);
  EXPECT_EQ(src_ip(ping), kWebVip);
  EXPECT_EQ(dst_ip(ping), kClient);
  EXPECT_EQ(ping[kEthHdrLen + kIpv4HdrLen], 0);  // echo reply
  EXPECT_EQ(get16(ping.data() + kEthHdrLen + kIpv4HdrLen + 4), 77);
  EXPECT_EQ(dst_mac(ping), kClientMac);
  EXPECT_EQ(src_mac(ping), kNodeMac);
  expect_checksums_valid(ping);

  Frame to_node = icmp_echo(kClient, kNodeIp, 1, 1);
  EXPECT_EQ(h.run(to_node).action, Action::kPassToKernel);
}

TEST(Pipeline, NotOursGoesToTheKernel) {
  Harness h;
  Frame v6(60, 0);
  put16(v6.data() + 12, 0x86dd);
  EXPECT_EQ(h.run(v6).action, Action::kPassToKernel);
  Frame elsewhere = tcp(kClient, 1, ipv4(10, 2, 0, 1), 80, tcp_flag::kSyn);
  EXPECT_EQ(h.run(elsewhere).action, Action::kPassToKernel);
  Frame ssh = tcp(kClient, 1, kNodeIp, 22, tcp_flag::kSyn);
  EXPECT_EQ(h.run(ssh).action, Action::kPassToKernel);
  IpOptions frag;
  frag.frag = 0x2000;
  Frame node_frag = udp(kClient, 1, kNodeIp, 4789, 16, frag);
  EXPECT_EQ(h.run(node_frag).action, Action::kPassToKernel);
  std::vector<uint8_t> gre(8, 0);
  Frame tunnel = ipv4_frame(kClient, kNodeIp, 47, gre);
  EXPECT_EQ(h.run(tunnel).action, Action::kPassToKernel);

  LcoreContext no_table({});
  Frame syn = tcp(kClient, 1, kWebVip, 80, tcp_flag::kSyn);
  EXPECT_EQ(process(view(syn), 0, no_table).action, Action::kPassToKernel);
  EXPECT_EQ(h.ctx.stats.passed.get(), 5u);
  EXPECT_EQ(h.ctx.stats.total_drops(), 0u);
}

// The node's own processes reach VIPs through the exception path: the kernel's frames for a
// Service are told apart from the rest, and the backend's answer goes back to the kernel.
TEST(Pipeline, KernelFramesForServicesAreToldApart) {
  Harness h;
  auto for_services = [&](Frame f) { return kernel_frame_for_services(view(f), *h.table); };
  EXPECT_TRUE(for_services(arp(1, kNodeMac, kNodeIp, kWebVip)));
  EXPECT_TRUE(for_services(arp(1, kNodeMac, kNodeIp, kWebLb)));
  EXPECT_FALSE(for_services(arp(1, kNodeMac, kNodeIp, ipv4(192, 168, 1, 1))));  // its gateway
  EXPECT_FALSE(for_services(arp(2, kNodeMac, kNodeIp, kWebVip)));  // an answer is not asked of us
  EXPECT_TRUE(for_services(tcp(kNodeIp, 40000, kWebVip, 80, tcp_flag::kSyn)));
  EXPECT_TRUE(for_services(udp(kNodeIp, 40000, kDnsVip, 53, 16)));
  EXPECT_FALSE(for_services(tcp(kNodeIp, 40000, ipv4(10, 1, 0, 1), 8080, tcp_flag::kSyn)));
  EXPECT_FALSE(for_services(tcp(kNodeIp, 22, kClient, 50000, tcp_flag::kAck)));
  Frame broken = tcp(kNodeIp, 40000, kWebVip, 80, tcp_flag::kSyn);
  broken.resize(20);
  EXPECT_FALSE(for_services(broken));
}

// What the node's kernel sends to a VIP (a process on the node, or a pod behind it) opens a flow
// whose answers go back into the tap, whatever the client's address.
TEST(Pipeline, ClientsBehindTheNodeKernelReachAClusterIp) {
  for (uint32_t client : {kNodeIp, ipv4(10, 244, 0, 5)}) {
    Harness h;
    Frame syn = tcp(client, 45000, kWebVip, 80, tcp_flag::kSyn, 0);
    PacketView from_kernel = view(syn);
    from_kernel.from_kernel = true;
    Verdict v = process(from_kernel, 0, h.ctx);
    ASSERT_EQ(v.action, Action::kForward) << drop_reason_name(v.reason);
    uint32_t backend = dst_ip(syn);
    EXPECT_EQ(src_ip(syn), client);  // a ClusterIP keeps its client's address
    EXPECT_EQ(dst_port(syn), 8080);

    Frame synack = tcp(backend, 8080, client, 45000, tcp_flag::kSyn | tcp_flag::kAck, 0);
    v = h.run(synack, 1);
    ASSERT_EQ(v.action, Action::kPassToKernel) << "the answer goes to the kernel that asked";
    EXPECT_EQ(src_ip(synack), kWebVip);
    EXPECT_EQ(src_port(synack), 80);
    EXPECT_EQ(dst_ip(synack), client);
    EXPECT_EQ(dst_port(synack), 45000);
    EXPECT_EQ(dst_mac(synack), kNodeMac);  // the tap's MAC is the port's
    expect_checksums_valid(synack);
    EXPECT_EQ(h.ctx.stats.forwarded.get(), 2u);
    EXPECT_EQ(h.ctx.stats.passed.get(), 0u);

    // The same client seen on the wire is answered on the wire.
    Frame wire_syn = tcp(client, 45001, kWebVip, 80, tcp_flag::kSyn, 0);
    ASSERT_EQ(h.run(wire_syn).action, Action::kForward);
    Frame wire_ack = tcp(dst_ip(wire_syn), 8080, client, 45001, tcp_flag::kSyn | tcp_flag::kAck, 0);
    EXPECT_EQ(h.run(wire_ack, 1).action, Action::kForward);
    EXPECT_EQ(dst_mac(wire_ack), kGatewayMac);
  }
}

// Every drop reason, each produced by a frame through the whole pipeline and counted.
TEST(Pipeline, EveryDropReasonIsReachableAndCounted) {
  std::set<DropReason> seen;
  auto expect_drop = [&](Harness& h, Frame f, DropReason want, uint64_t now = 0) {
    uint64_t before = h.ctx.stats.drops(want);
    Verdict v = h.run(f, now);
    EXPECT_EQ(v.action, Action::kDrop) << drop_reason_name(want);
    EXPECT_EQ(v.reason, want) << drop_reason_name(v.reason) << " instead of "
                              << drop_reason_name(want);
    EXPECT_EQ(h.ctx.stats.drops(want), before + 1) << drop_reason_name(want);
    seen.insert(want);
  };
  auto with_ip_csum = [](Frame f) {
    uint8_t* ip = f.data() + kEthHdrLen;
    store<uint16_t>(ip + ip_off::kCsum, 0);
    store<uint16_t>(ip + ip_off::kCsum, csum(ip, (ip[0] & 0x0f) * 4));
    return f;
  };
  Harness h;
  auto syn = [] { return tcp(kClient, 1234, kWebVip, 80, tcp_flag::kSyn); };

  expect_drop(h, Frame(8, 0), DropReason::kTruncatedEthernet);
  Frame vlan(16, 0);
  put16(vlan.data() + 12, proto::kEtherVlan);
  expect_drop(h, vlan, DropReason::kTruncatedVlan);
  Frame short_arp = arp(1, kClientMac, kClient, kWebLb);
  short_arp.resize(30);
  expect_drop(h, short_arp, DropReason::kTruncatedArp);
  Frame bad_arp = arp(1, kClientMac, kClient, kWebLb);
  bad_arp[kEthHdrLen + 4] = 8;
  expect_drop(h, bad_arp, DropReason::kBadArp);
  expect_drop(h, arp(9, kClientMac, kClient, kWebLb), DropReason::kBadArp);
  Frame short_ip = syn();
  short_ip.resize(kEthHdrLen + 10);
  expect_drop(h, short_ip, DropReason::kTruncatedIp);
  Frame v6 = syn();
  v6[kEthHdrLen] = 0x65;
  expect_drop(h, v6, DropReason::kBadIpVersion);
  Frame ihl = syn();
  ihl[kEthHdrLen] = 0x43;
  expect_drop(h, ihl, DropReason::kBadIpHeaderLength);
  Frame total = syn();
  put16(total.data() + kEthHdrLen + ip_off::kTotalLen, 1500);
  expect_drop(h, with_ip_csum(total), DropReason::kBadIpTotalLength);
  Frame bad_csum = syn();
  bad_csum[kEthHdrLen + ip_off::kSrc] ^= 0x10;
  expect_drop(h, bad_csum, DropReason::kBadIpChecksum);
  IpOptions opts;
  opts.options = {0x94, 0x04, 0, 0};
  expect_drop(h, tcp(kClient, 1, kWebVip, 80, tcp_flag::kSyn, 0, opts), DropReason::kIpOptions);
  IpOptions frag;
  frag.frag = 0x2000;
  expect_drop(h, udp(kClient, 1, kDnsVip, 53, 40, frag), DropReason::kFragment);
  std::vector<uint8_t> ten(10, 0);
  expect_drop(h, ipv4_frame(kClient, kWebVip, proto::kTcp, ten), DropReason::kTruncatedL4);
  Frame doff = syn();
  doff[kEthHdrLen + kIpv4HdrLen + 12] = 0x20;
  expect_drop(h, doff, DropReason::kBadL4Header);
  Frame ulen = udp(kClient, 1, kDnsVip, 53, 8);
  put16(ulen.data() + kEthHdrLen + kIpv4HdrLen + 4, 9);
  expect_drop(h, ulen, DropReason::kBadL4Length);
  std::vector<uint8_t> sctp(12, 0);
  expect_drop(h, ipv4_frame(kClient, kWebVip, 132, sctp), DropReason::kUnknownL4Protocol);
  expect_drop(h, icmp_echo(kClient, kWebVip, 1, 1, 8, 13 /* timestamp */),
              DropReason::kIcmpUnsupported);
  expect_drop(h, tcp(kClient, 1, kWebVip, 443, tcp_flag::kSyn), DropReason::kNoService);
  expect_drop(h, tcp(kClient, 1, kEmptyVip, 80, tcp_flag::kSyn), DropReason::kNoBackend);
  expect_drop(h, tcp(kExternal, 1, kNodeIp, 30100, tcp_flag::kSyn), DropReason::kNoLocalBackend);

  // Two ClusterIPs sharing one endpoint, reached from the same client address and port:
  // without SNAT both flows would have the same reply tuple.
  h.specs.push_back(svc(8, "default/a:http", ipv4(10, 96, 0, 60), 80, {be(ipv4(10, 1, 9, 1), 80)}));
  h.specs.push_back(svc(9, "default/b:http", ipv4(10, 96, 0, 61), 80, {be(ipv4(10, 1, 9, 1), 80)}));
  h.rebuild();
  Frame first = tcp(kClient, 7777, ipv4(10, 96, 0, 60), 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(first).action, Action::kForward);
  expect_drop(h, tcp(kClient, 7777, ipv4(10, 96, 0, 61), 80, tcp_flag::kSyn),
              DropReason::kTupleConflict);

  LcoreOptions tiny;
  tiny.flow_capacity = 1;
  Harness small(tiny);
  Frame one = tcp(kClient, 1, kWebVip, 80, tcp_flag::kSyn);
  ASSERT_EQ(small.run(one).action, Action::kForward);
  expect_drop(small, tcp(kClient, 2, kWebVip, 80, tcp_flag::kSyn), DropReason::kConntrackFull);

  // One SNAT port per lcore and a single endpoint: the second external flow has no port left.
  Harness ports;
  ports.node.snat_port_min = 5000;
  ports.node.snat_port_max = 5001;
  ports.rebuild();
  Frame ext = tcp(kExternal, 1, kNodeIp, 30100, tcp_flag::kSyn);
  ports.spec(7).external_policy = TrafficPolicy::kCluster;
  ports.rebuild();
  ASSERT_EQ(ports.run(ext).action, Action::kForward);
  expect_drop(ports, tcp(kExternal, 2, kNodeIp, 30100, tcp_flag::kSyn),
              DropReason::kSnatPortsExhausted);

  // A neighbour table that does not know the backend's MAC yet.
  Harness unresolved;
  auto none = NeighbourTable::build(hton32(ipv4(10, 1, 0, 0)), hton32(0xffff0000), nullptr, {});
  unresolved.ctx.neighbours = none.get();
  expect_drop(unresolved, tcp(kClient, 1, kWebVip, 80, tcp_flag::kSyn), DropReason::kNoNeighbour);

  for (size_t i = 1; i < kDropReasonCount; ++i)
    EXPECT_TRUE(seen.count(static_cast<DropReason>(i)))
        << "untested drop reason " << drop_reason_name(static_cast<DropReason>(i));
}

TEST(Pipeline, BurstMatchesSinglePackets) {
  Harness h;
  std::vector<Frame> frames;
  for (uint16_t p = 0; p < 32; ++p)
    frames.push_back(tcp(kClient, static_cast<uint16_t>(60000 + p), kWebVip, 80, tcp_flag::kSyn));
  frames.push_back(Frame(5, 0));
  std::vector<PacketView> views;
  for (auto& f : frames) views.push_back(view(f));
  std::vector<Verdict> out(views.size());
  process_burst(views.data(), out.data(), static_cast<uint16_t>(views.size()), 0, h.ctx);
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(out[i].action, Action::kForward);
  EXPECT_EQ(out[32].reason, DropReason::kTruncatedEthernet);
  maintain(1000 * kSec, h.ctx);
}

// Drives a BurstQueue as the poll loop in eal_runtime.cpp does: each poll receives 0-64 frames
// (a random count) and stages them; the oldest held burst is processed when the queue is full,
// or when a poll receives nothing. Returns each frame's verdict, by frame.
std::vector<Verdict> run_staged(std::vector<Frame>& frames, uint64_t now, LcoreContext& ctx,
                                uint32_t seed) {
  std::vector<Verdict> out(frames.size());
  std::mt19937 rng(seed);
  BurstQueue q;
  size_t first[BurstQueue::kDepth] = {};
  size_t pos = 0;
  Verdict v[kMaxStagedBurst];
  while (pos < frames.size() || q.held() != 0) {
    EXPECT_LT(q.held(), BurstQueue::kDepth);
    uint16_t n =
        static_cast<uint16_t>(std::min<size_t>(rng() % (kMaxStagedBurst + 1), frames.size() - pos));
    if (rng() % 4 == 0) n = 0;  // an idle poll
    unsigned slot = q.free_slot();
    for (uint16_t i = 0; i < n; ++i) q.views(slot)[i] = view(frames[pos + i]);
    if (n != 0) {
      q.push(n);
      first[slot] = pos;
      pos += n;
    }
    if (q.held() == BurstQueue::kDepth || (n == 0 && q.held() != 0)) {
      unsigned oldest = q.oldest();
      uint16_t m = q.pop(v, now, ctx);
      std::copy(v, v + m, out.begin() + static_cast<ptrdiff_t>(first[oldest]));
    }
  }
  return out;
}

// Cross-burst pipelining changes nothing but timing: a mixed stream (new flows, their replies
// and later packets often in the next burst, ARP, ICMP, UDP, frames not ours, garbage, FINs
// and RSTs) gets the same verdicts, the same rewritten bytes and the same counters as frame
// by frame, in order, each frame exactly once.
TEST(Pipeline, StagedBurstsMatchSinglePackets) {
  const uint32_t kOneVip = ipv4(10, 96, 0, 60);
  const uint32_t kOneBackend = ipv4(10, 1, 6, 1);
  Harness single, staged;
  for (Harness* h : {&single, &staged}) {
    h->specs.push_back(svc(8, "default/one:http", kOneVip, 80, {be(kOneBackend, 80)}));
    h->rebuild();
  }
  std::vector<Frame> frames;
  for (uint16_t i = 0; i < 400; ++i) {
    uint16_t port = static_cast<uint16_t>(20000 + i);
    frames.push_back(tcp(kClient, port, kOneVip, 80, tcp_flag::kSyn));
    if (i >= 2)  // the backend answers, a frame or a burst later
      frames.push_back(tcp(kOneBackend, 80, kClient, static_cast<uint16_t>(port - 2),
                           tcp_flag::kSyn | tcp_flag::kAck));
    if (i >= 5)
      frames.push_back(tcp(kClient, static_cast<uint16_t>(port - 5), kOneVip, 80, tcp_flag::kAck,
                           static_cast<size_t>(i % 7)));
    if (i >= 9 && i % 3 == 0)
      frames.push_back(tcp(kClient, static_cast<uint16_t>(port - 9), kOneVip, 80,
                           tcp_flag::kFin | tcp_flag::kAck));
    if (i >= 9 && i % 11 == 0)
      frames.push_back(
          tcp(kOneBackend, 80, kClient, static_cast<uint16_t>(port - 9), tcp_flag::kRst));
    if (i % 13 == 0) frames.push_back(tcp(kClient, port, kWebVip, 80, tcp_flag::kSyn));
    if (i % 17 == 0) frames.push_back(arp(1, kClientMac, kClient, kWebVip));
    if (i % 19 == 0) frames.push_back(icmp_echo(kClient, kWebVip, 7, i));
    if (i % 23 == 0) frames.push_back(udp(kClient, port, kDnsVip, 53, 12));
    if (i % 29 == 0) frames.push_back(tcp(kClient, port, ipv4(10, 200, 0, 1), 22, tcp_flag::kAck));
    if (i % 31 == 0) frames.push_back(Frame(5, 0));
    if (i % 37 == 0) frames.push_back(tcp(kClient, port, kEmptyVip, 80, tcp_flag::kSyn));
  }
  std::vector<Frame> copy = frames;
  const uint64_t now = 5 * kSec;
  std::vector<Verdict> want;
  for (Frame& f : frames) want.push_back(single.run(f, now));
  std::vector<Verdict> got = run_staged(copy, now, staged.ctx, 1);

  ASSERT_EQ(got.size(), want.size());
  std::set<Action> actions;
  for (size_t i = 0; i < want.size(); ++i) {
    actions.insert(want[i].action);
    EXPECT_EQ(got[i].action, want[i].action) << "frame " << i;
    EXPECT_EQ(got[i].reason, want[i].reason) << "frame " << i;
    EXPECT_EQ(got[i].port, want[i].port) << "frame " << i;
    EXPECT_EQ(copy[i], frames[i]) << "frame " << i;
  }
  // The stream covers every kind of verdict.
  EXPECT_EQ(actions.size(), 4u);
  const LcoreStats& a = single.ctx.stats;
  const LcoreStats& b = staged.ctx.stats;
  EXPECT_EQ(b.rx_packets.get(), frames.size());
  EXPECT_EQ(b.rx_packets.get(), a.rx_packets.get());
  EXPECT_EQ(b.forwarded.get(), a.forwarded.get());
  EXPECT_EQ(b.replied.get(), a.replied.get());
  EXPECT_EQ(b.passed.get(), a.passed.get());
  EXPECT_EQ(b.new_flows.get(), a.new_flows.get());
  EXPECT_EQ(b.total_drops(), a.total_drops());
  EXPECT_EQ(staged.ctx.conntrack.size(), single.ctx.conntrack.size());
  EXPECT_GT(a.new_flows.get(), 400u);
}

// Next hops from a NeighbourTable: the backend's MAC forward, the client's on the reply path;
// unknown on-link addresses are reported once and dropped; ARP senders are gleaned.
TEST(Pipeline, NextHopsComeFromTheNeighbourTable) {
  const Mac kBackendMac{0x02, 0, 0, 0, 1, 0x01};
  Harness h;
  h.specs = {svc(1, "default/web:http", kWebVip, 80, {be(ipv4(10, 0, 0, 50), 8080)})};
  h.rebuild();
  NeighbourEvents events;
  h.ctx.neighbour_events = &events;
  // 10.0.0.0/24 is on-link; the client is known, the backend not yet; no gateway.
  std::vector<NeighbourTable::Entry> known = {{hton32(kClient), kClientMac}};
  auto nt = NeighbourTable::build(hton32(ipv4(10, 0, 0, 0)), hton32(0xffffff00), nullptr, known);
  h.ctx.neighbours = nt.get();

  Frame syn = tcp(kClient, 40000, kWebVip, 80, tcp_flag::kSyn, 0);
  EXPECT_EQ(h.run(syn).reason, DropReason::kNoNeighbour);
  Frame again = tcp(kClient, 40000, kWebVip, 80, tcp_flag::kSyn, 0);
  EXPECT_EQ(h.run(again).reason, DropReason::kNoNeighbour);
  NeighbourEvent ev;
  ASSERT_TRUE(events.ring.pop(&ev));
  EXPECT_EQ(ev.kind, NeighbourEvent::kMiss);
  EXPECT_EQ(ev.ip, hton32(ipv4(10, 0, 0, 50)));
  EXPECT_FALSE(events.ring.pop(&ev)) << "a run of misses to one address is reported once";

  // The backend answers an ARP request: the sender is gleaned and reported.
  Frame reply = arp(2, kBackendMac, ipv4(10, 0, 0, 50), kNodeIp);
  EXPECT_EQ(h.run(reply).action, Action::kPassToKernel);
  ASSERT_TRUE(events.ring.pop(&ev));
  EXPECT_EQ(ev.kind, NeighbourEvent::kLearned);
  EXPECT_EQ(ev.ip, hton32(ipv4(10, 0, 0, 50)));
  EXPECT_EQ(ev.mac, kBackendMac);

  known.push_back({ev.ip, ev.mac});
  nt = NeighbourTable::build(hton32(ipv4(10, 0, 0, 0)), hton32(0xffffff00), nullptr, known);
  h.ctx.neighbours = nt.get();
  // Gleaning reports only news.
  Frame same = arp(2, kBackendMac, ipv4(10, 0, 0, 50), kNodeIp);
  h.run(same);
  EXPECT_FALSE(events.ring.pop(&ev));

  Frame retry = tcp(kClient, 40000, kWebVip, 80, tcp_flag::kSyn, 0);
  ASSERT_EQ(h.run(retry).action, Action::kForward);
  EXPECT_EQ(dst_mac(retry), kBackendMac);
  EXPECT_EQ(src_mac(retry), kNodeMac);
  Frame synack = tcp(ipv4(10, 0, 0, 50), 8080, kClient, 40000, tcp_flag::kSyn | tcp_flag::kAck);
  ASSERT_EQ(h.run(synack).action, Action::kForward);
  EXPECT_EQ(dst_mac(synack), kClientMac);
  EXPECT_EQ(src_ip(synack), kWebVip);

  // Off-link destinations go to the gateway once it is known.
  EXPECT_EQ(nt->next_hop(hton32(kExternal)), nullptr);
  auto with_gw =
      NeighbourTable::build(hton32(ipv4(10, 0, 0, 0)), hton32(0xffffff00), &kGatewayMac, known);
  ASSERT_TRUE(with_gw->next_hop(hton32(kExternal)));
  EXPECT_EQ(*with_gw->next_hop(hton32(kExternal)), kGatewayMac);
  EXPECT_EQ(with_gw->next_hop(hton32(ipv4(10, 0, 0, 99))), nullptr);
}

// With no kernel behind the port, the node address is the data plane's to answer for.
TEST(Pipeline, OwnNodeIpAnswersArpAndPing) {
  Harness h;
  Frame who = arp(1, kClientMac, kClient, kNodeIp);
  EXPECT_EQ(h.run(who).action, Action::kPassToKernel);
  h.node.own_node_ip = true;
  h.rebuild();
  Frame who2 = arp(1, kClientMac, kClient, kNodeIp);
  ASSERT_EQ(h.run(who2).action, Action::kReply);
  EXPECT_EQ(dst_mac(who2), kClientMac);
  EXPECT_EQ(get32(who2.data() + kEthHdrLen + 14), kNodeIp);  // sender protocol address
  Frame ping = icmp_echo(kClient, kNodeIp, 7, 1);
  ASSERT_EQ(h.run(ping).action, Action::kReply);
  EXPECT_EQ(src_ip(ping), kNodeIp);
  EXPECT_EQ(ip_checksum(ping), ip_checksum_recomputed(ping));
}

TEST(Neighbour, ArpRequestFrame) {
  uint8_t buf[64];
  EXPECT_EQ(build_arp_request(buf, 59, kNodeMac, 0, 0), 0);
  ASSERT_EQ(build_arp_request(buf, sizeof buf, kNodeMac, hton32(kNodeIp), hton32(kClient)), 60);
  Frame f(buf, buf + 60);
  EXPECT_EQ(dst_mac(f), (Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(src_mac(f), kNodeMac);
  EXPECT_EQ(get16(f.data() + 12), proto::kEtherArp);
  EXPECT_EQ(get16(f.data() + kEthHdrLen + 6), 1);
  EXPECT_EQ(get32(f.data() + kEthHdrLen + 14), kNodeIp);
  EXPECT_EQ(get32(f.data() + kEthHdrLen + 24), kClient);
  // The pipeline of another node answers it... and ours gleans the sender.
  Harness h;
  NeighbourEvents events;
  auto nt = NeighbourTable::build(0, 0, nullptr, {});
  h.ctx.neighbours = nt.get();
  h.ctx.neighbour_events = &events;
  h.run(f);
  NeighbourEvent ev;
  ASSERT_TRUE(events.ring.pop(&ev));
  EXPECT_EQ(ev.mac, kNodeMac);
}

TEST(Neighbour, RingIsBoundedAndOrdered) {
  SpscRing<int, 4> r;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.push(i));
  EXPECT_FALSE(r.push(4));
  int v;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(r.pop(&v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(r.pop(&v));
  EXPECT_TRUE(r.empty());
}

// A client reuses its source port towards another ClusterIP of the same backend while the first
// connection lingers after its FINs: the finished flow gives way instead of refusing the new one.
TEST(Pipeline, FinishedFlowGivesWayOnReplyTupleClash) {
  Harness h;
  h.specs.push_back(svc(8, "default/a:http", ipv4(10, 96, 0, 60), 80, {be(ipv4(10, 1, 9, 1), 80)}));
  h.specs.push_back(svc(9, "default/b:http", ipv4(10, 96, 0, 61), 80, {be(ipv4(10, 1, 9, 1), 80)}));
  h.rebuild();
  const uint32_t a = ipv4(10, 96, 0, 60), b = ipv4(10, 96, 0, 61), backend = ipv4(10, 1, 9, 1);
  auto run = [&](Frame&& f) { return h.run(f, 1); };
  ASSERT_EQ(run(tcp(kClient, 7777, a, 80, tcp_flag::kSyn)).action, Action::kForward);
  ASSERT_EQ(run(tcp(backend, 80, kClient, 7777, tcp_flag::kSyn | tcp_flag::kAck)).action,
            Action::kForward);
  ASSERT_EQ(run(tcp(backend, 80, kClient, 7777, tcp_flag::kFin | tcp_flag::kAck)).action,
            Action::kForward);
  ASSERT_EQ(run(tcp(kClient, 7777, a, 80, tcp_flag::kFin | tcp_flag::kAck)).action,
            Action::kForward);
  Frame syn_b = tcp(kClient, 7777, b, 80, tcp_flag::kSyn);
  ASSERT_EQ(h.run(syn_b, 1).action, Action::kForward);
  EXPECT_EQ(dst_ip(syn_b), backend);
  // The backend's answer now belongs to the new flow, and comes back from b.
  Frame synack = tcp(backend, 80, kClient, 7777, tcp_flag::kSyn | tcp_flag::kAck);
  ASSERT_EQ(h.run(synack, 1).action, Action::kForward);
  EXPECT_EQ(src_ip(synack), b);
  EXPECT_EQ(h.ctx.stats.drops(DropReason::kTupleConflict), 0u);
}

}  // namespace
}  // namespace k8c::dp
