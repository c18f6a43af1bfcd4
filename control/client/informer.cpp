#include "control/client/informer.h"

#include "common/log.h"

#include <algorithm>
#include <random>
#include <stdexcept>

namespace k8c::client {

// ---- Store ----

Store::Store() {
  indexes_[kNamespaceIndex].fn = [](const Json& obj) {
    return std::vector<std::string>{object_namespace(obj)};
  };
}

void Store::add_index(const std::string& name, IndexFunc fn) {
  std::unique_lock lock(mu_);
  Index& idx = indexes_[name];
  idx.fn = std::move(fn);
  idx.values.clear();
  for (const auto& [key, obj] : items_) {
    for (auto& v : idx.fn(*obj)) idx.values[v].insert(key);
  }
}

void Store::index_locked(const std::string& key, const Json& obj) {
  for (auto& [name, idx] : indexes_) {
    for (auto& v : idx.fn(obj)) idx.values[v].insert(key);
  }
}

void Store::unindex_locked(const std::string& key, const Json& obj) {
  for (auto& [name, idx] : indexes_) {
    for (auto& v : idx.fn(obj)) {
      auto it = idx.values.find(v);
      if (it == idx.values.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) idx.values.erase(it);
    }
  }
}

ObjectPtr Store::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

ObjectPtr Store::get(const std::string& ns, const std::string& name) const {
  return get(ns.empty() ? name : ns + "/" + name);
}

std::vector<ObjectPtr> Store::list() const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [key, obj] : items_) out.push_back(obj);
  return out;
}

std::vector<std::string> Store::keys() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, obj] : items_) out.push_back(key);
  return out;
}

size_t Store::size() const {
  std::shared_lock lock(mu_);
  return items_.size();
}

std::vector<std::string> Store::index_keys(const std::string& index,
                                           const std::string& value) const {
  std::shared_lock lock(mu_);
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) return {};
  auto it = idx->second.values.find(value);
  if (it == idx->second.values.end()) return {};
  std::vector<std::string> keys(it->second.begin(), it->second.end());
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<ObjectPtr> Store::by_index(const std::string& index, const std::string& value) const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) return out;
  auto it = idx->second.values.find(value);
  if (it == idx->second.values.end()) return out;
  for (const auto& key : it->second) {
    if (auto obj = items_.find(key); obj != items_.end()) out.push_back(obj->second);
  }
  return out;
}

ObjectPtr Store::upsert(const std::string& key, ObjectPtr obj) {
  std::unique_lock lock(mu_);
  ObjectPtr old;
  auto it = items_.find(key);
  if (it != items_.end()) {
    old = it->second;
    unindex_locked(key, *old);
    it->second = obj;
  } else {
    items_.emplace(key, obj);
  }
  index_locked(key, *obj);
  return old;
}

ObjectPtr Store::erase(const std::string& key) {
  std::unique_lock lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  ObjectPtr old = std::move(it->second);
  items_.erase(it);
  unindex_locked(key, *old);
  return old;
}

std::unordered_map<std::string, ObjectPtr> Store::replace(
    std::unordered_map<std::string, ObjectPtr> items) {
  std::unique_lock lock(mu_);
  std::swap(items_, items);
  for (auto& [name, idx] : indexes_) {
    idx.values.clear();
    for (const auto& [key, obj] : items_) {
      for (auto& v : idx.fn(*obj)) idx.values[v].insert(key);
    }
  }
  return items;  // the previous contents
}

EventHandlers enqueue_handlers(std::function<void(const std::string& key)> enqueue) {
  EventHandlers h;
  h.on_add = [enqueue](const ObjectPtr& obj) { enqueue(object_key(*obj)); };
  h.on_update = [enqueue](const ObjectPtr&, const ObjectPtr& obj) { enqueue(object_key(*obj)); };
  h.on_delete = [enqueue](const ObjectPtr& obj) { enqueue(object_key(*obj)); };
  return h;
}

// ---- Informer ----

Informer::Informer(std::shared_ptr<ListWatcher> lw, InformerOptions opts)
    : lw_(std::move(lw)), opts_(std::move(opts)) {}

