#include "dataplane/rcu.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace k8c::dp {
namespace {

struct Tracked {
  explicit Tracked(int v, std::atomic<int>* live) : value(v), live(live) { ++*live; }
  ~Tracked() { --*live; }
  int value;
  std::atomic<int>* live;
};

TEST(Rcu, OldSnapshotLivesUntilEveryReaderIsQuiescent) {
  std::atomic<int> live{0};
  Rcu<Tracked> rcu(2);
  rcu.online(0);
  rcu.online(1);
  rcu.publish(std::make_unique<Tracked>(1, &live));
  rcu.quiescent(0);
  rcu.quiescent(1);
  const Tracked* held = rcu.current();  // reader 0 is inside a burst with snapshot 1
  rcu.publish(std::make_unique<Tracked>(2, &live));
  EXPECT_EQ(rcu.reclaim(), 1u);
  EXPECT_EQ(live, 2);
  EXPECT_EQ(held->value, 1);
  rcu.quiescent(0);
  EXPECT_EQ(rcu.reclaim(), 1u);  // reader 1 has not reported yet
  rcu.quiescent(1);
  EXPECT_EQ(rcu.reclaim(), 0u);
  EXPECT_EQ(live, 1);
  EXPECT_EQ(rcu.current()->value, 2);
}

TEST(Rcu, OfflineReadersDoNotHoldUpReclamation) {
  std::atomic<int> live{0};
  Rcu<Tracked> rcu(2);
  rcu.online(0);
  rcu.publish(std::make_unique<Tracked>(1, &live));
  rcu.publish(std::make_unique<Tracked>(2, &live));
  EXPECT_EQ(rcu.reclaim(), 1u);
  rcu.offline(0);
  EXPECT_EQ(rcu.reclaim(), 0u);
  EXPECT_EQ(live, 1);
}

// Readers spin over the current snapshot while a writer republishes; a reader never sees a
// freed snapshot (ASan would report it) nor a torn value.
TEST(Rcu, ConcurrentReadersAndWriter) {
  std::atomic<int> live{0};
  Rcu<Tracked> rcu(2);
  rcu.publish(std::make_unique<Tracked>(0, &live));
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  auto reader = [&](unsigned id) {
    rcu.online(id);
    int last = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const Tracked* t = rcu.current();
      EXPECT_GE(t->value, last);
      last = t->value;
      reads.fetch_add(1, std::memory_order_relaxed);
      rcu.quiescent(id);
    }
    rcu.offline(id);
  };
  std::thread r0(reader, 0), r1(reader, 1);
  // Publish only once the readers are inside their loops, so the race is actually run.
  while (reads.load() < 100) std::this_thread::yield();
  for (int i = 1; i <= 2000; ++i) {
    rcu.publish(std::make_unique<Tracked>(i, &live));
    rcu.reclaim();
  }
  rcu.synchronize();
  stop = true;
  r0.join();
  r1.join();
  EXPECT_EQ(rcu.reclaim(), 0u);
  EXPECT_EQ(live, 1);
  EXPECT_EQ(rcu.current()->value, 2000);
}

}  // namespace
}  // namespace k8c::dp
