// Shared pieces of the kind catalogue: sub-schemas used by several groups (ObjectMeta,
// LabelSelector, PodTemplateSpec, ...), the derived defaults and validation rules of pod
// specs, and small helpers for table cells. Internal to control/api/kinds_*.cpp.
#pragma once

#include "control/api/kinds.h"

#include <cstdint>
#include <string>
#include <vector>

namespace k8c::api::detail {

// ---- shared sub-schemas (each a single node, built once) --------------------------------
S timestamp();        // RFC 3339 string (metav1.Time)
S micro_timestamp();  // RFC 3339 with microseconds (metav1.MicroTime)
S string_map();       // map[string]string
S string_list();      // []string, atomic
S object_meta();      // io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta
S list_meta();
S label_selector();  // io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector
S owner_reference();
S condition();               // io.k8s.apimachinery.pkg.apis.meta.v1.Condition
S object_reference();        // io.k8s.api.core.v1.ObjectReference
S local_object_reference();  // io.k8s.api.core.v1.LocalObjectReference
S typed_local_object_reference();
S node_selector();            // io.k8s.api.core.v1.NodeSelector
S pod_spec();                 // io.k8s.api.core.v1.PodSpec
S pod_status();               // io.k8s.api.core.v1.PodStatus
S pod_template_spec();        // io.k8s.api.core.v1.PodTemplateSpec
S pvc_spec();                 // io.k8s.api.core.v1.PersistentVolumeClaimSpec
S pvc_status();               // io.k8s.api.core.v1.PersistentVolumeClaimStatus
S persistent_volume_claim();  // io.k8s.api.core.v1.PersistentVolumeClaim (StatefulSet templates)
S load_balancer_status();     // io.k8s.api.core.v1.LoadBalancerStatus
S pv_spec();                  // io.k8s.api.core.v1.PersistentVolumeSpec
S job_spec();                 // io.k8s.api.batch.v1.JobSpec
S kind_object(const std::string& def_name, std::initializer_list<std::pair<std::string, S>> body);

// A kind with its identity filled in; singular is the lower-cased kind, version "v1".
Kind new_kind(std::string group, std::string kind, std::string plural, bool namespaced,
              SchemaPtr schema, std::vector<std::string> short_names = {},
              std::vector<std::string> categories = {});

// ---- kinds of each group, in kubectl api-resources order ---------------------------------
std::vector<Kind> core_kinds();
std::vector<Kind> apps_kinds();
std::vector<Kind> batch_kinds();
std::vector<Kind> networking_kinds();  // networking.k8s.io, discovery.k8s.io, coordination.k8s.io

// ---- derived defaults and rules shared by Pod and the workload templates -----------------
// Derived defaults of a PodSpec (imagePullPolicy from the image tag, ...). `is_pod`: the
// defaults only a Pod gets (enableServiceLinks, requests from limits, admission defaults).
void default_pod_spec(Json& spec, bool is_pod);
// Rules for a PodSpec at `path` ("spec" or "spec.template.spec"). `claim_volumes`: volume
// names mounts may also refer to (a StatefulSet's volumeClaimTemplates).
void validate_pod_spec(const Json& spec, const std::string& path, FieldErrors& errs,
                       const std::vector<std::string>& claim_volumes = {});
// Workload rules: selector required, non-empty, matching the template labels; immutable on
// update (apps/v1). `kind_lower` names the kind in messages ("deployment").
void validate_workload_selector(const Json& obj, const Json* old, const std::string& kind_lower,
                                FieldErrors& errs, bool immutable = true);
void validate_restart_policy(const Json& pod_spec, const std::string& path,
                             const std::vector<std::string>& allowed, FieldErrors& errs);
void validate_config_keys(const Json& obj, const char* field, FieldErrors& errs);
// Kubernetes' IsValidPortName: the reasons it fails, empty when valid.
std::vector<std::string> port_name_errors(const std::string& name);
// Appends an error whose message is Kubernetes' whole error body: "Required value[: detail]",
// "Invalid value: <value>[: detail]", "Duplicate value: <value>", "Forbidden: detail"; for
// not_supported `detail` is the whole message (see not_supported_message).
void add_error(FieldErrors& errs, FieldError::Kind kind, std::string field, std::string detail = {},
               Json value = nullptr);
std::string not_supported_message(const Json& value, const std::vector<std::string>& allowed);
extern const char* const kDns1123LabelMsg;
extern const char* const kDns1035LabelMsg;

// ---- table cells ---------------------------------------------------------------------------
Column col(std::string name, std::string type, std::function<Json(const Json&)> cell,
           int priority = 0, std::string description = {});
Column age_column();
void append_columns(std::vector<Column>& cols, std::vector<Column> more);
// human_age of a timestamp against now; "<unknown>" when absent (translateTimestampSince).
std::string since(const Json& obj, std::initializer_list<std::string_view> path);
std::string since(const std::string& rfc3339);
int64_t parse_time(const std::string& rfc3339);  // unix seconds, -1 when invalid
std::string join(const std::vector<std::string>& parts, const std::string& sep = ",");
int64_t get_int(const Json& obj, std::initializer_list<std::string_view> path,
                int64_t fallback = 0);
// metav1.FormatLabelSelector: "app=web,tier in (a,b)"; `none` when it selects everything.
std::string format_label_selector(const Json* selector, const std::string& none = "<none>");
std::string format_labels(const Json* labels);  // labels.FormatLabels: "a=b,c=d" or "<none>"
// Containers / Images / Selector (-o wide) of a workload whose pod spec is at `spec_path`.
std::vector<Column> workload_wide_columns(std::vector<std::string_view> pod_spec_path,
                                          std::vector<std::string_view> selector_path,
                                          bool with_selector = true, bool none_if_empty = true);
// loadBalancer.ingress: "ip-or-hostname,..." ("" when none).
std::string load_balancer_ingress(const Json* lb);

}  // namespace k8c::api::detail