Informer::~Informer() {
  stop();
}

void Informer::add_handlers(EventHandlers handlers) {
  // Handlers are read by the informer thread without a lock, so the set is frozen at start().
  if (started_) throw std::logic_error("Informer::add_handlers after start()");
  handlers_.push_back(std::move(handlers));
}

void Informer::start() {
  if (started_.exchange(true)) return;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  lw_->cancel();
  if (thread_.joinable()) thread_.join();
}

bool Informer::wait_for_sync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return synced_.load() || stopping_.load(); });
  return synced_.load();
}

std::string Informer::resource_version() const {
  std::lock_guard lock(mu_);
  return rv_;
}

void Informer::set_resource_version(const std::string& rv) {
  if (rv.empty()) return;
  std::lock_guard lock(mu_);
  rv_ = rv;
}

bool Informer::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

std::chrono::milliseconds Informer::backoff(int failures) {
  // Full jitter over the upper half: spreads many clients relisting after one server restart.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto cap = opts_.max_backoff;
  auto d = opts_.min_backoff;
  for (int i = 1; i < failures && d < cap; ++i) d *= 2;
  if (d > cap) d = cap;
  std::uniform_int_distribution<int64_t> dist(d.count() / 2, d.count());
  return std::chrono::milliseconds(dist(rng));
}

template <class F>
void Informer::notify(F&& f) {
  for (auto& h : handlers_) {
    try {
      f(h);
    } catch (const std::exception& e) {
      // One faulty handler must not stop the cache from following the server.
      spdlog::error("informer {}: handler threw: {}", opts_.name, e.what());
    }
  }
}

namespace {

// List items omit kind/apiVersion; handlers get whole objects, as from a watch.
void stamp_kind(Json& item, const Json& list) {
  if (!item.is_object() || item.contains("kind")) return;
  std::string kind = get_string(list, {"kind"});
  if (kind.size() > 4 && kind.ends_with("List")) item["kind"] = kind.substr(0, kind.size() - 4);
  std::string api_version = get_string(list, {"apiVersion"});
  if (!api_version.empty() && !item.contains("apiVersion")) item["apiVersion"] = api_version;
}

}  // namespace

Result<std::string> Informer::list_and_replace() {
  std::unordered_map<std::string, ObjectPtr> items;
  std::vector<std::string> order;  // list order, for deterministic notifications
  std::string rv;
  ListOptions opts;
  opts.limit = opts_.page_size;
  opts.metadata_only = opts_.metadata_only;
  for (;;) {
    auto page = lw_->list(opts);
    if (!page) {
      // The continue token expired mid-way (compaction): fall back to one unpaginated list.
      if (page.error().is_gone() && !opts.continue_token.empty()) {
        items.clear();
        order.clear();
        rv.clear();
        opts = ListOptions{};
        continue;
      }
      return page.error();
    }
    if (stopping()) return ApiError{0, "Cancelled", "informer stopped", nullptr};
    Json& list = *page;
    if (rv.empty()) rv = get_string(list, {"metadata", "resourceVersion"});
    if (Json* arr = list.contains("items") ? &list["items"] : nullptr; arr && arr->is_array()) {
      for (Json& item : *arr) {
        stamp_kind(item, list);
        if (opts_.transform) opts_.transform(item);
        std::string key = object_key(item);
        if (key.empty()) continue;
        if (!items.count(key)) order.push_back(key);
        items[key] = std::make_shared<const Json>(std::move(item));
      }
    }
    opts.continue_token = get_string(list, {"metadata", "continue"});
    if (opts.continue_token.empty()) break;
  }

  auto old = store_.replace(items);
  lists_++;
  for (const auto& key : order) {
    const ObjectPtr& now = items[key];
    auto it = old.find(key);
    if (it == old.end()) {
      notify([&](EventHandlers& h) {
        if (h.on_add) h.on_add(now);
      });
    } else if (object_resource_version(*it->second) != object_resource_version(*now) ||
               *it->second != *now) {
      const ObjectPtr prev = it->second;
      notify([&](EventHandlers& h) {
        if (h.on_update) h.on_update(prev, now);
      });
    }
  }
  for (const auto& [key, prev] : old) {
    if (items.count(key)) continue;
    notify([&](EventHandlers& h) {
      if (h.on_delete) h.on_delete(prev);
    });
  }
  return rv;
}

