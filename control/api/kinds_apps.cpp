// apps/v1 kinds: ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet.
#include "control/api/kinds_internal.h"
#include "control/api/object.h"

namespace k8c::api::detail {
namespace {

// Deployments, ReplicaSets and StatefulSets share the /scale layout of Kubernetes' workloads.
void with_replica_scale(Kind& k) {
  k.scale_replicas_path = "spec.replicas";
  k.scale_status_replicas_path = "status.replicas";
  k.scale_selector_path = "spec.selector";
}

using K = FieldError::Kind;

S workload_condition(const char* name, bool update_time) {
  if (update_time)
    return obj({{"lastTransitionTime", timestamp()},
                {"lastUpdateTime", timestamp()},
                {"message", str()},
                {"reason", str()},
                {"status", str().req()},
                {"type", str().req()}})
        .named(name);
  return obj({{"lastTransitionTime", timestamp()},
              {"message", str()},
              {"reason", str()},
              {"status", str().req()},
              {"type", str().req()}})
      .named(name);
}

Json& child(Json& parent, const char* key) {
  Json& v = parent[key];
  if (!v.is_object()) v = Json::object();
  return v;
}

void default_template(Json& o) {
  if (Json* spec = const_cast<Json*>(find_path(o, {"spec", "template", "spec"})))
    default_pod_spec(*spec, false);
}

// Rules every apps/v1 workload shares: selector, template, restartPolicy Always.
void validate_template(const Json& o, const Json* old, const std::string& kind_lower,
                       FieldErrors& errs, bool selector_immutable = true) {
  validate_workload_selector(o, old, kind_lower, errs, selector_immutable);
  const Json* spec = find_path(o, {"spec", "template", "spec"});
  if (!spec) return;
  std::vector<std::string> claims;
  if (const Json* ts = find_path(o, {"spec", "volumeClaimTemplates"}); ts && ts->is_array())
    for (const auto& t : *ts) claims.push_back(get_string(t, {"metadata", "name"}));
  validate_pod_spec(*spec, "spec.template.spec", errs, claims);
  validate_restart_policy(*spec, "spec.template.spec", {"Always"}, errs);
}

// An int-or-percent field of a rolling update (maxSurge, maxUnavailable).
void validate_int_or_percent(const Json* v, const std::string& path, FieldErrors& errs,
                             bool at_most_100) {
  if (!v) return;
  if (v->is_number() && v->get<int64_t>() < 0)
    add_error(errs, K::invalid, path, "must be greater than or equal to 0", *v);
  if (!v->is_string()) return;
  std::string s = v->get<std::string>();
  bool ok = s.size() >= 2 && s.back() == '%';
  for (size_t i = 0; ok && i + 1 < s.size(); ++i)
    ok = std::isdigit(static_cast<unsigned char>(s[i]));
  if (!ok)
    add_error(errs, K::invalid, path,
              "a valid percent string must be a numeric string followed by an ending '%' (e.g. "
              "'1%',  or '93%', regex used for validation is '[0-9]+%')",
              *v);
  else if (at_most_100 && std::stoll(s.substr(0, s.size() - 1)) > 100)
    add_error(errs, K::invalid, path, "must not be greater than 100%", *v);
}

bool is_zero(const Json* v) {
  if (!v) return true;
  if (v->is_number()) return v->get<int64_t>() == 0;
  if (v->is_string()) return v->get<std::string>() == "0%";
  return false;
}

void validate_rolling_update(const Json& o, const char* strategy_field, const char* recreate_type,
                             FieldErrors& errs) {
  const Json* strategy = find_path(o, {"spec", strategy_field});
  if (!strategy) return;
  std::string path = std::string("spec.") + strategy_field + ".rollingUpdate";
  const Json* ru = find_path(*strategy, {"rollingUpdate"});
  std::string type = get_string(*strategy, {"type"});
  if (type == recreate_type && ru) {
    add_error(errs, K::forbidden, path,
              std::string("may not be specified when strategy `type` is '") + recreate_type + "'");
    return;
  }
  if (!ru) return;
  const Json* surge = find_path(*ru, {"maxSurge"});
  const Json* unavailable = find_path(*ru, {"maxUnavailable"});
  validate_int_or_percent(surge, path + ".maxSurge", errs, false);
  validate_int_or_percent(unavailable, path + ".maxUnavailable", errs, true);
  if (is_zero(surge) && is_zero(unavailable) && (surge || unavailable))
    add_error(errs, K::invalid, path + ".maxUnavailable", "may not be 0 when `maxSurge` is 0",
              unavailable ? *unavailable : Json(0));
}

std::string replicas_ratio(const Json& o, const char* ready_field) {
  return std::to_string(get_int(o, {"status", ready_field})) + "/" +
         std::to_string(get_int(o, {"spec", "replicas"}));
}

Column int_col(const char* name, const char* field, const char* desc) {
  return col(
      name, "integer",
      [field](const Json& o) {
        return Json(get_int(o, {"status", field}));
      },
      0, desc);
}

// ---- Deployment ----------------------------------------------------------------------------

Kind deployment() {
  S spec = obj({{"minReadySeconds", integer().min(0)},
                {"paused", boolean()},
                {"progressDeadlineSeconds", integer().def(600)},
                {"replicas", integer().def(1).min(0)},
                {"revisionHistoryLimit", integer().def(10).min(0)},
                {"selector", label_selector().req()},
                {"strategy",
                 obj({{"rollingUpdate",
                       obj({{"maxSurge", int_or_string()}, {"maxUnavailable", int_or_string()}})
                           .named("io.k8s.api.apps.v1.RollingUpdateDeployment")},
                      {"type", str().oneof({"Recreate", "RollingUpdate"})}})
                     .named("io.k8s.api.apps.v1.DeploymentStrategy")
                     .strategy("retainKeys")},
                {"template", pod_template_spec().req()}})
               .named("io.k8s.api.apps.v1.DeploymentSpec");
  S status =
      obj({{"availableReplicas", integer()},
           {"collisionCount", integer()},
           {"conditions",
            list(workload_condition("io.k8s.api.apps.v1.DeploymentCondition", true)).merge("type")},
           {"observedGeneration", integer()},
           {"readyReplicas", integer()},
           {"replicas", integer()},
           {"terminatingReplicas", integer()},
           {"unavailableReplicas", integer()},
           {"updatedReplicas", integer()}})
          .named("io.k8s.api.apps.v1.DeploymentStatus");
  Kind k =
      new_kind("apps", "Deployment", "deployments", true,
               kind_object("io.k8s.api.apps.v1.Deployment", {{"spec", spec}, {"status", status}}),
               {"deploy"}, {"all"});
  k.has_status = true;
  with_replica_scale(k);
  k.columns = {
      col(
          "Ready", "string", [](const Json& o) { return Json(replicas_ratio(o, "readyReplicas")); },
          0, "Number of the pod with ready state"),
      int_col("Up-to-date", "updatedReplicas",
              "Total number of non-terminated pods targeted by this deployment that have the "
              "desired template spec."),
      int_col("Available", "availableReplicas",
              "Total number of available pods (ready for at least minReadySeconds) targeted by "
              "this deployment."),
      age_column()};
  // Deployments print selector.String(), which is empty rather than <none>.
  append_columns(k.columns, workload_wide_columns({"spec", "template", "spec"},
                                                  {"spec", "selector"}, true, false));
  k.defaults = [](Json& o) {
    if (!o.contains("spec") || !o["spec"].is_object()) return;
    Json& strategy = child(o["spec"], "strategy");
    if (!strategy.contains("type")) strategy["type"] = "RollingUpdate";
    if (strategy["type"] == "RollingUpdate") {
      Json& ru = child(strategy, "rollingUpdate");
      if (!ru.contains("maxUnavailable")) ru["maxUnavailable"] = "25%";
      if (!ru.contains("maxSurge")) ru["maxSurge"] = "25%";
    }
    default_template(o);
  };
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    validate_template(o, old, "deployment", errs);
    validate_rolling_update(o, "strategy", "Recreate", errs);
  };
  return k;
}

// ---- ReplicaSet ----------------------------------------------------------------------------

Kind replica_set() {
  S spec = obj({{"minReadySeconds", integer().min(0)},
                {"replicas", integer().def(1).min(0)},
                {"selector", label_selector().req()},
                {"template", pod_template_spec()}})
               .named("io.k8s.api.apps.v1.ReplicaSetSpec");
  S status =
      obj({{"availableReplicas", integer()},
           {"conditions", list(workload_condition("io.k8s.api.apps.v1.ReplicaSetCondition", false))
                              .merge("type")},
           {"fullyLabeledReplicas", integer()},
           {"observedGeneration", integer()},
           {"readyReplicas", integer()},
           {"replicas", integer()},
           {"terminatingReplicas", integer()}})
          .named("io.k8s.api.apps.v1.ReplicaSetStatus");
  Kind k =
      new_kind("apps", "ReplicaSet", "replicasets", true,
               kind_object("io.k8s.api.apps.v1.ReplicaSet", {{"spec", spec}, {"status", status}}),
               {"rs"}, {"all"});
  k.has_status = true;
  with_replica_scale(k);
  k.field_selectors = {"status.replicas"};
  k.field_value = [](const Json& o, std::string_view f) -> std::optional<std::string> {
    if (f != "status.replicas") return std::nullopt;
    return std::to_string(get_int(o, {"status", "replicas"}));
  };
  k.columns = {
      col(
          "Desired", "integer",
          [](const Json& o) {
            return Json(get_int(o, {"spec", "replicas"}));
          },
          0, "Number of desired pods."),
      int_col("Current", "replicas", "Number of actual replicas."),
      int_col("Ready", "readyReplicas", "The number of ready replicas for this replica set."),
      age_column()};
  append_columns(k.columns,
                 workload_wide_columns({"spec", "template", "spec"}, {"spec", "selector"}));
  k.defaults = default_template;
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    validate_template(o, old, "replicaset", errs);
  };
  return k;
}

