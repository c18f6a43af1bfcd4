#include "dataplane/sync.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace k8c::dp {

namespace {

const Json* member(const Json* obj, std::string_view key) {
  if (!obj || !obj->is_object()) return nullptr;
  auto it = obj->find(key);
  return it == obj->end() || it->is_null() ? nullptr : &*it;
}

std::string str(const Json* obj, std::string_view key, std::string fallback = {}) {
  const Json* v = member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : fallback;
}

// A JSON integer in [lo, hi], or nullopt (absent, wrong type or out of range).
std::optional<int64_t> int_in(const Json* v, int64_t lo, int64_t hi) {
  if (!v || !v->is_number_integer()) return std::nullopt;
  int64_t n = v->get<int64_t>();
  if (n < lo || n > hi) return std::nullopt;
  return n;
}

// A condition of an EndpointSlice endpoint: true, false, or absent (null).
std::optional<bool> condition(const Json* conds, std::string_view key) {
  const Json* v = member(conds, key);
  if (!v || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

std::string ip_str(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

bool looks_ipv6(std::string_view s) {
  return s.find(':') != std::string_view::npos;
}

// Kubernetes spells protocols in capitals; a missing one means TCP.
std::optional<uint8_t> parse_protocol(const std::string& p) {
  if (p.empty() || p == "TCP") return proto::kTcp;
  if (p == "UDP") return proto::kUdp;
  return std::nullopt;
}

struct SvcPort {
  std::string name;
  uint8_t proto;
  uint16_t port;
  uint16_t node_port;
  std::optional<uint16_t> target_number;  // targetPort as a number (or the port when absent)
  std::string target_name;                // targetPort as a name
};

}  // namespace

std::optional<uint32_t> parse_ipv4(std::string_view s) {
  uint32_t ip = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return std::nullopt;
    uint32_t v = 0;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + static_cast<uint32_t>(s[i] - '0');
      if (v > 255 || i - start >= 3) return std::nullopt;
      ++i;
    }
    if (i - start > 1 && s[start] == '0') return std::nullopt;  // no octal-looking "010"
    ip = ip << 8 | v;
    if (++parts < 4) {
      if (i >= s.size() || s[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != s.size()) return std::nullopt;
  return ip;
}

std::vector<HealthCheckSpec> health_checks(std::span<const ObjectRef> services,
                                           std::span<const ObjectRef> slices,
                                           const std::string& node_name,
                                           std::vector<std::string>* problems) {
  std::map<std::string, HealthCheckSpec> wanted;  // by "ns/name"
  for (const ObjectRef& obj : services) {
    if (!obj) continue;
    const Json* meta = member(obj.get(), "metadata");
    const Json* spec = member(obj.get(), "spec");
    std::string ns = str(meta, "namespace", "default"), name = str(meta, "name");
    if (name.empty() || str(spec, "externalTrafficPolicy") != "Local") continue;
    std::string type = str(spec, "type", "ClusterIP");
    if (type != "LoadBalancer" && type != "NodePort") continue;
    const Json* hc = member(spec, "healthCheckNodePort");
    if (!hc) continue;
    auto port = int_in(hc, 1, 65535);
    if (!port) {
      if (problems)
        problems->push_back(ns + "/" + name +
                            ": healthCheckNodePort must be 1..65535: no health check");
      continue;
    }
    wanted[ns + "/" + name] = {ns, name, static_cast<uint16_t>(*port), 0};
  }
  // Local endpoints, as kube-proxy counts them: ready ones on this node, each address once
  // (an endpoint appears once per slice port set, and may be mid-move between two slices).
  std::map<std::string, std::set<std::string>> local;
  for (const ObjectRef& s : slices) {
    if (!s || str(s.get(), "addressType") != "IPv4") continue;
    const Json* meta = member(s.get(), "metadata");
    std::string key = str(meta, "namespace", "default") + "/" +
                      str(member(meta, "labels"), "kubernetes.io/service-name");
    if (!wanted.count(key)) continue;
    const Json* eps = member(s.get(), "endpoints");
    if (!eps || !eps->is_array()) continue;
    for (const Json& ep : *eps) {
      if (node_name.empty() || str(&ep, "nodeName") != node_name) continue;
      const Json* conds = member(&ep, "conditions");
      bool ready = condition(conds, "ready").value_or(true);
      bool term = condition(conds, "terminating").value_or(false);
      const Json* addrs = member(&ep, "addresses");
      if (!ready || term || !addrs || !addrs->is_array() || addrs->empty() ||
          !(*addrs)[0].is_string())
        continue;
      local[key].insert((*addrs)[0].get<std::string>());
    }
  }
  std::map<uint16_t, HealthCheckSpec> by_port;
  for (auto& [key, hc] : wanted) {  // in name order: the first by name keeps a shared port
    hc.local_endpoints = static_cast<uint32_t>(local[key].size());
    auto [it, fresh] = by_port.emplace(hc.port, hc);
    if (!fresh && problems)
      problems->push_back(key + ": healthCheckNodePort " + std::to_string(hc.port) +
                          " is already " + it->second.ns + "/" + it->second.name +
                          "'s: no health check");
  }
  std::vector<HealthCheckSpec> out;
  for (auto& [port, hc] : by_port) out.push_back(std::move(hc));
  return out;
}

Translation Translator::translate(std::span<const ObjectRef> services,
                                  std::span<const ObjectRef> slices,
                                  std::span<const ObjectRef> nodes, uint64_t now_ns) {
  Translation out;

  // The node address: the flag wins, else this Node's InternalIP, else its ExternalIP.
  out.node_ip = opts_.node_ip;
  if (!out.node_ip) {
    for (const ObjectRef& n : nodes) {
      if (!n || str(member(n.get(), "metadata"), "name") != opts_.node_name) continue;
      const Json* addrs = member(member(n.get(), "status"), "addresses");
      uint32_t internal = 0, external = 0;
      if (addrs && addrs->is_array()) {
        for (const Json& a : *addrs) {
          auto ip = parse_ipv4(str(&a, "address"));
          if (!ip) continue;
          std::string type = str(&a, "type");
          if (type == "InternalIP" && !internal) internal = *ip;
          if (type == "ExternalIP" && !external) external = *ip;
        }
      }
      out.node_ip = internal ? internal : external;
      if (!out.node_ip)
        out.problems.push_back("node " + opts_.node_name +
                               ": no IPv4 InternalIP or ExternalIP address; NodePorts are off");
    }
  }

  // EndpointSlices by the Service they belong to ("ns/name").
  std::unordered_map<std::string, std::vector<const Json*>> slices_of;
  for (const ObjectRef& s : slices) {
    if (!s) continue;
    const Json* meta = member(s.get(), "metadata");
    std::string owner = str(member(meta, "labels"), "kubernetes.io/service-name");
    if (owner.empty()) continue;  // not a Service's slice (e.g. a mirror without its label)
    // IPv6 and FQDN slices: the data plane forwards IPv4 only, and skipping is not an error.
    if (str(s.get(), "addressType") != "IPv4") continue;
    slices_of[str(meta, "namespace", "default") + "/" + owner].push_back(s.get());
  }

  std::map<std::string, uint32_t> ids;
  std::map<std::string, uint64_t> terminating;
  std::vector<ServiceSpec> specs;

  for (const ObjectRef& obj : services) {
    if (!obj) continue;
    const Json* meta = member(obj.get(), "metadata");
    std::string ns = str(meta, "namespace", "default"), name = str(meta, "name");
    std::string key = ns + "/" + name;
    auto problem = [&](const std::string& what) { out.problems.push_back(key + ": " + what); };
    if (name.empty()) {
      out.problems.push_back("a Service without metadata.name: skipped");
      continue;
    }
    const Json* spec = member(obj.get(), "spec");
    if (!spec || !spec->is_object()) {
      problem("no spec: skipped");
      continue;
    }
    std::string type = str(spec, "type", "ClusterIP");
    if (type == "ExternalName") continue;  // a DNS alias: nothing to forward
    if (type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer") {
      problem("unknown type " + type + ": skipped");
      continue;
    }

    // The first IPv4 of clusterIPs (dual-stack lists both families), else clusterIP.
    uint32_t cluster_ip = 0;
    std::vector<std::string> candidates;
    if (const Json* ips = member(spec, "clusterIPs"); ips && ips->is_array())
      for (const Json& v : *ips)
        if (v.is_string()) candidates.push_back(v.get<std::string>());
    if (candidates.empty()) candidates.push_back(str(spec, "clusterIP"));
    bool ipv6 = false;
    for (const std::string& c : candidates) {
      if (c.empty() || c == "None") continue;
      if (looks_ipv6(c)) {
        ipv6 = true;
        continue;
      }
      if (auto ip = parse_ipv4(c)) {
        cluster_ip = *ip;
        break;
      }
      problem("clusterIP '" + c + "' is not an IPv4 address");
    }
    // A dual-stack Service works on its IPv4 side. An IPv6-only one is skipped whole, NodePort
    // included, as kube-proxy's IPv4 proxier skips it.
    if (ipv6 && cluster_ip == 0) {
      problem("only IPv6 cluster IPs: skipped (the data plane forwards IPv4 only)");
      continue;
    }

    bool external_frontends = type == "NodePort" || type == "LoadBalancer";
    std::vector<uint32_t> lb_ips;
    auto add_lb = [&](const std::string& s, const char* what) {
      if (s.empty() || looks_ipv6(s)) return;
      auto ip = parse_ipv4(s);
      if (!ip) return problem(std::string(what) + " '" + s + "' is not an IPv4 address");
      if (std::find(lb_ips.begin(), lb_ips.end(), *ip) == lb_ips.end()) lb_ips.push_back(*ip);
    };
    if (type == "LoadBalancer") {
      const Json* ingress = member(member(member(obj.get(), "status"), "loadBalancer"), "ingress");
      if (ingress && ingress->is_array())
        for (const Json& in : *ingress) add_lb(str(&in, "ip"), "status.loadBalancer.ingress ip");
    }
    // kube-proxy treats spec.externalIPs as external frontends on the Service's port too.
    if (const Json* ext = member(spec, "externalIPs"); ext && ext->is_array())
      for (const Json& v : *ext)
        if (v.is_string()) add_lb(v.get<std::string>(), "externalIPs entry");

    bool affinity = str(spec, "sessionAffinity") == "ClientIP";
    uint64_t affinity_timeout = 10800;
    if (affinity) {
      const Json* t =
          member(member(member(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds");
      if (t) {
        if (auto v = int_in(t, 1, 86400))
          affinity_timeout = static_cast<uint64_t>(*v);
        else
          problem("sessionAffinityConfig.clientIP.timeoutSeconds must be 1..86400; using 10800");
      }
    }
    auto policy = [&](const char* field) {
      std::string p = str(spec, field);
      if (p == "Local") return TrafficPolicy::kLocal;
      if (!p.empty() && p != "Cluster") problem(std::string(field) + " '" + p + "': using Cluster");
      return TrafficPolicy::kCluster;
    };
    TrafficPolicy ext_policy = policy("externalTrafficPolicy");
    TrafficPolicy int_policy = policy("internalTrafficPolicy");

    std::vector<SvcPort> ports;
    const Json* jports = member(spec, "ports");
    if (jports && !jports->is_array()) problem("spec.ports is not a list");
    if (jports && jports->is_array()) {
      for (const Json& jp : *jports) {
        SvcPort p{};
        p.name = str(&jp, "name");
        std::string what = "port " + (p.name.empty() ? std::to_string(ports.size()) : p.name);
        auto pr = parse_protocol(str(&jp, "protocol"));
        if (!pr) {
          problem(what + ": protocol " + str(&jp, "protocol") + " is not supported (TCP, UDP)");
          continue;
        }
        p.proto = *pr;
        auto port = int_in(member(&jp, "port"), 1, 65535);
        if (!port) {
          problem(what + ": port must be 1..65535: skipped");
          continue;
        }
        p.port = static_cast<uint16_t>(*port);
        if (external_frontends) {
          if (const Json* np = member(&jp, "nodePort")) {
            if (auto v = int_in(np, 0, 65535))
              p.node_port = static_cast<uint16_t>(*v);
            else
              problem(what + ": nodePort must be 1..65535: no NodePort");
          }
        }
        const Json* tp = member(&jp, "targetPort");
        if (!tp) {
          p.target_number = p.port;
        } else if (tp->is_string()) {
          // IntOrString: "8080" written as a string is still a number.
          std::string s = tp->get<std::string>();
          bool digits = !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), [](char c) {
            return c >= '0' && c <= '9';
          });
          if (digits && std::stoi(s) >= 1 && std::stoi(s) <= 65535)
            p.target_number = static_cast<uint16_t>(std::stoi(s));
          else
            p.target_name = s;
        } else if (auto v = int_in(tp, 1, 65535)) {
          p.target_number = static_cast<uint16_t>(*v);
        } else {
          problem(what + ": targetPort must be 1..65535 or a port name: skipped");
          continue;
        }
        ports.push_back(std::move(p));
      }
    }

    auto sit = slices_of.find(key);
    for (const SvcPort& p : ports) {
      ServiceSpec s;
      std::string id_key = key + "/" + p.name + "/" + std::to_string(p.port) + "/" +
                           (p.proto == proto::kTcp ? "TCP" : "UDP");
      auto known = ids_.find(id_key);
      s.id = known != ids_.end() ? known->second : next_id_++;
      ids[id_key] = s.id;
      s.name = key + ":" + (p.name.empty() ? std::to_string(p.port) : p.name);
      s.proto = p.proto;
      s.cluster_ip = cluster_ip;
      s.port = p.port;
      s.node_port = p.node_port;
      s.load_balancer_ips = lb_ips;
      s.affinity_client_ip = affinity;
      s.affinity_timeout_ns = affinity_timeout * kNsPerSec;
      s.external_policy = ext_policy;
      s.internal_policy = int_policy;
      s.drain_timeout_ns = opts_.drain_timeout_ns;
      s.maglev_size = opts_.maglev_size;

      if (sit != slices_of.end()) {
        for (const Json* slice : sit->second) {
          std::string slice_name = str(member(slice, "metadata"), "name");
          const Json* sports = member(slice, "ports");
          if (!sports || !sports->is_array()) continue;
          // The slice port of this Service port: by name, as kube-proxy matches them. Slices
          // written by hand for selector-less Services often name the port after the
          // container's, or leave it unnamed: a port named like targetPort, or one whose number
          // is targetPort, is accepted when no name matches.
          const Json* match = nullptr;
          for (int pass = 0; pass < 3 && !match; ++pass) {
            for (const Json& sp : *sports) {
              auto spr = parse_protocol(str(&sp, "protocol"));
              if (!spr || *spr != p.proto) continue;
              std::string n = str(&sp, "name");
              auto num = int_in(member(&sp, "port"), 1, 65535);
              if ((pass == 0 && n == p.name) ||
                  (pass == 1 && !p.target_name.empty() && n == p.target_name) ||
                  (pass == 2 && p.target_number && num && *num == *p.target_number)) {
                match = &sp;
                break;
              }
            }
          }
          if (!match) continue;
          auto bport = int_in(member(match, "port"), 1, 65535);
          if (!bport) {
            problem("EndpointSlice " + slice_name + " port " + str(match, "name") +
                    " has no port number 1..65535: skipped");
            continue;
          }
          const Json* eps = member(slice, "endpoints");
          if (!eps || !eps->is_array()) continue;
          for (const Json& ep : *eps) {
            const Json* addrs = member(&ep, "addresses");
            if (!addrs || !addrs->is_array() || addrs->empty() || !(*addrs)[0].is_string()) {
              problem("EndpointSlice " + slice_name + ": an endpoint without addresses: skipped");
              continue;
            }
            // All addresses of an endpoint are one pod; kube-proxy uses the first.
            std::string a = (*addrs)[0].get<std::string>();
            auto ip = parse_ipv4(a);
            if (!ip) {
              problem("EndpointSlice " + slice_name + ": address '" + a +
                      "' is not an IPv4 address: skipped");
              continue;
            }
            const Json* conds = member(&ep, "conditions");
            // API semantics: unknown readiness counts as ready, serving defaults to ready.
            bool ready = condition(conds, "ready").value_or(true);
            bool serving = condition(conds, "serving").value_or(ready);
            bool term = condition(conds, "terminating").value_or(false);
            BackendSpec b;
            b.ip = *ip;
            b.port = static_cast<uint16_t>(*bport);
            b.ready = ready && !term;
            b.serving = serving;
            b.terminating = term;
            b.local = !opts_.node_name.empty() && str(&ep, "nodeName") == opts_.node_name;
            auto dup = std::find_if(
                s.backends.begin(), s.backends.end(),
                [&](const BackendSpec& o) { return o.ip == b.ip && o.port == b.port; });
            if (dup != s.backends.end()) {
              // The same endpoint in two slices (mid-move between them): the readier one wins.
              if (b.ready && !dup->ready) *dup = b;
              continue;
            }
            if (s.backends.size() + 1 >= kMaglevEmpty) {
              problem("more than " + std::to_string(kMaglevEmpty - 1) +
                      " endpoints: the rest are ignored");
              break;
            }
            s.backends.push_back(b);
          }
        }
      }
      for (BackendSpec& b : s.backends) {
        if (!b.terminating) continue;
        std::string tkey = id_key + " " + ip_str(b.ip) + ":" + std::to_string(b.port);
        auto seen = terminating_since_.find(tkey);
        b.terminating_since_ns = seen != terminating_since_.end() ? seen->second : now_ns;
        terminating[tkey] = b.terminating_since_ns;
      }
      specs.push_back(std::move(s));
    }
  }

  // Two Services claiming one frontend would make ServiceTable::build refuse the whole table.
  // The first by name keeps it (deterministic across rebuilds); the other loses only that
  // frontend and is reported.
  std::sort(specs.begin(), specs.end(),
            [](const ServiceSpec& a, const ServiceSpec& b) { return a.name < b.name; });
  std::map<uint64_t, std::string> claimed;
  auto claim = [&](const ServiceSpec& s, uint32_t ip, uint16_t port, const char* what) {
    uint64_t k = uint64_t{ip} << 32 | uint64_t{port} << 16 | s.proto;
    auto [it, fresh] = claimed.emplace(k, s.name);
    if (fresh) return true;
    out.problems.push_back(s.name + ": " + what + " " + ip_str(ip) + ":" + std::to_string(port) +
                           " is already " + it->second + "'s: that frontend is skipped");
    return false;
  };
  for (ServiceSpec& s : specs) {
    if (s.cluster_ip && !claim(s, s.cluster_ip, s.port, "ClusterIP")) s.cluster_ip = 0;
    if (s.node_port && out.node_ip && !claim(s, out.node_ip, s.node_port, "NodePort"))
      s.node_port = 0;
    std::erase_if(s.load_balancer_ips,
                  [&](uint32_t ip) { return !claim(s, ip, s.port, "LoadBalancer IP"); });
  }
  // A Service with no frontend left (headless, or every frontend lost) has nothing to serve.
  std::erase_if(specs, [&](const ServiceSpec& s) {
    return !s.cluster_ip && !(s.node_port && out.node_ip) && s.load_balancer_ips.empty();
  });

  out.services = std::move(specs);
  ids_ = std::move(ids);
  terminating_since_ = std::move(terminating);
  return out;
}

}  // namespace k8c::dp
