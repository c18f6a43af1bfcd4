#include "control/store/sqlite_store.h"
#include "tests/control/store/test_util.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <set>
#include <thread>

namespace k8c::store {
namespace {

using testing::Gate;
using testing::TempDir;

Write create(std::string key, std::string value) {
  return Write{Write::Op::create, std::move(key), std::move(value), 0};
}
Write update(std::string key, std::string value, int64_t expect = 0) {
  return Write{Write::Op::update, std::move(key), std::move(value), expect};
}
Write remove(std::string key, int64_t expect = 0) {
  return Write{Write::Op::remove, std::move(key), {}, expect};
}

using Collector = testing::Collector<Event>;

TEST(SqliteStore, CreateUpdateRemoveResults) {
  TempDir dir;
  SqliteStore s(dir.db());
  EXPECT_EQ(s.revision(), 0);

  auto c = s.write_sync(create("/a", "1"));
  ASSERT_EQ(c.err, Errc::ok);
  EXPECT_EQ(c.revision, 1);
  EXPECT_EQ(c.current.create_revision, 1);
  EXPECT_EQ(c.current.mod_revision, 1);

  auto dup = s.write_sync(create("/a", "other"));
  EXPECT_EQ(dup.err, Errc::already_exists);
  EXPECT_EQ(dup.current.value, "1");
  EXPECT_EQ(dup.current.mod_revision, 1);

  auto u = s.write_sync(update("/a", "2"));
  ASSERT_EQ(u.err, Errc::ok);
  EXPECT_EQ(u.revision, 2);
  EXPECT_EQ(u.current.create_revision, 1);
  EXPECT_EQ(u.current.mod_revision, 2);
  EXPECT_EQ(u.current.value, "2");

  EXPECT_EQ(s.write_sync(update("/missing", "x")).err, Errc::not_found);
  EXPECT_EQ(s.write_sync(remove("/missing")).err, Errc::not_found);

  auto r = s.write_sync(remove("/a"));
  ASSERT_EQ(r.err, Errc::ok);
  EXPECT_EQ(r.revision, 3);
  EXPECT_EQ(r.current.value, "2");
  EXPECT_EQ(r.current.mod_revision, 2);

  // Failed writes consume no revision.
  EXPECT_EQ(s.revision(), 3);
  EXPECT_TRUE(s.range("/a", "").kvs.empty());

  // Re-creating a removed key starts a new life.
  auto again = s.write_sync(create("/a", "3"));
  EXPECT_EQ(again.revision, 4);
  EXPECT_EQ(again.current.create_revision, 4);
}

TEST(SqliteStore, CompareAndSwap) {
  TempDir dir;
  SqliteStore s(dir.db());
  s.write_sync(create("/k", "v1"));
  auto u = s.write_sync(update("/k", "v2", 1));
  ASSERT_EQ(u.err, Errc::ok);

  auto stale = s.write_sync(update("/k", "v3", 1));
  EXPECT_EQ(stale.err, Errc::conflict);
  EXPECT_EQ(stale.current.value, "v2");
  EXPECT_EQ(stale.current.mod_revision, 2);
  EXPECT_EQ(stale.current.create_revision, 1);

  auto stale_rm = s.write_sync(remove("/k", 1));
  EXPECT_EQ(stale_rm.err, Errc::conflict);
  EXPECT_EQ(stale_rm.current.mod_revision, 2);

  EXPECT_EQ(s.write_sync(remove("/k", 2)).err, Errc::ok);
  EXPECT_EQ(s.write_sync(update("/k", "x", 3)).err, Errc::not_found);
}

TEST(SqliteStore, GroupCommitBatchesQueuedWrites) {
  TempDir dir;
  SqliteStore s(dir.db());
  // The first write's callback runs on the writer thread; holding it there guarantees every
  // later write is queued while the writer is busy, so they must share one transaction.
  Gate release, first_done;
  s.write(create("/first", "x"), [&](WriteResult r) {
    EXPECT_EQ(r.err, Errc::ok);
    first_done.open();
    release.wait();
  });
  ASSERT_TRUE(first_done.wait());
  constexpr int n = 50;
  std::vector<std::future<WriteResult>> results;
  for (int i = 0; i < n; ++i) {
    auto p = std::make_shared<std::promise<WriteResult>>();
    results.push_back(p->get_future());
    s.write(create("/k" + std::to_string(i), "v"), [p](WriteResult r) { p->set_value(r); });
  }
  release.open();
  for (int i = 0; i < n; ++i) {
    auto r = results[i].get();
    ASSERT_EQ(r.err, Errc::ok);
    EXPECT_EQ(r.revision, 2 + i);  // submission order
  }
  auto st = s.stats();
  EXPECT_EQ(st.transactions, 2);
  EXPECT_EQ(st.writes, n + 1);
}

TEST(SqliteStore, ConflictsInOneBatchResolveInSubmissionOrder) {
  TempDir dir;
  SqliteStore s(dir.db());
  Gate release, first_done;
  s.write(create("/blocker", "x"), [&](WriteResult) {
    first_done.open();
    release.wait();
  });
  ASSERT_TRUE(first_done.wait());
  std::vector<Write> ws = {
      create("/x", "a"),     // rev 2
      create("/x", "dup"),   // already_exists: sees the create above
      update("/x", "b", 2),  // rev 3
      update("/x", "c", 2),  // conflict: sees rev 3
      remove("/x", 3),       // rev 4
      update("/x", "d"),     // not_found: sees the removal
      create("/x", "e"),     // rev 5
  };
  std::vector<std::future<WriteResult>> fs;
  for (auto& w : ws) {
    auto p = std::make_shared<std::promise<WriteResult>>();
    fs.push_back(p->get_future());
    s.write(w, [p](WriteResult r) { p->set_value(r); });
  }
  release.open();
  std::vector<WriteResult> rs;
  for (auto& f : fs) rs.push_back(f.get());
  EXPECT_EQ(rs[0].err, Errc::ok);
  EXPECT_EQ(rs[0].revision, 2);
  EXPECT_EQ(rs[1].err, Errc::already_exists);
  EXPECT_EQ(rs[1].current.value, "a");
  EXPECT_EQ(rs[2].err, Errc::ok);
  EXPECT_EQ(rs[2].revision, 3);
  EXPECT_EQ(rs[3].err, Errc::conflict);
  EXPECT_EQ(rs[3].current.mod_revision, 3);
  EXPECT_EQ(rs[3].current.value, "b");
  EXPECT_EQ(rs[4].err, Errc::ok);
  EXPECT_EQ(rs[4].revision, 4);
  EXPECT_EQ(rs[5].err, Errc::not_found);
  EXPECT_EQ(rs[6].err, Errc::ok);
  EXPECT_EQ(rs[6].revision, 5);
  EXPECT_EQ(rs[6].current.create_revision, 5);
  EXPECT_EQ(s.stats().transactions, 2);
  auto got = s.range("/x", "");
  ASSERT_EQ(got.kvs.size(), 1u);
  EXPECT_EQ(got.kvs[0].value, "e");
}

TEST(SqliteStore, RevisionsGapFreeUnderConcurrentWriters) {
  TempDir dir;
  SqliteStore s(dir.db());
  Collector seen;
  auto w = s.watch("/", 0, seen.on_events(), seen.on_error());
  constexpr int threads = 4, per = 60;
  std::vector<std::vector<int64_t>> revs(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per; ++i) {
        std::string key = "/t" + std::to_string(t) + "/" + std::to_string(i);
        auto r = s.write_sync(create(key, "v"));
        ASSERT_EQ(r.err, Errc::ok);
        revs[t].push_back(r.revision);
        // Contended CAS on a shared counter key; conflicts are fine, they burn no revision.
        s.write_sync(update("/counter", key));
      }
    });
  }
  for (auto& t : ts) t.join();
  std::vector<int64_t> all;
  for (auto& v : revs) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  EXPECT_EQ(static_cast<int64_t>(all.size()), threads * per);
  // /counter never existed, so every update failed: the creates are exactly 1..N.
  EXPECT_EQ(all.front(), 1);
  EXPECT_EQ(all.back(), threads * per);
  ASSERT_TRUE(seen.wait_events(threads * per));
  std::lock_guard l(seen.mu);
  for (size_t i = 0; i < seen.events.size(); ++i) {
    EXPECT_EQ(seen.events[i].kv.mod_revision, static_cast<int64_t>(i) + 1);
  }
}

