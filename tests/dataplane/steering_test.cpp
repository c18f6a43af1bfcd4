// Software steering with two lcores, run next to the real pipeline: the first packet of a flow
// goes to flow_owner()'s lcore, and the backend's reply (after DNAT, with or without SNAT) must
// be steered to that same lcore, where the reverse NAT finds the flow.
#include "dataplane/steering.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>

#include "dataplane/pipeline.h"
#include "tests/dataplane/fixtures/packet_builder.h"

namespace k8c::dp {
namespace {

using namespace fixtures;

const uint32_t kNode = ipv4(192, 168, 1, 10);
const uint32_t kVip = ipv4(10, 96, 0, 10);
const uint32_t kLb = ipv4(203, 0, 113, 7);

BackendSpec be(uint32_t ip, bool local = false) {
  BackendSpec b;
  b.ip = ip;
  b.port = 8080;
  b.local = local;
  return b;
}

struct TwoLcores {
  TwoLcores() {
    node.node_ip = kNode;
    node.mac = kNodeMac;
    node.gateway_mac = kGatewayMac;
    node.tx_port = 0;
    node.lcores = 2;
    node.snat_port_max = 29999;  // as the runtime sets it: below the NodePort range
    ServiceSpec cluster;  // ClusterIP and LoadBalancer, Cluster policy: SNAT from outside
    cluster.id = 1;
    cluster.name = "default/web:http";
    cluster.cluster_ip = kVip;
    cluster.port = 80;
    cluster.node_port = 30080;
    cluster.load_balancer_ips = {kLb};
    cluster.backends = {be(ipv4(10, 1, 0, 1)), be(ipv4(10, 1, 0, 2)), be(ipv4(10, 1, 0, 3))};
    cluster.maglev_size = 251;
    ServiceSpec local = cluster;  // Local policy: the client address stays
    local.id = 2;
    local.name = "default/local:http";
    local.cluster_ip = ipv4(10, 96, 0, 11);
    local.node_port = 30081;
    local.load_balancer_ips = {};
    local.external_policy = TrafficPolicy::kLocal;
    local.backends = {be(ipv4(10, 1, 1, 1), true), be(ipv4(10, 1, 1, 2), true)};
    std::vector<ServiceSpec> specs = {cluster, local};
    std::string err;
    table = ServiceTable::build(node, specs, &err);
    EXPECT_TRUE(table) << err;
    for (unsigned i = 0; i < 2; ++i) {
      LcoreOptions o;
      o.id = i;
      ctx[i] = std::make_unique<LcoreContext>(o);
      ctx[i]->table = table.get();
    }
  }
  unsigned owner(Frame& f, unsigned self) {
    return flow_owner(f.data(), static_cast<uint16_t>(f.size()), *table, 2, self);
  }

  NodeConfig node;
  std::unique_ptr<ServiceTable> table;
  std::array<std::unique_ptr<LcoreContext>, 2> ctx;
};

// Runs flows from `client` to frontend:port on whichever lcore received them first (both are
// tried), and checks that each reply is steered to the lcore that created the flow.
void round_trips(TwoLcores& t, uint32_t client, uint32_t frontend, uint16_t port,
                 unsigned* per_owner) {
  for (uint16_t sport = 40000; sport < 40200; ++sport) {
    Frame syn = tcp(client, sport, frontend, port, tcp_flag::kSyn);
    unsigned first = t.owner(syn, sport % 2);
    EXPECT_EQ(first, t.owner(syn, 1 - sport % 2)) << "the owner depends on the frame only";
    ++per_owner[first];
    Verdict v = process(view(syn), 0, *t.ctx[first]);
    ASSERT_EQ(v.action, Action::kForward) << drop_reason_name(v.reason);
    // The backend answers whoever the rewritten SYN says sent it.
    Frame synack = tcp(dst_ip(syn), dst_port(syn), src_ip(syn), src_port(syn),
                       tcp_flag::kSyn | tcp_flag::kAck);
    unsigned back = t.owner(synack, 1 - first);
    ASSERT_EQ(back, first) << "reply to " << src_ip(syn) << ":" << src_port(syn)
                           << " steered to the wrong lcore";
    ASSERT_EQ(process(view(synack), 1, *t.ctx[back]).action, Action::kForward);
    EXPECT_EQ(src_ip(synack), frontend);  // reverse NAT found the flow
    EXPECT_EQ(dst_ip(synack), client);
    EXPECT_EQ(dst_port(synack), sport);
  }
}

TEST(Steering, RepliesReachTheLcoreOwningTheFlow) {
  TwoLcores t;
  const uint32_t client = ipv4(198, 51, 100, 5);
  unsigned per_owner[2] = {0, 0};
  round_trips(t, client, kVip, 80, per_owner);      // ClusterIP: client address kept
  round_trips(t, client, kNode, 30080, per_owner);  // NodePort, Cluster policy: SNAT
  round_trips(t, client, kLb, 80, per_owner);       // LoadBalancer IP, Cluster policy: SNAT
  round_trips(t, client, kNode, 30081, per_owner);  // NodePort, Local policy: client kept
  // Both lcores get a share of new flows (800 flows: an empty side is a broken hash).
  EXPECT_GT(per_owner[0], 200u);
  EXPECT_GT(per_owner[1], 200u);
}

TEST(Steering, TheNodeKernelsConnectionsToVipsComeBackToTheirLcore) {
  TwoLcores t;
  unsigned per_owner[2] = {0, 0};
  // The node's own connections use its kernel's ephemeral ports (above the NodePort range).
  for (uint16_t sport = 40000; sport < 40200; ++sport) {
    Frame syn = tcp(kNode, sport, kVip, 80, tcp_flag::kSyn);
    unsigned first = t.owner(syn, sport % 2);
    ++per_owner[first];
    ASSERT_EQ(process(view(syn), 0, *t.ctx[first]).action, Action::kForward);
    Frame synack = tcp(dst_ip(syn), dst_port(syn), kNode, sport, tcp_flag::kSyn | tcp_flag::kAck);
    ASSERT_EQ(t.owner(synack, 1 - first), first) << "reply to the node's port " << sport;
  }
  EXPECT_GT(per_owner[0], 50u);
  EXPECT_GT(per_owner[1], 50u);
}

TEST(Steering, FramesWithoutAFlowStayWhereTheyArrived) {
  TwoLcores t;
  Frame kernel = tcp(ipv4(198, 51, 100, 5), 40000, kNode, 22, tcp_flag::kSyn);  // ssh to the node
  EXPECT_EQ(t.owner(kernel, 0), 0u);
  EXPECT_EQ(t.owner(kernel, 1), 1u);
  IpOptions more_fragments;
  more_fragments.frag = 0x2000;
  Frame frag = tcp(ipv4(198, 51, 100, 5), 40000, kVip, 80, tcp_flag::kSyn, 0, more_fragments);
  EXPECT_EQ(t.owner(frag, 1), 1u);
  Frame tiny(10, 0);
  EXPECT_EQ(t.owner(tiny, 1), 1u);
}

}  // namespace
}  // namespace k8c::dp
