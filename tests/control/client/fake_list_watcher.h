// A scripted ListWatcher for informer tests: below the API boundary, so unit tests may fake it.
#pragma once

#include "control/client/listwatch.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace k8c::client {

// A scripted API: list() serves `objects` (paged by limit with an index as continue token),
// watch() plays what the test pushes, one stream per watch() call.
class FakeListWatcher : public ListWatcher {
 public:
  struct Item {
    enum { event, end, fail } kind;
    WatchEvent ev;
    ApiError err;
  };

  Result<Json> list(const ListOptions& opts) override {
    std::unique_lock lock(mu_);
    list_calls_.push_back(opts);
    cv_.notify_all();
    if (cancelled_) return ApiError{0, "", "cancelled", nullptr};
    if (list_failures_ > 0) {
      --list_failures_;
      return ApiError{503, "ServiceUnavailable", "try later", nullptr};
    }
    if (expire_continue_ && !opts.continue_token.empty()) {
      expire_continue_ = false;
      return ApiError{410, "Expired", "continue token expired", nullptr};
    }
    size_t start = opts.continue_token.empty() ? 0 : std::stoul(opts.continue_token);
    size_t n = opts.limit > 0 ? static_cast<size_t>(opts.limit) : objects_.size();
    Json items = Json::array();
    auto it = objects_.begin();
    std::advance(it, std::min(start, objects_.size()));
    size_t i = start;
    for (; it != objects_.end() && i < start + n; ++it, ++i) {
      Json item = it->second;
      item.erase("kind");  // lists omit kind/apiVersion on items, as the real API does
      item.erase("apiVersion");
      items.push_back(item);
    }
    Json meta = {{"resourceVersion", std::to_string(list_rv_)}};
    if (i < objects_.size()) meta["continue"] = std::to_string(i);
    return Json{{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", meta}, {"items", items}};
  }

  Result<void> watch(const ListOptions& opts, const WatchCallback& on_event) override {
    std::unique_lock lock(mu_);
    watch_calls_.push_back(opts);
    cv_.notify_all();
    for (;;) {
      cv_.wait(lock, [&] { return cancelled_ || !stream_.empty(); });
      if (cancelled_) return ApiError{0, "", "cancelled", nullptr};
      Item item = std::move(stream_.front());
      stream_.pop_front();
      if (item.kind == Item::end) return {};
      if (item.kind == Item::fail) return item.err;
      lock.unlock();
      bool more = on_event(item.ev);
      lock.lock();
      if (!more) return {};
    }
  }

  void cancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

  // --- test controls ---
  void set_objects(const std::vector<Json>& objs, int rv) {
    std::lock_guard lock(mu_);
    objects_.clear();
    for (const auto& o : objs) objects_[object_key(o)] = o;
    list_rv_ = rv;
  }
  void push_event(EventType type, Json obj) {
    push(Item{Item::event, WatchEvent{type, std::move(obj)}, {}});
  }
  void push_end() { push(Item{Item::end, {}, {}}); }
  void push_fail(ApiError e) { push(Item{Item::fail, {}, std::move(e)}); }
  void fail_lists(int n) {
    std::lock_guard lock(mu_);
    list_failures_ = n;
  }
  void expire_next_continue() {
    std::lock_guard lock(mu_);
    expire_continue_ = true;
  }
  // Waits (bounded) until the watch() call count reaches n; returns that call's options.
  std::optional<ListOptions> wait_watch_call(size_t n) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(5), [&] { return watch_calls_.size() >= n; }))
      return std::nullopt;
    return watch_calls_[n - 1];
  }
  size_t list_calls() {
    std::lock_guard lock(mu_);
    return list_calls_.size();
  }
  std::vector<ListOptions> list_call_options() {
    std::lock_guard lock(mu_);
    return list_calls_;
  }
  bool stream_drained() {
    std::lock_guard lock(mu_);
    return stream_.empty();
  }

 private:
  void push(Item item) {
    std::lock_guard lock(mu_);
    stream_.push_back(std::move(item));
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Json> objects_;
  int list_rv_ = 1;
  int list_failures_ = 0;
  bool expire_continue_ = false;
  bool cancelled_ = false;
  std::deque<Item> stream_;
  std::vector<ListOptions> list_calls_;
  std::vector<ListOptions> watch_calls_;
};

}  // namespace k8c::client
