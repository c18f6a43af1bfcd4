// OpenAPI documents generated from the kind schemas: swagger 2.0 at /openapi/v2 and OpenAPI 3.0
// per group-version at /openapi/v3/<api|apis/group>/<version>.
//
// kubectl reads these for more than `kubectl explain`: before a create/apply/replace/patch it
// looks in the v3 document of the object's group-version for a path whose PATCH operation
// carries x-kubernetes-group-version-kind = the object's GVK, and requires that operation to
// list a `fieldValidation` query parameter (k8s.io/cli-runtime resource.queryParamVerifierV3).
// Without it kubectl falls back to client-side validation against these same schemas. So every
// write operation below declares dryRun, fieldManager and fieldValidation, and every operation
// names its GVK and x-kubernetes-action, as the real apiserver's documents do.
#include "control/api/table.h"

#include <openssl/evp.h>

#include <cctype>
#include <exception>
#include <map>
#include <mutex>
#include <set>

namespace k8c::api {

namespace {

constexpr const char* kServerVersion = "v1.32.0";
constexpr const char* kListMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
constexpr const char* kStatus = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
constexpr const char* kDeleteOptions = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
constexpr const char* kPatch = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
constexpr const char* kWatchEvent = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
constexpr const char* kIntOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
constexpr const char* kQuantity = "io.k8s.apimachinery.pkg.api.resource.Quantity";
constexpr const char* kScale = "io.k8s.api.autoscaling.v1.Scale";

enum class Dialect { v2, v3 };

std::string ref(Dialect d, const std::string& name) {
  return (d == Dialect::v2 ? "#/definitions/" : "#/components/schemas/") + name;
}

// "networking.k8s.io" -> "networking", "" -> "core": the package segment of definition names.
std::string group_package(const std::string& group) {
  if (group.empty()) return "core";
  return group.substr(0, group.find('.'));
}

std::string definition_name(const Kind& k) {
  if (k.schema && !k.schema->name.empty()) return k.schema->name;
  return "io.k8s.api." + group_package(k.group) + "." + k.version + "." + k.kind;
}

// "rbac.authorization.k8s.io" -> "RbacAuthorization", "" -> "Core"; "v1" -> "V1".
std::string camel(const std::string& s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '.' || c == '-') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

std::string op_infix(const Kind& k) {
  std::string g = k.group;
  if (auto p = g.find(".k8s.io"); p != std::string::npos && p + 7 == g.size()) g.resize(p);
  return camel(g.empty() ? "core" : g) + camel(k.version);
}

std::string gv_path(std::string_view group, std::string_view version) {
  if (group.empty()) return "api/" + std::string(version);
  return "apis/" + std::string(group) + "/" + std::string(version);
}

Json gvk(const std::string& group, const std::string& version, const std::string& kind) {
  return {{"group", group}, {"kind", kind}, {"version", version}};
}

// ---- schemas ----

class SchemaWriter {
 public:
  explicit SchemaWriter(Dialect d) : d_(d) {}

  // Adds the definition of `s` under `name`, and of every named schema it contains.
  void define(const std::string& name, const Schema& s) {
    if (defs_.contains(name)) return;
    defs_[name] = nullptr;  // reserve first: shared sub-schemas are written once
    defs_[name] = inline_schema(s);
  }
  void define_raw(const std::string& name, Json body) { defs_.emplace(name, std::move(body)); }
  Json& at(const std::string& name) { return defs_[name]; }
  Json take() {
    Json out = Json::object();
    for (auto& [k, v] : defs_) out[k] = std::move(v);
    return out;
  }

  Json schema(const Schema& s) {
    // Only object types become shared definitions: list and map nodes carry the patch
    // extensions of the field that holds them, which a $ref would hide.
    if (!s.name.empty() && s.type == Type::object) {
      define(s.name, s);
      return {{"$ref", ref(d_, s.name)}};
    }
    return inline_schema(s);
  }

