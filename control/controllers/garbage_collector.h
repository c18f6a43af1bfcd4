// The garbage collector: deletes objects whose owners are gone and carries out the Foreground
// and Orphan deletion policies, the way Kubernetes' garbage collector controller does it
// (https://kubernetes.io/docs/concepts/architecture/garbage-collection/).
//
// It watches every kind the API server serves. The owner graph is two secondary indexes on each
// informer cache: by the object's uid, and by the uids its ownerReferences name. Keeping the
// graph in the caches (rather than in a structure of its own fed by events) means it is always
// exactly what the informers observed, with no second copy to drift. Work queue keys are uids;
// reconcile(uid) compares the object's observed state with what its ownership demands:
//  - an object all of whose owners are absent is deleted (Background); an object with some
//    absent owners loses only the dangling references. Absence is confirmed with a live GET,
//    because a cache may simply not have seen a new owner yet;
//  - an owner being deleted with the `foregroundDeletion` finalizer has its dependents deleted,
//    and keeps the finalizer until no dependent that blocks owner deletion remains;
//  - an owner being deleted with the `orphan` finalizer has its references removed from every
//    dependent, then loses the finalizer.
#pragma once

#include "control/client/client.h"
#include "control/client/workqueue.h"

#include <memory>
#include <string>
#include <vector>

namespace k8c::controllers {

struct GarbageCollectorOptions {
  int workers = 2;
  client::RateLimiterOptions backoff{std::chrono::milliseconds(5), std::chrono::seconds(30)};
};

class GarbageCollector {
 public:
  // `client` must outlive the collector.
  explicit GarbageCollector(client::ApiClient& client, GarbageCollectorOptions opts = {});
  ~GarbageCollector();  // stops
  GarbageCollector(const GarbageCollector&) = delete;
  GarbageCollector& operator=(const GarbageCollector&) = delete;

  // Starts the informers and the workers. Workers wait for every cache to sync before acting.
  void start();
  void stop();

  bool has_synced() const;

 private:
  struct Watched;  // one informer per kind, with its Resource

  client::ReconcileResult reconcile(const std::string& uid);
  client::ReconcileResult process_orphan(const Watched& w, const Json& owner);
  client::ReconcileResult process_foreground(const Watched& w, const Json& owner);
  // Drops one finalizer from the owner once its work is done.
  client::ReconcileResult remove_finalizer(const Watched& w, const Json& owner,
                                           const char* finalizer);
  client::ReconcileResult process_dangling(const Watched& w, const Json& obj);

  // The cached object with this uid and the kind it belongs to; null when no cache has it.
  std::pair<const Watched*, client::ObjectPtr> find_uid(const std::string& uid) const;
  // Every cached object whose ownerReferences name `uid`, with its kind.
  std::vector<std::pair<const Watched*, client::ObjectPtr>> dependents(
      const std::string& uid) const;
  const Watched* watched_kind(const std::string& api_version, const std::string& kind) const;
  void enqueue_related(const Json& obj);

  client::ApiClient& client_;
  std::shared_ptr<client::ApiClient> shared_client_;  // non-owning, for the informers
  std::vector<std::unique_ptr<Watched>> watched_;
  client::Controller controller_;
};

}  // namespace k8c::controllers
