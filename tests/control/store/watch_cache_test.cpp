#include "control/store/watch_cache.h"

#include "control/store/sqlite_store.h"
#include "tests/control/store/test_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

namespace k8c::store {
namespace {

using testing::Gate;
using testing::TempDir;

Write create(std::string key, std::string value) {
  return Write{Write::Op::create, std::move(key), std::move(value), 0};
}
Write update(std::string key, std::string value) {
  return Write{Write::Op::update, std::move(key), std::move(value), 0};
}
Write remove(std::string key) {
  return Write{Write::Op::remove, std::move(key), {}, 0};
}

// Counts encoder calls per revision; the encoding names the revision so tests can check it.
struct CountingEncoder {
  std::mutex mu;
  std::map<int64_t, int> calls;
  Encoder encoder() {
    return [this](const KeyValue& kv) {
      std::lock_guard l(mu);
      ++calls[kv.mod_revision];
      return kv.value + "@" + std::to_string(kv.mod_revision);
    };
  }
};

using Collector = testing::Collector<CachedEvent>;

TEST(WatchCache, ListsAtConstructionAndFollows) {
  TempDir dir;
  SqliteStore s(dir.db());
  s.write_sync(create("/pods/a", "a"));
  s.write_sync(create("/svc/x", "x"));
  CountingEncoder enc;
  WatchCache cache(s, "/pods/", enc.encoder());
  int64_t rev = 0;
  auto l = cache.list("/pods/", &rev);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(*l[0].bytes, "a@1");
  EXPECT_EQ(rev, 2);

  auto w = s.write_sync(create("/pods/b", "b"));
  ASSERT_TRUE(cache.wait_for(w.revision, std::chrono::seconds(60)));
  auto got = cache.get("/pods/b", &rev);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got->bytes, "b@3");
  EXPECT_EQ(rev, 3);
  EXPECT_FALSE(cache.get("/svc/x", nullptr));
}

TEST(WatchCache, WaitForTracksWritesOutsideThePrefix) {
  TempDir dir;
  SqliteStore s(dir.db());
  CountingEncoder enc;
  WatchCache cache(s, "/pods/", enc.encoder());
  auto w = s.write_sync(create("/svc/x", "x"));
  // Progress notifications move the cache's revision although no pod changed.
  ASSERT_TRUE(cache.wait_for(w.revision, std::chrono::seconds(60)));
  EXPECT_EQ(cache.revision(), w.revision);
  EXPECT_FALSE(cache.wait_for(w.revision + 1, std::chrono::milliseconds(20)));
}

TEST(WatchCache, EncodesOncePerRevisionAndSharesBytes) {
  TempDir dir;
  SqliteStore s(dir.db());
  s.write_sync(create("/pods/pre", "p"));
  CountingEncoder enc;
  WatchCache cache(s, "/pods/", enc.encoder());
  constexpr int watchers = 8, writes = 30;
  std::vector<std::unique_ptr<Collector>> cs;
  std::vector<std::unique_ptr<CacheWatch>> ws;
  for (int i = 0; i < watchers; ++i) {
    cs.push_back(std::make_unique<Collector>());
    ws.push_back(cache.watch("/pods/", 0, cs.back()->on_events(), cs.back()->on_error()));
  }
  int64_t last = 0;
  for (int i = 0; i < writes; ++i) {
    std::string key = "/pods/k" + std::to_string(i % 5);
    auto r = s.write_sync(i < 5 ? create(key, "v") : update(key, "v" + std::to_string(i)));
    ASSERT_EQ(r.err, Errc::ok);
    last = r.revision;
  }
  ASSERT_TRUE(cache.wait_for(last, std::chrono::seconds(60)));
  for (auto& c : cs) ASSERT_TRUE(c->wait_events(writes));
  // Lists and gets re-read the same objects; none of that may encode again.
  int64_t rev = 0;
  auto list = cache.list("/pods/", &rev);
  auto got = cache.get("/pods/k4", nullptr);
  {
    std::lock_guard l(enc.mu);
    EXPECT_EQ(enc.calls.size(), static_cast<size_t>(writes + 1));
    for (auto& [r, n] : enc.calls) EXPECT_EQ(n, 1) << "revision " << r;
  }
  // The last write's bytes: the same allocation in the list, the get and every watcher.
  ASSERT_TRUE(got);
  const std::string* p = got->bytes.get();
  EXPECT_EQ(*p, "v29@" + std::to_string(last));
  bool in_list = false;
  for (auto& o : list) in_list |= o.bytes.get() == p;
  EXPECT_TRUE(in_list);
  for (auto& c : cs) {
    std::lock_guard l(c->mu);
    ASSERT_EQ(c->events.size(), static_cast<size_t>(writes));
    EXPECT_EQ(c->events.back().object.bytes.get(), p);
    EXPECT_TRUE(c->events.front().created);
    for (size_t i = 1; i < c->events.size(); ++i) {
      EXPECT_LT(c->events[i - 1].object.mod_revision, c->events[i].object.mod_revision);
    }
  }
}

TEST(WatchCache, RemoveIsEncodedWithTheDeletionRevision) {
  TempDir dir;
  SqliteStore s(dir.db());
  s.write_sync(create("/pods/a", "last"));
  CountingEncoder enc;
  WatchCache cache(s, "/pods/", enc.encoder());
  Collector c;
  auto w = cache.watch("/pods/", 0, c.on_events(), c.on_error());
  auto r = s.write_sync(remove("/pods/a"));
  ASSERT_TRUE(c.wait_events(1));
  std::lock_guard l(c.mu);
  EXPECT_EQ(c.events[0].type, Event::Type::remove);
  EXPECT_EQ(c.events[0].object.mod_revision, r.revision);
  EXPECT_EQ(*c.events[0].object.bytes, "last@" + std::to_string(r.revision));
  EXPECT_FALSE(cache.get("/pods/a", nullptr));
}

TEST(WatchCache, ReplaysFromWindowAndRejectsTooOld) {
  TempDir dir;
  SqliteStore s(dir.db());
  CountingEncoder enc;
  WatchCache cache(s, "/p/", enc.encoder(), 3);
  int64_t last = 0;
  for (int i = 1; i <= 10; ++i)
    last = s.write_sync(create("/p/" + std::to_string(i), "v")).revision;
  ASSERT_TRUE(cache.wait_for(last, std::chrono::seconds(60)));

  Collector replay;
  auto w1 = cache.watch("/p/", 7, replay.on_events(), replay.on_error());
  ASSERT_TRUE(replay.wait_events(3));
  {
    std::lock_guard l(replay.mu);
    EXPECT_EQ(replay.events[0].object.mod_revision, 8);
    EXPECT_EQ(replay.events[2].object.mod_revision, 10);
  }
  Collector old;
  auto w2 = cache.watch("/p/", 2, old.on_events(), old.on_error());
  ASSERT_TRUE(old.wait_error());
  EXPECT_EQ(old.errors[0], Errc::compacted);
  EXPECT_TRUE(old.events.empty());

  // A live event reaches the replaying watcher after its replay.
  auto r = s.write_sync(create("/p/11", "v"));
  ASSERT_TRUE(replay.wait_events(4));
  std::lock_guard l(replay.mu);
  EXPECT_EQ(replay.events[3].object.mod_revision, r.revision);
}

// A watcher whose prefix sees no events is not mistaken for a slow one when other prefixes'
// commits slide the window past its start, however late its thread gets to run.
TEST(WatchCache, QuietWatcherSurvivesTheWindowSlidingPastIt) {
  TempDir dir;
  SqliteStore s(dir.db());
  CountingEncoder enc;
  WatchCache cache(s, "/", enc.encoder(), 5);
  Collector quiet;
  auto wq = cache.watch("/quiet/", 0, quiet.on_events(), quiet.on_error());
  int64_t last = 0;
  for (int i = 0; i < 50; ++i)
    last = s.write_sync(create("/busy/" + std::to_string(i), "v")).revision;
  ASSERT_TRUE(cache.wait_for(last, std::chrono::seconds(60)));

  auto r = s.write_sync(create("/quiet/a", "v"));
  ASSERT_TRUE(quiet.wait_events(1));
  std::lock_guard l(quiet.mu);
  EXPECT_TRUE(quiet.errors.empty());
  ASSERT_EQ(quiet.events.size(), 1u);
  EXPECT_EQ(quiet.events[0].object.mod_revision, r.revision);
  EXPECT_EQ(quiet.events[0].object.key, "/quiet/a");
}

TEST(WatchCache, SlowWatcherIsEndedWithoutBlockingIngestion) {
  TempDir dir;
  SqliteStore s(dir.db());
  CountingEncoder enc;
  WatchCache cache(s, "/p/", enc.encoder(), 5);
  Gate stuck, release;
  std::atomic<bool> first{true};
  Collector c;
  auto w = cache.watch(
      "/p/", 0,
      [&](const std::vector<CachedEvent>& evs) {
        if (first.exchange(false)) {
          stuck.open();
          release.wait();
        }
        c.on_events()(evs);
      },
      c.on_error());
  s.write_sync(create("/p/0", "v"));
  ASSERT_TRUE(stuck.wait());
  int64_t last = 0;
  for (int i = 1; i < 20; ++i) last = s.write_sync(create("/p/" + std::to_string(i), "v")).revision;
  // The cache applied everything while the watcher sat in its callback.
  ASSERT_TRUE(cache.wait_for(last, std::chrono::seconds(60)));
  release.open();
  ASSERT_TRUE(c.wait_error());
  EXPECT_EQ(c.errors[0], Errc::compacted);
}

TEST(WatchCache, RelistsWhenTheStoreCompactsPastIt) {
  TempDir dir;
  SqliteOptions opt;
  opt.event_ring_events = 2;  // so the cache's catch-up must read the (compacted) log
  SqliteStore s(dir.db(), opt);
  s.write_sync(create("/p/a", "a"));
  Gate block_started, release;
  std::atomic<bool> block{false};
  CountingEncoder enc;
  auto inner = enc.encoder();
  WatchCache cache(s, "/p/", [&](const KeyValue& kv) {
    if (block.exchange(false)) {
      block_started.open();
      release.wait();
    }
    return inner(kv);
  });
  Collector c;
  auto w = cache.watch("/p/", 0, c.on_events(), c.on_error());
  block = true;
  s.write_sync(update("/p/a", "a2"));  // the cache's ingestion stalls on this one
  ASSERT_TRUE(block_started.wait());
  int64_t last = 0;
  for (int i = 0; i < 10; ++i)
    last = s.write_sync(create("/p/k" + std::to_string(i), "v")).revision;
  s.write_sync(remove("/p/k0"));
  last = s.write_sync(update("/p/k1", "new")).revision;
  ASSERT_EQ(s.compact(last), Errc::ok);
  release.open();
  ASSERT_TRUE(cache.wait_for(last, std::chrono::seconds(60)));
  // Its watchers cannot get an exact stream across the gap; they relist.
  ASSERT_TRUE(c.wait_error());
  EXPECT_EQ(c.errors[0], Errc::compacted);
  int64_t rev = 0;
  auto list = cache.list("/p/", &rev);
  EXPECT_EQ(rev, last);
  ASSERT_EQ(list.size(), 10u);  // a + k1..k9
  auto k1 = cache.get("/p/k1", nullptr);
  ASSERT_TRUE(k1);
  EXPECT_EQ(*k1->bytes, "new@" + std::to_string(last));
  // The cache follows the store again after the relist.
  auto r = s.write_sync(create("/p/after", "v"));
  ASSERT_TRUE(cache.wait_for(r.revision, std::chrono::seconds(60)));
  EXPECT_TRUE(cache.get("/p/after", nullptr));
}

TEST(WatchCache, WatchersOutlivingTheStoreGetUnavailable) {
  TempDir dir;
  SqliteStore s(dir.db());
  CountingEncoder enc;
  Collector c;
  WatchCache cache(s, "/p/", enc.encoder());
  auto w = cache.watch("/p/", 0, c.on_events(), c.on_error());
  s.close();
  ASSERT_TRUE(c.wait_error());
  EXPECT_EQ(c.errors[0], Errc::unavailable);
}

}  // namespace
}  // namespace k8c::store
