#include "dataplane/health_check.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http.h"
#include "tests/dataplane/fixtures/objects.h"

namespace k8c::dp {
namespace {

using fixtures::obj;

ObjectRef service(const std::string& name, const std::string& policy, int hc_port,
                  const std::string& type = "LoadBalancer") {
  std::string y = "kind: Service\nmetadata: {name: " + name +
                  ", namespace: shop}\nspec:\n  type: " + type +
                  "\n  clusterIP: 10.96.0.9\n  externalTrafficPolicy: " + policy +
                  "\n  ports: [{port: 80, nodePort: 30080}]\n";
  if (hc_port) y += "  healthCheckNodePort: " + std::to_string(hc_port) + "\n";
  return obj(y);
}

// A slice of `svc` whose endpoints are "ip node ready terminating" lines.
ObjectRef slice(const std::string& name, const std::string& svc,
                const std::vector<std::string>& eps) {
  std::string y = "kind: EndpointSlice\nmetadata: {name: " + name +
                  ", namespace: shop, labels: {kubernetes.io/service-name: " + svc +
                  "}}\naddressType: IPv4\nports: [{port: 8080}]\nendpoints:\n";
  for (const auto& e : eps) {
    char ip[32], node[32], ready[8], term[8];
    EXPECT_EQ(std::sscanf(e.c_str(), "%31s %31s %7s %7s", ip, node, ready, term), 4);
    y += std::string("- {addresses: [") + ip + "], nodeName: " + node +
         ", conditions: {ready: " + ready + ", terminating: " + term + "}}\n";
  }
  return obj(y);
}

TEST(HealthChecks, LocalServicesWithAPortAndTheirLocalReadyEndpoints) {
  std::vector<ObjectRef> svcs = {service("lb", "Local", 31001), service("cluster", "Cluster", 0),
                                 service("np", "Local", 31002, "NodePort"),
                                 service("nohc", "Local", 0)};
  std::vector<ObjectRef> slices = {
      slice("lb-1", "lb",
            {"10.0.0.1 node-1 true false", "10.0.0.2 node-2 true false",
             "10.0.0.3 node-1 false false", "10.0.0.4 node-1 true true"}),
      // The same endpoint in a second slice (mid-move) counts once.
      slice("lb-2", "lb", {"10.0.0.1 node-1 true false", "10.0.0.5 node-1 true false"}),
      slice("np-1", "np", {"10.0.1.1 node-2 true false"}),
  };
  std::vector<std::string> problems;
  auto hc = health_checks(svcs, slices, "node-1", &problems);
  ASSERT_EQ(hc.size(), 2u);
  EXPECT_EQ(hc[0], (HealthCheckSpec{"shop", "lb", 31001, 2}));  // .1 and .5
  EXPECT_EQ(hc[1], (HealthCheckSpec{"shop", "np", 31002, 0}));
  EXPECT_TRUE(problems.empty());
}

TEST(HealthChecks, ASharedOrBadPortIsReported) {
  std::vector<ObjectRef> svcs = {service("b", "Local", 31001), service("a", "Local", 31001),
                                 service("c", "Local", 70000)};
  std::vector<std::string> problems;
  auto hc = health_checks(svcs, {}, "node-1", &problems);
  ASSERT_EQ(hc.size(), 1u);
  EXPECT_EQ(hc[0].name, "a");  // the first by name keeps the port
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("shop/c: healthCheckNodePort must be 1..65535"), std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find("shop/b: healthCheckNodePort 31001 is already shop/a's"),
            std::string::npos)
      << problems[1];
}

TEST(HealthChecks, ResponseHasKubeProxysShape) {
  auto r = health_check_response({"default", "web", 31000, 3});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"web\"\n\t},\n"
            "\t\"localEndpoints\": 3,\n\t\"serviceProxyHealthy\": true\n}");
  auto parsed = Json::parse(r.body);
  EXPECT_EQ(parsed["service"]["name"], "web");
  EXPECT_EQ(parsed["localEndpoints"], 3);
  const std::string* weight = http::find_header(r.headers, "X-Load-Balancing-Endpoint-Weight");
  ASSERT_TRUE(weight);
  EXPECT_EQ(*weight, "3");
  EXPECT_EQ(*http::find_header(r.headers, "Content-Type"), "application/json");

  EXPECT_EQ(health_check_response({"default", "web", 31000, 0}).status, 503);
  EXPECT_EQ(health_check_response({"default", "web", 31000, 2}, false).status, 503);
  // Names are JSON-escaped (they are DNS labels in practice, but the body stays JSON).
  auto odd = health_check_response({"a\"b", "c\\d", 1, 1});
  EXPECT_EQ(Json::parse(odd.body)["service"]["namespace"], "a\"b");
}

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

http::Response get(uint16_t port, const std::string& path = "/healthz") {
  http::ClientOptions co;
  co.port = port;
  co.timeout = std::chrono::milliseconds(5000);
  http::Client c(co);
  return c.request("GET", path);
}

constexpr uint32_t kLoopback = 0x7f000001;

TEST(HealthCheckServer, FollowsUpdates) {
  uint16_t p1 = free_port(), p2 = free_port();
  ASSERT_NE(p1, p2);
  HealthCheckServer hs;
  hs.update(kLoopback, {{"shop", "lb", p1, 2}});
  ASSERT_EQ(hs.listening().size(), 1u);
  EXPECT_EQ(hs.listening().at(p1), "shop/lb");
  auto r = get(p1);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json::parse(r.body)["localEndpoints"], 2);
  EXPECT_EQ(get(p1, "/anything").status, 200);  // kube-proxy answers every path

  // The endpoints go: same port, now 503; a second service appears on its own port.
  hs.update(kLoopback, {{"shop", "lb", p1, 0}, {"shop", "other", p2, 1}});
  r = get(p1);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Json::parse(r.body)["localEndpoints"], 0);
  EXPECT_EQ(Json::parse(get(p2).body)["service"]["name"], "other");

  // The first service goes: its port closes, the other stays.
  hs.update(kLoopback, {{"shop", "other", p2, 1}});
  EXPECT_THROW(get(p1), std::runtime_error);
  EXPECT_EQ(get(p2).status, 200);
  hs.stop();
  EXPECT_THROW(get(p2), std::runtime_error);
}

TEST(HealthCheckServer, APortThatCannotOpenIsReportedAndRetried) {
  uint16_t p = free_port();
  HealthCheckServer hs;
  // 192.0.2.1 (TEST-NET-1) is on no interface here.
  hs.update(0xc0000201, {{"shop", "lb", p, 1}});
  EXPECT_TRUE(hs.listening().empty());
  ASSERT_EQ(hs.failures().size(), 1u);
  EXPECT_NE(hs.failures()[0].find(std::to_string(p) + ": "), std::string::npos);
  // Once the address is one the host has, the next update opens it.
  hs.update(kLoopback, {{"shop", "lb", p, 1}});
  EXPECT_TRUE(hs.failures().empty());
  EXPECT_EQ(get(p).status, 200);
  // No address known yet: nothing is served.
  hs.update(0, {{"shop", "lb", p, 1}});
  EXPECT_TRUE(hs.listening().empty());
  EXPECT_THROW(get(p), std::runtime_error);
}

}  // namespace
}  // namespace k8c::dp