// ---- StatefulSet ---------------------------------------------------------------------------

Kind stateful_set() {
  S spec =
      obj({{"minReadySeconds", integer().min(0)},
           {"ordinals",
            obj({{"start", integer().min(0)}}).named("io.k8s.api.apps.v1.StatefulSetOrdinals")},
           {"persistentVolumeClaimRetentionPolicy",
            obj({{"whenDeleted", str().def("Retain").oneof({"Retain", "Delete"})},
                 {"whenScaled", str().def("Retain").oneof({"Retain", "Delete"})}})
                .named("io.k8s.api.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy")
                .def(Json::object())},
           {"podManagementPolicy", str().def("OrderedReady").oneof({"OrderedReady", "Parallel"})},
           {"replicas", integer().def(1).min(0)},
           {"revisionHistoryLimit", integer().def(10).min(0)},
           {"selector", label_selector().req()},
           {"serviceName", str()},
           {"template", pod_template_spec().req()},
           {"updateStrategy",
            obj({{"rollingUpdate",
                  obj({{"maxUnavailable", int_or_string()}, {"partition", integer().min(0)}})
                      .named("io.k8s.api.apps.v1.RollingUpdateStatefulSetStrategy")},
                 {"type", str().oneof({"RollingUpdate", "OnDelete"})}})
                .named("io.k8s.api.apps.v1.StatefulSetUpdateStrategy")},
           {"volumeClaimTemplates", list(persistent_volume_claim())}})
          .named("io.k8s.api.apps.v1.StatefulSetSpec");
  S status =
      obj({{"availableReplicas", integer()},
           {"collisionCount", integer()},
           {"conditions", list(workload_condition("io.k8s.api.apps.v1.StatefulSetCondition", false))
                              .merge("type")},
           {"currentReplicas", integer()},
           {"currentRevision", str()},
           {"observedGeneration", integer()},
           {"readyReplicas", integer()},
           {"replicas", integer()},
           {"updateRevision", str()},
           {"updatedReplicas", integer()}})
          .named("io.k8s.api.apps.v1.StatefulSetStatus");
  Kind k =
      new_kind("apps", "StatefulSet", "statefulsets", true,
               kind_object("io.k8s.api.apps.v1.StatefulSet", {{"spec", spec}, {"status", status}}),
               {"sts"}, {"all"});
  k.has_status = true;
  with_replica_scale(k);
  k.columns = {
      col(
          "Ready", "string", [](const Json& o) { return Json(replicas_ratio(o, "readyReplicas")); },
          0, "Number of the pod with ready state"),
      age_column()};
  append_columns(k.columns, workload_wide_columns({"spec", "template", "spec"}, {}, false));
  k.defaults = [](Json& o) {
    if (!o.contains("spec") || !o["spec"].is_object()) return;
    Json& strategy = child(o["spec"], "updateStrategy");
    if (!strategy.contains("type")) strategy["type"] = "RollingUpdate";
    if (strategy["type"] == "RollingUpdate") {
      Json& ru = child(strategy, "rollingUpdate");
      if (!ru.contains("partition")) ru["partition"] = 0;
    }
    if (o["spec"].contains("volumeClaimTemplates") && o["spec"]["volumeClaimTemplates"].is_array())
      for (auto& pvc : o["spec"]["volumeClaimTemplates"])
        if (pvc.is_object()) {
          Json& status = child(pvc, "status");
          if (!status.contains("phase")) status["phase"] = "Pending";
        }
    default_template(o);
  };
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    validate_template(o, old, "statefulset", errs, false);
    std::string service = get_string(o, {"spec", "serviceName"});
    if (!service.empty() && !is_dns1123_label(service))
      add_error(errs, K::invalid, "spec.serviceName", kDns1123LabelMsg, service);
    validate_rolling_update(o, "updateStrategy", "OnDelete", errs);
    if (!old) return;
    Json now = o.value("spec", Json::object()), before = old->value("spec", Json::object());
    for (const char* f :
         {"replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
          "persistentVolumeClaimRetentionPolicy", "minReadySeconds"}) {
      now.erase(f);
      before.erase(f);
    }
    if (now != before)
      add_error(errs, K::forbidden, "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                "'template', 'updateStrategy', 'revisionHistoryLimit', "
                "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden");
  };
  return k;
}

