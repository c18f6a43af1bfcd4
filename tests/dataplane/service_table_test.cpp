#include "dataplane/service_table.h"

#include <gtest/gtest.h>

namespace k8c::dp {
namespace {

NodeConfig node() {
  NodeConfig n;
  n.node_ip = ipv4(192, 168, 1, 10);
  n.lcores = 4;
  n.snat_port_min = 1024;
  n.snat_port_max = 65535;
  return n;
}

ServiceSpec web() {
  ServiceSpec s;
  s.id = 1;
  s.name = "default/web:http";
  s.cluster_ip = ipv4(10, 96, 0, 10);
  s.port = 80;
  s.node_port = 30080;
  s.load_balancer_ips = {ipv4(203, 0, 113, 7)};
  s.backends = {{ipv4(10, 1, 0, 1), 8080}, {ipv4(10, 1, 0, 2), 8080}};
  s.maglev_size = 251;
  return s;
}

TEST(ServiceTable, FrontendsOfEveryKind) {
  std::vector<ServiceSpec> specs = {web()};
  std::string err;
  auto t = ServiceTable::build(node(), specs, &err);
  ASSERT_TRUE(t) << err;
  auto* c = t->lookup(hton32(ipv4(10, 96, 0, 10)), hton16(80), proto::kTcp);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, FrontendKind::kClusterIp);
  auto* n = t->lookup(hton32(ipv4(192, 168, 1, 10)), hton16(30080), proto::kTcp);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, FrontendKind::kNodePort);
  auto* l = t->lookup(hton32(ipv4(203, 0, 113, 7)), hton16(80), proto::kTcp);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind, FrontendKind::kLoadBalancer);
  EXPECT_FALSE(t->lookup(hton32(ipv4(10, 96, 0, 10)), hton16(80), proto::kUdp));
  EXPECT_FALSE(t->lookup(hton32(ipv4(10, 96, 0, 10)), hton16(81), proto::kTcp));

  EXPECT_EQ(t->address_kind(hton32(ipv4(10, 96, 0, 10))), AddressKind::kVip);
  EXPECT_EQ(t->address_kind(hton32(ipv4(203, 0, 113, 7))), AddressKind::kVip);
  EXPECT_EQ(t->address_kind(hton32(ipv4(192, 168, 1, 10))), AddressKind::kNodeIp);
  EXPECT_EQ(t->address_kind(hton32(ipv4(8, 8, 8, 8))), AddressKind::kNone);
}

TEST(ServiceTable, ConflictingFrontendsAreRejected) {
  ServiceSpec a = web(), b = web();
  b.id = 2;
  b.name = "default/other:http";
  b.node_port = 0;
  b.load_balancer_ips.clear();
  std::vector<ServiceSpec> specs = {a, b};
  std::string err;
  EXPECT_FALSE(ServiceTable::build(node(), specs, &err));
  EXPECT_NE(err.find("10.96.0.10:80"), std::string::npos) << err;
  // The same address and port over UDP is a different frontend.
  specs[1].proto = proto::kUdp;
  EXPECT_TRUE(ServiceTable::build(node(), specs, &err)) << err;
}

TEST(ServiceTable, InvalidSpecsAreRejected) {
  std::string err;
  ServiceSpec s = web();
  s.maglev_size = 1000;
  std::vector<ServiceSpec> specs = {s};
  EXPECT_FALSE(ServiceTable::build(node(), specs, &err));
  EXPECT_NE(err.find("prime"), std::string::npos);
  specs[0] = web();
  specs[0].proto = 132;
  EXPECT_FALSE(ServiceTable::build(node(), specs, &err));
  NodeConfig bad = node();
  bad.snat_port_min = 2000;
  bad.snat_port_max = 2001;
  EXPECT_FALSE(ServiceTable::build(bad, {}, &err));
}

TEST(ServiceTable, CandidatesFollowEndpointConditions) {
  ServiceSpec s = web();
  s.backends = {{ipv4(10, 1, 0, 1), 80, 1, true, true, false, true},
                {ipv4(10, 1, 0, 2), 80, 1, false, true, true, false, 5},
                {ipv4(10, 1, 0, 3), 80, 1, true, true, false, false}};
  s.external_policy = TrafficPolicy::kLocal;
  std::vector<ServiceSpec> specs = {s};
  auto t = ServiceTable::build(node(), specs, nullptr);
  ASSERT_TRUE(t);
  const auto& svc = t->service(0);
  EXPECT_EQ(svc.cluster_candidates, (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(svc.local_candidates, (std::vector<uint32_t>{0}));
  EXPECT_EQ(t->backend(1).drain_deadline_ns, 5 + s.drain_timeout_ns);
  EXPECT_TRUE(t->eligible(svc, true, 0));
  EXPECT_FALSE(t->eligible(svc, true, 2));
  EXPECT_EQ(t->find_backend(0, hton32(ipv4(10, 1, 0, 3)), hton16(80)), 2);
  EXPECT_EQ(t->find_backend(0, hton32(ipv4(10, 1, 0, 9)), hton16(80)), -1);

  // With no ready endpoint, serving terminating endpoints take new flows.
  for (auto& b : s.backends) b.ready = false;
  s.backends[0].terminating = s.backends[2].terminating = true;
  s.backends[2].serving = false;
  specs = {s};
  t = ServiceTable::build(node(), specs, nullptr);
  EXPECT_EQ(t->service(0).cluster_candidates, (std::vector<uint32_t>{0, 1}));
}

TEST(ServiceTable, SnatRangesPartitionThePortSpace) {
  auto t = ServiceTable::build(node(), {}, nullptr);
  ASSERT_TRUE(t);
  uint32_t next = 1024;
  for (unsigned l = 0; l < 4; ++l) {
    auto [lo, hi] = t->snat_range(l);
    EXPECT_EQ(lo, next);
    EXPECT_EQ(t->snat_owner(lo), l);
    EXPECT_EQ(t->snat_owner(hi), l);
    next = hi + 1u;
  }
  EXPECT_EQ(next, 65536u);
}

TEST(ServiceTable, GenerationsDiffer) {
  auto a = ServiceTable::build(node(), {}, nullptr);
  auto b = ServiceTable::build(node(), {}, nullptr);
  EXPECT_NE(a->generation(), b->generation());
}

}  // namespace
}  // namespace k8c::dp
