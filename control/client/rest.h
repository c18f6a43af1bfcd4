// The REST vocabulary of the Kubernetes API, independent of any transport: which resource,
// which URL path and query, how a failure Status reads, how a watch stream decodes. ApiClient
// (client.h) sends what this builds; tests and fakes use it without a network.
#pragma once

#include "control/client/result.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace k8c::client {

// One REST resource: /api/v1/pods, /apis/apps/v1/deployments, ...
struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "pods"
  bool namespaced = true;
  std::string kind;  // "Pod": what create() stamps when an object has no kind

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  bool operator==(const Resource&) const = default;
};

// The kinds ARCHITECTURE.md names. Inline so every component shares the same spelling.
namespace resources {
inline const Resource pods{"", "v1", "pods", true, "Pod"};
inline const Resource services{"", "v1", "services", true, "Service"};
inline const Resource endpoints{"", "v1", "endpoints", true, "Endpoints"};
inline const Resource endpointslices{"discovery.k8s.io", "v1", "endpointslices", true,
                                     "EndpointSlice"};
inline const Resource nodes{"", "v1", "nodes", false, "Node"};
inline const Resource leases{"coordination.k8s.io", "v1", "leases", true, "Lease"};
inline const Resource deployments{"apps", "v1", "deployments", true, "Deployment"};
inline const Resource replicasets{"apps", "v1", "replicasets", true, "ReplicaSet"};
inline const Resource statefulsets{"apps", "v1", "statefulsets", true, "StatefulSet"};
inline const Resource daemonsets{"apps", "v1", "daemonsets", true, "DaemonSet"};
inline const Resource controllerrevisions{"apps", "v1", "controllerrevisions", true,
                                          "ControllerRevision"};
inline const Resource jobs{"batch", "v1", "jobs", true, "Job"};
inline const Resource cronjobs{"batch", "v1", "cronjobs", true, "CronJob"};
inline const Resource ingresses{"networking.k8s.io", "v1", "ingresses", true, "Ingress"};
inline const Resource ingressclasses{"networking.k8s.io", "v1", "ingressclasses", false,
                                     "IngressClass"};
inline const Resource configmaps{"", "v1", "configmaps", true, "ConfigMap"};
inline const Resource secrets{"", "v1", "secrets", true, "Secret"};
inline const Resource namespaces{"", "v1", "namespaces", false, "Namespace"};
inline const Resource events{"", "v1", "events", true, "Event"};
inline const Resource persistentvolumes{"", "v1", "persistentvolumes", false, "PersistentVolume"};
inline const Resource persistentvolumeclaims{"", "v1", "persistentvolumeclaims", true,
                                             "PersistentVolumeClaim"};
inline const Resource serviceaccounts{"", "v1", "serviceaccounts", true, "ServiceAccount"};
}  // namespace resources

// Query parameters of list and watch. Empty / unset fields are not sent.
struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;                   // page size; 0: everything at once
  std::string continue_token;          // from the previous page's metadata.continue
  std::string resource_version;        // list: "0" allows a cached answer; watch: start after this
  std::string resource_version_match;  // "NotOlderThan" / "Exact"
  bool watch = false;
  bool allow_watch_bookmarks = false;
  std::optional<int64_t> timeout_seconds;  // server-side end of a watch (or list)
  // Ask for PartialObjectMetadata(List) instead of whole objects, as client-go's metadata client
  // does: the server sends apiVersion, kind and metadata only.
  bool metadata_only = false;
};

struct DeleteOptions {
  std::optional<std::string> propagation_policy;  // "Foreground", "Background", "Orphan"
  std::optional<int64_t> grace_period_seconds;
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  bool dry_run = false;

  bool empty() const {
    return !propagation_policy && !grace_period_seconds && !precondition_uid &&
           !precondition_resource_version && !dry_run;
  }
  Json to_json() const;  // a meta/v1 DeleteOptions body
};

enum class PatchType { merge, strategic, json };
std::string_view content_type(PatchType type);

// "/api/v1/namespaces/ns/pods/name/status". An empty `ns` (for a namespaced resource) means all
// namespaces; an empty `name` means the collection. Segments are percent-encoded.
std::string resource_path(const Resource& res, std::string_view ns, std::string_view name = {},
                          std::string_view subresource = {});

// "labelSelector=app%3Dweb&limit=5" (no leading '?'); empty when nothing is set.
std::string list_query(const ListOptions& opts);

// Percent-encodes everything outside RFC 3986's unreserved set. Written here rather than taken
// from common/http so path building stays usable (and testable) without the transport.
std::string percent_encode(std::string_view s);

// Builds the error for a non-2xx response: the body's meta/v1 Status when there is one, else the
// HTTP status with the conventional reason and the body's first line as the message.
ApiError error_from_response(int http_status, std::string_view body);
// From a Status object (e.g. a watch ERROR event); `fallback_code` when it has no code.
ApiError error_from_status(const Json& status, int fallback_code = 0);
// "NotFound" for 404, ... as the API server uses them.
std::string_view reason_for_code(int http_status);

// metadata.namespace / metadata.name / metadata.resourceVersion, "" when absent.
std::string object_namespace(const Json& obj);
std::string object_name(const Json& obj);
std::string object_resource_version(const Json& obj);
// The cache key client-go uses: "ns/name", or "name" for cluster-scoped objects.
std::string object_key(const Json& obj);
// Splits "ns/name" (or "name") back.
std::pair<std::string, std::string> split_key(std::string_view key);

enum class EventType { added, modified, deleted, bookmark, error };
std::optional<EventType> parse_event_type(std::string_view s);
std::string_view to_string(EventType type);

struct WatchEvent {
  EventType type = EventType::added;
  Json
      object;  // the object; for ERROR a meta/v1 Status; for BOOKMARK only metadata.resourceVersion
};

// Decodes a watch response body: one JSON event per line ("\n"-delimited, as the API server and
// kubectl use it), arriving in arbitrary chunks. Partial lines wait for the next chunk.
class WatchDecoder {
 public:
  // Returns false (with `error()` set) on a malformed event; the stream is then unusable.
  // `on_event` returns false to stop; feed() then returns true and stopped() is set.
  bool feed(std::string_view chunk, const std::function<bool(WatchEvent&)>& on_event);
  // At end of stream: decodes a last event that lacks its newline; false (error() set) when
  // what is left is not a whole event.
  bool finish(const std::function<bool(WatchEvent&)>& on_event);
  const std::string& error() const { return error_; }
  bool stopped() const { return stopped_; }

 private:
  bool decode_line(std::string_view line, const std::function<bool(WatchEvent&)>& on_event);

  std::string pending_;
  std::string error_;
  bool stopped_ = false;
};

}  // namespace k8c::client
