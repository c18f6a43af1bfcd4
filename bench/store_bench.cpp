// Store micro-benchmarks: what group commit buys (one fsync per write vs. one per burst) and
// the cost of reads served from memory vs. from the log.
#include "control/store/sqlite_store.h"

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>

namespace {

using namespace k8c::store;

class Dir {
 public:
  Dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "k8c-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~Dir() { std::filesystem::remove_all(path_); }
  std::string db() const { return (path_ / "state.db").string(); }

 private:
  std::filesystem::path path_;
};

const std::string kValue(512, 'v');

// One writer waiting for each write: every write pays a full fsync.
void BM_WriteSync(benchmark::State& state) {
  Dir dir;
  SqliteStore s(dir.db());
  int64_t i = 0;
  for (auto _ : state) {
    auto r = s.write_sync(Write{Write::Op::create, "/k/" + std::to_string(i++), kValue, 0});
    if (r.err != Errc::ok) state.SkipWithError(to_string(r.err));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WriteSync)->Unit(benchmark::kMicrosecond)->UseRealTime();

// `range(0)` concurrent writers in flight: group commit shares each fsync among them.
void BM_WriteBurst(benchmark::State& state) {
  Dir dir;
  SqliteStore s(dir.db());
  const int64_t burst = state.range(0);
  int64_t i = 0;
  for (auto _ : state) {
    std::mutex mu;
    std::condition_variable cv;
    int64_t left = burst;
    for (int64_t k = 0; k < burst; ++k) {
      s.write(Write{Write::Op::create, "/k/" + std::to_string(i++), kValue, 0}, [&](WriteResult) {
        std::lock_guard l(mu);
        if (--left == 0) cv.notify_all();
      });
    }
    std::unique_lock l(mu);
    cv.wait(l, [&] { return left == 0; });
  }
  state.SetItemsProcessed(state.iterations() * burst);
  state.counters["writes_per_tx"] =
      static_cast<double>(s.stats().writes) / static_cast<double>(s.stats().transactions);
}
BENCHMARK(BM_WriteBurst)->Arg(16)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

void fill(SqliteStore& s, int n) {
  for (int i = 0; i < n; i += 256) {
    std::mutex mu;
    std::condition_variable cv;
    int left = std::min(256, n - i);
    for (int k = i; k < i + 256 && k < n; ++k) {
      s.write(Write{Write::Op::create, "/pods/ns/p" + std::to_string(k), kValue, 0},
              [&](WriteResult) {
                std::lock_guard l(mu);
                if (--left == 0) cv.notify_all();
              });
    }
    std::unique_lock l(mu);
    cv.wait(l, [&] { return left == 0; });
  }
}

void BM_RangeLatest(benchmark::State& state) {
  Dir dir;
  SqliteStore s(dir.db());
  fill(s, static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(s.range("/pods/", prefix_end("/pods/")));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RangeLatest)->Arg(1000)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_RangeAtOldRevision(benchmark::State& state) {
  Dir dir;
  SqliteStore s(dir.db());
  fill(s, static_cast<int>(state.range(0)));
  int64_t rev = s.revision();
  s.write_sync(Write{Write::Op::create, "/later", "x", 0});
  for (auto _ : state) benchmark::DoNotOptimize(s.range("/pods/", prefix_end("/pods/"), 0, rev));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RangeAtOldRevision)->Arg(1000)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
