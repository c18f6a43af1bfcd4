// Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes strategic merge
// patch with its directives ($patch, $setElementOrder, $retainKeys, $deleteFromPrimitiveList).
#pragma once

#include "control/api/schema.h"

#include <string>

namespace k8c::api {

struct PatchError {
  std::string message;  // e.g. "the server rejected our request due to an error in our request"
};

// Each returns the patched document, or sets `err` and returns nullopt. None throw.
std::optional<Json> apply_json_patch(const Json& original, const Json& patch, PatchError* err);
std::optional<Json> apply_merge_patch(const Json& original, const Json& patch, PatchError* err);
// `schema` is the schema of the whole object: it supplies patch strategies and merge keys.
// Where a list has no schema information the patch replaces it, as for merge patch.
std::optional<Json> apply_strategic_merge_patch(const Json& original, const Json& patch,
                                                const Schema* schema, PatchError* err);

}  // namespace k8c::api