TEST(SqliteStore, RangePrefixLimitAndMore) {
  TempDir dir;
  SqliteStore s(dir.db());
  for (const char* k : {"/pods/a", "/pods/b", "/pods/c", "/podsx", "/svc/a"}) {
    s.write_sync(create(k, k));
  }
  auto all = s.range("/pods/", prefix_end("/pods/"));
  ASSERT_EQ(all.err, Errc::ok);
  ASSERT_EQ(all.kvs.size(), 3u);
  EXPECT_EQ(all.kvs[0].key, "/pods/a");
  EXPECT_EQ(all.kvs[2].key, "/pods/c");
  EXPECT_FALSE(all.more);
  EXPECT_EQ(all.revision, 5);

  auto page = s.range("/pods/", prefix_end("/pods/"), 2);
  ASSERT_EQ(page.kvs.size(), 2u);
  EXPECT_TRUE(page.more);
  // Next page: start just after the last key, at the first page's revision.
  auto next = s.range(page.kvs.back().key + '\0', prefix_end("/pods/"), 2, page.revision);
  ASSERT_EQ(next.err, Errc::ok);
  ASSERT_EQ(next.kvs.size(), 1u);
  EXPECT_EQ(next.kvs[0].key, "/pods/c");
  EXPECT_FALSE(next.more);

  auto exact = s.range("/pods/b", "");
  ASSERT_EQ(exact.kvs.size(), 1u);
  EXPECT_EQ(exact.kvs[0].value, "/pods/b");

  auto everything = s.range("", prefix_end(""));
  EXPECT_EQ(everything.kvs.size(), 5u);
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
  EXPECT_EQ(prefix_end("a\xff"), "b");
}

