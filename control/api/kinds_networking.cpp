// networking.k8s.io/v1 (Ingress, IngressClass), discovery.k8s.io/v1 (EndpointSlice) and
// coordination.k8s.io/v1 (Lease).
#include "control/api/kinds_internal.h"
#include "control/api/object.h"

#include <arpa/inet.h>

namespace k8c::api::detail {
namespace {

using K = FieldError::Kind;

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// ---- Ingress -------------------------------------------------------------------------------

S ingress_backend() {
  static const SchemaPtr s =
      obj({{"resource", typed_local_object_reference()},
           {"service", obj({{"name", str().req()},
                            {"port", obj({{"name", str()}, {"number", integer().min(1).max(65535)}})
                                         .named("io.k8s.api.networking.v1.ServiceBackendPort")}})
                           .named("io.k8s.api.networking.v1.IngressServiceBackend")}})
          .named("io.k8s.api.networking.v1.IngressBackend");
  return s;
}

void validate_backend(const Json& b, const std::string& path, FieldErrors& errs) {
  const Json* svc = find_path(b, {"service"});
  const Json* res = find_path(b, {"resource"});
  if (svc && res) {
    add_error(errs, K::invalid, path, "cannot set both service.name and resource backends", "");
  } else if (!svc && !res) {
    add_error(errs, K::invalid, path, "resource or service backend is required", "");
  } else if (svc) {
    const Json* port = find_path(*svc, {"port"});
    bool name = port && !get_string(*port, {"name"}).empty();
    bool number = port && get_int(*port, {"number"}) != 0;
    if (name && number)
      add_error(errs, K::invalid, path + ".service.port", "cannot set both port name & port number",
                *port);
    else if (!name && !number)
      add_error(errs, K::invalid, path + ".service.port", "port name or number is required",
                port ? *port : Json::object());
    else if (name)
      for (const auto& m : port_name_errors(get_string(*port, {"name"})))
        add_error(errs, K::invalid, path + ".service.port.name", m, (*port)["name"]);
  }
}

void validate_ingress(const Json& o, FieldErrors& errs) {
  const Json* spec = find_path(o, {"spec"});
  if (!spec || !spec->is_object()) return;
  const Json* rules = find_path(*spec, {"rules"});
  const Json* def = find_path(*spec, {"defaultBackend"});
  if (def) validate_backend(*def, "spec.defaultBackend", errs);
  if (!def && (!rules || !rules->is_array() || rules->empty()))
    add_error(errs, K::required, "spec.rules",
              "either `defaultBackend` or `rules` must be specified");
  if (!rules || !rules->is_array()) return;
  for (size_t i = 0; i < rules->size(); ++i) {
    const Json& rule = (*rules)[i];
    std::string p = "spec.rules[" + std::to_string(i) + "]";
    std::string host = get_string(rule, {"host"});
    if (!host.empty()) {
      if (is_ip(host))
        add_error(errs, K::invalid, p + ".host", "must be a DNS name, not an IP address", host);
      std::string check = host.rfind("*.", 0) == 0 ? host.substr(2) : host;
      if (!is_dns1123_subdomain(check))
        add_error(errs, K::invalid, p + ".host",
                  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character "
                  "(e.g. 'example.com', regex used for validation is "
                  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                  host);
    }
    const Json* http = find_path(rule, {"http"});
    if (!http) continue;
    const Json* paths = find_path(*http, {"paths"});
    if (!paths || !paths->is_array() || paths->empty()) {
      add_error(errs, K::required, p + ".http.paths");
      continue;
    }
    for (size_t j = 0; j < paths->size(); ++j) {
      const Json& path = (*paths)[j];
      std::string pp = p + ".http.paths[" + std::to_string(j) + "]";
      std::string type = get_string(path, {"pathType"});
      std::string value = get_string(path, {"path"});
      if ((type == "Exact" || type == "Prefix") && (value.empty() || value[0] != '/'))
        add_error(errs, K::invalid, pp + ".path", "must be an absolute path", value);
      if ((type == "Exact" || type == "Prefix") && value.find("//") != std::string::npos)
        add_error(errs, K::invalid, pp + ".path", "must not contain '//'", value);
      if (const Json* b = find_path(path, {"backend"})) validate_backend(*b, pp + ".backend", errs);
    }
  }
}

Kind ingress() {
  static const SchemaPtr lb_ingress =
      obj({{"hostname", str()}, {"ip", str()}, {"ports", list(any())}})
          .named("io.k8s.api.networking.v1.IngressLoadBalancerIngress");
  S path = obj({{"backend", ingress_backend().req()},
                {"path", str()},
                {"pathType", str().req().oneof({"Exact", "Prefix", "ImplementationSpecific"})}})
               .named("io.k8s.api.networking.v1.HTTPIngressPath");
  S rule = obj({{"host", str()},
                {"http", obj({{"paths", list(path).req()}})
                             .named("io.k8s.api.networking.v1.HTTPIngressRuleValue")}})
               .named("io.k8s.api.networking.v1.IngressRule");
  S spec = obj({{"defaultBackend", ingress_backend()},
                {"ingressClassName", str()},
                {"rules", list(rule)},
                {"tls", list(obj({{"hosts", string_list()}, {"secretName", str()}})
                                 .named("io.k8s.api.networking.v1.IngressTLS"))}})
               .named("io.k8s.api.networking.v1.IngressSpec");
  S status =
      obj({{"loadBalancer", obj({{"ingress", list(lb_ingress)}})
                                .named("io.k8s.api.networking.v1.IngressLoadBalancerStatus")}})
          .named("io.k8s.api.networking.v1.IngressStatus");
  Kind k = new_kind(
      "networking.k8s.io", "Ingress", "ingresses", true,
      kind_object("io.k8s.api.networking.v1.Ingress", {{"spec", spec}, {"status", status}}),
      {"ing"});
  k.has_status = true;
  k.columns = {
      col(
          "Class", "string",
          [](const Json& o) {
            std::string c = get_string(o, {"spec", "ingressClassName"});
            return Json(c.empty() ? "<none>" : c);
          },
          0, "The name of the IngressClass resource that should be used for ingress class."),
      col(
          "Hosts", "string",
          [](const Json& o) {
            std::vector<std::string> hosts;
            const Json* rules = find_path(o, {"spec", "rules"});
            size_t n = rules && rules->is_array() ? rules->size() : 0;
            const size_t max = 3;
            bool more = false;
            for (size_t i = 0; i < n; ++i) {
              if (hosts.size() == max) more = true;
              std::string h = get_string((*rules)[i], {"host"});
              if (!more && !h.empty()) hosts.push_back(h);
            }
            if (hosts.empty()) return Json("*");
            std::string s = join(hosts);
            if (more) s += " + " + std::to_string(n - max) + " more...";
            return Json(s);
          },
          0, "Hosts that incoming requests are matched against before the ingress rule"),
      col(
          "Address", "string",
          [](const Json& o) {
            return Json(load_balancer_ingress(find_path(o, {"status", "loadBalancer"})));
          },
          0, "Address is a list containing ingress points for the load-balancer"),
      col(
          "Ports", "string",
          [](const Json& o) {
            const Json* tls = find_path(o, {"spec", "tls"});
            return Json(tls && tls->is_array() && !tls->empty() ? "80, 443" : "80");
          },
          0, "Ports of TLS configurations that open"),
      age_column()};
  k.validate = [](const Json& o, const Json*, FieldErrors& errs) { validate_ingress(o, errs); };
  return k;
}

Kind ingress_class() {
  S spec =
      obj({{"controller", str().max_len(250)},
           {"parameters", obj({{"apiGroup", str()},
                               {"kind", str().req()},
                               {"name", str().req()},
                               {"namespace", str()},
                               {"scope", str().oneof({"Cluster", "Namespace"})}})
                              .named("io.k8s.api.networking.v1.IngressClassParametersReference")}})
          .named("io.k8s.api.networking.v1.IngressClassSpec");
  Kind k = new_kind("networking.k8s.io", "IngressClass", "ingressclasses", false,
                    kind_object("io.k8s.api.networking.v1.IngressClass", {{"spec", spec}}));
  k.columns = {col(
                   "Controller", "string",
                   [](const Json& o) {
                     return Json(get_string(o, {"spec", "controller"}));
                   },
                   0, "Controller that is responsible for handling this class"),
               col(
                   "Parameters", "string",
                   [](const Json& o) {
                     const Json* p = find_path(o, {"spec", "parameters"});
                     if (!p) return Json("<none>");
                     std::string s = get_string(*p, {"kind"});
                     if (const Json* g = find_path(*p, {"apiGroup"}); g && g->is_string())
                       s.append(".").append(g->get_ref<const std::string&>());
                     return Json(s.append("/").append(get_string(*p, {"name"})));
                   },
                   0, "A reference to a resource with additional parameters"),
               age_column()};
  k.defaults = [](Json& o) {
    if (!o.contains("spec") || !o["spec"].is_object()) return;
    Json& spec = o["spec"];
    if (spec.contains("parameters") && spec["parameters"].is_object() &&
        !spec["parameters"].contains("scope"))
      spec["parameters"]["scope"] = "Cluster";
  };
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    if (old && get_string(*old, {"spec", "controller"}) != get_string(o, {"spec", "controller"}))
      add_error(errs, K::invalid, "spec.controller", "field is immutable",
                get_string(o, {"spec", "controller"}));
    const Json* p = find_path(o, {"spec", "parameters"});
    if (!p) return;
    std::string scope = get_string(*p, {"scope"});
    bool has_ns = !get_string(*p, {"namespace"}).empty();
    if (scope == "Namespace" && !has_ns)
      add_error(errs, K::required, "spec.parameters.namespace",
                "`parameters.scope` is set to 'Namespace'");
    if (scope == "Cluster" && has_ns)
      add_error(errs, K::forbidden, "spec.parameters.namespace",
                "`parameters.scope` is set to 'Cluster'");
  };
  return k;
}

// ---- EndpointSlice -------------------------------------------------------------------------

std::string list_with_more(const std::vector<std::string>& list, bool more, size_t count,
                           size_t max) {
  std::string s = join(list);
  if (more) return s + " + " + std::to_string(count - max) + " more...";
  return s.empty() ? "<unset>" : s;
}

Kind endpoint_slice() {
  S endpoint =
      obj({{"addresses", list(str()).merge_set().req()},
           {"conditions",
            obj({{"ready", boolean()}, {"serving", boolean()}, {"terminating", boolean()}})
                .named("io.k8s.api.discovery.v1.EndpointConditions")},
           {"deprecatedTopology", string_map()},
           {"hints",
            obj({{"forNodes",
                  list(obj({{"name", str().req()}}).named("io.k8s.api.discovery.v1.ForNode"))},
                 {"forZones",
                  list(obj({{"name", str().req()}}).named("io.k8s.api.discovery.v1.ForZone"))}})
                .named("io.k8s.api.discovery.v1.EndpointHints")},
           {"hostname", str()},
           {"nodeName", str()},
           {"targetRef", object_reference()},
           {"zone", str()}})
          .named("io.k8s.api.discovery.v1.Endpoint");
  S port = obj({{"appProtocol", str()},
                {"name", str().def("")},
                {"port", integer()},
                {"protocol", str().def("TCP").oneof({"TCP", "UDP", "SCTP"})}})
               .named("io.k8s.api.discovery.v1.EndpointPort");
  Kind k = new_kind(
      "discovery.k8s.io", "EndpointSlice", "endpointslices", true,
      kind_object("io.k8s.api.discovery.v1.EndpointSlice",
                  {{"addressType", str().req().oneof({"IPv4", "IPv6", "FQDN"}).immutable()},
                   {"endpoints", list(endpoint).req()},
                   {"ports", list(port)}}));
  k.columns = {col(
                   "AddressType", "string",
                   [](const Json& o) { return Json(get_string(o, {"addressType"})); }, 0,
                   "Type of address contained in the EndpointSlice"),
               col(
                   "Ports", "string",
                   [](const Json& o) {
                     std::vector<std::string> out;
                     size_t count = 0;
                     bool more = false;
                     if (const Json* ps = find_path(o, {"ports"}); ps && ps->is_array())
                       for (const auto& p : *ps) {
                         if (out.size() < 3) {
                           const Json* n = find_path(p, {"port"});
                           std::string name = get_string(p, {"name"});
                           out.push_back(n && n->is_number() ? std::to_string(n->get<int64_t>())
                                         : name.empty()      ? "*"
                                                             : name);
                         } else {
                           more = true;
                         }
                         ++count;
                       }
                     return Json(list_with_more(out, more, count, 3));
                   },
                   0, "Ports present in the EndpointSlice"),
               col(
                   "Endpoints", "string",
                   [](const Json& o) {
                     std::vector<std::string> out;
                     size_t count = 0;
                     bool more = false;
                     if (const Json* es = find_path(o, {"endpoints"}); es && es->is_array())
                       for (const auto& e : *es)
                         if (const Json* as = find_path(e, {"addresses"}); as && as->is_array())
                           for (const auto& a : *as) {
                             if (out.size() < 3)
                               out.push_back(a.is_string() ? a.get<std::string>() : "");
                             else
                               more = true;
                             ++count;
                           }
                     return Json(list_with_more(out, more, count, 3));
                   },
                   0, "Endpoints present in the EndpointSlice"),
               age_column()};
  k.validate = [](const Json& o, const Json* old, FieldErrors& errs) {
    std::string type = get_string(o, {"addressType"});
    if (old && get_string(*old, {"addressType"}) != type)
      add_error(errs, K::invalid, "addressType", "field is immutable", type);
    const Json* es = find_path(o, {"endpoints"});
    if (!es || !es->is_array()) return;
    if (es->size() > 1000)
      add_error(errs, K::too_long, "endpoints", "must have at most 1000 items");
    for (size_t i = 0; i < es->size(); ++i) {
      const Json* as = find_path((*es)[i], {"addresses"});
      std::string p = "endpoints[" + std::to_string(i) + "].addresses";
      if (!as || !as->is_array() || as->empty()) {
        add_error(errs, K::required, p, "must contain at least 1 address");
        continue;
      }
      for (size_t j = 0; j < as->size(); ++j) {
        std::string a = (*as)[j].is_string() ? (*as)[j].get<std::string>() : "";
        unsigned char buf[16];
        bool ok = type == "IPv4"   ? inet_pton(AF_INET, a.c_str(), buf) == 1
                  : type == "IPv6" ? inet_pton(AF_INET6, a.c_str(), buf) == 1
                                   : is_dns1123_subdomain(a);
        if (!ok)
          add_error(errs, K::invalid, p + "[" + std::to_string(j) + "]",
                    type == "FQDN" ? "must be a valid DNS subdomain"
                                   : "must be a valid " + type + " address",
                    a);
      }
    }
  };
  return k;
}

// ---- Lease ---------------------------------------------------------------------------------

Kind lease() {
  S spec = obj({{"acquireTime", micro_timestamp()},
                {"holderIdentity", str()},
                {"leaseDurationSeconds", integer()},
                {"leaseTransitions", integer()},
                {"preferredHolder", str()},
                {"renewTime", micro_timestamp()},
                {"strategy", str()}})
               .named("io.k8s.api.coordination.v1.LeaseSpec");
  Kind k = new_kind("coordination.k8s.io", "Lease", "leases", true,
                    kind_object("io.k8s.api.coordination.v1.Lease", {{"spec", spec}}));
  k.columns = {col(
                   "Holder", "string",
                   [](const Json& o) {
                     return Json(get_string(o, {"spec", "holderIdentity"}));
                   },
                   0, "The holder of the lease"),
               age_column()};
  k.validate = [](const Json& o, const Json*, FieldErrors& errs) {
    const Json* duration = find_path(o, {"spec", "leaseDurationSeconds"});
    if (duration && duration->is_number() && duration->get<int64_t>() <= 0)
      add_error(errs, K::invalid, "spec.leaseDurationSeconds", "must be greater than 0", *duration);
    const Json* transitions = find_path(o, {"spec", "leaseTransitions"});
    if (transitions && transitions->is_number() && transitions->get<int64_t>() < 0)
      add_error(errs, K::invalid, "spec.leaseTransitions", "must be greater than or equal to 0",
                *transitions);
  };
  return k;
}

}  // namespace

std::vector<Kind> networking_kinds() {
  return {ingress_class(), ingress(), endpoint_slice(), lease()};
}

}  // namespace k8c::api::detail
