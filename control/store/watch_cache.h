// The in-memory watch cache in front of a Store. It keeps the latest value of every key and a
// window of recent events. Each revision is encoded once (for the API server: the object JSON
// with its resourceVersion filled in) and the resulting bytes are shared by every list, get
// and watcher that reads them.
#pragma once

#include "control/store/store.h"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace k8c::store {

using Bytes = std::shared_ptr<const std::string>;

struct CachedObject {
  std::string key;
  Bytes bytes;  // encoded once
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

struct CachedEvent {
  Event::Type type = Event::Type::put;
  bool created = false;
  CachedObject object;  // for remove: the last value, encoded with the deletion revision
};

// encode(kv) produces the shared bytes for a value at kv.mod_revision.
using Encoder = std::function<std::string(const KeyValue& kv)>;

class CacheWatch {
 public:
  virtual ~CacheWatch() = default;
};

class WatchCache {
 public:
  // Lists the store under `prefix`, then follows it with a store watch.
  WatchCache(Store& store, std::string prefix, Encoder encode, size_t event_window = 100000);
  ~WatchCache();

  // Objects whose key starts with `prefix`, ordered by key, at the cache's current revision.
  std::vector<CachedObject> list(std::string_view prefix, int64_t* revision) const;
  std::optional<CachedObject> get(std::string_view key, int64_t* revision) const;
  int64_t revision() const;
  // Blocks until the cache has seen `revision` (after a write, to read it back), up to a timeout.
  bool wait_for(int64_t revision, std::chrono::milliseconds timeout) const;

  // Events on `prefix` after revision `after` (0: from now). Replays from the window, then live.
  // If `after` is older than the window, on_error(Errc::compacted) is called instead (410 Gone).
  std::unique_ptr<CacheWatch> watch(std::string prefix, int64_t after,
                                    std::function<void(const std::vector<CachedEvent>&)> on_events,
                                    std::function<void(Errc)> on_error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace k8c::store