 private:
  Json inline_schema(const Schema& s) {
    Json out = Json::object();
    if (!s.description.empty()) out["description"] = s.description;
    switch (s.type) {
      case Type::object: {
        out["type"] = "object";
        Json props = Json::object();
        for (const auto& [name, sub] : s.properties)
          if (sub) props[name] = schema(*sub);
        if (!props.empty()) out["properties"] = std::move(props);
        if (!s.required.empty()) out["required"] = s.required;
        break;
      }
      case Type::map:
        out["type"] = "object";
        out["additionalProperties"] = s.items ? schema(*s.items) : Json{{"type", "string"}};
        break;
      case Type::array:
        out["type"] = "array";
        out["items"] = s.items ? schema(*s.items) : Json::object();
        if (s.max_length) out["maxItems"] = *s.max_length;
        break;
      case Type::string:
        out["type"] = "string";
        if (s.format == Format::date_time) out["format"] = "date-time";
        if (s.format == Format::base64) out["format"] = "byte";
        if (s.max_length) out["maxLength"] = *s.max_length;
        if (!s.enum_values.empty()) out["enum"] = s.enum_values;
        break;
      case Type::integer:
        out["type"] = "integer";
        out["format"] =
            (s.maximum && *s.maximum <= INT32_MAX) || s.format == Format::port ? "int32" : "int64";
        break;
      case Type::number:
        out["type"] = "number";
        out["format"] = "double";
        break;
      case Type::boolean:
        out["type"] = "boolean";
        break;
      case Type::int_or_string:
      case Type::quantity: {
        const char* name = s.type == Type::quantity ? kQuantity : kIntOrString;
        shared_scalar(name);
        // v3 cannot put siblings next to $ref, which is why the real documents wrap it.
        if (d_ == Dialect::v3 && !s.description.empty()) {
          out["allOf"] = Json::array({{{"$ref", ref(d_, name)}}});
        } else {
          out = {{"$ref", ref(d_, name)}};
          if (d_ == Dialect::v2 && !s.description.empty()) out["description"] = s.description;
        }
        break;
      }
      case Type::any:
        out["type"] = "object";
        out["x-kubernetes-preserve-unknown-fields"] = true;
        break;
    }
    if (s.minimum) out["minimum"] = *s.minimum;
    if (s.maximum) out["maximum"] = *s.maximum;
    if (s.default_value) out["default"] = *s.default_value;
    if (!s.patch_strategy.empty()) out["x-kubernetes-patch-strategy"] = s.patch_strategy;
    if (!s.patch_merge_key.empty()) out["x-kubernetes-patch-merge-key"] = s.patch_merge_key;
    if (!s.list_type.empty()) out["x-kubernetes-list-type"] = s.list_type;
    if (!s.list_map_keys.empty()) out["x-kubernetes-list-map-keys"] = s.list_map_keys;
    return out;
  }

  void shared_scalar(const char* name) {
    if (defs_.contains(name)) return;
    if (std::string_view(name) == kQuantity)
      defs_[name] = {{"description",
                      "Quantity is a fixed-point representation of a number, e.g. 100m or 1Gi."},
                     {"type", "string"}};
    else
      defs_[name] = {{"description", "IntOrString is a type that can hold an int32 or a string."},
                     {"type", "string"},
                     {"format", "int-or-string"}};
  }