TEST(SqliteStore, RangeAtOldRevision) {
  TempDir dir;
  SqliteStore s(dir.db());
  s.write_sync(create("/a", "a1"));  // 1
  s.write_sync(create("/b", "b1"));  // 2
  s.write_sync(update("/a", "a2"));  // 3
  s.write_sync(remove("/b"));        // 4
  s.write_sync(create("/c", "c1"));  // 5

  auto at2 = s.range("/", prefix_end("/"), 0, 2);
  ASSERT_EQ(at2.err, Errc::ok);
  EXPECT_EQ(at2.revision, 2);
  ASSERT_EQ(at2.kvs.size(), 2u);
  EXPECT_EQ(at2.kvs[0].value, "a1");
  EXPECT_EQ(at2.kvs[0].mod_revision, 1);
  EXPECT_EQ(at2.kvs[1].value, "b1");

  auto at4 = s.range("/", prefix_end("/"), 0, 4);
  ASSERT_EQ(at4.kvs.size(), 1u);
  EXPECT_EQ(at4.kvs[0].value, "a2");
  EXPECT_EQ(at4.kvs[0].create_revision, 1);
  EXPECT_EQ(at4.kvs[0].mod_revision, 3);

  auto limited = s.range("/", prefix_end("/"), 1, 2);
  ASSERT_EQ(limited.kvs.size(), 1u);
  EXPECT_TRUE(limited.more);

  EXPECT_EQ(s.range("/", prefix_end("/"), 0, 6).err, Errc::future_revision);
  EXPECT_EQ(s.range("/", prefix_end("/"), 0, 5).kvs.size(), 2u);
}

