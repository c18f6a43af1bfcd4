// ObjectSync: follow several resources and rebuild one derived state from all of them.
//
// The data plane (Services + EndpointSlices + Nodes -> service table) and the ingress (Ingresses,
// IngressClasses, Services, EndpointSlices, Secrets -> route table) both need the same loop: an
// informer per resource, and a rebuild of an immutable snapshot whenever any of them changes,
// off the fast path. Rebuilding from the whole view, rather than patching the snapshot per event,
// keeps the builders pure functions of their inputs (testable on plain objects) and makes a
// relist after 410 need no special case.
//
// The rebuild runs on ObjectSync's own thread: first once every informer has synced (so the first
// snapshot is never built from a partial view), then after changes. Events arriving within
// `debounce` of each other are coalesced into one rebuild (never delayed past `max_delay`), so a
// burst of endpoint updates costs one build, and a rebuild never runs concurrently with another.
#pragma once

#include "control/client/client.h"
#include "control/client/informer.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace k8c::client {

struct SyncSource {
  Resource resource;
  std::string ns;  // empty: all namespaces
  std::string label_selector;
  std::string field_selector;
  InformerOptions options;
};

// The objects of each source, in the order the sources were given; within a source, sorted by
// namespace then name so that a rebuild is a deterministic function of the cluster's state.
using SyncView = std::vector<std::vector<ObjectPtr>>;

struct ObjectSyncOptions {
  std::chrono::milliseconds debounce{20};
  std::chrono::milliseconds max_delay{250};  // from the first change to its rebuild
  std::string name;                          // for logs, e.g. "ingress"
};

class ObjectSync {
 public:
  using Rebuild = std::function<void(const SyncView& view)>;

  ObjectSync(std::shared_ptr<ApiClient> client, std::vector<SyncSource> sources, Rebuild rebuild,
             ObjectSyncOptions opts = {});
  // Over informers built by the caller (tests use fake ListWatchers). Handlers are added here.
  ObjectSync(std::vector<std::unique_ptr<Informer>> informers, Rebuild rebuild,
             ObjectSyncOptions opts = {});
  ~ObjectSync();  // stops
  ObjectSync(const ObjectSync&) = delete;
  ObjectSync& operator=(const ObjectSync&) = delete;

  void start();
  // Stops the informers and the rebuild thread. A rebuild in progress finishes first; none runs
  // afterwards.
  void stop();

  // Waits until the first rebuild has returned, or the timeout passes or the sync stops.
  bool wait_for_first_build(std::chrono::milliseconds timeout) const;
  uint64_t builds() const { return builds_.load(); }
  const Informer& informer(size_t i) const { return *informers_.at(i); }
  // The current view, as a rebuild would see it.
  SyncView view() const;

 private:
  void run();
  void changed();

  std::vector<std::unique_ptr<Informer>> informers_;
  Rebuild rebuild_;
  ObjectSyncOptions opts_;
  std::thread thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool dirty_ = false;
  bool stopping_ = false;
  bool started_ = false;
  std::atomic<uint64_t> builds_{0};
};

}  // namespace k8c::client
