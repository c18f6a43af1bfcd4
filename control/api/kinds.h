// The kinds k8c serves: their identity, scope, schema, table columns and the rules a schema
// cannot express. The registry is built once and is immutable afterwards.
#pragma once

#include "control/api/schema.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace k8c::api {

struct Column {
  std::string name;         // "NAME", "READY", ... as kubectl prints it
  std::string type;         // "string", "integer", "date", ...
  std::string format;       // "name" for the NAME column
  std::string description;
  int priority = 0;         // 0: always shown; 1: only with -o wide
  std::function<Json(const Json& obj)> cell;  // the cell value for one object
};

struct Kind {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string kind;      // "Pod"
  std::string plural;    // "pods"
  std::string singular;  // "pod"
  std::vector<std::string> short_names;  // {"po"}
  std::vector<std::string> categories;   // {"all"}
  bool namespaced = true;
  SchemaPtr schema;                      // the whole object (apiVersion, kind, metadata, spec, status)
  std::vector<Column> columns;           // every column after NAME, in kubectl's order, AGE included
  bool has_status = false;               // /status subresource; spec changes bump generation
  // /scale subresource: where replicas and the selector live.
  std::string scale_replicas_path;       // e.g. "spec.replicas"; empty: no /scale
  std::string scale_status_replicas_path;
  std::string scale_selector_path;       // e.g. "spec.selector" (label selector object)
  // Field selectors supported beyond metadata.name and metadata.namespace,
  // each a dotted path into the object, e.g. "spec.nodeName", "status.phase".
  std::vector<std::string> field_selectors;
  // The value a field selector compares for `field`, where it is not simply the dotted path
  // (Job "status.successful" reads status.succeeded, absent booleans read "false", ...).
  // Empty function, or nullopt: resolve the dotted path.
  std::function<std::optional<std::string>(const Json& obj, std::string_view field)> field_value;
  // Defaults a schema cannot express (derived values); runs after schema defaults.
  std::function<void(Json& obj)> defaults;
  // Rules a schema cannot express (cross-field, update rules). `old` is null on create.
  std::function<void(const Json& obj, const Json* old, FieldErrors& errs)> validate;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
};

// Every kind served, in a stable order (core first).
const std::vector<Kind>& all_kinds();
const Kind* find_by_resource(std::string_view group, std::string_view version, std::string_view plural);
const Kind* find_by_kind(std::string_view group, std::string_view version, std::string_view kind);
// "apps/v1" + "Deployment"
const Kind* find_by_api_version(std::string_view api_version, std::string_view kind);

}  // namespace k8c::api