TEST(SqliteStore, WatchReplaysThenFollowsLive) {
  TempDir dir;
  SqliteStore s(dir.db());
  s.write_sync(create("/w/a", "1"));    // 1
  s.write_sync(create("/other", "x"));  // 2
  s.write_sync(update("/w/a", "2"));    // 3
  s.write_sync(create("/w/b", "1"));    // 4

  Collector c;
  auto w = s.watch("/w/", 1, c.on_events(), c.on_error());
  ASSERT_TRUE(c.wait_events(2));
  s.write_sync(remove("/w/a"));          // 5
  s.write_sync(create("/other2", "x"));  // 6
  s.write_sync(update("/w/b", "2"));     // 7
  ASSERT_TRUE(c.wait_events(4));
  std::lock_guard l(c.mu);
  ASSERT_EQ(c.events.size(), 4u);
  EXPECT_TRUE(c.errors.empty());
  EXPECT_EQ(c.events[0].kv.mod_revision, 3);
  EXPECT_FALSE(c.events[0].created);
  EXPECT_EQ(c.events[1].kv.mod_revision, 4);
  EXPECT_TRUE(c.events[1].created);
  EXPECT_EQ(c.events[2].type, Event::Type::remove);
  EXPECT_EQ(c.events[2].kv.key, "/w/a");
  EXPECT_EQ(c.events[2].kv.value, "2");
  EXPECT_EQ(c.events[2].kv.mod_revision, 5);
  EXPECT_EQ(c.events[2].kv.create_revision, 1);
  EXPECT_EQ(c.events[3].kv.mod_revision, 7);
}

TEST(SqliteStore, WatchFromZeroStartsNow) {
  TempDir dir;
  SqliteStore s(dir.db());
  s.write_sync(create("/a", "1"));
  Collector c;
  auto w = s.watch("/", 0, c.on_events(), c.on_error());
  s.write_sync(create("/b", "1"));
  ASSERT_TRUE(c.wait_events(1));
  std::lock_guard l(c.mu);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].kv.key, "/b");
}

