// Maglev table build time (target: under 2 ms for 1000 backends at M=65537) and lookup cost.
#include <benchmark/benchmark.h>

#include <vector>

#include "dataplane/maglev.h"

namespace {

using namespace k8c::dp;

std::vector<MaglevBackend> backends(size_t n) {
  std::vector<MaglevBackend> b;
  for (size_t i = 0; i < n; ++i) b.push_back({(0x0a010000ULL + i) << 16 | 8080, 1});
  return b;
}

void BM_MaglevBuild(benchmark::State& state) {
  auto b = backends(static_cast<size_t>(state.range(0)));
  uint32_t m = static_cast<uint32_t>(state.range(1));
  for (auto _ : state) {
    MaglevTable t = MaglevTable::build(b, m);
    benchmark::DoNotOptimize(t.slots().data());
  }
  state.SetLabel(std::to_string(b.size()) + " backends, M=" + std::to_string(m));
}
BENCHMARK(BM_MaglevBuild)
    ->Args({1000, 65537})
    ->Args({100, 65537})
    ->Args({10, 65537})
    ->Args({1000, 655373})
    ->Unit(benchmark::kMicrosecond);

void BM_MaglevLookup(benchmark::State& state) {
  MaglevTable t = MaglevTable::build(backends(1000));
  uint64_t h = 1;
  for (auto _ : state) {
    h = mix64(h);
    benchmark::DoNotOptimize(t.lookup(h));
  }
  state.counters["lookups"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MaglevLookup);

}  // namespace

BENCHMARK_MAIN();
