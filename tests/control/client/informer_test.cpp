#include "control/client/informer.h"

#include "tests/control/client/fake_list_watcher.h"

#include <gtest/gtest.h>

#include <deque>
#include <future>
#include <map>

namespace k8c::client {
namespace {

using namespace std::chrono_literals;

Json pod(const std::string& ns, const std::string& name, int rv, const std::string& node = "") {
  Json p = {
      {"kind", "Pod"},
      {"apiVersion", "v1"},
      {"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", std::to_string(rv)}}},
      {"spec", {{"nodeName", node}}}};
  return p;
}

// Records handler calls as "add ns/a@1", "update ns/a@1->2", "delete ns/a@1".
class Recorder {
 public:
  EventHandlers handlers() {
    EventHandlers h;
    h.on_add = [this](const ObjectPtr& o) { record("add " + describe(*o)); };
    h.on_update = [this](const ObjectPtr& a, const ObjectPtr& b) {
      record("update " + describe(*a) + "->" + object_resource_version(*b));
    };
    h.on_delete = [this](const ObjectPtr& o) { record("delete " + describe(*o)); };
    return h;
  }
  // Waits (bounded) for at least n calls and returns them all.
  std::vector<std::string> wait_for(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 5s, [&] { return calls_.size() >= n; });
    return calls_;
  }
  std::vector<std::string> take(size_t n) {
    auto all = wait_for(n);
    std::lock_guard lock(mu_);
    calls_.clear();
    return all;
  }

 private:
  static std::string describe(const Json& o) {
    return object_key(o) + "@" + object_resource_version(o);
  }
  void record(std::string s) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(s));
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> calls_;
};

InformerOptions fast_options() {
  InformerOptions o;
  o.page_size = 2;
  o.min_backoff = 1ms;
  o.max_backoff = 20ms;
  o.name = "test";
  return o;
}

template <class Pred>
bool eventually(Pred p) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (p()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return p();
}

TEST(Store, IndexesFollowWrites) {
  Store s;
  s.add_index("node", [](const Json& o) {
    return std::vector<std::string>{get_string(o, {"spec", "nodeName"})};
  });
  s.upsert("a/p1", std::make_shared<const Json>(pod("a", "p1", 1, "n1")));
  s.upsert("a/p2", std::make_shared<const Json>(pod("a", "p2", 1, "n2")));
  s.upsert("b/p3", std::make_shared<const Json>(pod("b", "p3", 1, "n1")));
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.by_index(kNamespaceIndex, "a").size(), 2u);
  EXPECT_EQ(s.index_keys("node", "n1"), (std::vector<std::string>{"a/p1", "b/p3"}));
  // Moving p1 to n2 moves it in the index.
  auto old = s.upsert("a/p1", std::make_shared<const Json>(pod("a", "p1", 2, "n2")));
  ASSERT_TRUE(old);
  EXPECT_EQ(object_resource_version(*old), "1");
  EXPECT_EQ(s.index_keys("node", "n1"), (std::vector<std::string>{"b/p3"}));
  EXPECT_EQ(s.index_keys("node", "n2"), (std::vector<std::string>{"a/p1", "a/p2"}));
  EXPECT_TRUE(s.erase("b/p3"));
  EXPECT_FALSE(s.erase("b/p3"));
  EXPECT_TRUE(s.index_keys("node", "n1").empty());
  EXPECT_TRUE(s.by_index("nonexistent", "x").empty());
  EXPECT_EQ(s.get("a", "p2")->at("metadata").at("name"), "p2");
  EXPECT_FALSE(s.get("a/zzz"));

  auto prev = s.replace({{"c/p9", std::make_shared<const Json>(pod("c", "p9", 5, "n9"))}});
  EXPECT_EQ(prev.size(), 2u);
  EXPECT_EQ(s.keys(), std::vector<std::string>{"c/p9"});
  EXPECT_EQ(s.index_keys("node", "n9"), std::vector<std::string>{"c/p9"});
  EXPECT_TRUE(s.index_keys("node", "n2").empty());
  // An index added late covers what is already stored.
  s.add_index("name", [](const Json& o) { return std::vector<std::string>{object_name(o)}; });
  EXPECT_EQ(s.index_keys("name", "p9"), std::vector<std::string>{"c/p9"});
}