TEST(SqliteStore, SlowWatcherDoesNotStallWritesAndCatchesUpFromLog) {
  TempDir dir;
  SqliteOptions opt;
  opt.event_ring_events = 4;
  opt.watch_batch = 7;
  SqliteStore s(dir.db(), opt);
  Gate release, stuck;
  std::mutex mu;
  std::vector<int64_t> revs;
  std::atomic<bool> first{true};
  auto w = s.watch(
      "/", 0,
      [&](const std::vector<Event>& evs) {
        if (first.exchange(false)) {
          stuck.open();
          release.wait();
        }
        std::lock_guard l(mu);
        for (auto& e : evs) revs.push_back(e.kv.mod_revision);
      },
      [](Errc e) { ADD_FAILURE() << to_string(e); });
  s.write_sync(create("/k0", "v"));
  ASSERT_TRUE(stuck.wait());
  // The watcher is blocked inside its callback; writes still complete.
  constexpr int n = 100;
  for (int i = 1; i < n; ++i)
    ASSERT_EQ(s.write_sync(create("/k" + std::to_string(i), "v")).err, Errc::ok);
  release.open();
  for (int i = 0; i < 6000; ++i) {
    {
      std::lock_guard l(mu);
      if (revs.size() >= static_cast<size_t>(n)) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::lock_guard l(mu);
  ASSERT_EQ(revs.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(revs[i], i + 1);
  EXPECT_GT(s.stats().log_reads, 0);
}

TEST(SqliteStore, WatchCanBeDestroyedInsideItsCallback) {
  TempDir dir;
  SqliteStore s(dir.db());
  std::unique_ptr<Watch> w;
  std::mutex mu;
  Gate done;
  int calls = 0;
  {
    std::lock_guard l(mu);
    w = s.watch(
        "/", 0,
        [&](const std::vector<Event>&) {
          std::unique_ptr<Watch> self;
          {
            std::lock_guard l2(mu);
            ++calls;
            self = std::move(w);
          }
          self.reset();
          done.open();
        },
        [](Errc) {});
  }
  s.write_sync(create("/a", "1"));
  ASSERT_TRUE(done.wait());
  s.write_sync(create("/b", "1"));
  // A later watch sees /b: delivery is working, and the destroyed one got nothing more.
  Collector c;
  auto w2 = s.watch("/", 1, c.on_events(), c.on_error());
  ASSERT_TRUE(c.wait_events(1));
  std::lock_guard l(mu);
  EXPECT_EQ(calls, 1);
}

TEST(SqliteStore, CompactionDropsHistoryKeepsLatest) {
  TempDir dir;
  {
    SqliteStore s(dir.db());
    s.write_sync(create("/a", "a1"));  // 1
    s.write_sync(update("/a", "a2"));  // 2
    s.write_sync(create("/b", "b1"));  // 3
    s.write_sync(remove("/b"));        // 4
    s.write_sync(create("/c", "c1"));  // 5
    s.write_sync(update("/a", "a3"));  // 6

    EXPECT_EQ(s.compact(7), Errc::future_revision);
    ASSERT_EQ(s.compact(4), Errc::ok);
    EXPECT_EQ(s.compact(3), Errc::compacted);
    EXPECT_EQ(s.compacted_revision(), 4);
    EXPECT_EQ(s.range("/", prefix_end("/"), 0, 4).err, Errc::compacted);
    EXPECT_EQ(s.range("/", prefix_end("/"), 0, 2).err, Errc::compacted);
    auto at5 = s.range("/", prefix_end("/"), 0, 5);
    ASSERT_EQ(at5.err, Errc::ok);
    ASSERT_EQ(at5.kvs.size(), 2u);
    EXPECT_EQ(at5.kvs[0].value, "a2");  // the latest row at or before 4 survived
    EXPECT_EQ(at5.kvs[1].value, "c1");
    auto now = s.range("/", prefix_end("/"));
    ASSERT_EQ(now.kvs.size(), 2u);
    EXPECT_EQ(now.kvs[0].value, "a3");

    Collector old;
    auto w = s.watch("/", 3, old.on_events(), old.on_error());
    ASSERT_TRUE(old.wait_error());
    EXPECT_EQ(old.errors[0], Errc::compacted);
    // Every event after the compacted revision is still in the log.
    Collector ok;
    auto w2 = s.watch("/", 4, ok.on_events(), ok.on_error());
    ASSERT_TRUE(ok.wait_events(2));
    EXPECT_EQ(ok.events[0].kv.mod_revision, 5);
    EXPECT_TRUE(ok.events[0].created);
    EXPECT_EQ(ok.events[1].kv.mod_revision, 6);
  }
  SqliteStore s(dir.db());
  EXPECT_EQ(s.compacted_revision(), 4);
  EXPECT_EQ(s.revision(), 6);
  EXPECT_EQ(s.range("/", prefix_end("/"), 0, 3).err, Errc::compacted);
  EXPECT_EQ(s.range("/", prefix_end("/")).kvs.size(), 2u);
  // Compacting away the newest row (a tombstone) must not rewind the revision on reopen.
  s.write_sync(remove("/c"));  // 7
  ASSERT_EQ(s.compact(7), Errc::ok);
  s.close();
  SqliteStore again(dir.db());
  EXPECT_EQ(again.revision(), 7);
  EXPECT_EQ(again.write_sync(create("/d", "d")).revision, 8);
}

TEST(SqliteStore, ReopenKeepsEveryKeyAndRevision) {
  TempDir dir;
  {
    SqliteStore s(dir.db());
    for (int i = 0; i < 20; ++i) s.write_sync(create("/k" + std::to_string(i), std::to_string(i)));
    s.write_sync(update("/k3", "three"));
    s.write_sync(remove("/k4"));
  }
  SqliteStore s(dir.db());
  EXPECT_EQ(s.revision(), 22);
  auto all = s.range("/", prefix_end("/"));
  EXPECT_EQ(all.kvs.size(), 19u);
  auto k3 = s.range("/k3", "");
  ASSERT_EQ(k3.kvs.size(), 1u);
  EXPECT_EQ(k3.kvs[0].value, "three");
  EXPECT_EQ(k3.kvs[0].create_revision, 4);
  EXPECT_EQ(k3.kvs[0].mod_revision, 21);
  EXPECT_EQ(s.write_sync(create("/new", "x")).revision, 23);
  // History from before the reopen is still watchable.
  Collector c;
  auto w = s.watch("/k4", 20, c.on_events(), c.on_error());
  ASSERT_TRUE(c.wait_events(1));
  EXPECT_EQ(c.events[0].type, Event::Type::remove);
  EXPECT_EQ(c.events[0].kv.value, "4");
}

TEST(SqliteStore, OpenUrlCreatesDirectories) {
  TempDir dir;
  auto path = dir.path() / "nested" / "deeper" / "state.db";
  auto s = open("sqlite://" + path.string());
  EXPECT_EQ(s->write_sync(create("/a", "1")).err, Errc::ok);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_THROW(open("bogus://x"), std::runtime_error);
}

TEST(SqliteStore, CorruptFileGivesClearError) {
  TempDir dir;
  {
    std::ofstream f(dir.db(), std::ios::binary);
    for (int i = 0; i < 4096; ++i) f << "this is not a database ";
  }
  try {
    SqliteStore s(dir.db());
    FAIL() << "opened a corrupt file";
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(dir.db()), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a database"), std::string::npos) << msg;
  }
}

TEST(SqliteStore, CloseFlushesAndRejectsLaterWrites) {
  TempDir dir;
  SqliteStore s(dir.db());
  Collector c;
  auto w = s.watch("/", 0, c.on_events(), c.on_error());
  std::vector<std::future<WriteResult>> fs;
  for (int i = 0; i < 10; ++i) {
    auto p = std::make_shared<std::promise<WriteResult>>();
    fs.push_back(p->get_future());
    s.write(create("/k" + std::to_string(i), "v"), [p](WriteResult r) { p->set_value(r); });
  }
  s.close();
  for (auto& f : fs) EXPECT_EQ(f.get().err, Errc::ok);  // queued before close: flushed
  auto late = s.write_sync(create("/late", "v"));
  EXPECT_EQ(late.err, Errc::unavailable);
  EXPECT_FALSE(late.message.empty());
  EXPECT_EQ(s.compact(1), Errc::unavailable);
  // The watcher gets everything that was committed, then learns the store is gone.
  ASSERT_TRUE(c.wait_error());
  EXPECT_EQ(c.errors[0], Errc::unavailable);
  EXPECT_EQ(c.events.size(), 10u);
  // Latest-state reads keep working from memory; history reads need the closed file.
  EXPECT_EQ(s.range("/", prefix_end("/")).kvs.size(), 10u);
  EXPECT_EQ(s.range("/", prefix_end("/"), 0, 5).err, Errc::unavailable);
}

TEST(SqliteStore, FailedCommitTurnsFailStop) {
  TempDir dir;
  {
    SqliteStore s(dir.db());
    s.write_sync(create("/a", "1"));
    s.fail_next_commit_for_testing();
    auto r = s.write_sync(create("/b", "1"));
    EXPECT_EQ(r.err, Errc::unavailable);
    EXPECT_NE(r.message.find("commit failed"), std::string::npos) << r.message;
    // Readers never saw /b; later writes are refused rather than built on unknown state.
    EXPECT_TRUE(s.range("/b", "").kvs.empty());
    EXPECT_EQ(s.revision(), 1);
    EXPECT_EQ(s.write_sync(create("/c", "1")).err, Errc::unavailable);
    EXPECT_EQ(s.range("/a", "").kvs.size(), 1u);
  }
  SqliteStore s(dir.db());
  EXPECT_EQ(s.revision(), 1);
  EXPECT_EQ(s.write_sync(create("/c", "1")).revision, 2);
}

// A child process writes in a loop and reports each acknowledged key on a pipe; the parent kills
// it with SIGKILL mid-stream and checks that every acknowledged key survived.
TEST(SqliteStore, AcknowledgedWritesSurviveSigkill) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      SqliteStore s(dir.db());
      for (int i = 0;; ++i) {
        std::string key = "/crash/" + std::to_string(i);
        auto r = s.write_sync(create(key, std::string(100, 'x')));
        if (r.err != Errc::ok) _exit(2);
        std::string line = key + "\n";
        if (::write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size()))
          _exit(3);
      }
    } catch (...) {
      _exit(4);
    }
  }
  ::close(fds[1]);
  std::set<std::string> acked;
  std::string buf;
  char chunk[256];
  while (acked.size() < 200) {
    ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    size_t pos;
    while ((pos = buf.find('\n')) != std::string::npos) {
      acked.insert(buf.substr(0, pos));
      buf.erase(0, pos + 1);
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  ASSERT_GE(acked.size(), 200u);

  SqliteStore s(dir.db());
  auto all = s.range("/crash/", prefix_end("/crash/"));
  std::set<std::string> present;
  for (auto& kv : all.kvs) present.insert(kv.key);
  for (auto& k : acked) EXPECT_TRUE(present.count(k)) << k << " was acknowledged but lost";
  // Gap-free: the revision equals the number of rows that made it.
  EXPECT_EQ(s.revision(), static_cast<int64_t>(present.size()));
}

}  // namespace
}  // namespace k8c::store

