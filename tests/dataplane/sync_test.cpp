#include "dataplane/sync.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/dataplane/fixtures/objects.h"

namespace k8c::dp {
namespace {

using fixtures::obj;

const ServiceSpec* find(const Translation& t, std::string_view name) {
  for (const auto& s : t.services)
    if (s.name == name) return &s;
  return nullptr;
}

bool has_problem(const Translation& t, std::string_view needle) {
  return std::any_of(t.problems.begin(), t.problems.end(),
                     [&](const std::string& p) { return p.find(needle) != std::string::npos; });
}

const char* kNode = R"(
kind: Node
metadata: {name: node-1}
status:
  addresses:
  - {type: Hostname, address: node-1}
  - {type: ExternalIP, address: 203.0.113.1}
  - {type: InternalIP, address: 192.168.1.10}
)";

const char* kWeb = R"(
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30080}
  - {name: dns, port: 53, protocol: UDP, targetPort: 5353, nodePort: 30053}
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7}, {hostname: lb.example.com}]
)";

const char* kWebSlice = R"(
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports:
- {name: http, port: 8080, protocol: TCP}
- {name: dns, port: 5353, protocol: UDP}
endpoints:
- addresses: [10.1.0.1]
  conditions: {ready: true}
  nodeName: node-1
- addresses: [10.1.0.2]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-2
- addresses: [10.1.0.3]
  conditions: {ready: false, serving: true, terminating: true}
  nodeName: node-2
- addresses: [10.1.0.4]
  conditions: {ready: false}
)";

Translation run(Translator& tr, std::vector<ObjectRef> svcs, std::vector<ObjectRef> slices,
                std::vector<ObjectRef> nodes, uint64_t now = 1000) {
  return tr.translate(svcs, slices, nodes, now);
}

TEST(ParseIpv4, AcceptsDottedQuadsOnly) {
  EXPECT_EQ(parse_ipv4("10.96.0.1"), ipv4(10, 96, 0, 1));
  EXPECT_EQ(parse_ipv4("255.255.255.255"), 0xffffffffu);
  for (const char* bad : {"", "10.96.0", "10.96.0.1.2", "256.1.1.1", "1.2.3.4 ", "a.b.c.d",
                          "010.1.1.1", "::1", "1..2.3", "1234.1.1.1"})
    EXPECT_FALSE(parse_ipv4(bad)) << bad;
}

TEST(Translate, FrontendsPortsAndNodeAddress) {
  Translator tr({.node_name = "node-1"});
  Translation t = run(tr, {obj(kWeb)}, {obj(kWebSlice)}, {obj(kNode)});
  EXPECT_TRUE(t.problems.empty()) << t.problems[0];
  EXPECT_EQ(t.node_ip, ipv4(192, 168, 1, 10));
  ASSERT_EQ(t.services.size(), 2u);

  const ServiceSpec* http = find(t, "default/web:http");
  ASSERT_TRUE(http);
  EXPECT_EQ(http->proto, proto::kTcp);
  EXPECT_EQ(http->cluster_ip, ipv4(10, 96, 0, 10));
  EXPECT_EQ(http->port, 80);
  EXPECT_EQ(http->node_port, 30080);
  EXPECT_EQ(http->load_balancer_ips, std::vector<uint32_t>{ipv4(198, 51, 100, 7)});
  // targetPort "http" is resolved through the slice's port of that name.
  ASSERT_EQ(http->backends.size(), 4u);
  for (const auto& b : http->backends) EXPECT_EQ(b.port, 8080);

  const ServiceSpec* dns = find(t, "default/web:dns");
  ASSERT_TRUE(dns);
  EXPECT_EQ(dns->proto, proto::kUdp);
  EXPECT_EQ(dns->node_port, 30053);
  ASSERT_EQ(dns->backends.size(), 4u);
  EXPECT_EQ(dns->backends[0].port, 5353);
  EXPECT_NE(http->id, dns->id);

  // The specs build into a table with every frontend.
  NodeConfig node;
  node.node_ip = t.node_ip;
  std::string err;
  auto table = ServiceTable::build(node, t.services, &err);
  ASSERT_TRUE(table) << err;
  EXPECT_TRUE(table->lookup(hton32(ipv4(192, 168, 1, 10)), hton16(30053), proto::kUdp));
  EXPECT_TRUE(table->lookup(hton32(ipv4(198, 51, 100, 7)), hton16(80), proto::kTcp));
}

