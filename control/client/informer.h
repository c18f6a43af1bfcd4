// Informer: list, then watch from the list's resourceVersion, keeping a local cache of one
// resource; relist on 410 Gone or a broken watch and notify the difference. The shape of
// client-go's reflector + DeltaFIFO + indexer + processor, collapsed into one thread:
// handlers run on the informer thread, in event order, after the cache has been updated.
#pragma once

#include "control/client/listwatch.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace k8c::client {

// Cached objects are immutable and shared: readers keep them alive without copying.
using ObjectPtr = std::shared_ptr<const Json>;

// Index values for one object, e.g. its namespace, its node name, its owner's UID.
using IndexFunc = std::function<std::vector<std::string>(const Json& obj)>;

// The name of the index every Store has: metadata.namespace ("" for cluster-scoped objects).
inline constexpr const char* kNamespaceIndex = "namespace";

// A thread-safe keyed cache ("ns/name" -> object) with secondary indexes. Reads take a shared
// lock; the informer is the only writer.
class Store {
 public:
  Store();

  // Adds an index; existing contents are indexed at once. Replaces an index of the same name.
  void add_index(const std::string& name, IndexFunc fn);

  ObjectPtr get(const std::string& key) const;
  ObjectPtr get(const std::string& ns, const std::string& name) const;
  std::vector<ObjectPtr> list() const;
  std::vector<std::string> keys() const;
  size_t size() const;
  // Objects whose index `index` yields `value`; empty for an unknown index.
  std::vector<ObjectPtr> by_index(const std::string& index, const std::string& value) const;
  // Sorted.
  std::vector<std::string> index_keys(const std::string& index, const std::string& value) const;

  // Writers. Each returns the previous object under the key (null if none).
  ObjectPtr upsert(const std::string& key, ObjectPtr obj);
  ObjectPtr erase(const std::string& key);
  // Swaps the whole contents; returns the previous contents.
  std::unordered_map<std::string, ObjectPtr> replace(
      std::unordered_map<std::string, ObjectPtr> items);

 private:
  struct Index {
    IndexFunc fn;
    // index value -> keys. Hashed: the namespace index of a large namespace holds every key in
    // it, and a sorted set paid a string comparison per tree level on every event.
    std::unordered_map<std::string, std::unordered_set<std::string>> values;
  };
  void index_locked(const std::string& key, const Json& obj);
  void unindex_locked(const std::string& key, const Json& obj);

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, ObjectPtr> items_;
  std::map<std::string, Index> indexes_;
};

struct EventHandlers {
  std::function<void(const ObjectPtr& obj)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  // The object's last state: from the DELETED event, or the cached one when a relist found it
  // gone.
  std::function<void(const ObjectPtr& obj)> on_delete;
};

// Handlers that enqueue the object's key ("ns/name") on every add, update and delete: the usual
// way a controller feeds its WorkQueue from an informer.
EventHandlers enqueue_handlers(std::function<void(const std::string& key)> enqueue);

struct InformerOptions {
  int64_t page_size = 500;  // list limit; 0 lists everything in one response
  // Relist backoff after consecutive failures: jittered exponential between these.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{30000};
  // Each watch asks the server to end it after a random time in this range, like client-go,
  // so connections rebalance and a silently dead connection is noticed.
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::seconds max_watch_timeout{600};
  std::string name;  // for logs, e.g. "pods"
  // Applied to every object before it is cached or handed to handlers, as client-go's
  // SetTransform: a consumer that needs a few fields keeps only those, in memory and in work.
  std::function<void(Json& obj)> transform;
  // Lists and watches PartialObjectMetadata (ListOptions::metadata_only): for consumers that
  // read metadata only, the bytes on the wire and the parsing shrink to the metadata.
  bool metadata_only = false;
};

class Informer {
 public:
  explicit Informer(std::shared_ptr<ListWatcher> lw, InformerOptions opts = {});
  ~Informer();  // stops
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Register before start(); throws std::logic_error afterwards.
  void add_handlers(EventHandlers handlers);
  void add_index(const std::string& name, IndexFunc fn) { store_.add_index(name, std::move(fn)); }

  // Starts the informer thread. An informer runs once: after stop() it cannot start again,
  // because stop() cancels its ListWatcher for good.
  void start();
  // Cancels the list/watch in flight (closing the connection) and joins the thread. Handlers
  // in progress finish first; none run afterwards.
  void stop();

  // True once the first list has been stored and its add notifications delivered.
  bool has_synced() const { return synced_.load(); }
  // Waits for has_synced() or until the timeout passes / the informer stops.
  bool wait_for_sync(std::chrono::milliseconds timeout) const;

  const Store& store() const { return store_; }
  // The resourceVersion the next watch would start from.
  std::string resource_version() const;
  uint64_t list_count() const { return lists_.load(); }  // completed (re)lists

 private:
  void run();
  // Lists every page and replaces the cache, notifying the difference. Returns the list's
  // resourceVersion.
  Result<std::string> list_and_replace();
  void apply(WatchEvent& ev);
  bool sleep_for(std::chrono::milliseconds d);  // false when stopped meanwhile
  std::chrono::milliseconds backoff(int failures);
  bool stopping() const { return stopping_.load(); }
  void set_resource_version(const std::string& rv);

  template <class F>
  void notify(F&& f);

  std::shared_ptr<ListWatcher> lw_;
  InformerOptions opts_;
  Store store_;
  std::vector<EventHandlers> handlers_;
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> lists_{0};
  mutable std::mutex mu_;  // guards rv_ and the sleeps/sync waits
  mutable std::condition_variable cv_;
  std::string rv_;
};

}  // namespace k8c::client
