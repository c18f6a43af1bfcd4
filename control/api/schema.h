// One schema per kind drives defaulting, validation, pruning, strategic-merge keys, the
// OpenAPI documents and the kubectl table columns. Schemas are trees of immutable nodes,
// built once at start-up with the small builder below (see kinds_*.cpp).
#pragma once

#include "common/json.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace k8c::api {

enum class Type {
  object,         // fixed properties
  map,            // free keys, values of `items` type (additionalProperties)
  array,          // elements of `items` type
  string,
  integer,
  number,
  boolean,
  int_or_string,  // e.g. targetPort, maxSurge
  quantity,       // resource quantity: "100m", "1Gi" or a number
  any,            // free-form JSON, preserved as is (x-kubernetes-preserve-unknown-fields)
};

enum class Format {
  none,
  dns1123_label,      // [a-z0-9]([-a-z0-9]*[a-z0-9])?, max 63
  dns1123_subdomain,  // labels joined by '.', max 253
  rfc1035_label,      // like dns1123_label but starts with a letter (Service names, port names)
  label_key,          // qualified name with optional DNS prefix: [prefix/]name
  label_value,        // empty or [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, max 63
  date_time,          // RFC 3339
  ip,                 // IPv4 or IPv6 literal
  port,               // 1..65535
  base64,             // Secret data values
  cron,               // five-field cron schedule (or @hourly etc.)
};

struct FieldError;
struct Schema;
using SchemaPtr = std::shared_ptr<const Schema>;

struct Schema {
  Type type = Type::any;
  std::string name;         // OpenAPI definition name, e.g. "io.k8s.api.core.v1.Container"; empty: inline
  std::string description;
  std::vector<std::pair<std::string, SchemaPtr>> properties;  // object: in declaration order
  SchemaPtr items;                                            // array element / map value
  std::vector<std::string> required;                          // object: required property names
  std::optional<Json> default_value;                          // applied when the field is absent
  std::vector<std::string> enum_values;                       // string: allowed values
  Format format = Format::none;
  std::optional<int64_t> minimum, maximum;                    // integer bounds
  std::optional<size_t> max_length;                           // string length / array items
  bool immutable = false;                                     // may not change on update

  // Strategic merge patch metadata (x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key).
  // For arrays: "merge" with a merge key merges elements by that key; "merge" without a key on
  // a list of primitives merges as a set; "" or "replace" replaces the list.
  // For objects: "retainKeys" clears fields not present in the patch.
  std::string patch_strategy;
  std::string patch_merge_key;
  // x-kubernetes-list-type ("atomic", "set", "map") and x-kubernetes-list-map-keys.
  std::string list_type;
  std::vector<std::string> list_map_keys;

  const SchemaPtr* property(std::string_view key) const;  // nullptr when unknown
};

// Builder: obj({{"name", str().req()}, ...}).named("io.k8s.api.core.v1.Foo").
class S {
 public:
  S() = default;
  explicit S(Type t);
  S(SchemaPtr p);  // NOLINT: wraps a shared definition
  operator SchemaPtr() const { return node_; }
  SchemaPtr ptr() const { return node_; }

  S& named(std::string n);
  S& desc(std::string d);
  S& req();              // marks the field required in its parent object (see obj())
  S& def(Json v);
  S& oneof(std::vector<std::string> values);
  S& fmt(Format f);
  S& min(int64_t v);
  S& max(int64_t v);
  S& max_len(size_t n);
  S& immutable();
  S& merge(std::string key);      // array: strategy "merge" with merge key
  S& merge_set();                 // array of primitives: strategy "merge" (set)
  S& strategy(std::string s);     // explicit strategy, e.g. "merge,retainKeys"
  S& list_map(std::vector<std::string> keys);  // x-kubernetes-list-type=map
  bool is_required() const { return required_; }

 private:
  Schema& mut();
  SchemaPtr node_ = std::make_shared<Schema>();
  bool required_ = false;
};

S obj(std::initializer_list<std::pair<std::string, S>> props);
S str();
S integer();
S number();
S boolean();
S int_or_string();
S quantity();
S any();
S list(S items);
S map(S values);

// A validation failure at a field path such as "spec.template.spec.containers[0].image".
struct FieldError {
  enum class Kind { required, invalid, not_supported, duplicate, too_long, forbidden, unknown_field };
  Kind kind;
  std::string field;
  std::string message;  // Kubernetes wording, e.g. "Required value"
  Json value;           // offending value, when there is one
};
using FieldErrors = std::vector<FieldError>;
// Kubernetes' reason string for a cause: "FieldValueRequired", "FieldValueInvalid", ...
const char* cause_reason(FieldError::Kind k);

}  // namespace k8c::api
