// Shared meta/v1 schemas (ObjectMeta, LabelSelector, ...) and the helpers every group uses:
// field errors in Kubernetes' wording, label selector formatting and table cells.
#include "control/api/kinds_internal.h"
#include "control/api/object.h"
#include "control/api/table.h"

#include <algorithm>
#include <ctime>
#include <set>

namespace k8c::api::detail {

const char* const kDns1123LabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const char* const kDns1035LabelMsg =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

S timestamp() {
  return str().fmt(Format::date_time);
}
S micro_timestamp() {
  return str().fmt(Format::date_time);
}
S string_map() {
  static const SchemaPtr s = map(str());
  return s;
}
S string_list() {
  static const SchemaPtr s = list(str());
  return s;
}

S owner_reference() {
  static const SchemaPtr s = obj({{"apiVersion", str().req()},
                                  {"kind", str().req()},
                                  {"name", str().req()},
                                  {"uid", str().req()},
                                  {"controller", boolean()},
                                  {"blockOwnerDeletion", boolean()}})
                                 .named("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference");
  return s;
}

S object_meta() {
  static const SchemaPtr s = obj({{"name", str()},
                                  {"generateName", str()},
                                  {"namespace", str()},
                                  {"selfLink", str()},
                                  {"uid", str()},
                                  {"resourceVersion", str()},
                                  {"generation", integer()},
                                  {"creationTimestamp", timestamp()},
                                  {"deletionTimestamp", timestamp()},
                                  {"deletionGracePeriodSeconds", integer()},
                                  {"labels", string_map()},
                                  {"annotations", string_map()},
                                  {"ownerReferences", list(owner_reference()).merge("uid")},
                                  {"finalizers", list(str()).merge_set()},
                                  {"managedFields", list(any())}})
                                 .named("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
  return s;
}

S list_meta() {
  static const SchemaPtr s = obj({{"continue", str()},
                                  {"remainingItemCount", integer()},
                                  {"resourceVersion", str()},
                                  {"selfLink", str()}})
                                 .named("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta");
  return s;
}

S label_selector() {
  static const SchemaPtr requirement =
      obj({{"key", str().req()},
           {"operator", str().req().oneof({"In", "NotIn", "Exists", "DoesNotExist"})},
           {"values", string_list()}})
          .named("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement");
  static const SchemaPtr s =
      obj({{"matchExpressions", list(requirement)}, {"matchLabels", string_map()}})
          .named("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector");
  return s;
}

S condition() {
  static const SchemaPtr s = obj({{"type", str().req()},
                                  {"status", str().req().oneof({"True", "False", "Unknown"})},
                                  {"observedGeneration", integer()},
                                  {"lastTransitionTime", timestamp().req()},
                                  {"reason", str().req()},
                                  {"message", str().req()}})
                                 .named("io.k8s.apimachinery.pkg.apis.meta.v1.Condition");
  return s;
}

S object_reference() {
  static const SchemaPtr s = obj({{"apiVersion", str()},
                                  {"fieldPath", str()},
                                  {"kind", str()},
                                  {"name", str()},
                                  {"namespace", str()},
                                  {"resourceVersion", str()},
                                  {"uid", str()}})
                                 .named("io.k8s.api.core.v1.ObjectReference");
  return s;
}

S local_object_reference() {
  static const SchemaPtr s =
      obj({{"name", str()}}).named("io.k8s.api.core.v1.LocalObjectReference");
  return s;
}

S typed_local_object_reference() {
  static const SchemaPtr s =
      obj({{"apiGroup", str()}, {"kind", str().req()}, {"name", str().req()}})
          .named("io.k8s.api.core.v1.TypedLocalObjectReference");
  return s;
}

S load_balancer_status() {
  static const SchemaPtr port_status =
      obj({{"error", str()}, {"port", integer().req()}, {"protocol", str().req()}})
          .named("io.k8s.api.core.v1.PortStatus");
  static const SchemaPtr ingress = obj({{"hostname", str()},
                                        {"ip", str()},
                                        {"ipMode", str().oneof({"VIP", "Proxy"})},
                                        {"ports", list(port_status)}})
                                       .named("io.k8s.api.core.v1.LoadBalancerIngress");
  static const SchemaPtr s =
      obj({{"ingress", list(ingress)}}).named("io.k8s.api.core.v1.LoadBalancerStatus");
  return s;
}

S kind_object(const std::string& def_name, std::initializer_list<std::pair<std::string, S>> body) {
  S o = obj(body);
  auto node = std::make_shared<Schema>(*o.ptr());
  node->properties.insert(node->properties.begin(),
                          {{"apiVersion", str()}, {"kind", str()}, {"metadata", object_meta()}});
  node->name = def_name;
  return S(SchemaPtr(node));
}

Kind new_kind(std::string group, std::string kind, std::string plural, bool namespaced,
              SchemaPtr schema, std::vector<std::string> short_names,
              std::vector<std::string> categories) {
  Kind k;
  k.group = std::move(group);
  k.version = "v1";
  k.singular = kind;
  for (auto& c : k.singular) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  k.kind = std::move(kind);
  k.plural = std::move(plural);
  k.namespaced = namespaced;
  k.schema = std::move(schema);
  k.short_names = std::move(short_names);
  k.categories = std::move(categories);
  return k;
}

// ---- errors ---------------------------------------------------------------------------------

void add_error(FieldErrors& errs, FieldError::Kind kind, std::string field, std::string detail,
               Json value) {
  // The message is the whole body of Kubernetes' field.Error: "<type>[: value][: detail]".
  std::string msg;
  switch (kind) {
    case FieldError::Kind::required:
      msg = "Required value";
      break;
    case FieldError::Kind::invalid:
      msg = "Invalid value: " + value.dump();
      break;
    case FieldError::Kind::duplicate:
      msg = "Duplicate value: " + value.dump();
      break;
    case FieldError::Kind::forbidden:
      msg = "Forbidden";
      break;
    case FieldError::Kind::too_long:
      msg = "Too long";
      break;
    case FieldError::Kind::not_supported:
    case FieldError::Kind::unknown_field:
      msg = std::move(detail);
      detail.clear();
      break;
  }
  if (!detail.empty()) msg += ": " + detail;
  errs.push_back({kind, std::move(field), std::move(msg), std::move(value)});
}

std::string not_supported_message(const Json& value, const std::vector<std::string>& allowed) {
  std::string m = "Unsupported value: " + value.dump() + ": supported values: ";
  for (size_t i = 0; i < allowed.size(); ++i) m += (i ? ", \"" : "\"") + allowed[i] + "\"";
  return m;
}

std::vector<std::string> port_name_errors(const std::string& name) {
  std::vector<std::string> out;
  if (name.size() > 15) out.push_back("must be no more than 15 characters");
  bool letter = false, bad = false;
  for (char c : name) {
    if (c >= 'a' && c <= 'z') letter = true;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) bad = true;
  }
  if (bad) out.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!letter) out.push_back("must contain at least one letter (a-z)");
  if (name.find("--") != std::string::npos) out.push_back("must not contain consecutive hyphens");
  if (!name.empty() && (name.front() == '-' || name.back() == '-'))
    out.push_back("must not begin or end with a hyphen");
  return out;
}

