// Builders for the Kubernetes objects the route table consumes, shaped exactly as the API server
// returns them. Used by the ingress tests and benchmarks, so fixtures stay short and identical.
#pragma once

#include <openssl/evp.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"

namespace k8c::ingress::objects {

inline std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

inline Json meta(std::string_view ns, std::string_view name,
                 std::string_view created = "2024-01-01T00:00:00Z") {
  Json m = {{"name", name}, {"creationTimestamp", created}, {"resourceVersion", "1"}};
  if (!ns.empty()) m["namespace"] = ns;
  return m;
}

inline Json service_backend(std::string_view service, int port) {
  return {{"service", {{"name", service}, {"port", {{"number", port}}}}}};
}

inline Json service_backend(std::string_view service, std::string_view port_name) {
  return {{"service", {{"name", service}, {"port", {{"name", port_name}}}}}};
}

inline Json path(std::string_view p, std::string_view type, Json backend) {
  Json out = {{"pathType", type}, {"backend", std::move(backend)}};
  if (!p.empty()) out["path"] = p;
  return out;
}

inline Json rule(std::string_view host, std::vector<Json> paths) {
  Json r = {{"http", {{"paths", std::move(paths)}}}};
  if (!host.empty()) r["host"] = host;
  return r;
}

// Fluent, because GCC 12 warns about designated initialisers that leave members out.
class IngressBuilder {
 public:
  IngressBuilder(std::string_view ns, std::string_view name) {
    obj_ = {{"apiVersion", "networking.k8s.io/v1"},
            {"kind", "Ingress"},
            {"metadata", meta(ns, name)},
            {"spec", {{"ingressClassName", "k8c"}}}};
  }
  IngressBuilder& cls(std::optional<std::string> name) {
    if (name) {
      obj_["spec"]["ingressClassName"] = *name;
    } else {
      obj_["spec"].erase("ingressClassName");
    }
    return *this;
  }
  IngressBuilder& rules(std::vector<Json> rs) {
    for (auto& r : rs) obj_["spec"]["rules"].push_back(std::move(r));
    return *this;
  }
  IngressBuilder& default_backend(Json backend) {
    obj_["spec"]["defaultBackend"] = std::move(backend);
    return *this;
  }
  IngressBuilder& tls(std::vector<std::string> hosts, std::string_view secret) {
    Json entry = {{"secretName", secret}};
    if (!hosts.empty()) entry["hosts"] = hosts;
    obj_["spec"]["tls"].push_back(entry);
    return *this;
  }
  IngressBuilder& annotation(std::string_view key, Json value) {
    obj_["metadata"]["annotations"][std::string(key)] = std::move(value);
    return *this;
  }
  IngressBuilder& created(std::string_view ts) {
    obj_["metadata"]["creationTimestamp"] = ts;
    return *this;
  }
  operator Json() const { return obj_; }  // NOLINT: builders convert implicitly by design

 private:
  Json obj_;
};

inline IngressBuilder ingress(std::string_view ns, std::string_view name) {
  return {ns, name};
}

inline Json ingress_class(std::string_view name, std::string_view controller,
                          bool is_default = false) {
  Json obj = {{"apiVersion", "networking.k8s.io/v1"},
              {"kind", "IngressClass"},
              {"metadata", meta("", name)},
              {"spec", {{"controller", controller}}}};
  if (is_default) {
    obj["metadata"]["annotations"] = {{"ingressclass.kubernetes.io/is-default-class", "true"}};
  }
  return obj;
}

inline Json service_port(std::string_view name, int port, int target_port) {
  Json p = {{"port", port}, {"targetPort", target_port}, {"protocol", "TCP"}};
  if (!name.empty()) p["name"] = name;
  return p;
}

inline Json service(std::string_view ns, std::string_view name, std::vector<Json> ports) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", meta(ns, name)},
          {"spec", {{"type", "ClusterIP"}, {"ports", std::move(ports)}}}};
}

// An endpoint; unset conditions are left out of the object, as the API does for nil fields.
inline Json endpoint(std::string_view address, std::optional<bool> ready = true,
                     std::optional<bool> terminating = false) {
  Json ep = {{"addresses", {address}}, {"conditions", Json::object()}};
  if (ready) ep["conditions"]["ready"] = *ready;
  if (ready) ep["conditions"]["serving"] = *ready;
  if (terminating) ep["conditions"]["terminating"] = *terminating;
  return ep;
}

inline Json slice_port(std::string_view name, int port) {
  Json p = {{"port", port}, {"protocol", "TCP"}};
  if (!name.empty()) p["name"] = name;
  return p;
}

inline Json endpoint_slice(std::string_view ns, std::string_view name, std::string_view service,
                           std::vector<Json> ports, std::vector<Json> endpoints) {
  Json m = meta(ns, name);
  m["labels"] = {{"kubernetes.io/service-name", service}};
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", m},
          {"addressType", "IPv4"},
          {"ports", std::move(ports)},
          {"endpoints", std::move(endpoints)}};
}

inline std::string fake_cert_pem(std::string_view tag) {
  return "-----BEGIN CERTIFICATE-----\n" + base64(tag) + "\n-----END CERTIFICATE-----\n";
}

inline std::string fake_key_pem(std::string_view tag) {
  return "-----BEGIN PRIVATE KEY-----\n" + base64(tag) + "\n-----END PRIVATE KEY-----\n";
}

inline Json tls_secret(std::string_view ns, std::string_view name, std::string_view crt_pem,
                       std::string_view key_pem) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", meta(ns, name)},
          {"type", "kubernetes.io/tls"},
          {"data", {{"tls.crt", base64(crt_pem)}, {"tls.key", base64(key_pem)}}}};
}

}  // namespace k8c::ingress::objects
