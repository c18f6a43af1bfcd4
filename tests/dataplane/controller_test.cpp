// The control side without an EAL: publishing tables from API objects, counters that survive
// rebuilds, ARP resolution and gleaning through the lcore channels, and the /metrics text.
#include "dataplane/controller.h"

#include <gtest/gtest.h>

#include "dataplane/pipeline.h"
#include "tests/dataplane/fixtures/objects.h"
#include "tests/dataplane/fixtures/packet_builder.h"

namespace k8c::dp {
namespace {

using namespace fixtures;

const char* kService = R"(
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
status: {loadBalancer: {ingress: [{ip: 10.100.0.7}]}}
)";
const char* kSlice = R"(
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.0.0.11]
- addresses: [10.0.0.12]
)";

const uint32_t kNode = ipv4(10, 0, 0, 1);
const uint32_t kClient = ipv4(10, 0, 0, 2);
const Mac kBe1Mac{0x02, 0, 0, 0, 0, 0x11};

struct Fixture {
  explicit Fixture(ControllerOptions o = defaults()) : ctx(LcoreOptions{}) {
    ControllerHooks h;
    h.tables = &tables;
    h.neighbours = &neighbours;
    h.node.mac = kNodeMac;
    h.node.lcores = 1;
    h.now_ns = [this] { return now; };
    h.poll_event = [this](NeighbourEvent* ev) { return events.ring.pop(ev); };
    h.send = [this](const ControlFrame& f) {
      sent.emplace_back(f.data, f.data + f.len);
      return true;
    };
    h.lcores = [this] {
      return std::vector<LcoreLive>{{0, 0, &ctx.stats, &iterations, &busy, &busy, &total, &zero,
                                     &zero, &ctx.conntrack, &to_kernel, &from_kernel, &steered}};
    };
    controller = std::make_unique<Controller>(std::move(o), std::move(h));
  }
  static ControllerOptions defaults() {
    ControllerOptions o;
    o.translate.node_name = "node-1";
    o.translate.node_ip = kNode;
    o.node_prefix_len = 24;
    return o;
  }
  bool rebuild(std::vector<ObjectRef> svcs, std::vector<ObjectRef> slices) {
    bool ok = controller->rebuild(svcs, slices, {});
    ctx.table = tables.current();  // what the lcore loop does every burst
    ctx.neighbours = neighbours.current();
    return ok;
  }
  // Targets of the ARP requests sent so far (host order), and forgets them.
  std::vector<uint32_t> arp_targets() {
    std::vector<uint32_t> out;
    for (auto& f : sent)
      if (get16(f.data() + 12) == proto::kEtherArp && get32(f.data() + kEthHdrLen + 14) != 0 &&
          get32(f.data() + kEthHdrLen + 14) != get32(f.data() + kEthHdrLen + 24))
        out.push_back(get32(f.data() + kEthHdrLen + 24));
    return out;
  }

  Rcu<ServiceTable> tables{1};
  Rcu<NeighbourTable> neighbours{1};
  NeighbourEvents events;
  LcoreContext ctx;
  Counter iterations, busy, total, zero, to_kernel, from_kernel, steered;
  uint64_t now = 1;
  std::vector<std::vector<uint8_t>> sent;
  std::unique_ptr<Controller> controller;
};

TEST(Controller, PublishesTablesFromObjects) {
  Fixture f;
  ASSERT_TRUE(f.rebuild({obj(kService)}, {obj(kSlice)}));
  const ServiceTable* t = f.tables.current();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->service_count(), 1u);
  EXPECT_EQ(t->backend_count(), 2u);
  EXPECT_TRUE(t->lookup(hton32(ipv4(10, 96, 0, 10)), hton16(80), proto::kTcp));
  EXPECT_TRUE(t->lookup(hton32(kNode), hton16(30080), proto::kTcp));
  EXPECT_TRUE(t->node().own_node_ip);
  EXPECT_EQ(f.controller->builds(), 1u);
  EXPECT_EQ(f.controller->node_ip(), kNode);
}

TEST(Controller, AnnouncesLoadBalancerIpsItTakesOver) {
  Fixture f;
  auto garps = [&] {
    int n = 0;
    for (auto& fr : f.sent)
      if (get16(fr.data() + 12) == proto::kEtherArp &&
          get32(fr.data() + kEthHdrLen + 14) == ipv4(10, 100, 0, 7) &&
          get32(fr.data() + kEthHdrLen + 24) == ipv4(10, 100, 0, 7))
        ++n;
    return n;
  };
  ASSERT_TRUE(f.rebuild({obj(kService)}, {obj(kSlice)}));
  EXPECT_EQ(garps(), 1);
  ASSERT_TRUE(f.rebuild({obj(kService)}, {obj(kSlice)}));
  EXPECT_EQ(garps(), 1) << "an IP already announced is not announced again";
}

