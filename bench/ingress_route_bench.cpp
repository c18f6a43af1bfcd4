// Ingress route table: lookup cost with 10,000 hosts (target < 200 ns) and the time to build a
// table for 10,000 Ingress hosts (target well under a second), the two numbers issue 4 asks for.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "ingress/route_publish.h"
#include "ingress/route_table.h"
#include "ingress/test_objects.h"

namespace {

using namespace k8c::ingress;
using namespace k8c::ingress::objects;
using k8c::Json;

constexpr int kServices = 100;

// n Ingresses, one host each with three paths; every tenth also routes a wildcard host. The
// Services have three ready endpoints apiece behind one EndpointSlice.
Snapshot make_snapshot(int hosts) {
  Snapshot s;
  for (int i = 0; i < kServices; ++i) {
    std::string name = "svc-" + std::to_string(i);
    s.services.push_back(service("default", name, {service_port("http", 80, 8080)}));
    std::vector<Json> eps;
    for (int e = 0; e < 3; ++e) {
      eps.push_back(endpoint("10.1." + std::to_string(i) + "." + std::to_string(e + 1)));
    }
    s.endpoint_slices.push_back(
        endpoint_slice("default", name + "-abc", name, {slice_port("http", 8080)}, eps));
  }
  for (int i = 0; i < hosts; ++i) {
    std::string svc = "svc-" + std::to_string(i % kServices);
    std::vector<Json> paths = {path("/", "Prefix", service_backend(svc, 80)),
                               path("/api", "Prefix", service_backend(svc, "http")),
                               path("/api/v1/login", "Exact", service_backend(svc, 80))};
    IngressBuilder ing = ingress("default", "ing-" + std::to_string(i));
    ing.rules({rule("host-" + std::to_string(i) + ".example.com", paths)});
    if (i % 10 == 0) ing.rules({rule("*.wild-" + std::to_string(i) + ".example.com", paths)});
    s.ingresses.push_back(ing);
  }
  return s;
}

struct Query {
  std::string host;
  std::string target;
};

// A fixed mix: 55% exact-host hits (some with port and mixed case), 20% wildcard hits, 25% misses
// (unknown hosts, and names two labels under a wildcard).
std::vector<Query> make_queries(int hosts, size_t n) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> host(0, hosts - 1);
  std::uniform_int_distribution<int> pct(0, 99);
  const char* targets[] = {"/", "/api/v1/login", "/api/orders/17?expand=items", "/static/app.js"};
  std::vector<Query> out;
  for (size_t i = 0; i < n; ++i) {
    int h = host(rng);
    int p = pct(rng);
    std::string target = targets[i % 4];
    if (p < 45) {
      out.push_back({"host-" + std::to_string(h) + ".example.com", target});
    } else if (p < 55) {
      out.push_back({"Host-" + std::to_string(h) + ".Example.com:8080", target});
    } else if (p < 75) {
      out.push_back(
          {"user" + std::to_string(h) + ".wild-" + std::to_string(h / 10 * 10) + ".example.com",
           target});
    } else if (p < 90) {
      out.push_back({"unknown-" + std::to_string(h) + ".example.org", target});
    } else {
      out.push_back({"a.b.wild-" + std::to_string(h / 10 * 10) + ".example.com", target});
    }
  }
  return out;
}

const Snapshot& snapshot_10k() {
  static const Snapshot s = make_snapshot(10'000);
  return s;
}

const Snapshot& snapshot_100() {
  static const Snapshot s = make_snapshot(100);
  return s;
}

// Arg: number of hosts. 100 hosts fit in cache; 10,000 show what cache misses add.
void BM_RouteLookup(benchmark::State& state) {
  const int hosts = static_cast<int>(state.range(0));
  auto table = build_route_table(hosts == 100 ? snapshot_100() : snapshot_10k());
  auto queries = make_queries(hosts, 8192);
  size_t i = 0;
  size_t hits = 0;
  for (auto _ : state) {
    const Query& q = queries[i++ & 8191];
    const Route* r = table->match(q.host, q.target);
    hits += r != nullptr;
    benchmark::DoNotOptimize(r);
  }
  state.counters["hosts"] = static_cast<double>(table->host_count());
  state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouteLookup)->Arg(10'000)->Arg(100);

// The same lookups as a proxy thread does them: through its RouteTableReader.
void BM_RouteLookupThroughReader(benchmark::State& state) {
  RouteTableHolder holder;
  holder.publish(build_route_table(snapshot_10k()));
  RouteTableReader reader(holder);
  auto queries = make_queries(10'000, 8192);
  size_t i = 0;
  for (auto _ : state) {
    const Query& q = queries[i++ & 8191];
    benchmark::DoNotOptimize(reader.current()->match(q.host, q.target));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouteLookupThroughReader);

void BM_RouteTableBuild(benchmark::State& state) {
  const Snapshot& snap = snapshot_10k();
  size_t routes = 0;
  for (auto _ : state) {
    auto table = build_route_table(snap);
    routes = table->route_count();
    benchmark::DoNotOptimize(table);
  }
  state.counters["ingresses"] = static_cast<double>(snap.ingresses.size());
  state.counters["routes"] = static_cast<double>(routes);
}
BENCHMARK(BM_RouteTableBuild)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