  Dialect d_;
  std::map<std::string, Json> defs_;
};

// The meta.k8s.io types the paths refer to, kept to the fields clients read.
void define_meta(SchemaWriter& w, Dialect d) {
  Json str = {{"type", "string"}};
  w.define_raw(kListMeta,
               {{"description", "ListMeta describes metadata that synthetic resources must have."},
                {"type", "object"},
                {"properties",
                 {{"continue", str},
                  {"remainingItemCount", {{"type", "integer"}, {"format", "int64"}}},
                  {"resourceVersion", str},
                  {"selfLink", str}}}});
  w.define_raw(
      kStatus,
      {{"description", "Status is a return value for calls that don't return other objects."},
       {"type", "object"},
       {"properties",
        {{"apiVersion", str},
         {"code", {{"type", "integer"}, {"format", "int32"}}},
         {"details", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}},
         {"kind", str},
         {"message", str},
         {"metadata", {{"$ref", ref(d, kListMeta)}}},
         {"reason", str},
         {"status", str}}},
       {"x-kubernetes-group-version-kind", Json::array({gvk("", "v1", "Status")})}});
  w.define_raw(kDeleteOptions,
               {{"description", "DeleteOptions may be provided when deleting an API object."},
                {"type", "object"},
                {"properties",
                 {{"apiVersion", str},
                  {"dryRun", {{"type", "array"}, {"items", str}}},
                  {"gracePeriodSeconds", {{"type", "integer"}, {"format", "int64"}}},
                  {"kind", str},
                  {"orphanDependents", {{"type", "boolean"}}},
                  {"preconditions",
                   {{"type", "object"}, {"properties", {{"resourceVersion", str}, {"uid", str}}}}},
                  {"propagationPolicy", str}}}});
  w.define_raw(kPatch, {{"description",
                         "Patch is provided to give a concrete name and type to the Kubernetes "
                         "PATCH request body."},
                        {"type", "object"}});
  w.define_raw(kWatchEvent,
               {{"description", "Event represents a single event to a watched resource."},
                {"type", "object"},
                {"required", {"type", "object"}},
                {"properties",
                 {{"object", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}},
                  {"type", str}}}});
}

void define_scale(SchemaWriter& w) {
  Json str = {{"type", "string"}};
  Json i32 = {{"type", "integer"}, {"format", "int32"}};
  w.define_raw(
      kScale,
      {{"description", "Scale represents a scaling request for a resource."},
       {"type", "object"},
       {"properties",
        {{"apiVersion", str},
         {"kind", str},
         {"metadata", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}},
         {"spec", {{"type", "object"}, {"properties", {{"replicas", i32}}}}},
         {"status",
          {{"type", "object"},
           {"required", {"replicas"}},
           {"properties", {{"replicas", i32}, {"selector", str}}}}}}},
       {"x-kubernetes-group-version-kind", Json::array({gvk("autoscaling", "v1", "Scale")})}});
}

// A kind's definition, its List definition and the GVK extensions kubectl explain looks up.
void define_kind(SchemaWriter& w, Dialect d, const Kind& k) {
  std::string name = definition_name(k);
  if (k.schema)
    w.define(name, *k.schema);
  else
    w.define_raw(name, {{"type", "object"}});
  w.at(name)["x-kubernetes-group-version-kind"] = Json::array({gvk(k.group, k.version, k.kind)});
  Json str = {{"type", "string"}};
  w.define_raw(name + "List",
               {{"description", k.kind + "List is a list of " + k.kind + " objects."},
                {"type", "object"},
                {"required", {"items"}},
                {"properties",
                 {{"apiVersion", str},
                  {"items", {{"type", "array"}, {"items", {{"$ref", ref(d, name)}}}}},
                  {"kind", str},
                  {"metadata", {{"$ref", ref(d, kListMeta)}}}}},
                {"x-kubernetes-group-version-kind",
                 Json::array({gvk(k.group, k.version, k.kind + "List")})}});
}

// ---- paths ----

struct Param {
  const char* name;
  const char* in;
  const char* type;
  const char* description;
  bool required = false;
};

constexpr Param kPretty{"pretty", "query", "string",
                        "If 'true', then the output is pretty printed."};
constexpr Param kName{"name", "path", "string", "name of the resource", true};
constexpr Param kNamespace{"namespace", "path", "string",
                           "object name and auth scope, such as for teams and projects", true};