void Informer::apply(WatchEvent& ev) {
  bool object_event = ev.type == EventType::added || ev.type == EventType::modified ||
                      ev.type == EventType::deleted;
  if (opts_.transform && object_event) opts_.transform(ev.object);
  switch (ev.type) {
    case EventType::added:
    case EventType::modified: {
      std::string key = object_key(ev.object);
      if (key.empty()) return;
      auto now = std::make_shared<const Json>(std::move(ev.object));
      ObjectPtr prev = store_.upsert(key, now);
      if (prev) {
        notify([&](EventHandlers& h) {
          if (h.on_update) h.on_update(prev, now);
        });
      } else {
        notify([&](EventHandlers& h) {
          if (h.on_add) h.on_add(now);
        });
      }
      return;
    }
    case EventType::deleted: {
      std::string key = object_key(ev.object);
      // A delete of something never seen has nothing to undo (as client-go's DeltaFIFO).
      if (!store_.erase(key)) return;
      auto last = std::make_shared<const Json>(std::move(ev.object));
      notify([&](EventHandlers& h) {
        if (h.on_delete) h.on_delete(last);
      });
      return;
    }
    case EventType::bookmark:
    case EventType::error:
      return;
  }
}

void Informer::run() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int failures = 0;
  auto fail_pause = [&](const char* what, const ApiError& err) {
    ++failures;
    spdlog::warn("informer {}: {} failed ({}): {}", opts_.name, what, failures, err.to_string());
    // The first failure relists at once (a 410 is routine); repeated failures back off.
    return failures == 1 || sleep_for(backoff(failures - 1));
  };

  while (!stopping()) {
    auto listed = list_and_replace();
    if (stopping()) break;
    if (!listed) {
      if (!fail_pause("list", listed.error())) break;
      continue;
    }
    set_resource_version(*listed);
    if (!synced_.exchange(true)) {
      std::lock_guard lock(mu_);  // pairs with wait_for_sync's predicate check
      cv_.notify_all();
    }

    // Watch from the newest revision seen; re-watch when the server ends a stream cleanly,
    // relist when it breaks.
    for (;;) {
      if (stopping()) return;
      ListOptions opts;
      opts.watch = true;
      opts.allow_watch_bookmarks = true;
      opts.metadata_only = opts_.metadata_only;
      opts.resource_version = resource_version();
      std::uniform_int_distribution<int64_t> dist(
          opts_.min_watch_timeout.count(),
          std::max(opts_.min_watch_timeout.count(), opts_.max_watch_timeout.count()));
      opts.timeout_seconds = dist(rng);
      std::optional<ApiError> event_error;
      bool got_events = false;
      auto started = std::chrono::steady_clock::now();
      auto watched = lw_->watch(opts, [&](WatchEvent& ev) {
        if (stopping()) return false;
        if (ev.type == EventType::error) {
          event_error = error_from_status(ev.object, 500);
          return false;
        }
        got_events = true;
        std::string rv = object_resource_version(ev.object);
        apply(ev);
        set_resource_version(rv);
        return !stopping();
      });
      if (stopping()) return;
      if (got_events) failures = 0;
      std::optional<ApiError> err = event_error;
      if (!err && !watched) err = watched.error();
      if (err) {
        if (!fail_pause(err->is_gone() ? "watch (resourceVersion expired)" : "watch", *err)) {
          return;
        }
        break;  // relist
      }
      // A clean end. One that came at once with nothing in it is a misbehaving server; pause
      // rather than spin.
      if (!got_events && std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
        ++failures;
        if (!sleep_for(backoff(failures))) return;
      } else {
        failures = 0;
      }
    }
  }
}

}  // namespace k8c::client