void validate_restart_policy(const Json& pod_spec, const std::string& path,
                             const std::vector<std::string>& allowed, FieldErrors& errs) {
  std::string policy = get_string(pod_spec, {"restartPolicy"});
  if (std::find(allowed.begin(), allowed.end(), policy) != allowed.end()) return;
  Json v = policy;
  add_error(errs, FieldError::Kind::not_supported, path + ".restartPolicy",
            not_supported_message(v, allowed), v);
}

void validate_workload_selector(const Json& obj, const Json* old, const std::string& kind_lower,
                                FieldErrors& errs, bool immutable) {
  const Json* sel = find_path(obj, {"spec", "selector"});
  if (!sel || sel->is_null()) {
    add_error(errs, FieldError::Kind::required, "spec.selector", "");
  } else if (sel->is_object()) {
    const Json* ml = find_path(*sel, {"matchLabels"});
    const Json* me = find_path(*sel, {"matchExpressions"});
    bool empty =
        (!ml || !ml->is_object() || ml->empty()) && (!me || !me->is_array() || me->empty());
    if (empty) {
      add_error(errs, FieldError::Kind::invalid, "spec.selector",
                "empty selector is invalid for " + kind_lower, *sel);
    } else {
      // The template's labels must satisfy every requirement of the selector.
      const Json* labels = find_path(obj, {"spec", "template", "metadata", "labels"});
      auto label = [&](const std::string& k) -> const Json* {
        return labels && labels->is_object() ? find_path(*labels, {k}) : nullptr;
      };
      bool match = true;
      if (ml && ml->is_object())
        for (const auto& [k, v] : ml->items()) {
          const Json* l = label(k);
          if (!l || *l != v) match = false;
        }
      if (me && me->is_array())
        for (const auto& r : *me) {
          const Json* l = label(get_string(r, {"key"}));
          std::string op = get_string(r, {"operator"});
          bool in = false;
          if (const Json* vals = find_path(r, {"values"}); vals && vals->is_array() && l)
            for (const auto& v : *vals) in = in || v == *l;
          if ((op == "In" && !in) || (op == "NotIn" && in) || (op == "Exists" && !l) ||
              (op == "DoesNotExist" && l))
            match = false;
        }
      if (match == false)
        add_error(errs, FieldError::Kind::invalid, "spec.template.metadata.labels",
                  "`selector` does not match template `labels`", labels ? *labels : Json());
    }
  }
  if (immutable && old && sel) {
    const Json* old_sel = find_path(*old, {"spec", "selector"});
    if (old_sel && *old_sel != *sel)
      add_error(errs, FieldError::Kind::invalid, "spec.selector", "field is immutable", *sel);
  }
}

