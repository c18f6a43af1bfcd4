#include "control/client/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace k8c::client {
namespace {

using namespace std::chrono_literals;

// Runs `f` on a thread and waits at most `limit` for it, so a hang fails instead of blocking.
template <class F>
auto within(std::chrono::milliseconds limit, F&& f) {
  auto fut = std::async(std::launch::async, std::forward<F>(f));
  EXPECT_EQ(fut.wait_for(limit), std::future_status::ready) << "did not complete in time";
  return fut.get();
}

TEST(WorkQueue, DedupesWhileQueued) {
  WorkQueue<> q;
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get(), "b");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, ReAddWhileProcessingRequeuesAfterDone) {
  WorkQueue<> q;
  q.add("a");
  auto k = q.get();
  ASSERT_EQ(k, "a");
  q.add("a");
  q.add("a");
  // Still processing: not handed out again.
  EXPECT_EQ(q.len(), 0u);
  q.done("a");
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.get(), "a");
  q.done("a");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, DoneWithoutReAddDoesNotRequeue) {
  WorkQueue<> q;
  q.add("a");
  ASSERT_EQ(q.get(), "a");
  q.done("a");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, OneKeyIsNeverProcessedConcurrently) {
  WorkQueue<> q;
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<int> processed{0};
  std::atomic<bool> stop_adding{false};
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      while (auto k = q.get()) {
        int now = ++in_flight;
        int prev = max_in_flight.load();
        while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
        }
        std::this_thread::sleep_for(100us);
        --in_flight;
        ++processed;
        q.done(*k);
      }
    });
  }
  std::thread adder([&] {
    for (int i = 0; i < 2000 && !stop_adding; ++i) {
      q.add("same");
      if (i % 50 == 0) std::this_thread::sleep_for(200us);
    }
  });
  adder.join();
  // Let the last re-add drain, then stop.
  within(5000ms, [&] {
    while (q.len() > 0) std::this_thread::sleep_for(1ms);
    return 0;
  });
  std::this_thread::sleep_for(5ms);
  q.shutdown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(max_in_flight.load(), 1);
  EXPECT_GE(processed.load(), 1);
}

TEST(WorkQueue, ShutdownWakesAllGetters) {
  WorkQueue<> q;
  std::vector<std::future<std::optional<std::string>>> getters;
  for (int i = 0; i < 3; ++i) {
    getters.push_back(std::async(std::launch::async, [&q] { return q.get(); }));
  }
  std::this_thread::sleep_for(20ms);
  q.shutdown();
  for (auto& g : getters) {
    ASSERT_EQ(g.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(g.get(), std::nullopt);
  }
  EXPECT_TRUE(q.shutting_down());
  q.add("late");
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.get(), std::nullopt);
}

TEST(WorkQueue, GetBlocksUntilAdd) {
  WorkQueue<> q;
  auto fut = std::async(std::launch::async, [&q] { return q.get(); });
  EXPECT_EQ(fut.wait_for(20ms), std::future_status::timeout);
  q.add("x");
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fut.get(), "x");
}

TEST(WorkQueue, AddAfterDelaysAndWakesABlockedGetter) {
  WorkQueue<> q;
  auto start = Clock::now();
  q.add_after("later", 50ms);
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.num_waiting(), 1u);
  auto k = within(5000ms, [&] { return q.get(); });
  EXPECT_EQ(k, "later");
  EXPECT_GE(Clock::now() - start, 50ms);
  EXPECT_EQ(q.num_waiting(), 0u);
}

TEST(WorkQueue, AddAfterKeepsTheEarliestTime) {
  WorkQueue<> q;
  q.add_after("k", 1h);
  q.add_after("k", 10ms);
  q.add_after("k", 2h);  // later than pending: ignored
  EXPECT_EQ(q.num_waiting(), 1u);
  auto k = within(5000ms, [&] { return q.get(); });
  EXPECT_EQ(k, "k");
}

TEST(WorkQueue, AddAfterNonPositiveIsImmediate) {
  WorkQueue<> q;
  q.add_after("now", 0ms);
  EXPECT_EQ(q.len(), 1u);
}