namespace k8c::store {
namespace {

TEST(SqliteStoreMore, BurstIsSplitIntoCappedTransactions) {
  TempDir dir;
  SqliteOptions opt;
  opt.max_batch = 40;
  SqliteStore s(dir.db(), opt);
  Gate release, first_done;
  s.write(Write{Write::Op::create, "/first", "x", 0}, [&](WriteResult) {
    first_done.open();
    release.wait();
  });
  ASSERT_TRUE(first_done.wait());
  std::vector<std::future<WriteResult>> fs;
  for (int i = 0; i < 100; ++i) {
    auto p = std::make_shared<std::promise<WriteResult>>();
    fs.push_back(p->get_future());
    s.write(Write{Write::Op::create, "/k" + std::to_string(i), "v", 0},
            [p](WriteResult r) { p->set_value(r); });
  }
  release.open();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(fs[i].get().revision, i + 2);
  EXPECT_EQ(s.stats().transactions, 1 + 3);  // 40 + 40 + 20
}

TEST(SqliteStoreMore, DestroyingAWatchWaitsForTheCallbackInFlight) {
  TempDir dir;
  SqliteStore s(dir.db());
  Gate entered, release;
  std::atomic<bool> returned{false};
  auto w = s.watch(
      "/", 0,
      [&](const std::vector<Event>&) {
        entered.open();
        release.wait();
        returned = true;
      },
      [](Errc) {});
  s.write_sync(Write{Write::Op::create, "/a", "1", 0});
  ASSERT_TRUE(entered.wait());
  std::thread destroyer([&] {
    w.reset();
    EXPECT_TRUE(returned.load());  // reset() returned only after the callback did
  });
  release.open();
  destroyer.join();
}

TEST(SqliteStoreMore, CloseFromWriteCallbackStopsWrites) {
  TempDir dir;
  SqliteStore s(dir.db());
  Gate done;
  s.write(Write{Write::Op::create, "/a", "1", 0}, [&](WriteResult r) {
    EXPECT_EQ(r.err, Errc::ok);
    s.close();
    done.open();
  });
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(s.write_sync(Write{Write::Op::create, "/b", "1", 0}).err, Errc::unavailable);
  s.close();
  EXPECT_EQ(s.range("/a", "").kvs.size(), 1u);
}

TEST(SqliteStoreMore, EmptyAndInvertedRanges) {
  TempDir dir;
  SqliteStore s(dir.db());
  s.write_sync(Write{Write::Op::create, "/a", "1", 0});
  s.write_sync(Write{Write::Op::create, "/b", "1", 0});
  EXPECT_TRUE(s.range("/b", "/a").kvs.empty());
  EXPECT_TRUE(s.range("/b", "/a", 0, 1).kvs.empty());
  EXPECT_TRUE(s.range("/zz", "").kvs.empty());
  EXPECT_EQ(s.range("/a", "/b").kvs.size(), 1u);
  EXPECT_EQ(s.range("/a", "/b", 0, 1).kvs.size(), 1u);
}

TEST(SqliteStoreMore, WatchFromAFutureRevisionWaitsForIt) {
  TempDir dir;
  SqliteStore s(dir.db());
  std::mutex mu;
  std::vector<int64_t> revs;
  Gate got;
  auto w = s.watch(
      "/", 2,
      [&](const std::vector<Event>& evs) {
        std::lock_guard l(mu);
        for (auto& e : evs) revs.push_back(e.kv.mod_revision);
        got.open();
      },
      [](Errc) {});
  for (int i = 0; i < 3; ++i)
    s.write_sync(Write{Write::Op::create, "/" + std::to_string(i), "v", 0});
  ASSERT_TRUE(got.wait());
  std::lock_guard l(mu);
  ASSERT_FALSE(revs.empty());
  EXPECT_EQ(revs.front(), 3);
}

}  // namespace
}  // namespace k8c::store
