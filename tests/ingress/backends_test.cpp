// Backend resolution: Service ports by number and by name, EndpointSlice port names, ready and
// terminating endpoints, missing objects and ExternalName Services.
#include <gtest/gtest.h>

#include "ingress/route_table.h"
#include "ingress/test_objects.h"

namespace k8c::ingress {
namespace {

using namespace objects;

std::vector<std::string> addrs(const Backend& b) {
  std::vector<std::string> out;
  for (const Endpoint& e : b.endpoints) out.push_back(e.address + ":" + std::to_string(e.port));
  return out;
}

Json one_path_ingress(Json backend) {
  return ingress("shop", "web")
      .rules({rule("shop.com", {path("/", "Prefix", std::move(backend))})});
}

// A Service with two named ports whose target ports differ from the Service ports, as in real
// clusters, so that using the wrong number would show.
Snapshot two_port_service() {
  Snapshot s;
  s.services.push_back(
      service("shop", "web", {service_port("http", 80, 8080), service_port("admin", 9000, 9090)}));
  s.endpoint_slices.push_back(endpoint_slice("shop", "web-1", "web",
                                             {slice_port("http", 8080), slice_port("admin", 9090)},
                                             {endpoint("10.0.0.1"), endpoint("10.0.0.2")}));
  return s;
}

using V = std::vector<std::string>;

TEST(Backends, PortByNumberResolvesThroughTheServicePortName) {
  Snapshot s = two_port_service();
  s.ingresses.push_back(one_path_ingress(service_backend("web", 9000)));
  auto t = build_route_table(s);
  const Backend& b = *t->match("shop.com", "/")->backend;
  EXPECT_EQ(b.service_namespace, "shop");
  EXPECT_EQ(b.service_name, "web");
  EXPECT_EQ(b.port_name, "admin");
  EXPECT_EQ(b.service_port, 9000);
  EXPECT_EQ(addrs(b), (V{"10.0.0.1:9090", "10.0.0.2:9090"}));
  EXPECT_TRUE(b.error.empty());
}

TEST(Backends, PortByName) {
  Snapshot s = two_port_service();
  s.ingresses.push_back(one_path_ingress(service_backend("web", "http")));
  auto t = build_route_table(s);
  const Backend& b = *t->match("shop.com", "/")->backend;
  EXPECT_EQ(b.port_name, "http");
  EXPECT_EQ(b.service_port, 80);
  EXPECT_EQ(addrs(b), (V{"10.0.0.1:8080", "10.0.0.2:8080"}));
}

TEST(Backends, UnnamedSinglePort) {
  Snapshot s;
  s.services.push_back(service("shop", "web", {service_port("", 80, 3000)}));
  s.endpoint_slices.push_back(
      endpoint_slice("shop", "web-1", "web", {slice_port("", 3000)}, {endpoint("10.0.0.9")}));
  s.ingresses.push_back(one_path_ingress(service_backend("web", 80)));
  auto t = build_route_table(s);
  EXPECT_EQ(addrs(*t->match("shop.com", "/")->backend), V{"10.0.0.9:3000"});
}

TEST(Backends, OnlyReadyAndNotTerminatingEndpoints) {
  Snapshot s;
  s.services.push_back(service("shop", "web", {service_port("http", 80, 8080)}));
  s.endpoint_slices.push_back(endpoint_slice(
      "shop", "web-1", "web", {slice_port("http", 8080)},
      {endpoint("10.0.0.1", true, false),                 // ready
       endpoint("10.0.0.2", false, false),                // not ready
       endpoint("10.0.0.3", true, true),                  // terminating (still ready)
       endpoint("10.0.0.4", false, true),                 // terminating, not ready
       endpoint("10.0.0.5", std::nullopt, std::nullopt),  // conditions unknown: ready
       endpoint("10.0.0.6", std::nullopt, false)}));
  s.ingresses.push_back(one_path_ingress(service_backend("web", 80)));
  auto t = build_route_table(s);
  EXPECT_EQ(addrs(*t->match("shop.com", "/")->backend),
            (V{"10.0.0.1:8080", "10.0.0.5:8080", "10.0.0.6:8080"}));
}

TEST(Backends, EndpointsFromSeveralSlicesAreMergedSortedAndDeduplicated) {
  Snapshot s;
  s.services.push_back(service("shop", "web", {service_port("http", 80, 8080)}));
  s.endpoint_slices.push_back(endpoint_slice("shop", "web-b", "web", {slice_port("http", 8080)},
                                             {endpoint("10.0.0.3"), endpoint("10.0.0.1")}));
  // During a slice rebalance the same endpoint can appear in two slices for a moment.
  s.endpoint_slices.push_back(endpoint_slice("shop", "web-a", "web", {slice_port("http", 8080)},
                                             {endpoint("10.0.0.2"), endpoint("10.0.0.1")}));
  // Same service name in another namespace, and another service here: both must not leak in.
  s.endpoint_slices.push_back(
      endpoint_slice("other", "web-x", "web", {slice_port("http", 8080)}, {endpoint("10.9.9.9")}));
  s.endpoint_slices.push_back(
      endpoint_slice("shop", "api-x", "api", {slice_port("http", 8080)}, {endpoint("10.8.8.8")}));
  s.ingresses.push_back(one_path_ingress(service_backend("web", 80)));
  auto t = build_route_table(s);
  EXPECT_EQ(addrs(*t->match("shop.com", "/")->backend),
            (V{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}));
}

TEST(Backends, SliceWithoutThePortNameContributesNothing) {
  Snapshot s;
  s.services.push_back(service("shop", "web", {service_port("http", 80, 8080)}));
  s.endpoint_slices.push_back(endpoint_slice("shop", "web-1", "web", {slice_port("metrics", 9100)},
                                             {endpoint("10.0.0.1")}));
  s.ingresses.push_back(one_path_ingress(service_backend("web", 80)));
  auto t = build_route_table(s);
  const Backend& b = *t->match("shop.com", "/")->backend;
  EXPECT_TRUE(b.endpoints.empty());
  EXPECT_TRUE(b.error.empty()) << "no endpoints is a normal state (503), not a config error";
}

TEST(Backends, MissingServiceStillMatchesWithAnError) {
  Snapshot s;
  s.ingresses.push_back(one_path_ingress(service_backend("ghost", 80)));
  auto t = build_route_table(s);
  const Route* r = t->match("shop.com", "/");
  ASSERT_NE(r, nullptr) << "the route must match so the proxy answers 503, not 404";
  EXPECT_TRUE(r->backend->endpoints.empty());
  EXPECT_EQ(r->backend->error, "Service shop/ghost not found");
}

TEST(Backends, UnknownPortNameOrNumberIsAnError) {
  Snapshot s = two_port_service();
  s.ingresses.push_back(
      ingress("shop", "web")
          .rules({rule("shop.com", {path("/name", "Prefix", service_backend("web", "grpc")),
                                    path("/number", "Prefix", service_backend("web", 8080))})}));
  auto t = build_route_table(s);
  EXPECT_EQ(t->match("shop.com", "/name")->backend->error, "Service shop/web has no TCP port grpc");
  // 8080 is a target port, not a Service port: Ingress backends name Service ports.
  EXPECT_EQ(t->match("shop.com", "/number")->backend->error,
            "Service shop/web has no TCP port 8080");
  EXPECT_TRUE(t->match("shop.com", "/number")->backend->endpoints.empty());
}

TEST(Backends, UdpServicePortIsNotAnHttpBackend) {
  Snapshot s;
  Json udp = service_port("dns", 53, 53);
  udp["protocol"] = "UDP";
  s.services.push_back(service("shop", "dns", {udp}));
  s.ingresses.push_back(one_path_ingress(service_backend("dns", 53)));
  auto t = build_route_table(s);
  EXPECT_FALSE(t->match("shop.com", "/")->backend->error.empty());
}

TEST(Backends, ExternalNameService) {
  Snapshot s;
  Json ext = service("shop", "payments", {});
  ext["spec"] = {{"type", "ExternalName"}, {"externalName", "pay.example.net"}};
  s.services.push_back(ext);
  s.ingresses.push_back(one_path_ingress(service_backend("payments", 443)));
  auto t = build_route_table(s);
  const Backend& b = *t->match("shop.com", "/")->backend;
  EXPECT_EQ(b.external_name, "pay.example.net");
  EXPECT_EQ(b.service_port, 443);
  EXPECT_TRUE(b.error.empty());
}

TEST(Backends, RoutesToTheSameServicePortShareOneBackend) {
  Snapshot s = two_port_service();
  s.ingresses.push_back(
      ingress("shop", "web")
          .rules({rule("a.com", {path("/", "Prefix", service_backend("web", 80))}),
                  rule("b.com", {path("/", "Prefix", service_backend("web", 80))})}));
  auto t = build_route_table(s);
  EXPECT_EQ(t->match("a.com", "/")->backend, t->match("b.com", "/")->backend);
}

TEST(Backends, ResourceBackendsAreReportedAndSkipped) {
  Snapshot s;
  Json resource = {
      {"resource",
       {{"apiGroup", "k8s.example.com"}, {"kind", "StorageBucket"}, {"name", "static-assets"}}}};
  s.ingresses.push_back(one_path_ingress(resource));
  auto t = build_route_table(s);
  EXPECT_EQ(t->match("shop.com", "/"), nullptr);
  ASSERT_EQ(t->diagnostics().size(), 1u);
  EXPECT_EQ(t->diagnostics()[0].object, "Ingress shop/web");
  EXPECT_NE(t->diagnostics()[0].message.find("resource backends"), std::string::npos);
}

TEST(Backends, BackendNamespaceIsTheIngressNamespace) {
  Snapshot s;
  s.services.push_back(service("other", "web", {service_port("", 80, 80)}));
  s.ingresses.push_back(one_path_ingress(service_backend("web", 80)));
  auto t = build_route_table(s);
  EXPECT_EQ(t->match("shop.com", "/")->backend->error, "Service shop/web not found");
}

}  // namespace
}  // namespace k8c::ingress