// ---- DaemonSet -----------------------------------------------------------------------------

Kind daemon_set() {
  S spec = obj({{"minReadySeconds", integer().min(0)},
                {"revisionHistoryLimit", integer().def(10).min(0)},
                {"selector", label_selector().req()},
                {"template", pod_template_spec().req()},
                {"updateStrategy",
                 obj({{"rollingUpdate",
                       obj({{"maxSurge", int_or_string()}, {"maxUnavailable", int_or_string()}})
                           .named("io.k8s.api.apps.v1.RollingUpdateDaemonSet")},
                      {"type", str().oneof({"RollingUpdate", "OnDelete"})}})
                     .named("io.k8s.api.apps.v1.DaemonSetUpdateStrategy")}})
               .named("io.k8s.api.apps.v1.DaemonSetSpec");
  S status =
      obj({{"collisionCount", integer()},
           {"conditions",
            list(workload_condition("io.k8s.api.apps.v1.DaemonSetCondition", false)).merge("type")},
           {"currentNumberScheduled", integer()},
           {"desiredNumberScheduled", integer()},
           {"numberAvailable", integer()},
           {"numberMisscheduled", integer()},
           {"numberReady", integer()},
           {"numberUnavailable", integer()},
           {"observedGeneration", integer()},
           {"updatedNumberScheduled", integer()}})
          .named("io.k8s.api.apps.v1.DaemonSetStatus");
  Kind k =
      new_kind("apps", "DaemonSet", "daemonsets", true,
               kind_object("io.k8s.api.apps.v1.DaemonSet", {{"spec", spec}, {"status", status}}),
               {"ds"}, {"all"});
  k.has_status = true;
  k.columns = {
      int_col("Desired", "desiredNumberScheduled",
              "The total number of nodes that should be running the daemon pod."),
      int_col("Current", "currentNumberScheduled",
              "The number of nodes that are running at least 1 daemon pod and are supposed to run "
              "the daemon pod."),
      int_col("Ready", "numberReady",
              "The number of nodes that should be running the daemon pod and have one or more of "
              "the daemon pod running and ready."),
      int_col("Up-to-date", "updatedNumberScheduled",
              "The total number of nodes that are running updated daemon pod"),
      int_col("Available", "numberAvailable",
              "The number of nodes that should be running the daemon pod and have one or more of "
              "the daemon pod running and available (ready for at least spec.minReadySeconds)"),
      col(
          "Node Selector", "string",
          [](const Json& o) {
            return Json(format_labels(find_path(o, {"spec", "template", "spec", "nodeSelector"})));
          },
          0, "NodeSelector is a selector which must be true for the pod to fit on a node."),
      age_column()};
  append_columns(k.columns,
                 workload_wide_columns({"spec", "template", "spec"}, {"spec", "selector"}));
  k.defaults = [](Json& o) {
    if (!o.contains("spec") || !o["spec"].is_object()) return;
    Json& strategy = child(o["spec"], "updateStrategy");
    if (!strategy.contains("type")) strategy["type"] = "RollingUpdate";
    if (strategy["type"] == "RollingUpdate") {
      Json& ru = child(strategy, "rollingUpdate");
      if (!ru.contains("maxUnavailable")) ru["maxUnavailable"] = 1;
      if (!ru.contains("maxSurge")) ru["maxSurge"] = 0;
    }
    default_template(o);
  };
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    validate_template(o, old, "daemonset", errs);
    validate_rolling_update(o, "updateStrategy", "OnDelete", errs);
  };
  return k;
}