TEST(Translate, EndpointConditionsAndLocality) {
  Translator tr({.node_name = "node-1"});
  Translation t = run(tr, {obj(kWeb)}, {obj(kWebSlice)}, {obj(kNode)}, 5000);
  const ServiceSpec* http = find(t, "default/web:http");
  ASSERT_TRUE(http);
  auto be = [&](uint32_t ip) {
    for (const auto& b : http->backends)
      if (b.ip == ip) return b;
    ADD_FAILURE() << "no backend " << ip;
    return BackendSpec{};
  };
  BackendSpec b1 = be(ipv4(10, 1, 0, 1)), b2 = be(ipv4(10, 1, 0, 2)), b3 = be(ipv4(10, 1, 0, 3)),
              b4 = be(ipv4(10, 1, 0, 4));
  EXPECT_TRUE(b1.ready && b1.serving && !b1.terminating && b1.local);
  EXPECT_TRUE(b2.ready && !b2.local);
  EXPECT_TRUE(!b3.ready && b3.serving && b3.terminating);
  EXPECT_EQ(b3.terminating_since_ns, 5000u);
  // ready: false without serving: serving follows ready.
  EXPECT_TRUE(!b4.ready && !b4.serving && !b4.terminating && !b4.local);

  // Only the ready endpoints take new flows.
  NodeConfig node;
  std::string err;
  auto table = ServiceTable::build(node, t.services, &err);
  ASSERT_TRUE(table) << err;
  for (uint32_t i = 0; i < table->service_count(); ++i) {
    const auto& svc = table->service(i);
    if (svc.name != "default/web:http") continue;
    EXPECT_EQ(svc.cluster_candidates.size(), 2u);
  }
}

