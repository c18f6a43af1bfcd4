#include "control/controllers/garbage_collector.h"

#include "common/log.h"
#include "control/api/kinds.h"

#include <algorithm>
#include <set>

namespace k8c::controllers {

namespace {

using namespace std::chrono_literals;
using client::ObjectPtr;
using client::ReconcileResult;

constexpr const char* kUidIndex = "uid";
constexpr const char* kOwnerIndex = "owner-uid";
constexpr const char* kForeground = "foregroundDeletion";
constexpr const char* kOrphan = "orphan";

std::string uid_of(const Json& obj) {
  return get_string(obj, {"metadata", "uid"});
}

const Json& owner_refs(const Json& obj) {
  static const Json empty = Json::array();
  const Json* refs = find_path(obj, {"metadata", "ownerReferences"});
  return refs && refs->is_array() ? *refs : empty;
}

std::vector<std::string> owner_uids(const Json& obj) {
  std::vector<std::string> out;
  for (const auto& r : owner_refs(obj))
    if (auto uid = get_string(r, {"uid"}); !uid.empty()) out.push_back(uid);
  return out;
}

bool being_deleted(const Json& obj) {
  return find_path(obj, {"metadata", "deletionTimestamp"}) != nullptr;
}

bool has_finalizer(const Json& obj, std::string_view name) {
  const Json* fin = find_path(obj, {"metadata", "finalizers"});
  if (!fin || !fin->is_array()) return false;
  return std::any_of(fin->begin(), fin->end(),
                     [&](const Json& f) { return f.is_string() && f.get<std::string>() == name; });
}

// A merge patch that replaces `field` (a list in metadata) and carries the resourceVersion the
// new list was computed from, so the server refuses it (409) if the object changed meanwhile:
// merge patches replace lists whole, and a stale list would undo someone else's edit.
Json metadata_list_patch(const Json& obj, const char* field, Json list) {
  Json meta = {{"resourceVersion", get_string(obj, {"metadata", "resourceVersion"})}};
  meta[field] = list.empty() ? Json(nullptr) : std::move(list);
  return {{"metadata", std::move(meta)}};
}

ReconcileResult failed(const std::string& what, const client::ApiError& e) {
  ReconcileResult r;
  r.error = what + ": " + e.to_string();
  return r;
}

}  // namespace

struct GarbageCollector::Watched {
  client::Resource res;
  std::unique_ptr<client::Informer> informer;
};

GarbageCollector::GarbageCollector(client::ApiClient& client, GarbageCollectorOptions opts)
    : client_(client),
      // The informers want shared ownership; the caller owns the client and outlives us.
      shared_client_(&client, [](client::ApiClient*) {}),
      controller_(
          "garbage-collector", [this](const std::string& uid) { return reconcile(uid); },
          opts.workers, opts.backoff) {
  for (const auto& k : api::all_kinds()) {
    auto w = std::make_unique<Watched>();
    w->res = client::Resource{k.group, k.version, k.plural, k.namespaced, k.kind};
    client::InformerOptions io;
    io.name = "gc-" + k.plural;
    // The collector reads identity, ownership and deletion state only; caching whole objects
    // would hold a parsed copy of every Pod in the cluster, and receiving them would parse every
    // Pod write a second time. So it asks for metadata only, like Kubernetes' collector, and
    // keeps the fields it reads (also when a server answers with whole objects).
    io.metadata_only = true;
    io.transform = [api_version = w->res.api_version(), kind = k.kind](Json& o) {
      Json slim = {{"apiVersion", api_version}, {"kind", kind}};
      Json meta = Json::object();
      if (Json* m = o.contains("metadata") ? &o["metadata"] : nullptr; m && m->is_object())
        for (const char* f : {"name", "namespace", "uid", "resourceVersion", "finalizers",
                              "ownerReferences", "deletionTimestamp"})
          if (m->contains(f)) meta[f] = std::move((*m)[f]);
      slim["metadata"] = std::move(meta);
      o = std::move(slim);
    };
    w->informer = client::make_informer(shared_client_, w->res, {}, {}, {}, io);
    w->informer->add_index(kUidIndex, [](const Json& o) {
      auto uid = uid_of(o);
      return uid.empty() ? std::vector<std::string>{} : std::vector<std::string>{uid};
    });
    w->informer->add_index(kOwnerIndex, owner_uids);
    client::EventHandlers h;
    // Only objects that name owners, or are being deleted, can need the collector; the rest
    // (most Pods, Events, Leases) would only cost a queue round trip per write.
    auto concerns_us = [](const Json& o) { return !owner_uids(o).empty() || being_deleted(o); };
    h.on_add = [this, concerns_us](const ObjectPtr& o) {
      if (concerns_us(*o)) controller_.enqueue(uid_of(*o));
    };
    h.on_update = [this, concerns_us](const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
      if (concerns_us(*new_obj)) controller_.enqueue(uid_of(*new_obj));
      // An owner whose reference was dropped may have been waiting for this dependent.
      auto now = owner_uids(*new_obj);
      for (const auto& u : owner_uids(*old_obj))
        if (std::find(now.begin(), now.end(), u) == now.end()) controller_.enqueue(u);
    };
    h.on_delete = [this](const ObjectPtr& o) { enqueue_related(*o); };
    w->informer->add_handlers(std::move(h));
    watched_.push_back(std::move(w));
  }
}

GarbageCollector::~GarbageCollector() {
  stop();
}

void GarbageCollector::start() {
  for (auto& w : watched_) w->informer->start();
  controller_.start();
}

void GarbageCollector::stop() {
  controller_.stop();
  for (auto& w : watched_) w->informer->stop();
}

bool GarbageCollector::has_synced() const {
  return std::all_of(watched_.begin(), watched_.end(),
                     [](const auto& w) { return w->informer->has_synced(); });
}

void GarbageCollector::enqueue_related(const Json& obj) {
  // Its dependents may now be dangling; its owners may be waiting for it (Foreground).
  for (const auto& [w, dep] : dependents(uid_of(obj))) controller_.enqueue(uid_of(*dep));
  for (const auto& u : owner_uids(obj)) controller_.enqueue(u);
}

std::pair<const GarbageCollector::Watched*, ObjectPtr> GarbageCollector::find_uid(
    const std::string& uid) const {
  if (uid.empty()) return {nullptr, nullptr};
  for (const auto& w : watched_) {
    auto found = w->informer->store().by_index(kUidIndex, uid);
    if (!found.empty()) return {w.get(), found.front()};
  }
  return {nullptr, nullptr};
}

std::vector<std::pair<const GarbageCollector::Watched*, ObjectPtr>> GarbageCollector::dependents(
    const std::string& uid) const {
  std::vector<std::pair<const Watched*, ObjectPtr>> out;
  if (uid.empty()) return out;
  for (const auto& w : watched_)
    for (auto& o : w->informer->store().by_index(kOwnerIndex, uid)) out.emplace_back(w.get(), o);
  return out;
}

const GarbageCollector::Watched* GarbageCollector::watched_kind(const std::string& api_version,
                                                                const std::string& kind) const {
  for (const auto& w : watched_)
    if (w->res.kind == kind && w->res.api_version() == api_version) return w.get();
  return nullptr;
}

ReconcileResult GarbageCollector::reconcile(const std::string& uid) {
  // Until every cache has listed, "no dependent left" or "owner absent" could be an artefact of
  // a cache that has not filled yet.
  if (!has_synced()) {
    ReconcileResult r;
    r.requeue_after = 200ms;
    return r;
  }
  auto [w, obj] = find_uid(uid);
  if (!obj) return {};  // gone: whatever it owned was queued when it went
  if (being_deleted(*obj)) {
    if (has_finalizer(*obj, kOrphan)) return process_orphan(*w, *obj);
    if (has_finalizer(*obj, kForeground)) return process_foreground(*w, *obj);
    return {};  // someone else's finalizers hold it; nothing of ours to do
  }
  return process_dangling(*w, *obj);
}

ReconcileResult GarbageCollector::process_orphan(const Watched& w, const Json& owner) {
  std::string uid = uid_of(owner);
  for (const auto& [dw, dep] : dependents(uid)) {
    Json keep = Json::array();
    for (const auto& r : owner_refs(*dep))
      if (get_string(r, {"uid"}) != uid) keep.push_back(r);
    auto res = client_.patch(dw->res, get_string(*dep, {"metadata", "namespace"}),
                             get_string(*dep, {"metadata", "name"}), client::PatchType::merge,
                             metadata_list_patch(*dep, "ownerReferences", std::move(keep)));
    if (!res && !res.error().is_not_found())
      return failed("orphan " + client::object_key(*dep), res.error());
  }
  return remove_finalizer(w, owner, kOrphan);
}

ReconcileResult GarbageCollector::process_foreground(const Watched& w, const Json& owner) {
  std::string uid = uid_of(owner);
  size_t blocking = 0;
  for (const auto& [dw, dep] : dependents(uid)) {
    bool blocks = false;
    for (const auto& r : owner_refs(*dep))
      if (get_string(r, {"uid"}) == uid && r.value("blockOwnerDeletion", false)) blocks = true;
    if (being_deleted(*dep)) {
      blocking += blocks;
      continue;
    }
    client::DeleteOptions opts;
    opts.precondition_uid = uid_of(*dep);
    // A dependent that owns others is deleted in the foreground too, so the whole chain below
    // the owner is gone before the owner is.
    opts.propagation_policy = dependents(uid_of(*dep)).empty() ? "Background" : "Foreground";
    auto res = client_.remove(dw->res, get_string(*dep, {"metadata", "namespace"}),
                              get_string(*dep, {"metadata", "name"}), opts);
    if (!res) {
      // NotFound, or a Conflict on the uid precondition: that dependent is gone already.
      if (res.error().is_not_found() || res.error().is_conflict()) continue;
      return failed("delete dependent " + client::object_key(*dep), res.error());
    }
    // The server answers with the object while it still waits for finalizers, or with a Status
    // once it is gone.
    if (res->value("kind", "") != "Status") blocking += blocks;
  }
  // Dependents that still block are watched: their deletion queues this owner again.
  if (blocking > 0) return {};
  return remove_finalizer(w, owner, kForeground);
}

ReconcileResult GarbageCollector::remove_finalizer(const Watched& w, const Json& owner,
                                                   const char* finalizer) {
  Json rest = Json::array();
  for (const auto& f : owner["metadata"]["finalizers"])
    if (f != finalizer) rest.push_back(f);
  auto res = client_.patch(w.res, get_string(owner, {"metadata", "namespace"}),
                           get_string(owner, {"metadata", "name"}), client::PatchType::merge,
                           metadata_list_patch(owner, "finalizers", std::move(rest)));
  if (!res && !res.error().is_not_found())
    return failed("remove " + std::string(finalizer) + " finalizer of " + client::object_key(owner),
                  res.error());
  return {};
}

ReconcileResult GarbageCollector::process_dangling(const Watched& w, const Json& obj) {
  const Json& refs = owner_refs(obj);
  if (refs.empty()) return {};
  std::string ns = get_string(obj, {"metadata", "namespace"});
  Json present = Json::array();
  size_t absent = 0;
  for (const auto& ref : refs) {
    std::string owner_uid = get_string(ref, {"uid"});
    auto [ow, cached] = find_uid(owner_uid);
    // A namespaced owner counts only in the dependent's own namespace.
    if (cached && (!ow->res.namespaced || get_string(*cached, {"metadata", "namespace"}) == ns)) {
      present.push_back(ref);
      continue;
    }
    const Watched* kind = watched_kind(get_string(ref, {"apiVersion"}), get_string(ref, {"kind"}));
    // An owner of a kind we do not serve, or a namespaced owner named by a cluster-scoped
    // object, cannot be verified absent; Kubernetes leaves such references alone.
    if (!kind || (kind->res.namespaced && !w.res.namespaced)) {
      present.push_back(ref);
      continue;
    }
    // The cache may lag behind a freshly created owner: only the API server can say it is gone.
    auto live = client_.get(kind->res, kind->res.namespaced ? ns : "", get_string(ref, {"name"}));
    if (live && uid_of(*live) == owner_uid) {
      present.push_back(ref);
    } else if (live || live.error().is_not_found()) {
      ++absent;  // gone, or replaced by a namesake with another uid
    } else {
      return failed("look up owner " + get_string(ref, {"kind"}) + " " + get_string(ref, {"name"}),
                    live.error());
    }
  }
  if (absent == 0) return {};
  std::string name = get_string(obj, {"metadata", "name"});
  if (present.empty()) {
    spdlog::info("garbage-collector: deleting {} {} (its owners are gone)", w.res.kind,
                 client::object_key(obj));
    client::DeleteOptions opts;
    opts.propagation_policy = "Background";
    opts.precondition_uid = uid_of(obj);
    auto res = client_.remove(w.res, ns, name, opts);
    if (!res && !res.error().is_not_found() && !res.error().is_conflict())
      return failed("delete " + client::object_key(obj), res.error());
    return {};
  }
  auto res = client_.patch(w.res, ns, name, client::PatchType::merge,
                           metadata_list_patch(obj, "ownerReferences", std::move(present)));
  if (!res && !res.error().is_not_found())
    return failed("drop dangling owner references of " + client::object_key(obj), res.error());
  return {};
}

}  // namespace k8c::controllers
