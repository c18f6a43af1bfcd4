#include "dataplane/health_check.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "common/http.h"
#include "tests/common/fixtures/threads.h"
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

// ---- the proxy's own health ----

using std::chrono::seconds;
using Sys = std::chrono::system_clock;

// A clock the test moves by hand.
struct FakeClock {
  ProxyHealthTracker::Time t{std::chrono::steady_clock::time_point{} + std::chrono::hours(1),
                             Sys::from_time_t(1764049620)};
  void advance(std::chrono::nanoseconds d) {
    t.mono += d;
    t.wall += std::chrono::duration_cast<Sys::duration>(d);
  }
  std::function<ProxyHealthTracker::Time()> fn() {
    return [this] { return t; };
  }
};

ProxyHealthTracker::Options tracker_options(FakeClock& clock) {
  ProxyHealthTracker::Options o;
  o.table_timeout = seconds(10);
  o.lcore_timeout = seconds(3);
  o.now = clock.fn();
  return o;
}

TEST(ProxyHealthTracker, StaleWhenAChangeWaitsLongerThanTheTimeout) {
  FakeClock clock;
  ProxyHealthTracker t(tracker_options(clock));
  auto h = t.check();
  EXPECT_TRUE(h.healthy);                        // nothing pending at start-up, as kube-proxy
  EXPECT_EQ(h.last_updated, Sys::time_point{});  // never updated
  EXPECT_EQ(h.current_time, clock.t.wall);

  t.queued();
  clock.advance(seconds(5));
  t.queued();  // a second change: the oldest pending one counts
  clock.advance(seconds(4));
  EXPECT_TRUE(t.check().healthy);  // 9 s pending, limit 10
  clock.advance(seconds(1));
  h = t.check();
  EXPECT_FALSE(h.healthy);
  EXPECT_NE(h.reason.find("waited 10"), std::string::npos) << h.reason;

  Sys::time_point applied = clock.t.wall;
  t.updated();
  clock.advance(seconds(60));  // nothing pending: an old update is no staleness
  h = t.check();
  EXPECT_TRUE(h.healthy);
  EXPECT_TRUE(h.reason.empty());
  EXPECT_EQ(h.last_updated, applied);

  // A change applied within the limit never shows.
  t.queued();
  clock.advance(seconds(9));
  t.updated();
  clock.advance(seconds(9));
  EXPECT_TRUE(t.check().healthy);
}

TEST(ProxyHealthTracker, UnhealthyWhileAnLcoreStopsLooping) {
  FakeClock clock;
  ProxyHealthTracker t(tracker_options(clock));
  std::vector<uint64_t> iterations = {100, 200};
  t.set_lcores([&] { return iterations; });
  EXPECT_TRUE(t.check().healthy);  // first sample: both count as moving
  clock.advance(seconds(2));
  iterations = {150, 200};  // lcore 1 stuck, within the limit so far
  EXPECT_TRUE(t.check().healthy);
  clock.advance(seconds(1));
  iterations = {180, 200};
  auto h = t.check();  // lcore 1 has not moved for 3 s
  EXPECT_FALSE(h.healthy);
  EXPECT_NE(h.reason.find("lcore #1"), std::string::npos) << h.reason;
  iterations = {181, 201};  // it loops again
  EXPECT_TRUE(t.check().healthy);

  // Both stop: still unhealthy after the limit, however often it is asked.
  clock.advance(seconds(3));
  EXPECT_FALSE(t.check().healthy);
  EXPECT_FALSE(t.check().healthy);
  // No lcores to watch (the runtime stopped being asked): healthy by this measure.
  t.set_lcores({});
  EXPECT_TRUE(t.check().healthy);
}

TEST(ProxyHealthTracker, NodeEligibilityIsReportedApart) {
  FakeClock clock;
  ProxyHealthTracker t(tracker_options(clock));
  t.set_node_eligible(false);
  auto h = t.check();
  EXPECT_TRUE(h.healthy);  // serviceProxyHealthy ignores it, as kube-proxy's IsHealthy()
  EXPECT_FALSE(h.node_eligible);
  EXPECT_EQ(healthz_response(h).status, 503);
  EXPECT_EQ(healthz_response(h, /*livez=*/true).status, 200);
}

TEST(NodeEligible, DeletionOrAutoscalerTaint) {
  std::vector<ObjectRef> nodes = {obj("kind: Node\nmetadata: {name: node-1}\n")};
  EXPECT_TRUE(node_eligible(nodes, "node-1"));
  EXPECT_TRUE(node_eligible({}, "node-1"));  // not seen yet
  nodes = {
      obj("kind: Node\nmetadata: {name: node-1, deletionTimestamp: "
          "'2026-01-01T00:00:00Z'}\n")};
  EXPECT_FALSE(node_eligible(nodes, "node-1"));
  EXPECT_TRUE(node_eligible(nodes, "node-2"));  // another node's deletion is not ours
  nodes = {
      obj("kind: Node\nmetadata: {name: node-1}\nspec:\n  taints:\n  - {key: other, "
          "effect: NoSchedule}\n  - {key: ToBeDeletedByClusterAutoscaler, value: '1', "
          "effect: NoSchedule}\n")};
  EXPECT_FALSE(node_eligible(nodes, "node-1"));
  nodes = {
      obj("kind: Node\nmetadata: {name: node-1}\nspec:\n  taints:\n  - {key: other, "
          "effect: NoSchedule}\n")};
  EXPECT_TRUE(node_eligible(nodes, "node-1"));
}

