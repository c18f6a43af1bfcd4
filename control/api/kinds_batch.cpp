// batch/v1 kinds: CronJob and Job.
#include "control/api/kinds_internal.h"
#include "control/api/object.h"
#include "control/api/table.h"

#include <climits>
#include <filesystem>

namespace k8c::api::detail {
namespace {

using K = FieldError::Kind;

bool has_true_condition(const Json& o, const char* type) {
  if (const Json* cs = find_path(o, {"status", "conditions"}); cs && cs->is_array())
    for (const auto& c : *cs)
      if (get_string(c, {"type"}) == type && get_string(c, {"status"}) == "True") return true;
  return false;
}

// Rules of a JobSpec at `path` ("spec" or "spec.jobTemplate.spec").
void validate_job_spec(const Json& spec, const std::string& path, FieldErrors& errs) {
  const Json* pod = find_path(spec, {"template", "spec"});
  if (pod) {
    validate_pod_spec(*pod, path + ".template.spec", errs);
    validate_restart_policy(*pod, path + ".template.spec", {"OnFailure", "Never"}, errs);
    std::string policy = get_string(*pod, {"restartPolicy"});
    if (find_path(spec, {"podFailurePolicy"}) && policy != "Never")
      add_error(errs, K::invalid, path + ".template.spec.restartPolicy",
                "only \"Never\" is supported when podFailurePolicy is specified", policy);
  }
  if (get_string(spec, {"completionMode"}) == "Indexed" && !find_path(spec, {"completions"}))
    add_error(errs, K::required, path + ".completions", "when completion mode is Indexed");
}

// ---- Job -----------------------------------------------------------------------------------

Kind job() {
  S status =
      obj({{"active", integer()},
           {"completedIndexes", str()},
           {"completionTime", timestamp()},
           {"conditions", list(obj({{"lastProbeTime", timestamp()},
                                    {"lastTransitionTime", timestamp()},
                                    {"message", str()},
                                    {"reason", str()},
                                    {"status", str().req()},
                                    {"type", str().req()}})
                                   .named("io.k8s.api.batch.v1.JobCondition"))},
           {"failed", integer()},
           {"failedIndexes", str()},
           {"ready", integer()},
           {"startTime", timestamp()},
           {"succeeded", integer()},
           {"terminating", integer()},
           {"uncountedTerminatedPods",
            obj({{"failed", list(str()).merge_set()}, {"succeeded", list(str()).merge_set()}})
                .named("io.k8s.api.batch.v1.UncountedTerminatedPods")}})
          .named("io.k8s.api.batch.v1.JobStatus");
  Kind k =
      new_kind("batch", "Job", "jobs", true,
               kind_object("io.k8s.api.batch.v1.Job", {{"spec", job_spec()}, {"status", status}}),
               {}, {"all"});
  k.has_status = true;
  k.field_selectors = {"status.successful"};
  k.field_value = [](const Json& o, std::string_view f) -> std::optional<std::string> {
    if (f != "status.successful") return std::nullopt;
    return std::to_string(get_int(o, {"status", "succeeded"}));
  };
  k.columns = {col(
                   "Status", "string",
                   [](const Json& o) {
                     if (has_true_condition(o, "Complete")) return Json("Complete");
                     if (has_true_condition(o, "Failed")) return Json("Failed");
                     if (find_path(o, {"metadata", "deletionTimestamp"}))
                       return Json("Terminating");
                     if (has_true_condition(o, "Suspended")) return Json("Suspended");
                     if (has_true_condition(o, "FailureTarget")) return Json("FailureTarget");
                     if (has_true_condition(o, "SuccessCriteriaMet"))
                       return Json("SuccessCriteriaMet");
                     return Json("Running");
                   },
                   0, "Status of the job."),
               col(
                   "Completions", "string",
                   [](const Json& o) {
                     std::string done = std::to_string(get_int(o, {"status", "succeeded"}));
                     if (const Json* c = find_path(o, {"spec", "completions"}); c && c->is_number())
                       return Json(done + "/" + std::to_string(c->get<int64_t>()));
                     int64_t parallelism = get_int(o, {"spec", "parallelism"}, 1);
                     return Json(parallelism > 1 ? done + "/1 of " + std::to_string(parallelism)
                                                 : done + "/1");
                   },
                   0, "The completion status of the job"),
               col(
                   "Duration", "string",
                   [](const Json& o) {
                     std::string start = get_string(o, {"status", "startTime"});
                     if (start.empty()) return Json("");
                     std::string end = get_string(o, {"status", "completionTime"});
                     if (end.empty()) return Json(since(start));
                     return Json(human_age(start, parse_time(end)));
                   },
                   0, "Time required to complete the job."),
               age_column()};
  append_columns(k.columns,
                 workload_wide_columns({"spec", "template", "spec"}, {"spec", "selector"}));
  k.defaults = [](Json& o) {
    if (!o.contains("spec") || !o["spec"].is_object()) return;
    Json& spec = o["spec"];
    if (!spec.contains("completions") && !spec.contains("parallelism")) {
      spec["completions"] = 1;
      spec["parallelism"] = 1;
    }
    if (!spec.contains("parallelism")) spec["parallelism"] = 1;
    if (!spec.contains("backoffLimit"))
      spec["backoffLimit"] = spec.contains("backoffLimitPerIndex") ? INT32_MAX : 6;
    if (!spec.contains("completionMode")) spec["completionMode"] = "NonIndexed";
    if (!spec.contains("suspend")) spec["suspend"] = false;
    bool has_failure_policy =
        spec.contains("podFailurePolicy") && spec["podFailurePolicy"].is_object();
    if (!spec.contains("podReplacementPolicy"))
      spec["podReplacementPolicy"] = has_failure_policy ? "Failed" : "TerminatingOrFailed";
    if (has_failure_policy && spec["podFailurePolicy"].contains("rules"))
      for (auto& rule : spec["podFailurePolicy"]["rules"])
        if (rule.is_object() && rule.contains("onPodConditions") &&
            rule["onPodConditions"].is_array())
          for (auto& c : rule["onPodConditions"])
            if (c.is_object() && !c.contains("status")) c["status"] = "True";
    Json* tmpl =
        spec.contains("template") && spec["template"].is_object() ? &spec["template"] : nullptr;
    if (!tmpl) return;
    if ((*tmpl).contains("spec")) default_pod_spec((*tmpl)["spec"], false);
    // The selector is generated from the Job's uid unless the user manages it.
    std::string uid = get_string(o, {"metadata", "uid"});
    const Json* manual = find_path(spec, {"manualSelector"});
    if (!uid.empty() && !(manual && *manual == true) && !spec.contains("selector")) {
      std::string name = get_string(o, {"metadata", "name"});
      Json& labels = (*tmpl)["metadata"]["labels"];
      if (!labels.is_object()) labels = Json::object();
      labels["batch.kubernetes.io/controller-uid"] = uid;
      labels["batch.kubernetes.io/job-name"] = name;
      labels["controller-uid"] = uid;
      labels["job-name"] = name;
      spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
    }
    const Json* tlabels = find_path(*tmpl, {"metadata", "labels"});
    const Json* labels = find_path(o, {"metadata", "labels"});
    if (tlabels && tlabels->is_object() && !tlabels->empty() && (!labels || labels->empty()))
      o["metadata"]["labels"] = *tlabels;
  };
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    const Json* spec = find_path(o, {"spec"});
    if (!spec) return;
    validate_job_spec(*spec, "spec", errs);
    const Json* manual = find_path(*spec, {"manualSelector"});
    if (find_path(*spec, {"selector"}) || (manual && *manual == true))
      validate_workload_selector(o, old, "job", errs);
    if (!old) return;
    const Json* suspended = find_path(*spec, {"suspend"});
    bool template_mutable = suspended && *suspended == true;
    const Json* now_template = find_path(*spec, {"template"});
    const Json* old_template = find_path(*old, {"spec", "template"});
    bool same = (!now_template && !old_template) ||
                (now_template && old_template && *now_template == *old_template);
    if (!template_mutable && !same)
      add_error(errs, K::invalid, "spec.template", "field is immutable",
                now_template ? *now_template : Json());
    if (get_string(*old, {"spec", "completionMode"}) != get_string(*spec, {"completionMode"}))
      add_error(errs, K::invalid, "spec.completionMode", "field is immutable",
                get_string(*spec, {"completionMode"}));
  };
  return k;
}

// ---- CronJob -------------------------------------------------------------------------------

Kind cron_job() {
  S spec = obj({{"concurrencyPolicy", str().def("Allow").oneof({"Allow", "Forbid", "Replace"})},
                {"failedJobsHistoryLimit", integer().def(1).min(0)},
                {"jobTemplate", obj({{"metadata", object_meta()}, {"spec", job_spec()}})
                                    .named("io.k8s.api.batch.v1.JobTemplateSpec")
                                    .req()},
                {"schedule", str().req().fmt(Format::cron)},
                {"startingDeadlineSeconds", integer().min(0)},
                {"successfulJobsHistoryLimit", integer().def(3).min(0)},
                {"suspend", boolean().def(false)},
                {"timeZone", str()}})
               .named("io.k8s.api.batch.v1.CronJobSpec");
  S status = obj({{"active", list(object_reference())},
                  {"lastScheduleTime", timestamp()},
                  {"lastSuccessfulTime", timestamp()}})
                 .named("io.k8s.api.batch.v1.CronJobStatus");
  Kind k =
      new_kind("batch", "CronJob", "cronjobs", true,
               kind_object("io.k8s.api.batch.v1.CronJob", {{"spec", spec}, {"status", status}}),
               {"cj"}, {"all"});
  k.has_status = true;
  k.columns = {col(
                   "Schedule", "string",
                   [](const Json& o) {
                     return Json(get_string(o, {"spec", "schedule"}));
                   },
                   0, "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
               col(
                   "Timezone", "string",
                   [](const Json& o) {
                     std::string tz = get_string(o, {"spec", "timeZone"});
                     return Json(tz.empty() ? "<none>" : tz);
                   },
                   0, "The time zone name for the given schedule."),
               col(
                   "Suspend", "boolean",
                   [](const Json& o) {
                     const Json* s = find_path(o, {"spec", "suspend"});
                     if (!s || !s->is_boolean()) return Json("<unset>");
                     return Json(s->get<bool>() ? "True" : "False");
                   },
                   0, "This flag tells the controller to suspend subsequent executions."),
               col(
                   "Active", "integer",
                   [](const Json& o) {
                     const Json* a = find_path(o, {"status", "active"});
                     return Json(a && a->is_array() ? a->size() : 0);
                   },
                   0, "A list of pointers to currently running jobs."),
               col(
                   "Last Schedule", "string",
                   [](const Json& o) {
                     std::string t = get_string(o, {"status", "lastScheduleTime"});
                     return Json(t.empty() ? "<none>" : since(t));
                   },
                   0, "Information when was the last time the job was successfully scheduled."),
               age_column()};
  append_columns(k.columns,
                 workload_wide_columns({"spec", "jobTemplate", "spec", "template", "spec"},
                                       {"spec", "jobTemplate", "spec", "selector"}));
  k.defaults = [](Json& o) {
    if (Json* pod =
            const_cast<Json*>(find_path(o, {"spec", "jobTemplate", "spec", "template", "spec"})))
      default_pod_spec(*pod, false);
  };
  k.validate = [](const Json& o, const Json*, FieldErrors& errs) {
    std::string name = get_string(o, {"metadata", "name"});
    if (name.size() > 52)
      add_error(errs, K::invalid, "metadata.name", "must be no more than 52 characters", name);
    if (const Json* spec = find_path(o, {"spec", "jobTemplate", "spec"}))
      validate_job_spec(*spec, "spec.jobTemplate.spec", errs);
    std::string schedule = get_string(o, {"spec", "schedule"});
    if (schedule.find("TZ=") != std::string::npos)
      add_error(errs, K::invalid, "spec.schedule",
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead", schedule);
    std::string tz = get_string(o, {"spec", "timeZone"});
    std::error_code ec;
    bool tz_ok = tz.empty() || (tz.find("..") == std::string::npos && tz.front() != '/' &&
                                std::filesystem::is_regular_file("/usr/share/zoneinfo/" + tz, ec));
    if (!tz_ok) add_error(errs, K::invalid, "spec.timeZone", "unknown time zone " + tz, tz);
  };
  return k;
}

}  // namespace

S job_spec() {
  static const SchemaPtr pod_condition =
      obj({{"status", str()}, {"type", str().req()}})
          .named("io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern");
  static const SchemaPtr rule =
      obj({{"action", str().req().oneof({"FailJob", "FailIndex", "Ignore", "Count"})},
           {"onExitCodes",
            obj({{"containerName", str()},
                 {"operator", str().req().oneof({"In", "NotIn"})},
                 {"values", list(integer()).merge_set().req()}})
                .named("io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement")},
           {"onPodConditions", list(pod_condition)}})
          .named("io.k8s.api.batch.v1.PodFailurePolicyRule");
  static const SchemaPtr s =
      obj({{"activeDeadlineSeconds", integer().min(1)},
           {"backoffLimit", integer().min(0)},
           {"backoffLimitPerIndex", integer().min(0)},
           {"completionMode", str().oneof({"NonIndexed", "Indexed"})},
           {"completions", integer().min(0)},
           {"managedBy", str()},
           {"manualSelector", boolean()},
           {"maxFailedIndexes", integer().min(0)},
           {"parallelism", integer().min(0)},
           {"podFailurePolicy",
            obj({{"rules", list(rule).req()}}).named("io.k8s.api.batch.v1.PodFailurePolicy")},
           {"podReplacementPolicy", str().oneof({"TerminatingOrFailed", "Failed"})},
           {"selector", label_selector()},
           {"successPolicy",
            obj({{"rules", list(obj({{"succeededCount", integer()}, {"succeededIndexes", str()}})
                                    .named("io.k8s.api.batch.v1.SuccessPolicyRule"))
                               .req()}})
                .named("io.k8s.api.batch.v1.SuccessPolicy")},
           {"suspend", boolean()},
           {"template", pod_template_spec().req()},
           {"ttlSecondsAfterFinished", integer().min(0)}})
          .named("io.k8s.api.batch.v1.JobSpec");
  return s;
}

std::vector<Kind> batch_kinds() {
  return {cron_job(), job()};
}

}  // namespace k8c::api::detail