constexpr Param kDryRun{"dryRun", "query", "string",
                        "When present, indicates that modifications should not be persisted. An "
                        "invalid or unrecognized dryRun directive will result in an error "
                        "response and no further processing of the request. Valid values are: - "
                        "All: all dry run stages will be processed"};
constexpr Param kFieldManager{"fieldManager", "query", "string",
                              "fieldManager is a name associated with the actor or entity that "
                              "is making these changes."};
constexpr Param kFieldValidation{
    "fieldValidation", "query", "string",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any "
    "unknown fields that are silently dropped from the object, and will ignore all but the last "
    "duplicate field that the decoder encounters. - Warn: This will send a warning via the "
    "standard warning response header for each unknown field that is dropped from the object, "
    "and for each duplicate field that is encountered. - Strict: This will fail the request with "
    "a BadRequest error if any unknown fields would be dropped from the object, or if any "
    "duplicate fields are present."};
constexpr Param kForce{"force", "query", "boolean",
                       "Force is going to \"force\" Apply requests. It means user will re-acquire "
                       "conflicting fields owned by other people."};
constexpr Param kListParams[] = {
    {"allowWatchBookmarks", "query", "boolean",
     "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."},
    {"continue", "query", "string",
     "The continue option should be set when retrieving more results from the server."},
    {"fieldSelector", "query", "string",
     "A selector to restrict the list of returned objects by their fields."},
    {"labelSelector", "query", "string",
     "A selector to restrict the list of returned objects by their labels."},
    {"limit", "query", "integer",
     "limit is a maximum number of responses to return for a list call."},
    {"resourceVersion", "query", "string",
     "resourceVersion sets a constraint on what resource versions a request may be served from."},
    {"resourceVersionMatch", "query", "string",
     "resourceVersionMatch determines how resourceVersion is applied to list calls."},
    {"sendInitialEvents", "query", "boolean",
     "`sendInitialEvents=true` may be set together with `watch=true`."},
    {"timeoutSeconds", "query", "integer",
     "Timeout for the list/watch call, regardless of any activity or inactivity."},
    {"watch", "query", "boolean",
     "Watch for changes to the described resources and return them as a stream of add, update, "
     "and remove notifications."},
};
constexpr Param kDeleteParams[] = {
    {"gracePeriodSeconds", "query", "integer",
     "The duration in seconds before the object should be deleted."},
    {"orphanDependents", "query", "boolean",
     "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7."},
    {"propagationPolicy", "query", "string",
     "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', "
     "'Background', 'Foreground'."},
};

Json param(Dialect d, const Param& p) {
  Json out = {{"name", p.name}, {"in", p.in}, {"description", p.description}};
  if (p.required) out["required"] = true;
  if (d == Dialect::v2) {
    out["type"] = p.type;
    out["uniqueItems"] = true;
  } else {
    out["schema"] = {{"type", p.type}, {"uniqueItems", true}};
  }
  return out;
}

struct Op {
  const char* method;  // get, put, post, patch, delete
  const char* action;  // x-kubernetes-action
  std::string id;
  std::string description;
  std::string body_ref;      // request body definition; empty: none
  std::string response_ref;  // 200 response definition
  std::vector<const Param*> params;
  bool created = false;  // 201 (and 202 for delete) responses
};

class PathWriter {
 public:
  PathWriter(Dialect d, Json& paths) : d_(d), paths_(paths) {}

  void add(const std::string& path, std::vector<const Param*> path_params, const Json& op_gvk,
           const std::string& tag, const std::vector<Op>& ops) {
    Json& item = paths_[path];
    Json params = Json::array();
    for (const Param* p : path_params) params.push_back(param(d_, *p));
    params.push_back(param(d_, kPretty));
    item["parameters"] = std::move(params);
    for (const auto& op : ops) item[op.method] = operation(op, op_gvk, tag);
  }