TEST(Controller, CountersSurviveRebuilds) {
  Fixture f;
  ASSERT_TRUE(f.rebuild({obj(kService)}, {obj(kSlice)}));
  // Both backends' MACs are known, so frames leave.
  f.events.ring.push({NeighbourEvent::kLearned, hton32(ipv4(10, 0, 0, 11)), kBe1Mac});
  f.events.ring.push({NeighbourEvent::kLearned, hton32(ipv4(10, 0, 0, 12)), kBe1Mac});
  f.controller->neighbour_round();
  f.ctx.neighbours = f.neighbours.current();
  for (uint16_t port = 1000; port < 1010; ++port) {
    Frame syn = tcp(kClient, port, ipv4(10, 96, 0, 10), 80, tcp_flag::kSyn);
    ASSERT_EQ(process(view(syn), 1, f.ctx).action, Action::kForward);
  }
  std::string before = f.controller->render_metrics();
  EXPECT_NE(before.find("k8c_dataplane_service_flows_total{service=\"default/web:http\"} 10"),
            std::string::npos)
      << before;
  // An endpoint goes; the new table starts its counters at zero, the totals do not.
  ASSERT_TRUE(f.rebuild({obj(kService)}, {obj(R"(
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.11]}]
)")}));
  std::string after = f.controller->render_metrics();
  EXPECT_NE(after.find("k8c_dataplane_service_flows_total{service=\"default/web:http\"} 10"),
            std::string::npos)
      << after;
  EXPECT_NE(after.find("k8c_dataplane_backend_up{service=\"default/web:http\",backend=\"10.0.0.12:"
                       "8080\"} 0"),
            std::string::npos)
      << after;
  EXPECT_NE(after.find("k8c_dataplane_services 1"), std::string::npos);
  EXPECT_NE(after.find("k8c_dataplane_drops_total{reason=\"no_neighbour\"} 0"), std::string::npos);
  EXPECT_NE(after.find("k8c_dataplane_new_flows_total{lcore=\"0\"} 10"), std::string::npos);
  EXPECT_NE(after.find("# TYPE k8c_dataplane_lcore_utilisation gauge"), std::string::npos);
}

TEST(Controller, ExceptionPathAndSteeringCountersAreExported) {
  Fixture f;
  f.to_kernel.add(7);
  f.from_kernel.add(5);
  f.steered.add(3);
  std::string m = f.controller->render_metrics();
  EXPECT_NE(m.find("# TYPE k8c_dataplane_to_kernel_packets_total counter\n"), std::string::npos);
  EXPECT_NE(m.find("k8c_dataplane_to_kernel_packets_total{lcore=\"0\"} 7\n"), std::string::npos)
      << m;
  EXPECT_NE(m.find("k8c_dataplane_from_kernel_packets_total{lcore=\"0\"} 5\n"), std::string::npos)
      << m;
  EXPECT_NE(m.find("k8c_dataplane_steered_packets_total{lcore=\"0\"} 3\n"), std::string::npos) << m;
}

