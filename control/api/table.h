// meta.k8s.io/v1 Table responses for `kubectl get`, and the OpenAPI documents.
#pragma once

#include "control/api/kinds.h"

namespace k8c::api {

// A Table of `objects` with the kind's columns (NAME first, then Kind::columns, AGE where the
// kind has it). `include_object`: "None", "Metadata" (default) or "Object", per
// ?includeObject=. Rows carry the object as kubectl expects (PartialObjectMetadata for
// "Metadata").
Json to_table(const Kind& kind, const std::vector<const Json*>& objects, const std::string& include_object,
              const Json& list_metadata);

// "5m", "3h", "2d" as kubectl prints ages, from an RFC 3339 timestamp and now.
std::string human_age(const std::string& rfc3339, int64_t now_unix);

// OpenAPI v2 (swagger) document for every kind, and v3 per group-version.
Json openapi_v2();
Json openapi_v3_index();  // {"paths": {"api/v1": {"serverRelativeURL": ...}, ...}}
Json openapi_v3(std::string_view group, std::string_view version);  // null if unknown

// The same documents, generated and serialized once, for the HTTP handlers: the hash in the v3
// index's serverRelativeURL is of exactly these bytes.
const std::string& openapi_v2_json();
// The same document as gnostic's openapi.v2.Document protobuf, as kubectl requests it.
const std::string& openapi_v2_protobuf();
const std::string* openapi_v3_json(std::string_view group, std::string_view version);  // nullptr if unknown

}  // namespace k8c::api