 private:
  Json content(const std::string& def, const std::vector<const char*>& types) {
    Json c = Json::object();
    for (const char* t : types) c[t] = {{"schema", {{"$ref", ref(d_, def)}}}};
    return c;
  }

  Json operation(const Op& op, const Json& op_gvk, const std::string& tag) {
    Json out = {{"description", op.description},
                {"operationId", op.id},
                {"tags", Json::array({tag})},
                {"x-kubernetes-action", op.action},
                {"x-kubernetes-group-version-kind", op_gvk}};
    bool patch = std::string_view(op.method) == "patch";
    bool watch = std::string_view(op.action).starts_with("watch");
    Json params = Json::array();
    for (const Param* p : op.params) params.push_back(param(d_, *p));
    std::vector<const char*> produces = {"application/json", "application/yaml",
                                         "application/vnd.kubernetes.protobuf"};
    if (watch)
      produces = {"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
                  "application/json;stream=watch",
                  "application/vnd.kubernetes.protobuf;stream=watch"};
    std::vector<const char*> consumes = {"*/*"};
    if (patch)
      consumes = {"application/json-patch+json", "application/merge-patch+json",
                  "application/strategic-merge-patch+json", "application/apply-patch+yaml"};
    Json responses = Json::object();
    if (d_ == Dialect::v2) {
      out["consumes"] = Json(consumes);
      out["produces"] = Json(produces);
      out["schemes"] = {"https"};
      if (!op.body_ref.empty())
        params.push_back({{"name", "body"},
                          {"in", "body"},
                          {"required", !(std::string_view(op.method) == "delete")},
                          {"schema", {{"$ref", ref(d_, op.body_ref)}}}});
      Json ok = {{"description", "OK"}, {"schema", {{"$ref", ref(d_, op.response_ref)}}}};
      responses["200"] = ok;
      if (op.created) {
        responses["201"] = {{"description", "Created"}, {"schema", ok["schema"]}};
        if (std::string_view(op.method) != "put")
          responses["202"] = {{"description", "Accepted"}, {"schema", ok["schema"]}};
      }
    } else {
      if (!op.body_ref.empty()) {
        out["requestBody"] = {{"content", content(op.body_ref, consumes)}};
        if (std::string_view(op.method) != "delete") out["requestBody"]["required"] = true;
      }
      Json ok = {{"description", "OK"}, {"content", content(op.response_ref, produces)}};
      responses["200"] = ok;
      if (op.created) {
        responses["201"] = {{"description", "Created"}, {"content", ok["content"]}};
        if (std::string_view(op.method) != "put")
          responses["202"] = {{"description", "Accepted"}, {"content", ok["content"]}};
      }
    }
    responses["401"] = {{"description", "Unauthorized"}};
    out["parameters"] = std::move(params);
    out["responses"] = std::move(responses);
    return out;
  }

  Dialect d_;
  Json& paths_;
};

std::vector<const Param*> list_params() {
  std::vector<const Param*> out;
  for (const auto& p : kListParams) out.push_back(&p);
  return out;
}

std::vector<const Param*> delete_params(bool collection) {
  std::vector<const Param*> out = {&kDryRun};
  for (const auto& p : kDeleteParams) out.push_back(&p);
  if (collection)
    for (const auto& p : kListParams)
      if (std::string_view(p.name) != "watch" && std::string_view(p.name) != "allowWatchBookmarks")
        out.push_back(&p);
  return out;
}

const std::vector<const Param*> kWriteParams = {&kDryRun, &kFieldManager, &kFieldValidation};
const std::vector<const Param*> kPatchParams = {&kDryRun, &kFieldManager, &kFieldValidation,
                                                &kForce};

