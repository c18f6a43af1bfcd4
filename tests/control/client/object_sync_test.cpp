#include "control/client/object_sync.h"

#include "tests/control/client/fake_list_watcher.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace k8c::client {
namespace {

using namespace std::chrono_literals;

Json object(const std::string& ns, const std::string& name, int rv) {
  return {
      {"kind", "ConfigMap"},
      {"apiVersion", "v1"},
      {"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", std::to_string(rv)}}}};
}

// Records every view a rebuild was called with, as "ns/name" lists per source.
class Views {
 public:
  ObjectSync::Rebuild rebuild() {
    return [this](const SyncView& view) {
      std::vector<std::vector<std::string>> names;
      for (const auto& source : view) {
        names.emplace_back();
        for (const auto& o : source) names.back().push_back(object_key(*o));
      }
      std::lock_guard lock(mu_);
      views_.push_back(std::move(names));
      cv_.notify_all();
      if (throw_next_) {
        throw_next_ = false;
        throw std::runtime_error("builder bug");
      }
    };
  }
  // Waits (bounded) until a view satisfies `pred`; returns whether one did.
  template <class Pred>
  bool wait_for(Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] {
      for (const auto& v : views_)
        if (pred(v)) return true;
      return false;
    });
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return views_.size();
  }
  std::vector<std::vector<std::string>> first() {
    std::lock_guard lock(mu_);
    return views_.at(0);
  }
  void throw_next() {
    std::lock_guard lock(mu_);
    throw_next_ = true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<std::vector<std::string>>> views_;
  bool throw_next_ = false;
};

struct Fixture {
  std::shared_ptr<FakeListWatcher> a = std::make_shared<FakeListWatcher>();
  std::shared_ptr<FakeListWatcher> b = std::make_shared<FakeListWatcher>();
  Views views;
  std::unique_ptr<ObjectSync> sync;

  explicit Fixture(ObjectSyncOptions opts = {}) {
    std::vector<std::unique_ptr<Informer>> informers;
    informers.push_back(std::make_unique<Informer>(a));
    informers.push_back(std::make_unique<Informer>(b));
    sync = std::make_unique<ObjectSync>(std::move(informers), views.rebuild(), std::move(opts));
  }
};

TEST(ObjectSync, FirstRebuildWaitsForEverySourceAndSeesSortedObjects) {
  Fixture f;
  f.a->set_objects({object("ns", "b", 2), object("ns", "a", 1), object("default", "z", 3)}, 3);
  f.b->fail_lists(3);  // the second source syncs only after three failed lists
  f.b->set_objects({object("ns", "only", 4)}, 4);
  f.sync->start();
  ASSERT_TRUE(f.sync->wait_for_first_build(10s));
  EXPECT_GE(f.b->list_calls(), 4u);
  auto first = f.views.first();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0], (std::vector<std::string>{"default/z", "ns/a", "ns/b"}));
  EXPECT_EQ(first[1], (std::vector<std::string>{"ns/only"}));
  f.sync->stop();
}

TEST(ObjectSync, ChangesInAnySourceRebuildFromTheWholeView) {
  Fixture f;
  f.a->set_objects({object("ns", "a", 1)}, 1);
  f.b->set_objects({}, 1);
  f.sync->start();
  ASSERT_TRUE(f.sync->wait_for_first_build(10s));
  ASSERT_TRUE(f.a->wait_watch_call(1));
  ASSERT_TRUE(f.b->wait_watch_call(1));

  f.b->push_event(EventType::added, object("ns", "new", 2));
  EXPECT_TRUE(f.views.wait_for([](const auto& v) {
    return v[0] == std::vector<std::string>{"ns/a"} && v[1] == std::vector<std::string>{"ns/new"};
  }));
  f.a->push_event(EventType::deleted, object("ns", "a", 3));
  EXPECT_TRUE(f.views.wait_for(
      [](const auto& v) { return v[0].empty() && v[1] == std::vector<std::string>{"ns/new"}; }));
  f.sync->stop();
}

TEST(ObjectSync, ABurstOfEventsIsCoalesced) {
  // A debounce far longer than pushing 200 events takes, so the burst lands in one window.
  ObjectSyncOptions opts;
  opts.debounce = 1s;
  opts.max_delay = 30s;
  Fixture f(opts);
  f.a->set_objects({}, 1);
  f.b->set_objects({}, 1);
  f.sync->start();
  ASSERT_TRUE(f.sync->wait_for_first_build(10s));
  ASSERT_TRUE(f.a->wait_watch_call(1));
  for (int i = 0; i < 200; ++i)
    f.a->push_event(EventType::added, object("ns", "o" + std::to_string(1000 + i), 2 + i));
  EXPECT_TRUE(f.views.wait_for([](const auto& v) { return v[0].size() == 200; }));
  // One initial build plus at most a few for the burst, not one per event.
  EXPECT_LE(f.views.count(), 4u);
  f.sync->stop();
}

TEST(ObjectSync, AThrowingRebuildKeepsTheSyncAlive) {
  Fixture f;
  f.a->set_objects({}, 1);
  f.b->set_objects({}, 1);
  f.views.throw_next();
  f.sync->start();
  ASSERT_TRUE(f.sync->wait_for_first_build(10s));
  ASSERT_TRUE(f.a->wait_watch_call(1));
  f.a->push_event(EventType::added, object("ns", "after", 2));
  EXPECT_TRUE(
      f.views.wait_for([](const auto& v) { return v[0] == std::vector<std::string>{"ns/after"}; }));
  EXPECT_GE(f.sync->builds(), 2u);
  f.sync->stop();
}

TEST(ObjectSync, StopsWhileASourceNeverSyncs) {
  Fixture f;
  f.a->set_objects({}, 1);
  f.b->fail_lists(1'000'000);
  f.sync->start();
  EXPECT_FALSE(f.sync->wait_for_first_build(300ms));
  f.sync->stop();
  EXPECT_EQ(f.sync->builds(), 0u);
  EXPECT_FALSE(f.sync->wait_for_first_build(10ms));
}

}  // namespace
}  // namespace k8c::client