void validate_config_keys(const Json& obj, const char* field, FieldErrors& errs) {
  const Json* data = find_path(obj, {field});
  if (!data || !data->is_object()) return;
  for (const auto& [key, v] : data->items()) {
    bool ok = !key.empty() && key.size() <= 253;
    for (char c : key)
      ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
    std::string path = std::string(field) + "[" + key + "]";
    if (!ok)
      add_error(errs, FieldError::Kind::invalid, path,
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                "'[-._a-zA-Z0-9]+')",
                key);
    else if (key == "." || key == ".." || key.rfind("..", 0) == 0)
      add_error(errs, FieldError::Kind::invalid, path,
                key == "." ? "must not be '.'" : "must not start with '..'", key);
  }
}

// ---- table cells ----------------------------------------------------------------------------

Column col(std::string name, std::string type, std::function<Json(const Json&)> cell, int priority,
           std::string description) {
  Column c;
  c.name = std::move(name);
  c.type = std::move(type);
  c.priority = priority;
  c.description = std::move(description);
  c.cell = std::move(cell);
  return c;
}

void append_columns(std::vector<Column>& cols, std::vector<Column> more) {
  for (auto& c : more) cols.push_back(std::move(c));
}

std::string since(const std::string& rfc3339) {
  if (rfc3339.empty()) return "<unknown>";
  return human_age(rfc3339, static_cast<int64_t>(std::time(nullptr)));
}

std::string since(const Json& obj, std::initializer_list<std::string_view> path) {
  return since(get_string(obj, path));
}

Column age_column() {
  return col(
      "Age", "string",
      [](const Json& o) {
        return Json(since(o, {"metadata", "creationTimestamp"}));
      },
      0,
      "CreationTimestamp is a timestamp representing the server time when this object was "
      "created.");
}