void add_kind_paths(PathWriter& pw, const Kind& k) {
  std::string def = definition_name(k);
  std::string list_def = def + "List";
  std::string base = gv_path(k.group, k.version).insert(0, 1, '/');
  std::string tag =
      (k.group.empty() ? std::string("core") : group_package(k.group)) + "_" + k.version;
  std::string infix = op_infix(k);
  std::string ns_word = k.namespaced ? "Namespaced" : "";
  std::string scope = k.namespaced ? "/namespaces/{namespace}" : "";
  std::vector<const Param*> scope_params;
  if (k.namespaced) scope_params.push_back(&kNamespace);
  auto with_name = scope_params;
  with_name.insert(with_name.begin(), &kName);
  Json kgvk = gvk(k.group, k.version, k.kind);
  std::string kind_word = ns_word + k.kind;

  pw.add(base + scope + "/" + k.plural, scope_params, kgvk, tag,
         {{"get", "list", "list" + infix + kind_word, "list or watch objects of kind " + k.kind, "",
           list_def, list_params()},
          {"post", "post", "create" + infix + kind_word, "create " + k.singular, def, def,
           kWriteParams, true},
          {"delete", "deletecollection", "delete" + infix + "Collection" + kind_word,
           "delete collection of " + k.kind, kDeleteOptions, kStatus, delete_params(true)}});
  pw.add(base + scope + "/" + k.plural + "/{name}", with_name, kgvk, tag,
         {{"get", "get", "read" + infix + kind_word, "read the specified " + k.kind, "", def, {}},
          {"put", "put", "replace" + infix + kind_word, "replace the specified " + k.kind, def, def,
           kWriteParams, true},
          {"patch", "patch", "patch" + infix + kind_word,
           "partially update the specified " + k.kind, kPatch, def, kPatchParams, true},
          {"delete", "delete", "delete" + infix + kind_word, "delete " + k.singular, kDeleteOptions,
           kStatus, delete_params(false), true}});
  if (k.has_status)
    pw.add(
        base + scope + "/" + k.plural + "/{name}/status", with_name, kgvk, tag,
        {{"get",
          "get",
          "read" + infix + kind_word + "Status",
          "read status of the specified " + k.kind,
          "",
          def,
          {}},
         {"put", "put", "replace" + infix + kind_word + "Status",
          "replace status of the specified " + k.kind, def, def, kWriteParams, true},
         {"patch", "patch", "patch" + infix + kind_word + "Status",
          "partially update status of the specified " + k.kind, kPatch, def, kPatchParams, true}});
  if (!k.scale_replicas_path.empty())
    pw.add(base + scope + "/" + k.plural + "/{name}/scale", with_name,
           gvk("autoscaling", "v1", "Scale"), tag,
           {{"get",
             "get",
             "read" + infix + kind_word + "Scale",
             "read scale of the specified " + k.kind,
             "",
             kScale,
             {}},
            {"put", "put", "replace" + infix + kind_word + "Scale",
             "replace scale of the specified " + k.kind, kScale, kScale, kWriteParams, true},
            {"patch", "patch", "patch" + infix + kind_word + "Scale",
             "partially update scale of the specified " + k.kind, kPatch, kScale, kPatchParams,
             true}});
  if (k.namespaced)
    pw.add(base + "/" + k.plural, {}, kgvk, tag,
           {{"get", "list", "list" + infix + k.kind + "ForAllNamespaces",
             "list or watch objects of kind " + k.kind, "", list_def, list_params()}});
  // The deprecated watch paths, still published by the real apiserver.
  pw.add(base + "/watch" + scope + "/" + k.plural, scope_params, kgvk, tag,
         {{"get", "watchlist", "watch" + infix + kind_word + "List",
           "watch individual changes to a list of " + k.kind, "", kWatchEvent, list_params()}});
  pw.add(base + "/watch" + scope + "/" + k.plural + "/{name}", with_name, kgvk, tag,
         {{"get", "watch", "watch" + infix + kind_word,
           "watch changes to an object of kind " + k.kind, "", kWatchEvent, list_params()}});
  if (k.namespaced)
    pw.add(base + "/watch/" + k.plural, {}, kgvk, tag,
           {{"get", "watchlist", "watch" + infix + k.kind + "ListForAllNamespaces",
             "watch individual changes to a list of " + k.kind, "", kWatchEvent, list_params()}});
}