TEST(Healthz, KubeProxysShapeAndStatus) {
  ProxyHealth h;
  h.current_time = Sys::from_time_t(1764049620) + std::chrono::nanoseconds(123456789);
  h.last_updated = Sys::from_time_t(1764049600);
  auto r = healthz_response(h);
  EXPECT_EQ(r.status, 200);
  // Healthy: lastUpdated is the current time, as kube-proxy writes it.
  EXPECT_EQ(r.body,
            "{\"lastUpdated\": \"2025-11-25 05:47:00.123456789 +0000 UTC\",\"currentTime\": "
            "\"2025-11-25 05:47:00.123456789 +0000 UTC\", \"nodeEligible\": true}");
  EXPECT_EQ(*http::find_header(r.headers, "Content-Type"), "application/json");
  EXPECT_EQ(*http::find_header(r.headers, "X-Content-Type-Options"), "nosniff");

  h.healthy = false;
  h.current_time = Sys::from_time_t(1764049620) + std::chrono::milliseconds(500);
  r = healthz_response(h);
  EXPECT_EQ(r.status, 503);
  auto j = Json::parse(r.body);
  EXPECT_EQ(j["lastUpdated"], "2025-11-25 05:46:40 +0000 UTC");  // the last real update
  EXPECT_EQ(j["currentTime"], "2025-11-25 05:47:00.5 +0000 UTC");
  EXPECT_EQ(j["nodeEligible"], true);
  r = healthz_response(h, /*livez=*/true);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body,
            "{\"lastUpdated\": \"2025-11-25 05:46:40 +0000 UTC\",\"currentTime\": "
            "\"2025-11-25 05:47:00.5 +0000 UTC\"}");

  h.last_updated = {};  // never updated: Go's zero time
  EXPECT_EQ(Json::parse(healthz_response(h).body)["lastUpdated"], "0001-01-01 00:00:00 +0000 UTC");
}

TEST(HealthCheckServer, AnUnhealthyProxyAnswers503OnEveryPort) {
  uint16_t p = free_port();
  std::atomic<bool> healthy{true};
  HealthCheckServer hs([&] {
    ProxyHealth h;
    h.healthy = healthy.load();
    return h;
  });
  hs.update(kLoopback, {{"shop", "lb", p, 2}});
  auto r = get(p);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json::parse(r.body)["serviceProxyHealthy"], true);
  healthy = false;
  r = get(p);
  EXPECT_EQ(r.status, 503);
  auto j = Json::parse(r.body);
  EXPECT_EQ(j["serviceProxyHealthy"], false);
  EXPECT_EQ(j["localEndpoints"], 2);  // the endpoints are still reported
  healthy = true;
  EXPECT_EQ(get(p).status, 200);
}

TEST(HealthCheckServer, ServesHealthzFromTheTracker) {
  FakeClock clock;
  auto tracker = std::make_shared<ProxyHealthTracker>(tracker_options(clock));
  HealthCheckServer hs([tracker] { return tracker->check(); });
  uint16_t port = hs.serve_healthz("127.0.0.1:0");
  ASSERT_NE(port, 0);
  EXPECT_THROW(hs.serve_healthz("127.0.0.1:0"), std::runtime_error);  // once only

  auto r = get(port, "/healthz");
  EXPECT_EQ(r.status, 200);
  auto j = Json::parse(r.body);
  EXPECT_EQ(j["nodeEligible"], true);
  EXPECT_EQ(j["lastUpdated"], j["currentTime"]);
  EXPECT_EQ(get(port, "/livez").status, 200);
  EXPECT_EQ(get(port, "/other").status, 404);

  tracker->queued();
  clock.advance(seconds(11));
  r = get(port, "/healthz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Json::parse(r.body)["lastUpdated"], "0001-01-01 00:00:00 +0000 UTC");
  EXPECT_EQ(get(port, "/livez").status, 503);
  tracker->updated();
  EXPECT_EQ(get(port, "/healthz").status, 200);
  hs.stop();
  EXPECT_THROW(get(port, "/healthz"), std::runtime_error);
  hs.update(kLoopback, {{"shop", "lb", free_port(), 1}});  // after stop(): nothing opens
  EXPECT_TRUE(hs.listening().empty());
}

using k8c::test_support::thread_count;

TEST(HealthCheckServer, FiftyPortsOnOneThread) {
  std::set<uint16_t> ports;
  while (ports.size() < 50) ports.insert(free_port());
  std::vector<HealthCheckSpec> specs;
  for (uint16_t p : ports)
    specs.push_back({"shop", "svc-" + std::to_string(p), p, static_cast<uint32_t>(p % 3)});
  size_t before = thread_count();
  ASSERT_GT(before, 0u);
  HealthCheckServer hs;
  hs.update(kLoopback, specs);
  ASSERT_EQ(hs.listening().size(), 50u) << (hs.failures().empty() ? "" : hs.failures()[0]);
  uint16_t healthz = hs.serve_healthz("127.0.0.1:0");
  for (const auto& s : specs) {
    auto r = get(s.port);
    EXPECT_EQ(r.status, s.local_endpoints ? 200 : 503);
    EXPECT_EQ(Json::parse(r.body)["service"]["name"], s.name);
  }
  EXPECT_EQ(get(healthz, "/healthz").status, 200);
  // One I/O thread for the 50 ports and /healthz, not one each.
  EXPECT_EQ(thread_count(), before + 1);
  hs.stop();
  EXPECT_EQ(thread_count(), before);
}

}  // namespace
}  // namespace k8c::dp
