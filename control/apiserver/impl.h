// Internals shared by the API server's translation units.
#pragma once

#include "control/api/kinds.h"
#include "control/api/selector.h"
#include "control/apiserver/apiserver.h"
#include "control/apiserver/request_info.h"
#include "control/apiserver/status.h"

#include <atomic>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace k8c::apiserver {

struct WatchStream;
struct Call;

// ?labelSelector= and ?fieldSelector= of a list, watch or deletecollection. Matching needs the
// parsed object; the common unfiltered path never parses.
struct Filter {
  std::optional<api::LabelSelector> labels;
  std::optional<api::FieldSelector> fields;
  api::FieldSelector::Resolver resolve;  // the kind's non-path field selectors

  static std::optional<Filter> from(const Call& c, ApiError& err);
  bool active() const { return (labels && !labels->empty()) || (fields && !fields->empty()); }
  bool matches(const Json& obj) const;
};

// One request in flight, carried through the asynchronous write path.
struct Call {
  http::Request request;
  std::shared_ptr<http::Responder> responder;
  RequestInfo info;
  const api::Kind* kind = nullptr;
  User user;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::string> warnings;
  // Subresources such as /scale answer with a view of the stored object rather than the object.
  std::function<Json(const Json& stored)> view;

  std::string param(std::string_view key, std::string fallback = {}) const;
  bool has_param(std::string_view key) const;
  bool dry_run() const { return param("dryRun") == "All"; }
  bool wants_table() const;
  // Accept asks for PartialObjectMetadata(List): client-go's metadata client and informers.
  bool wants_metadata() const;
  std::string key() const;  // storage key of the addressed object

  void reply(int status, std::string body);
  // Replies with a stored object's bytes (or its view, when the call has one).
  void reply_object(int status, std::string bytes);
  void reply_json(int status, const Json& body) { reply(status, body.dump()); }
  void fail(const ApiError& e);
};
using CallPtr = std::shared_ptr<Call>;

// Computes the next state of an object from the current one (null when absent). Returns the
// new object, or sets `err`. Used by update, patch and the subresources, which all retry on a
// store conflict by recomputing from the newer state.
using Mutation = std::function<std::optional<Json>(const Json* current, ApiError& err)>;

struct ApiServer::Impl {
  Impl(store::Store& s, Options o);

  store::Store& store;
  Options options;
  store::WatchCache cache;

  // Registry operations (rest.cpp).
  void dispatch_resource(const CallPtr& c);
  void get(const CallPtr& c);
  void list(const CallPtr& c);
  void create(const CallPtr& c);
  void update(const CallPtr& c);
  void patch(const CallPtr& c);
  void remove(const CallPtr& c);
  void remove_collection(const CallPtr& c);
  void scale(const CallPtr& c);
  // Runs `mutate` against the current state and writes the result with compare-and-swap.
  void guaranteed_update(const CallPtr& c, Mutation mutate, int attempts, int success_code);
  // Writes `obj` as the new state of `c->key()` after `current` (mod revision), finishing the
  // request; a conflict re-runs `retry` when set.
  void commit_update(const CallPtr& c, Json obj, const Json& old, int64_t expect,
                     std::function<void()> retry, int success_code);
  std::optional<Json> current_object(const std::string& key, int64_t* mod_revision);
  // Runs defaulting, pruning and validation; returns false after replying with the error.
  bool admit(const CallPtr& c, Json& obj, const Json* old);

  // Kind-specific behaviour around create/update (strategy.cpp).
  bool prepare_create(const CallPtr& c, Json& obj, ApiError& err);
  void prepare_update(const CallPtr& c, Json& obj, const Json& old);
  std::optional<ApiError> allocate_service(Json& obj, const Json* old);

  // Watches (watch.cpp).
  void watch(const CallPtr& c);
  void tick();
  std::mutex watches_mu;
  std::list<std::shared_ptr<WatchStream>> watches;
  std::atomic<bool> stopping{false};
  std::thread ticker;

  // Discovery and non-resource paths (apiserver.cpp).
  bool serve_non_resource(const CallPtr& c);
  std::optional<User> authenticate(const http::Request& r) const;
  std::mutex alloc_mu;  // serializes ClusterIP/NodePort allocation
};

std::string now_rfc3339();
std::string new_uid();

}  // namespace k8c::apiserver