TEST(Translate, AffinityAndTrafficPolicies) {
  Translator tr({.node_name = "node-1"});
  Translation t = run(tr,
                      {obj(R"(
metadata: {name: sticky, namespace: shop}
spec:
  type: NodePort
  clusterIP: 10.96.0.20
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  externalTrafficPolicy: Local
  internalTrafficPolicy: Local
  ports: [{port: 443, nodePort: 30443}]
)"),
                       obj(R"(
metadata: {name: plain, namespace: shop}
spec:
  clusterIP: 10.96.0.21
  sessionAffinity: ClientIP
  ports: [{port: 80, nodePort: 30081}]
)")},
                      {}, {}, 0);
  EXPECT_TRUE(t.problems.empty()) << t.problems[0];
  const ServiceSpec* s = find(t, "shop/sticky:443");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->affinity_client_ip);
  EXPECT_EQ(s->affinity_timeout_ns, 60 * kNsPerSec);
  EXPECT_EQ(s->external_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(s->internal_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(s->node_port, 30443);
  const ServiceSpec* p = find(t, "shop/plain:80");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->affinity_client_ip);
  EXPECT_EQ(p->affinity_timeout_ns, 10800 * kNsPerSec);
  EXPECT_EQ(p->external_policy, TrafficPolicy::kCluster);
  // A ClusterIP Service has no NodePort even if a nodePort field lingers.
  EXPECT_EQ(p->node_port, 0);
}

TEST(Translate, TargetPortByNumberWithUnnamedSlicePort) {
  // A selector-less Service with a hand-written slice whose port is unnamed.
  Translator tr({});
  Translation t = run(tr, {obj(R"(
metadata: {name: db}
spec: {clusterIP: 10.96.0.30, ports: [{name: pg, port: 5432, targetPort: 15432}]}
)")},
                      {obj(R"(
metadata: {name: db-1, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{port: 15432}]
endpoints: [{addresses: [10.2.0.1]}]
)")},
                      {});
  const ServiceSpec* s = find(t, "default/db:pg");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->backends.size(), 1u);
  EXPECT_EQ(s->backends[0].ip, ipv4(10, 2, 0, 1));
  EXPECT_EQ(s->backends[0].port, 15432);
  EXPECT_TRUE(s->backends[0].ready);  // no conditions: unknown readiness counts as ready
}

TEST(Translate, IdsAndDrainStartsAreStableAcrossRebuilds) {
  Translator tr({.node_name = "node-1"});
  Translation first = run(tr, {obj(kWeb)}, {obj(kWebSlice)}, {obj(kNode)}, 1000);
  uint32_t http_id = find(first, "default/web:http")->id;
  uint32_t dns_id = find(first, "default/web:dns")->id;

  // A Service that sorts first arrives, and time passes: ids and the drain start stay.
  ObjectRef early = obj(R"(
metadata: {name: aaa, namespace: default}
spec: {clusterIP: 10.96.0.40, ports: [{name: http, port: 80}]}
)");
  Translation second = run(tr, {early, obj(kWeb)}, {obj(kWebSlice)}, {obj(kNode)}, 9000);
  EXPECT_EQ(find(second, "default/web:http")->id, http_id);
  EXPECT_EQ(find(second, "default/web:dns")->id, dns_id);
  uint32_t early_id = find(second, "default/aaa:http")->id;
  EXPECT_NE(early_id, http_id);
  EXPECT_NE(early_id, dns_id);
  for (const auto& b : find(second, "default/web:http")->backends) {
    if (b.terminating) {
      EXPECT_EQ(b.terminating_since_ns, 1000u);
    }
  }

  // Once the endpoint stops terminating and starts again, its drain starts afresh.
  std::string slice = kWebSlice;
  slice.replace(slice.find("terminating: true"), 17, "terminating: false");
  run(tr, {obj(kWeb)}, {obj(slice)}, {obj(kNode)}, 10000);
  Translation fourth = run(tr, {obj(kWeb)}, {obj(kWebSlice)}, {obj(kNode)}, 20000);
  for (const auto& b : find(fourth, "default/web:http")->backends) {
    if (b.terminating) {
      EXPECT_EQ(b.terminating_since_ns, 20000u);
    }
  }

  // A deleted and recreated Service gets a new id: old affinity records cannot apply to it.
  run(tr, {}, {}, {}, 30000);
  Translation again = run(tr, {obj(kWeb)}, {}, {}, 40000);
  EXPECT_NE(find(again, "default/web:http")->id, http_id);
}

TEST(Translate, BadObjectsAreSkippedAndReported) {
  Translator tr({.node_name = "node-1"});
  std::vector<ObjectRef> svcs = {
      obj(R"({"metadata": {"namespace": "x"}, "spec": {"clusterIP": "10.96.1.1"}})"),
      obj(R"({"metadata": {"name": "nospec"}})"),
      obj(R"({"metadata": {"name": "badip"}, "spec": {"clusterIP": "10.96.999.1",
              "ports": [{"port": 80}]}})"),
      obj(R"({"metadata": {"name": "badports"}, "spec": {"clusterIP": "10.96.1.2",
              "ports": [{"port": 0}, {"port": "eighty"}, {"port": 81, "protocol": "SCTP"},
                        {"port": 82, "targetPort": -1}, {"port": 83, "targetPort": true},
                        {"name": "ok", "port": 84}, {"port": 85, "nodePort": 70000}]}})"),
      obj(R"({"metadata": {"name": "weird"}, "spec": {"type": "Magic", "clusterIP": "10.96.1.3"}})"),
      obj(R"({"metadata": {"name": "portsnotlist"}, "spec": {"clusterIP": "10.96.1.4",
              "ports": {"port": 80}}})"),
      obj(R"({"metadata": {"name": "affinity"}, "spec": {"clusterIP": "10.96.1.5",
              "sessionAffinity": "ClientIP",
              "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}},
              "externalTrafficPolicy": "Sideways", "ports": [{"port": 80}]}})"),
      obj(R"([1, 2, 3])"),
      obj(R"("just a string")"),
      nullptr,
  };
  std::vector<ObjectRef> slices = {
      obj(R"({"metadata": {"name": "s1", "labels": {"kubernetes.io/service-name": "badports"}},
              "addressType": "IPv4", "ports": [{"name": "ok", "port": 8084}],
              "endpoints": [{"addresses": ["10.3.0.1"]}, {"addresses": ["nope"]},
                            {"addresses": []}, {"conditions": {"ready": true}},
                            {"addresses": ["10.3.0.2"], "conditions": {"ready": "yes"}}]})"),
      obj(R"({"metadata": {"name": "s2", "labels": {"kubernetes.io/service-name": "badports"}},
              "addressType": "IPv4", "ports": "all", "endpoints": "none"})"),
      obj(R"({"metadata": {"name": "v6", "labels": {"kubernetes.io/service-name": "badports"}},
              "addressType": "IPv6", "ports": [{"name": "ok", "port": 8084}],
              "endpoints": [{"addresses": ["fd00::1"]}]})"),
      obj(R"({"metadata": {"name": "s3", "labels": {"kubernetes.io/service-name": "badports"}},
              "addressType": "IPv4", "ports": [{"name": "ok"}],
              "endpoints": [{"addresses": ["10.3.0.9"]}]})"),
  };
  std::vector<ObjectRef> nodes = {obj(R"({"metadata": {"name": "node-1"},
                                          "status": {"addresses": "none"}})")};
  Translation t;
  ASSERT_NO_THROW(t = tr.translate(svcs, slices, nodes, 0));
  EXPECT_TRUE(has_problem(t, "without metadata.name")) << ::testing::PrintToString(t.problems);
  EXPECT_TRUE(has_problem(t, "default/nospec: no spec"));
  EXPECT_TRUE(has_problem(t, "clusterIP '10.96.999.1' is not an IPv4 address"));
  EXPECT_TRUE(has_problem(t, "port 0: port must be 1..65535"));
  EXPECT_TRUE(has_problem(t, "protocol SCTP is not supported"));
  EXPECT_TRUE(has_problem(t, "targetPort must be"));
  EXPECT_TRUE(has_problem(t, "unknown type Magic"));
  EXPECT_TRUE(has_problem(t, "spec.ports is not a list"));
  EXPECT_TRUE(has_problem(t, "timeoutSeconds must be 1..86400"));
  EXPECT_TRUE(has_problem(t, "externalTrafficPolicy 'Sideways'"));
  EXPECT_TRUE(has_problem(t, "address 'nope' is not an IPv4 address"));
  EXPECT_TRUE(has_problem(t, "an endpoint without addresses"));
  EXPECT_TRUE(has_problem(t, "has no port number"));
  EXPECT_TRUE(has_problem(t, "node node-1: no IPv4"));

  // What was valid survives: badports:ok with the good endpoints, affinity:80 with defaults.
  const ServiceSpec* ok = find(t, "default/badports:ok");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->backends.size(), 2u);
  EXPECT_EQ(ok->backends[0].ip, ipv4(10, 3, 0, 1));
  EXPECT_EQ(ok->backends[0].port, 8084);
  EXPECT_TRUE(ok->backends[1].ready);           // a non-boolean condition reads as unknown: ready
  EXPECT_TRUE(find(t, "default/badports:85"));  // its bad nodePort is dropped, not the port
  const ServiceSpec* aff = find(t, "default/affinity:80");
  ASSERT_TRUE(aff);
  EXPECT_EQ(aff->affinity_timeout_ns, 10800 * kNsPerSec);
  EXPECT_EQ(aff->external_policy, TrafficPolicy::kCluster);
  EXPECT_FALSE(find(t, "default/badip:80"));  // no frontend left

  NodeConfig node;
  std::string err;
  EXPECT_TRUE(ServiceTable::build(node, t.services, &err)) << err;
}

