// core/v1 kinds: ConfigMap, Endpoints, Event, Namespace, Node, PersistentVolumeClaim,
// PersistentVolume, Pod, Secret, ServiceAccount, Service.
#include "control/api/kinds_internal.h"
#include "control/api/object.h"
#include "common/base64.h"

#include <map>
#include <set>

namespace k8c::api::detail {
namespace {

using K = FieldError::Kind;

S kind_condition(const char* name, const char* time_field) {
  return obj({{time_field, timestamp()},
              {"lastTransitionTime", timestamp()},
              {"message", str()},
              {"reason", str()},
              {"status", str().req()},
              {"type", str().req()}})
      .named(name);
}

bool is_true(const Json& o, const char* key) {
  const Json* v = find_path(o, {key});
  return v && v->is_boolean() && v->get<bool>();
}

Json& ensure_object(Json& parent, const char* key) {
  Json& v = parent[key];
  if (!v.is_object()) v = Json::object();
  return v;
}


std::string access_modes(const Json* modes) {
  // GetAccessModesAsString: a fixed order, each mode once.
  static const std::pair<const char*, const char*> kModes[] = {{"ReadWriteOnce", "RWO"},
                                                               {"ReadOnlyMany", "ROX"},
                                                               {"ReadWriteMany", "RWX"},
                                                               {"ReadWriteOncePod", "RWOP"}};
  std::vector<std::string> out;
  for (auto [mode, abbrev] : kModes)
    if (modes && modes->is_array())
      for (const auto& m : *modes)
        if (m == mode) {
          out.push_back(abbrev);
          break;
        }
  return join(out);
}

std::string quantity_string(const Json* v) {
  if (!v) return "0";  // the zero Quantity prints as "0"
  return v->is_string() ? v->get<std::string>() : v->dump();
}

// ---- Pod ---------------------------------------------------------------------------------

bool has_condition(const Json& obj, const std::string& type, const char* status = "True") {
  if (const Json* cs = find_path(obj, {"status", "conditions"}); cs && cs->is_array())
    for (const auto& c : *cs)
      if (get_string(c, {"type"}) == type && get_string(c, {"status"}) == status) return true;
  return false;
}

struct PodRow {
  int ready = 0, total = 0, restarts = 0;
  std::string reason, last_restart;  // last_restart: RFC 3339 of the latest restart
};

PodRow pod_row(const Json& pod) {
  PodRow r;
  const Json empty = Json::array();
  auto list = [&](std::initializer_list<std::string_view> path) -> const Json& {
    const Json* v = find_path(pod, path);
    return v && v->is_array() ? *v : empty;
  };
  const Json& containers = list({"spec", "containers"});
  const Json& inits = list({"spec", "initContainers"});
  r.total = static_cast<int>(containers.size());
  r.reason = get_string(pod, {"status", "phase"});
  if (auto reason = get_string(pod, {"status", "reason"}); !reason.empty()) r.reason = reason;
  if (const Json* cs = find_path(pod, {"status", "conditions"}); cs && cs->is_array())
    for (const auto& c : *cs)
      if (get_string(c, {"type"}) == "PodScheduled" &&
          get_string(c, {"reason"}) == "SchedulingGated")
        r.reason = "SchedulingGated";

  std::set<std::string> sidecars;  // restartable init containers
  for (const auto& c : inits)
    if (get_string(c, {"restartPolicy"}) == "Always") {
      sidecars.insert(get_string(c, {"name"}));
      ++r.total;
    }
  auto later = [](std::string& latest, const Json& status) {
    std::string t = get_string(status, {"lastState", "terminated", "finishedAt"});
    if (!t.empty() && (latest.empty() || parse_time(t) > parse_time(latest))) latest = t;
  };
  auto exit_reason = [](const Json& term, const char* prefix) {
    std::string reason = get_string(term, {"reason"});
    if (!reason.empty()) return prefix + reason;
    int64_t signal = get_int(term, {"signal"});
    return signal ? prefix + std::string("Signal:") + std::to_string(signal)
                  : prefix + std::string("ExitCode:") + std::to_string(get_int(term, {"exitCode"}));
  };

  int sidecar_restarts = 0;
  std::string sidecar_last;
  bool initializing = false;
  const Json& init_statuses = list({"status", "initContainerStatuses"});
  for (size_t i = 0; i < init_statuses.size(); ++i) {
    const Json& s = init_statuses[i];
    r.restarts += static_cast<int>(get_int(s, {"restartCount"}));
    later(r.last_restart, s);
    bool sidecar = sidecars.count(get_string(s, {"name"})) > 0;
    if (sidecar) {
      sidecar_restarts += static_cast<int>(get_int(s, {"restartCount"}));
      later(sidecar_last, s);
    }
    const Json* term = find_path(s, {"state", "terminated"});
    std::string waiting = get_string(s, {"state", "waiting", "reason"});
    if (term && get_int(*term, {"exitCode"}) == 0) continue;
    if (sidecar && find_path(s, {"started"}) && s["started"] == true) {
      if (is_true(s, "ready")) ++r.ready;
      continue;
    }
    if (term)
      r.reason = exit_reason(*term, "Init:");
    else if (!waiting.empty() && waiting != "PodInitializing")
      r.reason = "Init:" + waiting;
    else
      r.reason = "Init:" + std::to_string(i) + "/" + std::to_string(inits.size());
    initializing = true;
    break;
  }

  if (!initializing || has_condition(pod, "Initialized")) {
    r.restarts = sidecar_restarts;
    r.last_restart = sidecar_last;
    bool running = false;
    const Json& statuses = list({"status", "containerStatuses"});
    for (size_t i = statuses.size(); i-- > 0;) {
      const Json& s = statuses[i];
      r.restarts += static_cast<int>(get_int(s, {"restartCount"}));
      later(r.last_restart, s);
      std::string waiting = get_string(s, {"state", "waiting", "reason"});
      const Json* term = find_path(s, {"state", "terminated"});
      if (!waiting.empty())
        r.reason = waiting;
      else if (term)
        r.reason = exit_reason(*term, "");
      else if (is_true(s, "ready") && find_path(s, {"state", "running"})) {
        running = true;
        ++r.ready;
      }
    }
    if (r.reason == "Completed" && running)
      r.reason = has_condition(pod, "Ready") ? "Running" : "NotReady";
  }

  bool deleting = find_path(pod, {"metadata", "deletionTimestamp"}) != nullptr;
  std::string phase = get_string(pod, {"status", "phase"});
  if (deleting && get_string(pod, {"status", "reason"}) == "NodeLost")
    r.reason = "Unknown";
  else if (deleting && phase != "Succeeded" && phase != "Failed")
    r.reason = "Terminating";
  return r;
}

std::string or_none(std::string s) {
  return s.empty() ? "<none>" : s;
}

std::vector<Column> pod_columns() {
  return {
      col(
          "Ready", "string",
          [](const Json& o) {
            PodRow r = pod_row(o);
            return Json(std::to_string(r.ready) + "/" + std::to_string(r.total));
          },
          0, "The aggregate readiness state of this pod for accepting traffic."),
      col(
          "Status", "string", [](const Json& o) { return Json(pod_row(o).reason); }, 0,
          "The aggregate status of the containers in this pod."),
      col(
          "Restarts", "string",
          [](const Json& o) {
            PodRow r = pod_row(o);
            std::string s = std::to_string(r.restarts);
            if (r.restarts != 0 && !r.last_restart.empty())
              s += " (" + since(r.last_restart) + " ago)";
            return Json(s);
          },
          0,
          "The number of times the containers in this pod have been restarted and when the last "
          "container in this pod has restarted."),
      age_column(),
      col(
          "IP", "string",
          [](const Json& o) {
            std::string ip;
            if (const Json* ips = find_path(o, {"status", "podIPs"});
                ips && ips->is_array() && !ips->empty())
              ip = get_string((*ips)[0], {"ip"});
            return Json(or_none(ip));
          },
          1, "IP address allocated to the pod."),
      col(
          "Node", "string",
          [](const Json& o) {
            return Json(or_none(get_string(o, {"spec", "nodeName"})));
          },
          1, "Name of the node this pod is assigned to."),
      col(
          "Nominated Node", "string",
          [](const Json& o) {
            return Json(or_none(get_string(o, {"status", "nominatedNodeName"})));
          },
          1, "Name of the node nominated by the scheduler."),
      col(
          "Readiness Gates", "string",
          [](const Json& o) {
            const Json* gates = find_path(o, {"spec", "readinessGates"});
            if (!gates || !gates->is_array() || gates->empty()) return Json("<none>");
            int ok = 0;
            for (const auto& g : *gates) ok += has_condition(o, get_string(g, {"conditionType"}));
            return Json(std::to_string(ok) + "/" + std::to_string(gates->size()));
          },
          1, "Pod readiness gates."),
  };
}

std::string qos_class(const Json& spec) {
  bool any = false, guaranteed = true;
  for (const char* f : {"containers", "initContainers"}) {
    const Json* cs = find_path(spec, {f});
    if (!cs || !cs->is_array()) continue;
    for (const auto& c : *cs) {
      const Json* req = find_path(c, {"resources", "requests"});
      const Json* lim = find_path(c, {"resources", "limits"});
      if ((req && req->is_object() && !req->empty()) || (lim && lim->is_object() && !lim->empty()))
        any = true;
      for (const char* r : {"cpu", "memory"}) {
        const Json* l = lim ? find_path(*lim, {r}) : nullptr;
        const Json* q = req ? find_path(*req, {r}) : nullptr;
        if (!l || (q && *q != *l)) guaranteed = false;
      }
    }
  }
  return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable";
}

// Pod updates may change only a few fields of the spec (ValidatePodUpdate).
void validate_pod_update(const Json& pod, const Json& old, FieldErrors& errs) {
  Json now = pod.value("spec", Json::object()), before = old.value("spec", Json::object());
  for (const char* f : {"containers", "initContainers"})
    if (now.contains(f) && before.contains(f) && now[f].is_array() && before[f].is_array() &&
        now[f].size() == before[f].size())
      for (size_t i = 0; i < now[f].size(); ++i)
        if (now[f][i].is_object() && before[f][i].is_object() && now[f][i].contains("image"))
          before[f][i]["image"] = now[f][i]["image"];
  for (const char* f : {"activeDeadlineSeconds", "terminationGracePeriodSeconds", "tolerations",
                        "ephemeralContainers", "schedulingGates"}) {
    now.erase(f);
    before.erase(f);
  }
  // The scheduler binds by setting nodeName once.
  if (get_string(before, {"nodeName"}).empty()) {
    now.erase("nodeName");
    before.erase("nodeName");
  }
  if (now != before)
    add_error(errs, K::forbidden, "spec",
              "pod updates may not change fields other than `spec.containers[*].image`,"
              "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
              "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
              "(allow it to be set to 1 if it was previously negative)");
}

Kind pod() {
  Kind k = new_kind(
      "", "Pod", "pods", true,
      kind_object("io.k8s.api.core.v1.Pod", {{"spec", pod_spec()}, {"status", pod_status()}}),
      {"po"}, {"all"});
  k.columns = pod_columns();
  k.has_status = true;
  k.field_selectors = {
      "spec.nodeName",    "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
      "spec.hostNetwork", "status.phase",       "status.podIP",       "status.nominatedNodeName"};
  k.field_value = [](const Json& o, std::string_view f) -> std::optional<std::string> {
    if (f != "spec.hostNetwork") return std::nullopt;
    const Json* v = find_path(o, {"spec", "hostNetwork"});
    return v && *v == true ? "true" : "false";
  };
  k.defaults = [](Json& o) {
    if (!o.contains("spec") || !o["spec"].is_object()) return;
    default_pod_spec(o["spec"], true);
    Json& status = ensure_object(o, "status");
    if (!status.contains("phase")) status["phase"] = "Pending";
    if (!status.contains("qosClass")) status["qosClass"] = qos_class(o["spec"]);
  };
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    if (const Json* spec = find_path(o, {"spec"})) validate_pod_spec(*spec, "spec", errs);
    if (old) validate_pod_update(o, *old, errs);
  };
  return k;
}

// ---- Service -----------------------------------------------------------------------------

Kind service() {
  static const SchemaPtr port = obj({{"appProtocol", str()},
                                     {"name", str()},
                                     {"nodePort", integer().min(0).max(65535)},
                                     {"port", integer().req().min(1).max(65535)},
                                     {"protocol", str().def("TCP").oneof({"TCP", "UDP", "SCTP"})},
                                     {"targetPort", int_or_string()}})
                                    .named("io.k8s.api.core.v1.ServicePort");
  S spec =
      obj({{"allocateLoadBalancerNodePorts", boolean()},
           {"clusterIP", str()},
           {"clusterIPs", string_list()},
           {"externalIPs", string_list()},
           {"externalName", str()},
           {"externalTrafficPolicy", str().oneof({"Cluster", "Local"})},
           {"healthCheckNodePort", integer()},
           {"internalTrafficPolicy", str().oneof({"Cluster", "Local"})},
           {"ipFamilies", list(str().oneof({"IPv4", "IPv6"}))},
           {"ipFamilyPolicy", str().oneof({"SingleStack", "PreferDualStack", "RequireDualStack"})},
           {"loadBalancerClass", str()},
           {"loadBalancerIP", str()},
           {"loadBalancerSourceRanges", string_list()},
           {"ports", list(port).merge("port").list_map({"port", "protocol"})},
           {"publishNotReadyAddresses", boolean()},
           {"selector", string_map()},
           {"sessionAffinity", str().def("None").oneof({"ClientIP", "None"})},
           {"sessionAffinityConfig",
            obj({{"clientIP", obj({{"timeoutSeconds", integer().min(1).max(86400)}})
                                  .named("io.k8s.api.core.v1.ClientIPConfig")}})
                .named("io.k8s.api.core.v1.SessionAffinityConfig")},
           {"trafficDistribution", str()},
           {"type", str()
                        .def("ClusterIP")
                        .oneof({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"})}})
          .named("io.k8s.api.core.v1.ServiceSpec");
  S status = obj({{"conditions", list(condition()).merge("type")},
                  {"loadBalancer", load_balancer_status()}})
                 .named("io.k8s.api.core.v1.ServiceStatus");
  Kind k = new_kind("", "Service", "services", true,
                    kind_object("io.k8s.api.core.v1.Service", {{"spec", spec}, {"status", status}}),
                    {"svc"}, {"all"});
  k.has_status = true;
  k.field_selectors = {"spec.clusterIP", "spec.type"};
  k.columns = {
      col(
          "Type", "string",
          [](const Json& o) {
            return Json(get_string(o, {"spec", "type"}));
          },
          0, "The type of service."),
      col(
          "Cluster-IP", "string",
          [](const Json& o) {
            const Json* ips = find_path(o, {"spec", "clusterIPs"});
            if (ips && ips->is_array() && !ips->empty() && (*ips)[0].is_string()) return (*ips)[0];
            return Json(or_none(get_string(o, {"spec", "clusterIP"})));
          },
          0, "Cluster IP of the service."),
      col(
          "External-IP", "string",
          [](const Json& o) {
            std::vector<std::string> external;
            if (const Json* e = find_path(o, {"spec", "externalIPs"}); e && e->is_array())
              for (const auto& ip : *e)
                external.push_back(ip.is_string() ? ip.get<std::string>() : "");
            std::string type = get_string(o, {"spec", "type"});
            if (type == "ClusterIP" || type == "NodePort")
              return Json(external.empty() ? "<none>" : join(external));
            if (type == "ExternalName") return Json(get_string(o, {"spec", "externalName"}));
            if (type != "LoadBalancer") return Json("<unknown>");
            std::string lb = load_balancer_ingress(find_path(o, {"status", "loadBalancer"}));
            if (!external.empty())
              return Json(lb.empty() ? join(external) : lb + "," + join(external));
            return Json(lb.empty() ? "<pending>" : lb);
          },
          0, "External IP of the service."),
      col(
          "Port(s)", "string",
          [](const Json& o) {
            std::vector<std::string> out;
            if (const Json* ps = find_path(o, {"spec", "ports"}); ps && ps->is_array())
              for (const auto& p : *ps) {
                std::string s = std::to_string(get_int(p, {"port"}));
                if (int64_t np = get_int(p, {"nodePort"}); np > 0) s += ":" + std::to_string(np);
                out.push_back(s + "/" + get_string(p, {"protocol"}, "TCP"));
              }
            return Json(out.empty() ? "<none>" : join(out));
          },
          0, "The ports of the service."),
      age_column(),
      col(
          "Selector", "string",
          [](const Json& o) {
            return Json(format_labels(find_path(o, {"spec", "selector"})));
          },
          1, "Route service traffic to pods with label keys and values matching this selector."),
  };
  k.defaults = [](Json& o) {
    if (!o.contains("spec") || !o["spec"].is_object()) return;
    Json& spec = o["spec"];
    std::string type = get_string(spec, {"type"}, "ClusterIP");
    if (spec.contains("ports") && spec["ports"].is_array())
      for (auto& p : spec["ports"])
        if (p.is_object() &&
            (!p.contains("targetPort") || p["targetPort"] == 0 || p["targetPort"] == ""))
          p["targetPort"] = p.value("port", Json(0));
    if (type == "NodePort" || type == "LoadBalancer")
      if (!spec.contains("externalTrafficPolicy")) spec["externalTrafficPolicy"] = "Cluster";
    if (type == "LoadBalancer" && !spec.contains("allocateLoadBalancerNodePorts"))
      spec["allocateLoadBalancerNodePorts"] = true;
    if (get_string(spec, {"sessionAffinity"}) == "ClientIP") {
      Json& cfg = ensure_object(ensure_object(spec, "sessionAffinityConfig"), "clientIP");
      if (!cfg.contains("timeoutSeconds")) cfg["timeoutSeconds"] = 10800;
    }
    if (type == "ExternalName") return;
    if (!spec.contains("internalTrafficPolicy")) spec["internalTrafficPolicy"] = "Cluster";
    // A headless Service without a selector may carry every family the cluster has.
    bool headless_bare = get_string(spec, {"clusterIP"}) == "None" &&
                         (!spec.contains("selector") || spec["selector"].empty());
    if (!spec.contains("ipFamilyPolicy"))
      spec["ipFamilyPolicy"] = headless_bare ? "RequireDualStack" : "SingleStack";
    if (!spec.contains("ipFamilies") || spec["ipFamilies"].empty()) spec["ipFamilies"] = {"IPv4"};
    if (spec.contains("clusterIP") && !spec.contains("clusterIPs"))
      spec["clusterIPs"] = {spec["clusterIP"]};
  };
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    std::string name = get_string(o, {"metadata", "name"});
    if (!name.empty() && !is_rfc1035_label(name))
      add_error(errs, K::invalid, "metadata.name", kDns1035LabelMsg, name);
    const Json* spec = find_path(o, {"spec"});
    if (!spec || !spec->is_object()) return;
    std::string type = get_string(*spec, {"type"}, "ClusterIP");
    bool headless = get_string(*spec, {"clusterIP"}) == "None";
    const Json* ports = find_path(*spec, {"ports"});
    size_t n = ports && ports->is_array() ? ports->size() : 0;
    if (type == "ExternalName") {
      if (get_string(*spec, {"externalName"}).empty())
        add_error(errs, K::required, "spec.externalName");
    } else if (n == 0 && !headless) {
      add_error(errs, K::required, "spec.ports");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < n; ++i) {
      const Json& p = (*ports)[i];
      std::string path = "spec.ports[" + std::to_string(i) + "]";
      std::string pn = get_string(p, {"name"});
      if (pn.empty() && n > 1) add_error(errs, K::required, path + ".name");
      if (!pn.empty() && !is_dns1123_label(pn))
        add_error(errs, K::invalid, path + ".name", kDns1123LabelMsg, pn);
      if (!pn.empty() && !names.insert(pn).second)
        add_error(errs, K::duplicate, path + ".name", "", pn);
      if (get_int(p, {"nodePort"}) != 0 && type != "NodePort" && type != "LoadBalancer")
        add_error(errs, K::forbidden, path + ".nodePort",
                  "may not be used when `type` is '" + type + "'");
      if (const Json* tp = find_path(p, {"targetPort"})) {
        if (tp->is_number() && (tp->get<int64_t>() < 1 || tp->get<int64_t>() > 65535))
          add_error(errs, K::invalid, path + ".targetPort",
                    "must be between 1 and 65535, inclusive", *tp);
        else if (tp->is_string())
          for (const auto& m : port_name_errors(tp->get<std::string>()))
            add_error(errs, K::invalid, path + ".targetPort", m, *tp);
      }
    }
    if (old) {
      std::string before = get_string(*old, {"spec", "clusterIP"});
      std::string now = get_string(*spec, {"clusterIP"});
      if (!before.empty() && !now.empty() && before != now &&
          get_string(*old, {"spec", "type"}) != "ExternalName")
        add_error(errs, K::invalid, "spec.clusterIPs[0]", "may not change once set", now);
    }
  };
  return k;
}

// ---- Endpoints ---------------------------------------------------------------------------

Kind endpoints() {
  static const SchemaPtr address = obj({{"hostname", str()},
                                        {"ip", str().req()},
                                        {"nodeName", str()},
                                        {"targetRef", object_reference()}})
                                       .named("io.k8s.api.core.v1.EndpointAddress");
  static const SchemaPtr port = obj({{"appProtocol", str()},
                                     {"name", str()},
                                     {"port", integer().req()},
                                     {"protocol", str().def("TCP").oneof({"TCP", "UDP", "SCTP"})}})
                                    .named("io.k8s.api.core.v1.EndpointPort");
  S subset = obj({{"addresses", list(address)},
                  {"notReadyAddresses", list(address)},
                  {"ports", list(port)}})
                 .named("io.k8s.api.core.v1.EndpointSubset");
  Kind k =
      new_kind("", "Endpoints", "endpoints", true,
               kind_object("io.k8s.api.core.v1.Endpoints", {{"subsets", list(subset)}}), {"ep"});
  k.singular = "endpoints";
  k.columns = {
      col(
          "Endpoints", "string",
          [](const Json& o) {
            const Json* subsets = find_path(o, {"subsets"});
            if (!subsets || !subsets->is_array() || subsets->empty()) return Json("<none>");
            std::vector<std::string> out;
            const size_t max = 3;
            size_t count = 0;
            bool more = false;
            for (const auto& ss : *subsets) {
              const Json* addrs = find_path(ss, {"addresses"});
              const Json* ports = find_path(ss, {"ports"});
              size_t naddr = addrs && addrs->is_array() ? addrs->size() : 0;
              auto add = [&](const std::string& s) {
                if (out.size() == max)
                  more = true;
                else
                  out.push_back(s);
              };
              if (!ports || !ports->is_array() || ports->empty()) {
                count += naddr;
                for (size_t i = 0; i < naddr && !more; ++i) add(get_string((*addrs)[i], {"ip"}));
                continue;
              }
              for (const auto& p : *ports) {
                count += naddr;
                for (size_t i = 0; i < naddr && !more; ++i) {
                  std::string ip = get_string((*addrs)[i], {"ip"});
                  if (ip.find(':') != std::string::npos) ip = "[" + ip + "]";
                  add(ip + ":" + std::to_string(get_int(p, {"port"})));
                }
              }
            }
            std::string s = join(out);
            if (more) s += " + " + std::to_string(count - max) + " more...";
            return Json(s);
          },
          0, "Endpoints of the service."),
      age_column(),
  };
  return k;
}

// ---- ConfigMap / Secret ------------------------------------------------------------------

void validate_immutable_data(const Json& o, const Json* old,
                             std::initializer_list<const char*> fields, FieldErrors& errs) {
  if (!old || !is_true(*old, "immutable")) return;
  if (!is_true(o, "immutable"))
    add_error(errs, K::forbidden, "immutable", "field is immutable when `immutable` is set");
  for (const char* f : fields)
    if (o.value(f, Json::object()) != old->value(f, Json::object()))
      add_error(errs, K::forbidden, f, "field is immutable when `immutable` is set");
}

Kind config_map() {
  Kind k = new_kind(
      "", "ConfigMap", "configmaps", true,
      kind_object("io.k8s.api.core.v1.ConfigMap", {{"binaryData", map(str().fmt(Format::base64))},
                                                   {"data", string_map()},
                                                   {"immutable", boolean()}}),
      {"cm"});
  k.columns = {col(
                   "Data", "integer",
                   [](const Json& o) {
                     return Json(o.value("data", Json::object()).size() +
                                 o.value("binaryData", Json::object()).size());
                   },
                   0, "Number of data in the configmap."),
               age_column()};
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    validate_config_keys(o, "data", errs);
    validate_config_keys(o, "binaryData", errs);
    const Json* data = find_path(o, {"data"});
    if (const Json* bin = find_path(o, {"binaryData"});
        bin && bin->is_object() && data && data->is_object())
      for (const auto& [key, v] : bin->items())
        if (data->contains(key))
          add_error(errs, K::invalid, "binaryData[" + key + "]", "duplicate of key present in data",
                    key);
    size_t total = 0;
    for (const char* f : {"data", "binaryData"})
      if (const Json* d = find_path(o, {f}); d && d->is_object())
        for (const auto& [key, v] : d->items())
          if (v.is_string())
            total += key.size() + (f[0] == 'b' ? v.get<std::string>().size() * 3 / 4
                                               : v.get<std::string>().size());
    if (total > 1024 * 1024) add_error(errs, K::too_long, "", "must have at most 1048576 bytes");
    validate_immutable_data(o, old, {"data", "binaryData"}, errs);
  };
  return k;
}

Kind secret() {
  Kind k =
      new_kind("", "Secret", "secrets", true,
               kind_object("io.k8s.api.core.v1.Secret", {{"data", map(str().fmt(Format::base64))},
                                                         {"immutable", boolean()},
                                                         {"stringData", string_map()},
                                                         {"type", str().def("Opaque")}}));
  k.field_selectors = {"type"};
  k.columns = {col(
                   "Type", "string", [](const Json& o) { return Json(get_string(o, {"type"})); }, 0,
                   "The type of the secret."),
               col(
                   "Data", "integer",
                   [](const Json& o) { return Json(o.value("data", Json::object()).size()); }, 0,
                   "The number of data in the secret."),
               age_column()};
  // stringData is write-only: it merges into data, base64-encoded, and is never stored.
  k.defaults = [](Json& o) {
    const Json* sd = find_path(o, {"stringData"});
    if (!sd || !sd->is_object()) return;
    Json& data = ensure_object(o, "data");
    for (const auto& [key, v] : sd->items())
      if (v.is_string()) data[key] = base64_encode(v.get<std::string>());
    o.erase("stringData");
  };
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    validate_config_keys(o, "data", errs);
    validate_config_keys(o, "stringData", errs);
    std::string type = get_string(o, {"type"});
    const Json data = o.value("data", Json::object());
    auto need = [&](const char* key) {
      if (!data.contains(key)) add_error(errs, K::required, std::string("data[") + key + "]");
    };
    if (type == "kubernetes.io/tls") {
      need("tls.crt");
      need("tls.key");
    } else if (type == "kubernetes.io/dockerconfigjson") {
      need(".dockerconfigjson");
    } else if (type == "kubernetes.io/dockercfg") {
      need(".dockercfg");
    } else if (type == "kubernetes.io/ssh-auth") {
      need("ssh-privatekey");
    } else if (type == "kubernetes.io/service-account-token") {
      if (get_string(o, {"metadata", "annotations", "kubernetes.io/service-account.name"}).empty())
        add_error(errs, K::required, "metadata.annotations[kubernetes.io/service-account.name]");
    }
    size_t total = 0;
    for (const auto& [key, v] : data.items())
      total += v.is_string() ? v.get<std::string>().size() * 3 / 4 : 0;
    if (total > 1024 * 1024)
      add_error(errs, K::too_long, "data", "must have at most 1048576 bytes");
    if (old && get_string(*old, {"type"}) != type)
      add_error(errs, K::invalid, "type", "field is immutable", type);
    validate_immutable_data(o, old, {"data"}, errs);
  };
  return k;
}

// ---- Namespace / Node --------------------------------------------------------------------

Kind namespace_kind() {
  S spec = obj({{"finalizers", string_list()}}).named("io.k8s.api.core.v1.NamespaceSpec");
  S status =
      obj({{"conditions",
            list(kind_condition("io.k8s.api.core.v1.NamespaceCondition", "lastTransitionTime"))
                .merge("type")},
           {"phase", str().oneof({"Active", "Terminating"})}})
          .named("io.k8s.api.core.v1.NamespaceStatus");
  Kind k = new_kind(
      "", "Namespace", "namespaces", false,
      kind_object("io.k8s.api.core.v1.Namespace", {{"spec", spec}, {"status", status}}), {"ns"});
  k.has_status = true;
  k.field_selectors = {"status.phase"};
  k.columns = {col(
                   "Status", "string",
                   [](const Json& o) {
                     return Json(get_string(o, {"status", "phase"}));
                   },
                   0, "The status of the namespace."),
               age_column()};
  k.defaults = [](Json& o) {
    std::string name = get_string(o, {"metadata", "name"});
    if (!name.empty())
      ensure_object(ensure_object(o, "metadata"), "labels")["kubernetes.io/metadata.name"] = name;
    Json& spec = ensure_object(o, "spec");
    if (!spec.contains("finalizers")) spec["finalizers"] = {"kubernetes"};
    Json& status = ensure_object(o, "status");
    if (!status.contains("phase")) status["phase"] = "Active";
  };
  k.validate = [](const Json& o, const Json*, FieldErrors& errs) {
    std::string name = get_string(o, {"metadata", "name"});
    if (!name.empty() && !is_dns1123_label(name))
      add_error(errs, K::invalid, "metadata.name", kDns1123LabelMsg, name);
  };
  return k;
}

std::string node_roles(const Json& o) {
  std::set<std::string> roles;
  if (const Json* labels = find_path(o, {"metadata", "labels"}); labels && labels->is_object())
    for (const auto& [key, v] : labels->items()) {
      static const std::string prefix = "node-role.kubernetes.io/";
      if (key.rfind(prefix, 0) == 0 && key.size() > prefix.size())
        roles.insert(key.substr(prefix.size()));
      if (key == "kubernetes.io/role" && v.is_string() && !v.get<std::string>().empty())
        roles.insert(v.get<std::string>());
    }
  return or_none(join({roles.begin(), roles.end()}));
}

std::string node_address(const Json& o, const char* type) {
  if (const Json* as = find_path(o, {"status", "addresses"}); as && as->is_array())
    for (const auto& a : *as)
      if (get_string(a, {"type"}) == type) return get_string(a, {"address"});
  return "<none>";
}

Kind node() {
  S taint = obj({{"effect", str().req().oneof({"NoSchedule", "PreferNoSchedule", "NoExecute"})},
                 {"key", str().req()},
                 {"timeAdded", timestamp()},
                 {"value", str()}})
                .named("io.k8s.api.core.v1.Taint");
  S spec = obj({{"configSource", any()},
                {"externalID", str()},
                {"podCIDR", str()},
                {"podCIDRs", list(str()).merge_set()},
                {"providerID", str()},
                {"taints", list(taint)},
                {"unschedulable", boolean()}})
               .named("io.k8s.api.core.v1.NodeSpec");
  S info = obj({{"architecture", str()},
                {"bootID", str()},
                {"containerRuntimeVersion", str()},
                {"kernelVersion", str()},
                {"kubeProxyVersion", str()},
                {"kubeletVersion", str()},
                {"machineID", str()},
                {"operatingSystem", str()},
                {"osImage", str()},
                {"swap", any()},
                {"systemUUID", str()}})
               .named("io.k8s.api.core.v1.NodeSystemInfo");
  S status =
      obj({{"addresses", list(obj({{"address", str().req()}, {"type", str().req()}})
                                  .named("io.k8s.api.core.v1.NodeAddress"))
                             .merge("type")},
           {"allocatable", map(quantity())},
           {"capacity", map(quantity())},
           {"conditions",
            list(kind_condition("io.k8s.api.core.v1.NodeCondition", "lastHeartbeatTime"))
                .merge("type")},
           {"config", any()},
           {"daemonEndpoints",
            obj({{"kubeletEndpoint",
                  obj({{"Port", integer().req()}}).named("io.k8s.api.core.v1.DaemonEndpoint")}})
                .named("io.k8s.api.core.v1.NodeDaemonEndpoints")},
           {"features", any()},
           {"images", list(obj({{"names", string_list()}, {"sizeBytes", integer()}})
                               .named("io.k8s.api.core.v1.ContainerImage"))},
           {"nodeInfo", info},
           {"phase", str()},
           {"runtimeHandlers", list(any())},
           {"volumesAttached", list(any())},
           {"volumesInUse", string_list()}})
          .named("io.k8s.api.core.v1.NodeStatus");
  Kind k = new_kind("", "Node", "nodes", false,
                    kind_object("io.k8s.api.core.v1.Node", {{"spec", spec}, {"status", status}}),
                    {"no"});
  k.has_status = true;
  k.field_selectors = {"spec.unschedulable"};
  k.field_value = [](const Json& o, std::string_view f) -> std::optional<std::string> {
    if (f != "spec.unschedulable") return std::nullopt;
    const Json* v = find_path(o, {"spec", "unschedulable"});
    return v && *v == true ? "true" : "false";
  };
  auto info_cell = [](const char* field) {
    return [field](const Json& o) {
      std::string v = get_string(o, {"status", "nodeInfo", field});
      return Json(v.empty() ? "<unknown>" : v);
    };
  };
  k.columns = {
      col(
          "Status", "string",
          [](const Json& o) {
            std::vector<std::string> status;
            if (const Json* cs = find_path(o, {"status", "conditions"}); cs && cs->is_array())
              for (const auto& c : *cs)
                if (get_string(c, {"type"}) == "Ready")
                  status = {get_string(c, {"status"}) == "True" ? "Ready" : "NotReady"};
            if (status.empty()) status.push_back("Unknown");
            const Json* u = find_path(o, {"spec", "unschedulable"});
            if (u && *u == true) status.push_back("SchedulingDisabled");
            return Json(join(status));
          },
          0, "The status of the node"),
      col(
          "Roles", "string", [](const Json& o) { return Json(node_roles(o)); }, 0,
          "The roles of the node"),
      age_column(),
      col(
          "Version", "string",
          [](const Json& o) {
            return Json(get_string(o, {"status", "nodeInfo", "kubeletVersion"}));
          },
          0, "Kubelet Version reported by the node."),
      col(
          "Internal-IP", "string",
          [](const Json& o) { return Json(node_address(o, "InternalIP")); }, 1,
          "List of internal IPs for the node."),
      col(
          "External-IP", "string",
          [](const Json& o) { return Json(node_address(o, "ExternalIP")); }, 1,
          "List of external IPs for the node."),
      col("OS-Image", "string", info_cell("osImage"), 1, "OS Image reported by the node."),
      col("Kernel-Version", "string", info_cell("kernelVersion"), 1,
          "Kernel Version reported by the node."),
      col("Container-Runtime", "string", info_cell("containerRuntimeVersion"), 1,
          "Container Runtime Version reported by the node."),
  };
  k.defaults = [](Json& o) {
    Json* status = o.contains("status") && o["status"].is_object() ? &o["status"] : nullptr;
    if (status && status->contains("capacity") && !status->contains("allocatable"))
      (*status)["allocatable"] = (*status)["capacity"];
  };
  return k;
}

// ---- PersistentVolume / PersistentVolumeClaim --------------------------------------------

std::string claim_class(const Json& o) {
  std::string cls =
      get_string(o, {"metadata", "annotations", "volume.beta.kubernetes.io/storage-class"});
  return cls.empty() ? get_string(o, {"spec", "storageClassName"}) : cls;
}

std::string phase_or_terminating(const Json& o) {
  return find_path(o, {"metadata", "deletionTimestamp"}) ? "Terminating"
                                                         : get_string(o, {"status", "phase"});
}

Kind persistent_volume() {
  S status = obj({{"lastPhaseTransitionTime", timestamp()},
                  {"message", str()},
                  {"phase", str().oneof({"Pending", "Available", "Bound", "Released", "Failed"})},
                  {"reason", str()}})
                 .named("io.k8s.api.core.v1.PersistentVolumeStatus");
  Kind k = new_kind(
      "", "PersistentVolume", "persistentvolumes", false,
      kind_object("io.k8s.api.core.v1.PersistentVolume", {{"spec", pv_spec()}, {"status", status}}),
      {"pv"});
  k.has_status = true;
  k.columns = {
      col(
          "Capacity", "string",
          [](const Json& o) {
            return Json(quantity_string(find_path(o, {"spec", "capacity", "storage"})));
          },
          0, "The storage capacity of the volume."),
      col(
          "Access Modes", "string",
          [](const Json& o) {
            return Json(access_modes(find_path(o, {"spec", "accessModes"})));
          },
          0, "The access modes of the volume."),
      col(
          "Reclaim Policy", "string",
          [](const Json& o) {
            return Json(get_string(o, {"spec", "persistentVolumeReclaimPolicy"}));
          },
          0, "What happens to the volume when its claim is released."),
      col(
          "Status", "string", [](const Json& o) { return Json(phase_or_terminating(o)); }, 0,
          "The phase of the volume."),
      col(
          "Claim", "string",
          [](const Json& o) {
            const Json* ref = find_path(o, {"spec", "claimRef"});
            if (!ref) return Json("");
            return Json(get_string(*ref, {"namespace"}) + "/" + get_string(*ref, {"name"}));
          },
          0, "The claim bound to the volume."),
      col(
          "StorageClass", "string",
          [](const Json& o) {
            std::string cls = get_string(
                o, {"metadata", "annotations", "volume.beta.kubernetes.io/storage-class"});
            return Json(cls.empty() ? get_string(o, {"spec", "storageClassName"}) : cls);
          },
          0, "The storage class of the volume."),
      col(
          "VolumeAttributesClass", "string",
          [](const Json& o) {
            std::string v = get_string(o, {"spec", "volumeAttributesClassName"});
            return Json(v.empty() ? "<unset>" : v);
          },
          0, "The volume attributes class of the volume."),
      col(
          "Reason", "string",
          [](const Json& o) {
            return Json(get_string(o, {"status", "reason"}));
          },
          0, "The reason of the phase."),
      age_column(),
      col(
          "VolumeMode", "string",
          [](const Json& o) {
            return Json(get_string(o, {"spec", "volumeMode"}));
          },
          1, "The volume mode of the volume."),
  };
  k.defaults = [](Json& o) {
    Json& status = ensure_object(o, "status");
    if (!status.contains("phase")) status["phase"] = "Pending";
  };
  return k;
}

Kind persistent_volume_claim_kind() {
  Kind k = new_kind("", "PersistentVolumeClaim", "persistentvolumeclaims", true,
                    persistent_volume_claim(), {"pvc"});
  k.has_status = true;
  auto bound = [](const Json& o) { return !get_string(o, {"spec", "volumeName"}).empty(); };
  k.columns = {
      col(
          "Status", "string", [](const Json& o) { return Json(phase_or_terminating(o)); }, 0,
          "The phase of the claim."),
      col(
          "Volume", "string",
          [](const Json& o) {
            return Json(get_string(o, {"spec", "volumeName"}));
          },
          0, "The volume bound to the claim."),
      col(
          "Capacity", "string",
          [bound](const Json& o) {
            return Json(bound(o) ? quantity_string(find_path(o, {"status", "capacity", "storage"}))
                                 : "");
          },
          0, "The storage capacity of the bound volume."),
      col(
          "Access Modes", "string",
          [bound](const Json& o) {
            return Json(bound(o) ? access_modes(find_path(o, {"status", "accessModes"})) : "");
          },
          0, "The access modes of the bound volume."),
      col(
          "StorageClass", "string", [](const Json& o) { return Json(claim_class(o)); }, 0,
          "The storage class of the claim."),
      col(
          "VolumeAttributesClass", "string",
          [](const Json& o) {
            std::string v = get_string(o, {"spec", "volumeAttributesClassName"});
            return Json(v.empty() ? "<unset>" : v);
          },
          0, "The volume attributes class of the claim."),
      age_column(),
      col(
          "VolumeMode", "string",
          [](const Json& o) {
            std::string v = get_string(o, {"spec", "volumeMode"});
            return Json(v.empty() ? "<unset>" : v);
          },
          1, "The volume mode of the claim."),
  };
  k.defaults = [](Json& o) {
    Json& status = ensure_object(o, "status");
    if (!status.contains("phase")) status["phase"] = "Pending";
  };
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    const Json* modes = find_path(o, {"spec", "accessModes"});
    if (!modes || !modes->is_array() || modes->empty())
      add_error(errs, K::required, "spec.accessModes", "at least 1 access mode is required");
    if (!find_path(o, {"spec", "resources", "requests", "storage"}))
      add_error(errs, K::required, "spec.resources[storage]");
    if (!old) return;
    // The spec is immutable once created, except the requests and, once, the bound volume.
    Json now = o.value("spec", Json::object()), before = old->value("spec", Json::object());
    for (Json* s : {&now, &before}) {
      if (s->contains("resources")) (*s)["resources"].erase("requests");
      s->erase("volumeAttributesClassName");
    }
    if (get_string(before, {"volumeName"}).empty())
      now.erase("volumeName"), before.erase("volumeName");
    if (now != before)
      add_error(errs, K::forbidden, "spec",
                "spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims");
  };
  return k;
}

// ---- Event / ServiceAccount --------------------------------------------------------------

Kind event() {
  Kind k = new_kind(
      "", "Event", "events", true,
      kind_object(
          "io.k8s.api.core.v1.Event",
          {{"action", str()},
           {"count", integer()},
           {"eventTime", micro_timestamp()},
           {"firstTimestamp", timestamp()},
           {"involvedObject", object_reference().req()},
           {"lastTimestamp", timestamp()},
           {"message", str()},
           {"reason", str()},
           {"related", object_reference()},
           {"reportingComponent", str()},
           {"reportingInstance", str()},
           {"series", obj({{"count", integer()}, {"lastObservedTime", micro_timestamp()}})
                          .named("io.k8s.api.core.v1.EventSeries")},
           {"source",
            obj({{"component", str()}, {"host", str()}}).named("io.k8s.api.core.v1.EventSource")},
           {"type", str()}}),
      {"ev"});
  k.field_selectors = {"involvedObject.kind",
                       "involvedObject.namespace",
                       "involvedObject.name",
                       "involvedObject.uid",
                       "involvedObject.apiVersion",
                       "involvedObject.resourceVersion",
                       "involvedObject.fieldPath",
                       "reason",
                       "reportingComponent",
                       "source",
                       "type"};
  k.field_value = [](const Json& o, std::string_view f) -> std::optional<std::string> {
    if (f == "source") return get_string(o, {"source", "component"});
    return std::nullopt;
  };
  auto first_seen = [](const Json& o) {
    std::string t = get_string(o, {"firstTimestamp"});
    return since(t.empty() ? get_string(o, {"eventTime"}) : t);
  };
  // printEvent puts NAME last (-o wide); the table writer puts NAME first for every kind.
  k.columns = {
      col(
          "Last Seen", "string",
          [first_seen](const Json& o) {
            if (const Json* s = find_path(o, {"series", "lastObservedTime"}); s && s->is_string())
              return Json(since(s->get<std::string>()));
            std::string t = get_string(o, {"lastTimestamp"});
            return Json(t.empty() ? first_seen(o) : since(t));
          },
          0, "Time when this Event was last seen"),
      col(
          "Type", "string", [](const Json& o) { return Json(get_string(o, {"type"})); }, 0,
          "Type of this event (Normal, Warning), new types could be added in the future."),
      col(
          "Reason", "string", [](const Json& o) { return Json(get_string(o, {"reason"})); }, 0,
          "The reason this event was generated."),
      col(
          "Object", "string",
          [](const Json& o) {
            std::string kind = get_string(o, {"involvedObject", "kind"});
            for (auto& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string name = get_string(o, {"involvedObject", "name"});
            return Json(name.empty() ? kind : kind + "/" + name);
          },
          0, "The object this Event is about."),
      col(
          "Subobject", "string",
          [](const Json& o) {
            return Json(get_string(o, {"involvedObject", "fieldPath"}));
          },
          1, "The subobject this Event is about."),
      col(
          "Source", "string",
          [](const Json& o) {
            std::string c = get_string(o, {"source", "component"}),
                        h = get_string(o, {"source", "host"});
            if (c.empty()) c = get_string(o, {"reportingComponent"});
            if (h.empty()) h = get_string(o, {"reportingInstance"});
            return Json(h.empty() ? c : c + ", " + h);
          },
          1, "The component reporting this event."),
      col(
          "Message", "string",
          [](const Json& o) {
            std::string m = get_string(o, {"message"});
            auto b = m.find_first_not_of(" \t\r\n"), e = m.find_last_not_of(" \t\r\n");
            return Json(b == std::string::npos ? "" : m.substr(b, e - b + 1));
          },
          0, "A human-readable description of the status of this operation."),
      col(
          "First Seen", "string", [first_seen](const Json& o) { return Json(first_seen(o)); }, 1,
          "The time at which the event was first recorded."),
      col(
          "Count", "integer",
          [](const Json& o) {
            if (const Json* s = find_path(o, {"series", "count"}); s && s->is_number()) return *s;
            int64_t n = get_int(o, {"count"});
            return Json(n == 0 ? 1 : n);
          },
          1, "The number of times this event has occurred."),
  };
  k.validate = [](const Json& o, const Json*, FieldErrors& errs) {
    std::string ns = get_string(o, {"metadata", "namespace"});
    std::string involved = get_string(o, {"involvedObject", "namespace"});
    // Old clients record events about cluster-scoped objects in "default".
    bool ok = involved.empty() ? (ns.empty() || ns == "default") : ns == involved;
    if (!ok)
      add_error(errs, K::invalid, "involvedObject.namespace", "does not match event.namespace",
                involved);
  };
  return k;
}

Kind service_account() {
  Kind k = new_kind("", "ServiceAccount", "serviceaccounts", true,
                    kind_object("io.k8s.api.core.v1.ServiceAccount",
                                {{"automountServiceAccountToken", boolean()},
                                 {"imagePullSecrets", list(local_object_reference())},
                                 {"secrets", list(object_reference()).merge("name")}}),
                    {"sa"});
  k.columns = {col(
                   "Secrets", "integer",
                   [](const Json& o) { return Json(o.value("secrets", Json::array()).size()); }, 0,
                   "The number of secrets of the service account."),
               age_column()};
  return k;
}

}  // namespace

std::vector<Kind> core_kinds() {
  return {config_map(),        endpoints(), event(),
          namespace_kind(),    node(),      persistent_volume_claim_kind(),
          persistent_volume(), pod(),       secret(),
          service_account(),   service()};
}

}  // namespace k8c::api::detail