TEST(Informer, InitialListThenWatchEvents) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({pod("a", "p1", 3), pod("a", "p2", 4), pod("b", "p3", 5)}, 10);
  Informer inf(lw, fast_options());
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  EXPECT_TRUE(inf.has_synced());
  auto adds = rec.take(3);
  std::sort(adds.begin(), adds.end());
  EXPECT_EQ(adds, (std::vector<std::string>{"add a/p1@3", "add a/p2@4", "add b/p3@5"}));
  EXPECT_EQ(inf.store().size(), 3u);
  // Paged by 2: two list calls, the second with the continue token.
  auto lists = lw->list_call_options();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[0].limit, 2);
  EXPECT_EQ(lists[1].continue_token, "2");
  // List items got their kind back.
  EXPECT_EQ(inf.store().get("a/p1")->at("kind"), "Pod");

  auto w = lw->wait_watch_call(1);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->resource_version, "10");
  EXPECT_TRUE(w->allow_watch_bookmarks);
  EXPECT_TRUE(w->watch);
  ASSERT_TRUE(w->timeout_seconds);
  EXPECT_GE(*w->timeout_seconds, 300);

  lw->push_event(EventType::added, pod("b", "p4", 11));
  lw->push_event(EventType::modified, pod("a", "p1", 12));
  lw->push_event(EventType::deleted, pod("a", "p2", 13));
  lw->push_event(EventType::deleted, pod("z", "never-seen", 14));  // ignored
  EXPECT_EQ(rec.take(3),
            (std::vector<std::string>{"add b/p4@11", "update a/p1@3->12", "delete a/p2@13"}));
  EXPECT_TRUE(eventually([&] { return inf.resource_version() == "14"; }));
  EXPECT_EQ(inf.store().size(), 3u);
  EXPECT_EQ(object_resource_version(*inf.store().get("a/p1")), "12");
  EXPECT_FALSE(inf.store().get("a/p2"));
  EXPECT_EQ(inf.store().by_index(kNamespaceIndex, "b").size(), 2u);
  inf.stop();
}

TEST(Informer, TransformShapesListedAndWatchedObjects) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({pod("a", "p1", 3, "node-1")}, 10);
  InformerOptions opts = fast_options();
  opts.transform = [](Json& o) { o.erase("spec"); };
  Informer inf(lw, opts);
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  rec.take(1);
  EXPECT_FALSE(inf.store().get("a/p1")->contains("spec"));
  EXPECT_EQ(inf.store().get("a/p1")->at("kind"), "Pod");  // stamped before the transform ran

  ASSERT_TRUE(lw->wait_watch_call(1));
  lw->push_event(EventType::modified, pod("a", "p1", 11, "node-2"));
  EXPECT_EQ(rec.take(1), (std::vector<std::string>{"update a/p1@3->11"}));
  auto cached = inf.store().get("a/p1");
  EXPECT_FALSE(cached->contains("spec"));
  EXPECT_EQ(object_resource_version(*cached), "11");
  inf.stop();
}

TEST(Informer, BookmarkAdvancesResourceVersionAndCleanEndRewatches) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({pod("a", "p1", 3)}, 10);
  Informer inf(lw, fast_options());
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  ASSERT_TRUE(lw->wait_watch_call(1));
  lw->push_event(EventType::bookmark,
                 Json{{"kind", "Pod"}, {"metadata", {{"resourceVersion", "50"}}}});
  EXPECT_TRUE(eventually([&] { return inf.resource_version() == "50"; }));
  lw->push_end();  // the server's timeoutSeconds elapsed
  auto w2 = lw->wait_watch_call(2);
  ASSERT_TRUE(w2);
  EXPECT_EQ(w2->resource_version, "50");  // resumes, no relist
  EXPECT_EQ(lw->list_calls(), 1u);
  EXPECT_EQ(inf.list_count(), 1u);
  EXPECT_EQ(rec.wait_for(1).size(), 1u);  // only the initial add; bookmarks notify nothing
  inf.stop();
}

TEST(Informer, GoneRelistsAndNotifiesTheDifference) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({pod("a", "keep", 1), pod("a", "change", 2), pod("a", "vanish", 3)}, 10);
  Informer inf(lw, fast_options());
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  rec.take(3);
  ASSERT_TRUE(lw->wait_watch_call(1));

  // While we were not looking: one changed, one vanished, one appeared.
  lw->set_objects({pod("a", "keep", 1), pod("a", "change", 20), pod("a", "new", 21)}, 30);
  lw->push_event(EventType::error, Json{{"kind", "Status"},
                                        {"code", 410},
                                        {"reason", "Expired"},
                                        {"message", "too old resource version"}});
  auto calls = rec.take(3);
  std::sort(calls.begin(), calls.end());
  EXPECT_EQ(calls, (std::vector<std::string>{"add a/new@21", "delete a/vanish@3",
                                             "update a/change@2->20"}));
  auto w2 = lw->wait_watch_call(2);
  ASSERT_TRUE(w2);
  EXPECT_EQ(w2->resource_version, "30");
  EXPECT_EQ(inf.list_count(), 2u);
  EXPECT_EQ(inf.store().size(), 3u);
  EXPECT_FALSE(inf.store().get("a/vanish"));
  // Nothing spurious for the unchanged object.
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(rec.take(0).empty());
  inf.stop();
}