// Headless and ExternalName Services have nothing to balance; a dual-stack one works on its IPv4
// side. An IPv6-only one would be balanced by a dual-stack data plane, which this is not: it is
// skipped, and said so.
TEST(Translate, HeadlessExternalNameAndIpv6OnlyAreSkipped) {
  Translator tr({.node_name = "node-1"});
  Translation t = run(tr,
                      {obj(R"(
metadata: {name: headless}
spec: {clusterIP: None, ports: [{port: 80}]}
)"),
                       obj(R"(
metadata: {name: alias}
spec: {type: ExternalName, externalName: example.com}
)"),
                       obj(R"(
metadata: {name: dual}
spec: {clusterIP: "fd00::10", clusterIPs: ["fd00::10", 10.96.0.50], ports: [{port: 80}]}
)"),
                       obj(R"(
metadata: {name: v6only}
spec: {type: NodePort, clusterIP: "fd00::11", clusterIPs: ["fd00::11"],
       ports: [{port: 80, nodePort: 30111}]}
)")},
                      {}, {obj(kNode)});
  ASSERT_EQ(t.problems.size(), 1u);
  EXPECT_TRUE(has_problem(t, "default/v6only: only IPv6 cluster IPs: skipped")) << t.problems[0];
  ASSERT_EQ(t.services.size(), 1u);
  EXPECT_EQ(t.services[0].name, "default/dual:80");
  EXPECT_EQ(t.services[0].cluster_ip, ipv4(10, 96, 0, 50));
}

TEST(Translate, ConflictingFrontendsKeepTheFirstByName) {
  Translator tr({.node_name = {}, .node_ip = ipv4(192, 168, 1, 10)});
  Translation t = run(tr,
                      {obj(R"(
metadata: {name: b}
spec: {type: NodePort, clusterIP: 10.96.0.60, ports: [{port: 80, nodePort: 30000}]}
)"),
                       obj(R"(
metadata: {name: a}
spec: {type: NodePort, clusterIP: 10.96.0.60, ports: [{port: 80, nodePort: 30001}]}
)"),
                       obj(R"(
metadata: {name: c}
spec: {type: NodePort, clusterIP: 10.96.0.61, ports: [{port: 80, nodePort: 30001}]}
)")},
                      {}, {});
  EXPECT_EQ(t.node_ip, ipv4(192, 168, 1, 10));  // the override, with no Node at all
  EXPECT_TRUE(has_problem(t, "default/b:80: ClusterIP 10.96.0.60:80 is already default/a:80's"));
  EXPECT_TRUE(
      has_problem(t, "default/c:80: NodePort 192.168.1.10:30001 is already default/a:80's"));
  ASSERT_EQ(t.services.size(), 3u);
  EXPECT_EQ(find(t, "default/b:80")->cluster_ip, 0u);
  EXPECT_EQ(find(t, "default/b:80")->node_port, 30000);
  EXPECT_EQ(find(t, "default/c:80")->node_port, 0);
  NodeConfig node;
  node.node_ip = t.node_ip;
  std::string err;
  EXPECT_TRUE(ServiceTable::build(node, t.services, &err)) << err;
}

TEST(Translate, DuplicateEndpointsAcrossSlicesCountOnce) {
  Translator tr({});
  auto slice = [](const char* name, const char* ready) {
    return obj(std::string(R"({"metadata": {"name": ")") + name +
               R"(", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
                  "ports": [{"port": 8080}], "endpoints": [{"addresses": ["10.1.0.1"],
                  "conditions": {"ready": )" +
               ready + "}}]}");
  };
  Translation t = run(tr, {obj(R"(
metadata: {name: web}
spec: {clusterIP: 10.96.0.70, ports: [{port: 80, targetPort: 8080}]}
)")},
                      {slice("one", "false"), slice("two", "true")}, {});
  ASSERT_EQ(t.services.size(), 1u);
  ASSERT_EQ(t.services[0].backends.size(), 1u);
  EXPECT_TRUE(t.services[0].backends[0].ready);
}

}  // namespace
}  // namespace k8c::dp
