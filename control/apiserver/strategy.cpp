// Kind-specific behaviour around writes, as Kubernetes' registry strategies do it: status
// reset on create, status preserved on spec updates, Service ClusterIP and NodePort allocation.
#include "control/apiserver/codec.h"
#include "control/apiserver/impl.h"

#include <arpa/inet.h>

#include <set>

namespace k8c::apiserver {

namespace {

std::string pod_qos_class(const Json& pod) {
  bool any = false, guaranteed = true;
  const Json* containers = find_path(pod, {"spec", "containers"});
  if (!containers || !containers->is_array()) return "BestEffort";
  for (const auto& ctr : *containers) {
    const Json* req = find_path(ctr, {"resources", "requests"});
    const Json* lim = find_path(ctr, {"resources", "limits"});
    if ((req && !req->empty()) || (lim && !lim->empty())) any = true;
    for (const char* r : {"cpu", "memory"}) {
      const Json* l = lim ? find_path(*lim, {r}) : nullptr;
      const Json* q = req ? find_path(*req, {r}) : nullptr;
      if (!l || (q && *q != *l)) guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

}  // namespace

bool ApiServer::Impl::prepare_create(const CallPtr& c, Json& obj, ApiError&) {
  const api::Kind& k = *c->kind;
  if (!k.has_status || k.kind == "Node") return true;  // nodes report their own status on create
  if (k.kind == "Pod")
    obj["status"] = {{"phase", "Pending"}, {"qosClass", pod_qos_class(obj)}};
  else if (k.kind == "Namespace")
    obj["status"] = {{"phase", "Active"}};
  else if (k.kind == "PersistentVolume" || k.kind == "PersistentVolumeClaim")
    obj["status"] = {{"phase", "Pending"}};
  else if (k.kind == "Service" || k.kind == "Ingress")
    obj["status"] = {{"loadBalancer", Json::object()}};
  else
    obj["status"] = Json::object();
  return true;
}

void ApiServer::Impl::prepare_update(const CallPtr& c, Json& obj, const Json& old) {
  const api::Kind& k = *c->kind;
  if (!k.has_status) return;
  if (c->info.subresource == "status") {
    // /status changes the status only; the rest comes from the stored object.
    Json next = old;
    next["status"] = obj.contains("status") ? obj["status"] : Json::object();
    next["metadata"]["resourceVersion"] = obj["metadata"].value("resourceVersion", "");
    if (next["metadata"]["resourceVersion"] == "") next["metadata"].erase("resourceVersion");
    obj = std::move(next);
    return;
  }
  if (old.contains("status"))
    obj["status"] = old["status"];
  else
    obj.erase("status");
  // metadata.generation moves with every spec change.
  const Json* new_spec = find_path(obj, {"spec"});
  const Json* old_spec = find_path(old, {"spec"});
  bool spec_changed = (new_spec == nullptr) != (old_spec == nullptr) ||
                      (new_spec && old_spec && *new_spec != *old_spec);
  int64_t gen = old["metadata"].value("generation", int64_t{1});
  obj["metadata"]["generation"] = spec_changed ? gen + 1 : gen;
}

namespace {

struct Cidr {
  uint32_t base = 0;
  uint32_t size = 0;
};

std::optional<Cidr> parse_cidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  in_addr a{};
  if (inet_pton(AF_INET, s.substr(0, slash).c_str(), &a) != 1) return std::nullopt;
  int bits = std::stoi(s.substr(slash + 1));
  if (bits < 8 || bits > 30) return std::nullopt;
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return Cidr{ntohl(a.s_addr) & mask, uint32_t{1} << (32 - bits)};
}

std::string ip_string(uint32_t ip) {
  in_addr a{htonl(ip)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::optional<uint32_t> parse_ip(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

ApiError alloc_error(const Json& obj, const std::string& field, const Json& value,
                     const std::string& why) {
  return invalid("", "Service", get_string(obj, {"metadata", "name"}),
                 {{api::FieldError::Kind::invalid, field,
                   "Invalid value: " + value.dump() + ": " + why, value}});
}

}  // namespace

std::optional<ApiError> ApiServer::Impl::allocate_service(Json& obj, const Json* old) {
  auto cidr = parse_cidr(options.service_cidr);
  if (!cidr) return internal_error("bad service CIDR " + options.service_cidr);
  const api::Kind* svc_kind = api::find_by_kind("", "v1", "Service");
  std::string self_key = object_key(*svc_kind, get_string(obj, {"metadata", "namespace"}),
                                    get_string(obj, {"metadata", "name"}));
  std::set<uint32_t> used_ips;
  std::set<int64_t> used_ports;
  int64_t rev = 0;
  for (const auto& o : cache.list(resource_prefix(*svc_kind), &rev)) {
    if (o.key == self_key) continue;
    Json other = Json::parse(*o.bytes);
    if (auto ip = parse_ip(get_string(other, {"spec", "clusterIP"}))) used_ips.insert(*ip);
    if (const Json* ports = find_path(other, {"spec", "ports"}))
      for (const auto& p : *ports)
        if (p.contains("nodePort")) used_ports.insert(p["nodePort"].get<int64_t>());
    if (const Json* h = find_path(other, {"spec", "healthCheckNodePort"}))
      used_ports.insert(h->get<int64_t>());
  }

  Json& spec = obj["spec"];
  std::string type = spec.value("type", "ClusterIP");
  if (type == "ExternalName") {
    spec.erase("clusterIP");
    spec.erase("clusterIPs");
  } else {
    std::string want = spec.value("clusterIP", "");
    std::string had = old ? get_string(*old, {"spec", "clusterIP"}) : "";
    if (want.empty() && !had.empty()) want = had;
    if (!had.empty() && want != had)
      return alloc_error(obj, "spec.clusterIPs[0]", want, "may not change once set");
    if (want.empty()) {
      // .0 is the network and .1 the kubernetes Service; allocate from .10 on, in order.
      for (uint32_t off = 10; off + 1 < cidr->size; ++off) {
        if (!used_ips.count(cidr->base + off)) {
          want = ip_string(cidr->base + off);
          break;
        }
      }
      if (want.empty()) return alloc_error(obj, "spec.clusterIPs", Json::array(), "range is full");
    } else if (want != "None") {
      auto ip = parse_ip(want);
      if (!ip || *ip < cidr->base || *ip >= cidr->base + cidr->size)
        return alloc_error(obj, "spec.clusterIPs", Json::array({want}),
                           "failed to allocate IP " + want + ": the provided IP (" + want +
                               ") is not in the valid range. The range of valid IPs is " +
                               options.service_cidr);
      if (used_ips.count(*ip) && had != want)
        return alloc_error(obj, "spec.clusterIPs", Json::array({want}),
                           "failed to allocate IP " + want + ": provided IP is already allocated");
    }
    spec["clusterIP"] = want;
    spec["clusterIPs"] = Json::array({want});
  }

  bool node_ports = type == "NodePort" || type == "LoadBalancer";
  int64_t next = options.node_port_min;
  auto allocate_port = [&]() -> int64_t {
    while (next <= options.node_port_max && used_ports.count(next)) ++next;
    if (next > options.node_port_max) return 0;
    used_ports.insert(next);
    return next;
  };
  if (spec.contains("ports") && spec["ports"].is_array()) {
    for (size_t i = 0; i < spec["ports"].size(); ++i) {
      Json& p = spec["ports"][i];
      if (!node_ports) {
        p.erase("nodePort");
        continue;
      }
      if (!p.contains("nodePort") && old) {
        // Keep the port the Service already had for the same port number.
        if (const Json* old_ports = find_path(*old, {"spec", "ports"}))
          for (const auto& op : *old_ports)
            if (op.value("port", 0) == p.value("port", -1) && op.contains("nodePort"))
              p["nodePort"] = op["nodePort"];
      }
      if (p.contains("nodePort")) {
        int64_t np = p["nodePort"].get<int64_t>();
        std::string field = "spec.ports[" + std::to_string(i) + "].nodePort";
        if (np < options.node_port_min || np > options.node_port_max)
          return alloc_error(
              obj, field, np,
              "provided port is not in the valid range. The range of valid ports is " +
                  std::to_string(options.node_port_min) + "-" +
                  std::to_string(options.node_port_max));
        if (used_ports.count(np))
          return alloc_error(obj, field, np, "provided port is already allocated");
        used_ports.insert(np);
      } else {
        int64_t np = allocate_port();
        if (!np) return alloc_error(obj, "spec.ports", Json::array(), "node port range is full");
        p["nodePort"] = np;
      }
    }
  }
  bool local = type == "LoadBalancer" && spec.value("externalTrafficPolicy", "Cluster") == "Local";
  if (local && !spec.contains("healthCheckNodePort")) {
    int64_t hc = old && find_path(*old, {"spec", "healthCheckNodePort"})
                     ? (*old)["spec"]["healthCheckNodePort"].get<int64_t>()
                     : allocate_port();
    if (!hc) return alloc_error(obj, "spec.healthCheckNodePort", Json(), "node port range is full");
    spec["healthCheckNodePort"] = hc;
  } else if (!local) {
    spec.erase("healthCheckNodePort");
  }
  return std::nullopt;
}

}  // namespace k8c::apiserver