TEST(WorkQueue, DelayedKeyDedupesWithQueuedKey) {
  WorkQueue<> q;
  q.add("k");
  q.add_after("k", 1ms);
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(q.len(), 1u);  // promoted, but deduped against the queued copy
}

TEST(WorkQueue, ShutdownWakesGetterWaitingOnDelay) {
  WorkQueue<> q;
  q.add_after("k", 1h);
  auto fut = std::async(std::launch::async, [&q] { return q.get(); });
  std::this_thread::sleep_for(10ms);
  q.shutdown();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fut.get(), std::nullopt);
}

TEST(ItemExponentialBackoff, GrowsDoublingCappedAndForgets) {
  ItemExponentialBackoff<std::string> b({5ms, 1000s});
  EXPECT_EQ(b.when("a"), 5ms);
  EXPECT_EQ(b.when("a"), 10ms);
  EXPECT_EQ(b.when("a"), 20ms);
  EXPECT_EQ(b.when("b"), 5ms);  // per key
  EXPECT_EQ(b.failures("a"), 3);
  b.forget("a");
  EXPECT_EQ(b.failures("a"), 0);
  EXPECT_EQ(b.when("a"), 5ms);
  for (int i = 0; i < 100; ++i) (void)b.when("c");
  EXPECT_EQ(b.when("c"), 1000s);  // capped, no overflow
}

TEST(WorkQueue, RateLimitedBackoffGrowsAndForgetResets) {
  WorkQueue<> q({20ms, 1000ms});
  auto timed_get = [&] {
    auto start = Clock::now();
    auto k = within(5000ms, [&] { return q.get(); });
    EXPECT_EQ(k, "k");
    q.done("k");
    return Clock::now() - start;
  };
  q.add_rate_limited("k");  // 20ms
  EXPECT_GE(timed_get(), 20ms);
  q.add_rate_limited("k");  // 40ms
  EXPECT_GE(timed_get(), 40ms);
  q.add_rate_limited("k");  // 80ms
  EXPECT_GE(timed_get(), 80ms);
  EXPECT_EQ(q.num_requeues("k"), 3);
  q.forget("k");
  EXPECT_EQ(q.num_requeues("k"), 0);
  q.add_rate_limited("k");  // back to 20ms
  EXPECT_GE(timed_get(), 20ms);
}

TEST(Controller, ReconcilesRetriesErrorsAndRequeues) {
  std::mutex mu;
  std::map<std::string, int> calls;
  std::promise<void> finished;
  std::atomic<bool> signalled{false};
  Controller c(
      "test",
      [&](const std::string& key) {
        ReconcileResult r;
        int n;
        {
          std::lock_guard lock(mu);
          n = ++calls[key];
        }
        if (key == "flaky" && n < 3) r.error = "not yet";
        if (key == "thrower" && n < 2) throw std::runtime_error("boom");
        if (key == "again" && n < 2) r.requeue_after = 10ms;
        if (key == "rl" && n < 2) r.requeue = true;
        std::lock_guard lock(mu);
        if (calls["flaky"] >= 3 && calls["thrower"] >= 2 && calls["again"] >= 2 &&
            calls["rl"] >= 2 && calls["once"] >= 1 && !signalled.exchange(true)) {
          finished.set_value();
        }
        return r;
      },
      2, RateLimiterOptions{1ms, 50ms});
  c.start();
  for (const char* k : {"flaky", "thrower", "again", "rl", "once"}) c.enqueue(k);
  ASSERT_EQ(finished.get_future().wait_for(5s), std::future_status::ready);
  std::this_thread::sleep_for(50ms);  // nothing else should be scheduled
  c.stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(calls["flaky"], 3);
  EXPECT_EQ(calls["thrower"], 2);
  EXPECT_EQ(calls["again"], 2);
  EXPECT_EQ(calls["rl"], 2);
  EXPECT_EQ(calls["once"], 1);
  EXPECT_EQ(c.queue().num_requeues("flaky"), 0);  // forgotten after success
}

TEST(Controller, StopIsPromptWithIdleWorkers) {
  Controller c(
      "idle", [](const std::string&) { return ReconcileResult{}; }, 3);
  c.start();
  within(5000ms, [&] {
    c.stop();
    return 0;
  });
}

}  // namespace
}  // namespace k8c::client