TEST(Informer, WatchFailureRelists) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({pod("a", "p1", 1)}, 10);
  Informer inf(lw, fast_options());
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  rec.take(1);
  ASSERT_TRUE(lw->wait_watch_call(1));
  lw->set_objects({}, 20);
  lw->push_fail(ApiError{0, "", "connection reset", nullptr});
  EXPECT_EQ(rec.take(1), std::vector<std::string>{"delete a/p1@1"});
  auto w2 = lw->wait_watch_call(2);
  ASSERT_TRUE(w2);
  EXPECT_EQ(w2->resource_version, "20");
  // A 410 returned by the watch call itself (not as an event) relists too.
  lw->set_objects({pod("a", "p2", 25)}, 30);
  lw->push_fail(ApiError{410, "Expired", "too old", nullptr});
  EXPECT_EQ(rec.take(1), std::vector<std::string>{"add a/p2@25"});
  auto w3 = lw->wait_watch_call(3);
  ASSERT_TRUE(w3);
  EXPECT_EQ(w3->resource_version, "30");
  inf.stop();
}

TEST(Informer, ListFailuresBackOffThenSync) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({pod("a", "p1", 1)}, 10);
  lw->fail_lists(3);
  Informer inf(lw, fast_options());
  inf.start();
  EXPECT_FALSE(inf.has_synced());
  ASSERT_TRUE(inf.wait_for_sync(5s));
  EXPECT_EQ(lw->list_calls(), 4u);  // 3 failures + 1 page
  EXPECT_EQ(inf.store().size(), 1u);
  inf.stop();
}

TEST(Informer, ExpiredContinueTokenFallsBackToFullList) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({pod("a", "p1", 1), pod("a", "p2", 2), pod("a", "p3", 3)}, 10);
  lw->expire_next_continue();
  Informer inf(lw, fast_options());
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  EXPECT_EQ(rec.take(3).size(), 3u);
  auto lists = lw->list_call_options();
  ASSERT_EQ(lists.size(), 3u);  // page 1, expired page 2, one full list
  EXPECT_EQ(lists[2].limit, 0);
  EXPECT_TRUE(lists[2].continue_token.empty());
  EXPECT_EQ(inf.store().size(), 3u);
  inf.stop();
}

TEST(Informer, StopIsPromptWhileWatching) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({pod("a", "p1", 1)}, 10);
  auto inf = std::make_unique<Informer>(lw, fast_options());
  inf->start();
  ASSERT_TRUE(inf->wait_for_sync(5s));
  ASSERT_TRUE(lw->wait_watch_call(1));
  auto done = std::async(std::launch::async, [&] { inf->stop(); });
  EXPECT_EQ(done.wait_for(5s), std::future_status::ready);
}

TEST(Informer, StopIsPromptWhileBackingOff) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->fail_lists(1000000);
  InformerOptions o = fast_options();
  o.min_backoff = 1h;  // would sleep for ages if stop did not interrupt
  o.max_backoff = 2h;
  Informer inf(lw, o);
  inf.start();
  ASSERT_TRUE(eventually([&] { return lw->list_calls() >= 2; }));
  auto done = std::async(std::launch::async, [&] { inf.stop(); });
  EXPECT_EQ(done.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(inf.has_synced());
  EXPECT_FALSE(inf.wait_for_sync(1ms));
}

TEST(Informer, ThrowingHandlerDoesNotStopTheInformer) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({}, 1);
  Informer inf(lw, fast_options());
  EventHandlers bad;
  bad.on_add = [](const ObjectPtr&) { throw std::runtime_error("handler bug"); };
  inf.add_handlers(bad);
  Recorder rec;
  inf.add_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  lw->push_event(EventType::added, pod("a", "x", 2));
  lw->push_event(EventType::added, pod("a", "y", 3));
  EXPECT_EQ(rec.take(2), (std::vector<std::string>{"add a/x@2", "add a/y@3"}));
  EXPECT_THROW(inf.add_handlers({}), std::logic_error);
  inf.stop();
}

TEST(Informer, EnqueueHandlersFeedKeys) {
  auto lw = std::make_shared<FakeListWatcher>();
  lw->set_objects({pod("a", "p1", 1)}, 1);
  std::mutex mu;
  std::vector<std::string> keys;
  Informer inf(lw, fast_options());
  inf.add_handlers(enqueue_handlers([&](const std::string& k) {
    std::lock_guard lock(mu);
    keys.push_back(k);
  }));
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  lw->push_event(EventType::modified, pod("a", "p1", 2));
  lw->push_event(EventType::deleted, pod("a", "p1", 3));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return keys.size() == 3;
  }));
  inf.stop();
  EXPECT_EQ(keys, (std::vector<std::string>{"a/p1", "a/p1", "a/p1"}));
}

}  // namespace
}  // namespace k8c::client
