// How objects are laid out in the store and put back on the wire.
//
// Stored values are the object's JSON without metadata.resourceVersion: the revision is the
// store's mod_revision, known only once the write commits (and, with etcd, never before). The
// watch cache encodes each revision once by splicing the revision into metadata, and every
// list, get and watcher then shares those bytes.
#pragma once

#include "common/json.h"
#include "control/api/kinds.h"
#include "control/store/store.h"
#include "control/store/watch_cache.h"

#include <string>
#include <string_view>

namespace k8c::apiserver {

// "/registry/pods/" or "/registry/apps/deployments/", the prefix of one resource's keys.
std::string resource_prefix(const api::Kind& kind);
// The key of one object; `ns` is ignored for cluster-scoped kinds.
std::string object_key(const api::Kind& kind, std::string_view ns, std::string_view name);
// The key prefix for listing: a namespace's objects, or all of them when `ns` is empty.
std::string list_prefix(const api::Kind& kind, std::string_view ns);

// Serializes an object for storage (resourceVersion removed).
std::string encode_for_store(Json obj);

// Returns `stored` with "resourceVersion":"<rev>" placed first in its top-level metadata.
std::string with_resource_version(std::string_view stored, int64_t revision);
store::Encoder wire_encoder();

// The PartialObjectMetadata view of an encoded object: its metadata spliced out of the bytes,
// without parsing the object.
std::string partial_object_metadata(std::string_view object);
inline constexpr std::string_view kMetaApiVersion = "meta.k8s.io/v1";

// A List response assembled from already-encoded items.
std::string list_body(std::string_view api_version, std::string_view list_kind,
                      std::string_view resource_version, std::string_view continue_token,
                      const std::vector<std::shared_ptr<const std::string>>& items,
                      int64_t remaining = -1);

// Continue tokens carry the list's revision and the last key returned.
std::string encode_continue(int64_t revision, std::string_view last_key);
bool decode_continue(std::string_view token, int64_t* revision, std::string* last_key);

}  // namespace k8c::apiserver