TEST(Controller, ActiveFlowGaugesOutliveTheirBackend) {
  Fixture f;
  ASSERT_TRUE(f.rebuild({obj(kService)}, {obj(kSlice)}));
  f.ctx.neighbours = nullptr;     // everything to the gateway: no ARP needed for this test
  std::map<uint32_t, int> flows;  // backend (host order) -> flows opened
  for (uint16_t port = 2000; port < 2012; ++port) {
    Frame syn = tcp(kClient, port, ipv4(10, 96, 0, 10), 80, tcp_flag::kSyn);
    ASSERT_EQ(process(view(syn), 1, f.ctx).action, Action::kForward);
    ++flows[dst_ip(syn)];
  }
  auto backend_line = [](const char* ip, int n) {
    return std::string(
               "k8c_dataplane_backend_active_flows{service=\"default/web:http\",backend=\"") +
           ip + ":8080\"} " + std::to_string(n) + "\n";
  };
  std::string m = f.controller->render_metrics();
  EXPECT_NE(m.find("# TYPE k8c_dataplane_service_active_flows gauge"), std::string::npos);
  EXPECT_NE(m.find("k8c_dataplane_service_active_flows{service=\"default/web:http\"} 12\n"),
            std::string::npos)
      << m;
  int on_12 = flows[ipv4(10, 0, 0, 12)];
  EXPECT_NE(m.find(backend_line("10.0.0.11", flows[ipv4(10, 0, 0, 11)])), std::string::npos) << m;
  EXPECT_NE(m.find(backend_line("10.0.0.12", on_12)), std::string::npos) << m;

  // 10.0.0.12 leaves: its TCP flows run on and still count, on it and on the service.
  ASSERT_TRUE(f.rebuild({obj(kService)}, {obj(R"(
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.0.11]}]
)")}));
  m = f.controller->render_metrics();
  EXPECT_NE(m.find("k8c_dataplane_service_active_flows{service=\"default/web:http\"} 12\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(backend_line("10.0.0.12", on_12)), std::string::npos) << m;

  // They all time out; the gauges fall to zero and stay listed.
  f.ctx.conntrack.expire(100'000 * kNsPerSec, f.ctx.conntrack.capacity());
  m = f.controller->render_metrics();
  EXPECT_NE(m.find("k8c_dataplane_service_active_flows{service=\"default/web:http\"} 0\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(backend_line("10.0.0.11", 0)), std::string::npos) << m;
  EXPECT_NE(m.find(backend_line("10.0.0.12", 0)), std::string::npos) << m;
}

TEST(Controller, ResolvesBackendsAndLearnsFromTheLcores) {
  ControllerOptions o = Fixture::defaults();
  o.arp_retry = std::chrono::milliseconds(1000);
  Fixture f(o);
  ASSERT_TRUE(f.rebuild({obj(kService)}, {obj(kSlice)}));
  f.sent.clear();
  f.controller->neighbour_round();
  std::vector<uint32_t> asked = f.arp_targets();
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<uint32_t>{ipv4(10, 0, 0, 11), ipv4(10, 0, 0, 12)}));
  // The requests come from the node address, so answers come back to it.
  EXPECT_EQ(get32(f.sent[0].data() + kEthHdrLen + 14), kNode);

  // Not again before the retry interval; again after it.
  f.sent.clear();
  f.now += 500 * 1'000'000ULL;
  f.controller->neighbour_round();
  EXPECT_TRUE(f.arp_targets().empty());
  f.now += 600 * 1'000'000ULL;
  f.controller->neighbour_round();
  EXPECT_EQ(f.arp_targets().size(), 2u);

  // An answer gleaned by an lcore: published, and no longer asked for.
  f.events.ring.push({NeighbourEvent::kLearned, hton32(ipv4(10, 0, 0, 11)), kBe1Mac});
  f.sent.clear();
  f.now += 2000 * 1'000'000ULL;
  f.controller->neighbour_round();
  const Mac* m = f.neighbours.current()->next_hop(hton32(ipv4(10, 0, 0, 11)));
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, kBe1Mac);
  EXPECT_EQ(f.arp_targets(), std::vector<uint32_t>{ipv4(10, 0, 0, 12)});

  // A miss for a client address is resolved too.
  f.events.ring.push({NeighbourEvent::kMiss, hton32(kClient), {}});
  f.sent.clear();
  f.controller->neighbour_round();
  auto t = f.arp_targets();
  EXPECT_NE(std::find(t.begin(), t.end(), kClient), t.end());
}

TEST(Controller, OffLinkAddressesNeedOnlyTheGateway) {
  ControllerOptions o = Fixture::defaults();
  o.gateway_ip = ipv4(10, 0, 0, 254);
  o.static_neighbours = {{hton32(ipv4(10, 0, 0, 11)), kBe1Mac},
                         {hton32(ipv4(10, 0, 0, 12)), kBe1Mac}};
  Fixture f(o);
  ASSERT_TRUE(f.rebuild({obj(kService)}, {obj(kSlice)}));
  f.sent.clear();
  f.events.ring.push({NeighbourEvent::kMiss, hton32(ipv4(198, 51, 100, 9)), {}});
  f.controller->neighbour_round();
  EXPECT_EQ(f.arp_targets(), std::vector<uint32_t>{ipv4(10, 0, 0, 254)});
  // Static neighbours are never asked for, and are next hops from the start.
  ASSERT_TRUE(f.neighbours.current()->next_hop(hton32(ipv4(10, 0, 0, 12))));
  const Mac kGw{0x02, 0, 0, 0, 0, 0xfe};
  f.events.ring.push({NeighbourEvent::kLearned, hton32(ipv4(10, 0, 0, 254)), kGw});
  f.controller->neighbour_round();
  const Mac* via = f.neighbours.current()->next_hop(hton32(ipv4(198, 51, 100, 9)));
  ASSERT_TRUE(via);
  EXPECT_EQ(*via, kGw);
}

// A build ServiceTable refuses publishes nothing (so the lcores keep what they had) and is counted.
TEST(Controller, AFailedBuildPublishesNothing) {
  ControllerOptions bad = Fixture::defaults();
  bad.translate.maglev_size = 1000;  // not prime: ServiceTable::build refuses it
  Fixture g(bad);
  EXPECT_FALSE(g.rebuild({obj(kService)}, {obj(kSlice)}));
  EXPECT_EQ(g.tables.current(), nullptr);
  EXPECT_NE(g.controller->render_metrics().find("k8c_dataplane_table_build_failures_total 1"),
            std::string::npos);
}

TEST(Controller, ProblemsAreKeptForTheLog) {
  Fixture f;
  ASSERT_TRUE(f.rebuild({obj(kService), obj(R"({"metadata": {"name": "x"}})")}, {}));
  ASSERT_EQ(f.controller->problems().size(), 1u);
  EXPECT_NE(f.controller->problems()[0].find("default/x: no spec"), std::string::npos);
}

}  // namespace
}  // namespace k8c::dp