Json document(Dialect d, const std::vector<const Kind*>& kinds) {
  SchemaWriter w(d);
  define_meta(w, d);
  Json paths = Json::object();
  PathWriter pw(d, paths);
  bool scale = false;
  for (const Kind* k : kinds) {
    define_kind(w, d, *k);
    add_kind_paths(pw, *k);
    scale = scale || !k->scale_replicas_path.empty();
  }
  if (scale) define_scale(w);
  Json info = {{"title", "Kubernetes"}, {"version", kServerVersion}};
  if (d == Dialect::v2)
    return {{"swagger", "2.0"},
            {"info", std::move(info)},
            {"paths", std::move(paths)},
            {"definitions", w.take()},
            {"securityDefinitions",
             {{"BearerToken",
               {{"type", "apiKey"},
                {"name", "authorization"},
                {"in", "header"},
                {"description", "Bearer Token authentication"}}}}},
            {"security", Json::array({{{"BearerToken", Json::array()}}})}};
  return {{"openapi", "3.0.0"},
          {"info", std::move(info)},
          {"paths", std::move(paths)},
          {"components",
           {{"schemas", w.take()},
            {"securitySchemes",
             {{"BearerToken",
               {{"type", "apiKey"},
                {"name", "authorization"},
                {"in", "header"},
                {"description", "Bearer Token authentication"}}}}}}}};
}

// The etag the real apiserver puts in serverRelativeURL: SHA-512 of the document, upper hex.
std::string sha512_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha512(), nullptr) != 1) return "";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

struct Documents {
  Json v2 = Json::object();
  std::string v2_bytes = "{}";
  std::map<std::string, Json, std::less<>> v3;  // by "api/v1", "apis/apps/v1"
  std::map<std::string, std::string, std::less<>> v3_bytes;
  Json index = {{"paths", Json::object()}};
};

// The kinds never change after start-up, so each document is generated once, on first use.
const Documents& documents() {
  static const Documents docs = [] {
    Documents out;
    try {
      std::vector<const Kind*> all;
      std::map<std::string, std::vector<const Kind*>> by_gv;
      for (const Kind& k : all_kinds()) {
        all.push_back(&k);
        by_gv[gv_path(k.group, k.version)].push_back(&k);
      }
      out.v2 = document(Dialect::v2, all);
      out.v2_bytes = out.v2.dump(-1, ' ', false, Json::error_handler_t::replace);
      for (auto& [gv, kinds] : by_gv) {
        Json doc = document(Dialect::v3, kinds);
        std::string bytes = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
        out.index["paths"][gv] = {
            {"serverRelativeURL", "/openapi/v3/" + gv + "?hash=" + sha512_hex(bytes)}};
        out.v3.emplace(gv, std::move(doc));
        out.v3_bytes.emplace(gv, std::move(bytes));
      }
    } catch (const std::exception&) {
      // Only allocation can fail here; serve empty documents rather than terminate.
      out = Documents{};
    }
    return out;
  }();
  return docs;
}

}  // namespace

Json openapi_v2() {
  return documents().v2;
}
const std::string& openapi_v2_json() {
  return documents().v2_bytes;
}

Json openapi_v3_index() {
  return documents().index;
}

Json openapi_v3(std::string_view group, std::string_view version) {
  const auto& docs = documents();
  auto it = docs.v3.find(gv_path(group, version));
  return it == docs.v3.end() ? Json() : it->second;
}

const std::string* openapi_v3_json(std::string_view group, std::string_view version) {
  const auto& docs = documents();
  auto it = docs.v3_bytes.find(gv_path(group, version));
  return it == docs.v3_bytes.end() ? nullptr : &it->second;
}

}  // namespace k8c::api