// ---- ControllerRevision --------------------------------------------------------------------

Kind controller_revision() {
  Kind k = new_kind("apps", "ControllerRevision", "controllerrevisions", true,
                    kind_object("io.k8s.api.apps.v1.ControllerRevision",
                                {{"data", any()}, {"revision", integer().req()}}));
  k.columns = {
      col(
          "Controller", "string",
          [](const Json& o) {
            if (const Json* refs = find_path(o, {"metadata", "ownerReferences"});
                refs && refs->is_array())
              for (const auto& r : *refs) {
                const Json* c = find_path(r, {"controller"});
                if (!c || *c != true) continue;
                std::string api = get_string(r, {"apiVersion"}), kind = get_string(r, {"kind"});
                auto slash = api.find('/');
                std::string gk =
                    kind + (slash == std::string::npos ? "" : "." + api.substr(0, slash));
                for (auto& ch : gk)
                  ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                return Json(gk + "/" + get_string(r, {"name"}));
              }
            return Json("<none>");
          },
          0, "Controller of the object"),
      col(
          "Revision", "integer", [](const Json& o) { return Json(get_int(o, {"revision"})); }, 0,
          "Revision of the ControllerRevision"),
      age_column()};
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    if (get_int(o, {"revision"}) < 0)
      add_error(errs, K::invalid, "revision", "must be greater than or equal to 0", o["revision"]);
    if (old && o.value("data", Json()) != old->value("data", Json()))
      add_error(errs, K::invalid, "data", "field is immutable", o.value("data", Json()));
  };
  return k;
}

}  // namespace

std::vector<Kind> apps_kinds() {
  return {controller_revision(), daemon_set(), deployment(), replica_set(), stateful_set()};
}

}  // namespace k8c::api::detail