int64_t parse_time(const std::string& s) {
  std::tm tm{};
  int frac_end = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac_end) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t t = timegm(&tm);
  size_t i = static_cast<size_t>(frac_end);
  if (i < s.size() && s[i] == '.')
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]));) ++i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int hh = 0, mm = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &hh, &mm) == 2)
      t -= (s[i] == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
  }
  return t;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

int64_t get_int(const Json& obj, std::initializer_list<std::string_view> path, int64_t fallback) {
  const Json* v = find_path(obj, path);
  return v && v->is_number() ? v->get<int64_t>() : fallback;
}

std::string format_labels(const Json* labels) {
  std::vector<std::string> parts;  // nlohmann objects iterate in key order
  if (labels && labels->is_object())
    for (const auto& [k, v] : labels->items())
      parts.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
  return parts.empty() ? "<none>" : join(parts);
}

std::string format_label_selector(const Json* selector, const std::string& none) {
  if (!selector || !selector->is_object()) return none;
  // Requirements sorted by key, as labels.Selector.String() prints them.
  std::vector<std::pair<std::string, std::string>> reqs;
  if (const Json* ml = find_path(*selector, {"matchLabels"}); ml && ml->is_object())
    for (const auto& [k, v] : ml->items()) reqs.emplace_back(k, k + "=" + v.get<std::string>());
  if (const Json* me = find_path(*selector, {"matchExpressions"}); me && me->is_array())
    for (const auto& r : *me) {
      std::string key = get_string(r, {"key"}), op = get_string(r, {"operator"});
      std::set<std::string> vals;
      if (const Json* vs = find_path(r, {"values"}); vs && vs->is_array())
        for (const auto& v : *vs)
          if (v.is_string()) vals.insert(v.get<std::string>());
      std::string list = "(" + join({vals.begin(), vals.end()}) + ")";
      if (op == "In")
        reqs.emplace_back(key, key + " in " + list);
      else if (op == "NotIn")
        reqs.emplace_back(key, key + " notin " + list);
      else if (op == "Exists")
        reqs.emplace_back(key, key);
      else if (op == "DoesNotExist")
        reqs.emplace_back(key, "!" + key);
    }
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> parts;
  for (auto& r : reqs) parts.push_back(r.second);
  return parts.empty() ? none : join(parts);
}

std::vector<Column> workload_wide_columns(std::vector<std::string_view> pod_spec_path,
                                          std::vector<std::string_view> selector_path,
                                          bool with_selector, bool none_if_empty) {
  auto names = [pod_spec_path](const char* field) {
    return [pod_spec_path, field](const Json& o) {
      std::vector<std::string> out;
      const Json* spec = find_path(o, pod_spec_path);
      if (const Json* cs = spec ? find_path(*spec, {"containers"}) : nullptr; cs && cs->is_array())
        for (const auto& c : *cs) out.push_back(get_string(c, {field}));
      return Json(join(out));
    };
  };
  std::vector<Column> cols = {
      col("Containers", "string", names("name"), 1, "Names of each container in the template."),
      col("Images", "string", names("image"), 1,
          "Images referenced by each container in the template."),
  };
  if (with_selector)
    cols.push_back(col(
        "Selector", "string",
        [selector_path, none_if_empty](const Json& o) {
          return Json(
              format_label_selector(find_path(o, selector_path), none_if_empty ? "<none>" : ""));
        },
        1, "Label selector for the pods."));
  return cols;
}

std::string load_balancer_ingress(const Json* lb) {
  std::vector<std::string> out;
  if (const Json* ing = lb ? find_path(*lb, {"ingress"}) : nullptr; ing && ing->is_array())
    for (const auto& i : *ing) {
      std::string ip = get_string(i, {"ip"});
      if (ip.empty()) ip = get_string(i, {"hostname"});
      if (!ip.empty()) out.push_back(ip);
    }
  return join(out);
}

}  // namespace k8c::api::detail
