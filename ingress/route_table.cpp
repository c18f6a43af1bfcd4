#include "ingress/route_table.h"

#include <openssl/evp.h>

#include <algorithm>
#include <exception>
#include <tuple>
#include <unordered_set>

#include "ingress/host.h"

namespace k8c::ingress {

namespace {

constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";
constexpr std::string_view kDefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class";
constexpr std::string_view kLegacyClassAnnotation = "kubernetes.io/ingress.class";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string key_of(const Json& obj) {
  return get_string(obj, {"metadata", "namespace"}) + "/" + get_string(obj, {"metadata", "name"});
}

// Prefix matching compares '/'-separated elements, so trailing slashes carry no meaning.
std::string prefix_key(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

// Secret data is base64 in API responses. OpenSSL's streaming decoder is used because it handles
// padding and embedded newlines, which EVP_DecodeBlock does not.
std::optional<std::string> base64_decode(std::string_view in) {
  std::string out(in.size() / 4 * 3 + 3, '\0');
  EVP_ENCODE_CTX* ctx = EVP_ENCODE_CTX_new();
  if (!ctx) return std::nullopt;
  EVP_DecodeInit(ctx);
  int len = 0;
  int final_len = 0;
  int rc = EVP_DecodeUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len,
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
  bool ok = rc >= 0 && EVP_DecodeFinal(ctx, reinterpret_cast<unsigned char*>(out.data()) + len,
                                       &final_len) == 1;
  EVP_ENCODE_CTX_free(ctx);
  if (!ok) return std::nullopt;
  out.resize(static_cast<size_t>(len + final_len));
  return out;
}

bool looks_like_pem(std::string_view pem, std::string_view label_suffix) {
  size_t begin = pem.find("-----BEGIN ");
  if (begin == std::string_view::npos) return false;
  size_t eol = pem.find("-----", begin + 11);
  if (eol == std::string_view::npos) return false;
  return pem.substr(begin + 11, eol - begin - 11).ends_with(label_suffix) &&
         pem.find("-----END ", eol) != std::string_view::npos;
}

// creationTimestamp is RFC 3339 in UTC with a 'Z' and whole seconds, so string order is time order.
// Objects without one sort last: they cannot be shown to be older than anything.
struct Age {
  bool missing;
  std::string created;
  std::string key;
  auto operator<=>(const Age&) const = default;
};

Age age_of(const Json& obj) {
  std::string ts = get_string(obj, {"metadata", "creationTimestamp"});
  return Age{ts.empty(), ts, key_of(obj)};
}

}  // namespace

class RouteTableBuilder {
 public:
  RouteTableBuilder(const Snapshot& s, const BuildOptions& o)
      : snap_(s), opts_(o), table_(std::make_shared<RouteTable>()) {}

  std::shared_ptr<const RouteTable> build() {
    index();
    std::vector<const Json*> ingresses = select_ingresses();
    for (const Json* ing : ingresses) {
      table_->served_.push_back(key_of(*ing));
      guarded(*ing, [&] { add_tls(*ing); });
    }
    for (const Json* ing : ingresses) guarded(*ing, [&] { add_rules(*ing); });
    finish();
    return table_;
  }

 private:
  using HostRoutes = RouteTable::HostRoutes;

  template <typename F>
  void guarded(const Json& ing, F&& f) {
    // Objects come from the API server and are schema-valid, but a table build must never take
    // the proxy down, so anything unexpected costs only the offending Ingress.
    try {
      f();
    } catch (const std::exception& e) {
      diag(ing, std::string("skipped, malformed object: ") + e.what());
    }
  }

  void diag(const Json& obj, std::string message) {
    std::string kind = get_string(obj, {"kind"}, "Ingress");
    table_->diagnostics_.push_back({kind + " " + key_of(obj), std::move(message)});
  }

  void index() {
    for (const Json& s : snap_.services) services_[key_of(s)] = &s;
    for (const Json& s : snap_.secrets) secrets_[key_of(s)] = &s;
    for (const Json& es : snap_.endpoint_slices) {
      std::string svc = get_string(es, {"metadata", "labels", kServiceNameLabel});
      if (svc.empty()) continue;
      slices_[get_string(es, {"metadata", "namespace"}) + "/" + svc].push_back(&es);
    }
  }

  std::vector<const Json*> select_ingresses() {
    std::unordered_set<std::string> ours;
    bool default_is_ours = false;
    bool name_taken = false;
    for (const Json& ic : snap_.ingress_classes) {
      std::string name = get_string(ic, {"metadata", "name"});
      if (get_string(ic, {"spec", "controller"}) == opts_.controller) {
        ours.insert(name);
        if (get_string(ic, {"metadata", "annotations", kDefaultClassAnnotation}) == "true") {
          default_is_ours = true;
        }
      } else if (name == opts_.class_name) {
        name_taken = true;
      }
    }
    // Serving the configured name without an IngressClass object keeps a bare `k8c up` usable,
    // but never when that name belongs to another controller's IngressClass.
    if (!name_taken) ours.insert(opts_.class_name);

    std::vector<const Json*> out;
    for (const Json& ing : snap_.ingresses) {
      std::string cls = get_string(ing, {"spec", "ingressClassName"});
      if (cls.empty()) cls = get_string(ing, {"metadata", "annotations", kLegacyClassAnnotation});
      if (cls.empty() ? default_is_ours : ours.count(cls) > 0) out.push_back(&ing);
    }
    std::vector<std::pair<Age, const Json*>> aged;
    aged.reserve(out.size());
    for (const Json* ing : out) aged.emplace_back(age_of(*ing), ing);
    std::stable_sort(aged.begin(), aged.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < aged.size(); ++i) out[i] = aged[i].second;
    return out;
  }

  const Certificate* load_certificate(const Json& ing, const std::string& ns,
                                      const std::string& secret_name) {
    std::string key = ns + "/" + secret_name;
    if (auto it = certs_.find(key); it != certs_.end()) return it->second;
    const Certificate* result = nullptr;
    auto sit = secrets_.find(key);
    std::string problem;
    std::optional<std::string> crt;
    std::optional<std::string> tls_key;
    if (sit == secrets_.end()) {
      problem = "not found";
    } else {
      const Json* c = find_path(*sit->second, {"data", "tls.crt"});
      const Json* k = find_path(*sit->second, {"data", "tls.key"});
      if (!c || !c->is_string() || !k || !k->is_string()) {
        problem = "has no tls.crt and tls.key";
      } else if (!(crt = base64_decode(c->get_ref<const std::string&>())) ||
                 !(tls_key = base64_decode(k->get_ref<const std::string&>()))) {
        problem = "has tls.crt or tls.key that is not valid base64";
      } else if (!looks_like_pem(*crt, "CERTIFICATE")) {
        problem = "tls.crt is not a PEM certificate";
      } else if (!looks_like_pem(*tls_key, "PRIVATE KEY")) {
        problem = "tls.key is not a PEM private key";
      }
    }
    if (problem.empty()) {
      Certificate& cert = table_->certificates_.emplace_back();
      cert.secret_namespace = ns;
      cert.secret_name = secret_name;
      cert.resource_version = get_string(*sit->second, {"metadata", "resourceVersion"});
      cert.cert_pem = std::move(*crt);
      cert.key_pem = std::move(*tls_key);
      result = &cert;
    } else {
      diag(ing, "tls: Secret " + key + " " + problem + "; its hosts get no certificate");
    }
    certs_.emplace(key, result);
    return result;
  }

  void add_tls(const Json& ing) {
    const Json* tls = find_path(ing, {"spec", "tls"});
    if (!tls || !tls->is_array()) return;
    std::string ns = get_string(ing, {"metadata", "namespace"});
    for (const Json& entry : *tls) {
      std::string secret = get_string(entry, {"secretName"});
      if (secret.empty()) {
        diag(ing, "tls: entry without secretName ignored");
        continue;
      }
      const Certificate* cert = load_certificate(ing, ns, secret);
      if (!cert) continue;
      const Json* hosts = find_path(entry, {"hosts"});
      if (!hosts || !hosts->is_array() || hosts->empty()) {
        if (!table_->default_certificate_) table_->default_certificate_ = cert;
        continue;
      }
      for (const Json& h : *hosts) {
        if (!h.is_string()) continue;
        std::string host = lower(h.get_ref<const std::string&>());
        auto [existing, inserted] = table_->certs_by_host_.try_emplace(host, cert);
        if (!inserted && *existing != cert) {
          diag(ing, "tls: host " + host + " already has the certificate from Secret " +
                        (*existing)->secret_namespace + "/" + (*existing)->secret_name +
                        " (older Ingress wins); Secret " + secret + " not used for it");
        }
      }
    }
  }

  bool host_has_certificate(const std::string& host) const {
    if (host.empty()) return false;
    const auto& certs = table_->certs_by_host_;
    if (certs.find(host)) return true;
    if (host.starts_with("*.")) return false;
    size_t dot = host.find('.');
    return dot != std::string::npos && certs.find("*" + host.substr(dot));
  }

  // Resolves (namespace, backend JSON) to a shared Backend; null when the backend is not a
  // Service reference at all.
  const Backend* resolve_backend(const Json& ing, const std::string& ns, const Json& backend) {
    const Json* svc = find_path(backend, {"service"});
    if (!svc || !svc->is_object()) {
      diag(ing, find_path(backend, {"resource"})
                    ? "resource backends are not supported; path ignored"
                    : "backend without a service; path ignored");
      return nullptr;
    }
    std::string name = get_string(*svc, {"name"});
    const Json* number = find_path(*svc, {"port", "number"});
    std::string port_name = get_string(*svc, {"port", "name"});
    int64_t port_number = number && number->is_number_integer() ? number->get<int64_t>() : 0;
    std::string cache_key = ns + "/" + name + ":" +
                            (port_name.empty() ? std::to_string(port_number) : "name=" + port_name);
    if (auto it = backends_.find(cache_key); it != backends_.end()) return it->second;

    Backend& b = table_->backends_.emplace_back();
    backends_.emplace(cache_key, &b);
    b.service_namespace = ns;
    b.service_name = name;
    std::string port_text = port_name.empty() ? std::to_string(port_number) : port_name;
    auto sit = services_.find(ns + "/" + name);
    if (name.empty() || (port_name.empty() && port_number == 0)) {
      b.error = "backend service needs a name and a port number or name";
      return &b;
    }
    if (sit == services_.end()) {
      b.error = "Service " + ns + "/" + name + " not found";
      return &b;
    }
    const Json& service = *sit->second;
    const Json* ports = find_path(service, {"spec", "ports"});
    const Json* matched = nullptr;
    if (ports && ports->is_array()) {
      for (const Json& p : *ports) {
        if (get_string(p, {"protocol"}, "TCP") != "TCP") continue;
        const Json* pn = find_path(p, {"port"});
        bool hit = port_name.empty()
                       ? (pn && pn->is_number_integer() && pn->get<int64_t>() == port_number)
                       : get_string(p, {"name"}) == port_name;
        if (hit) {
          matched = &p;
          break;
        }
      }
    }
    bool external = get_string(service, {"spec", "type"}) == "ExternalName";
    if (!matched) {
      if (external && port_name.empty()) {
        // An ExternalName Service need not list ports: the number is dialled as given.
        b.service_port = static_cast<int32_t>(port_number);
        b.external_name = get_string(service, {"spec", "externalName"});
        return &b;
      }
      b.error = "Service " + ns + "/" + name + " has no TCP port " + port_text;
      return &b;
    }
    b.port_name = get_string(*matched, {"name"});
    const Json* sp = find_path(*matched, {"port"});
    b.service_port = sp && sp->is_number_integer() ? static_cast<int32_t>(sp->get<int64_t>()) : 0;
    if (external) {
      b.external_name = get_string(service, {"spec", "externalName"});
      return &b;
    }
    if (auto it = slices_.find(ns + "/" + name); it != slices_.end()) {
      for (const Json* slice : it->second) add_slice_endpoints(*slice, b);
    }
    std::sort(b.endpoints.begin(), b.endpoints.end(), [](const Endpoint& x, const Endpoint& y) {
      return std::tie(x.address, x.port) < std::tie(y.address, y.port);
    });
    b.endpoints.erase(std::unique(b.endpoints.begin(), b.endpoints.end()), b.endpoints.end());
    return &b;
  }

  static void add_slice_endpoints(const Json& slice, Backend& b) {
    const Json* ports = find_path(slice, {"ports"});
    if (!ports || !ports->is_array()) return;
    int64_t target = -1;
    for (const Json& p : *ports) {
      if (get_string(p, {"protocol"}, "TCP") != "TCP") continue;
      if (get_string(p, {"name"}) != b.port_name) continue;
      const Json* n = find_path(p, {"port"});
      if (n && n->is_number_integer()) target = n->get<int64_t>();
      break;
    }
    if (target <= 0 || target > 65535) return;
    const Json* eps = find_path(slice, {"endpoints"});
    if (!eps || !eps->is_array()) return;
    for (const Json& ep : *eps) {
      // A nil ready condition means "unknown", which consumers are told to treat as ready.
      const Json* ready = find_path(ep, {"conditions", "ready"});
      const Json* terminating = find_path(ep, {"conditions", "terminating"});
      if (ready && ready->is_boolean() && !ready->get<bool>()) continue;
      if (terminating && terminating->is_boolean() && terminating->get<bool>()) continue;
      const Json* addrs = find_path(ep, {"addresses"});
      // Consumers may only use the first address: the rest are fungible aliases of it.
      if (!addrs || !addrs->is_array() || addrs->empty() || !(*addrs)[0].is_string()) continue;
      b.endpoints.push_back({(*addrs)[0].get<std::string>(), static_cast<uint16_t>(target)});
    }
  }

  Route& new_route(const std::string& ingress_key, const RouteOptions& options) {
    Route& r = table_->routes_.emplace_back();
    r.ingress = ingress_key;
    r.options = options;
    return r;
  }

  void add_rules(const Json& ing) {
    const std::string ingress_key = key_of(ing);
    const std::string ns = get_string(ing, {"metadata", "namespace"});
    RouteOptions options =
        parse_annotations(find_path(ing, {"metadata", "annotations"}), opts_.defaults);
    for (const std::string& e : options.errors) diag(ing, e);

    const Route* own_default = nullptr;
    if (const Json* db = find_path(ing, {"spec", "defaultBackend"}); db && db->is_object()) {
      if (const Backend* backend = resolve_backend(ing, ns, *db)) {
        Route& r = new_route(ingress_key, options);
        r.is_default_backend = true;
        r.backend = backend;
        r.ssl_redirect = options.ssl_redirect.value_or(false);
        own_default = &r;
        if (!table_->global_default_) {
          table_->global_default_ = &r;
        } else if (table_->global_default_->ingress != ingress_key) {
          diag(ing,
               "defaultBackend serves only unmatched paths of this Ingress's hosts; "
               "requests for unknown hosts go to the defaultBackend of the older Ingress " +
                   table_->global_default_->ingress);
        }
      }
    }

    const Json* rules = find_path(ing, {"spec", "rules"});
    if (!rules || !rules->is_array()) return;
    for (const Json& rule : *rules) {
      std::string host = lower(get_string(rule, {"host"}));
      if (host.find('*') != std::string::npos &&
          (!host.starts_with("*.") || host.size() < 3 || host.find('*', 1) != std::string::npos)) {
        diag(ing, "rule host \"" + host + "\" is not a valid wildcard (\"*.\" + domain); ignored");
        continue;
      }
      HostRoutes* h;
      if (host.empty()) {
        if (!table_->any_host_) table_->any_host_ = std::make_unique<HostRoutes>();
        h = table_->any_host_.get();
      } else {
        h = &table_->hosts_[host];
      }
      if (!h->fallback && own_default) h->fallback = own_default;
      const Json* paths = find_path(rule, {"http", "paths"});
      if (!paths || !paths->is_array()) continue;
      bool tls = host_has_certificate(host);
      for (const Json& p : *paths) add_path(ing, ingress_key, ns, options, host, tls, *h, p);
    }
  }

  void add_path(const Json& ing, const std::string& ingress_key, const std::string& ns,
                const RouteOptions& options, const std::string& host, bool tls, HostRoutes& h,
                const Json& p) {
    std::string type = get_string(p, {"pathType"});
    std::string path = get_string(p, {"path"});
    PathType pt;
    if (type == "Exact") {
      pt = PathType::kExact;
    } else if (type == "Prefix") {
      pt = PathType::kPrefix;
    } else if (type == "ImplementationSpecific") {
      pt = PathType::kImplementationSpecific;
      if (path.empty()) path = "/";
    } else {
      diag(ing, "path \"" + path + "\": pathType \"" + type +
                    "\" is not Exact, Prefix or ImplementationSpecific; ignored");
      return;
    }
    if (path.empty() || path.front() != '/') {
      diag(ing, "path \"" + path + "\" must start with '/'; ignored");
      return;
    }
    const Json* backend_json = find_path(p, {"backend"});
    if (!backend_json || !backend_json->is_object()) {
      diag(ing, "path \"" + path + "\" has no backend; ignored");
      return;
    }
    const Backend* backend = resolve_backend(ing, ns, *backend_json);
    if (!backend) return;

    bool exact = pt == PathType::kExact;
    std::string key = exact ? path : prefix_key(path);
    auto& map = exact ? h.exact : h.prefix;
    if (const Route* const* existing = map.find(key)) {
      diag(ing, "host \"" + host + "\" path \"" + path + "\" (" + type +
                    ") is already routed by Ingress " + (*existing)->ingress +
                    ", which is older or listed first; this rule is ignored");
      return;
    }
    Route& r = new_route(ingress_key, options);
    r.host = host;
    r.path = path;
    r.path_type = pt;
    r.match_length = static_cast<uint32_t>(key.size());
    r.backend = backend;
    r.has_certificate = tls;
    r.ssl_redirect = options.ssl_redirect.value_or(tls);
    map.try_emplace(key, &r);
  }

  void finish_host(HostRoutes& h) {
    if (!h.fallback) h.fallback = table_->global_default_;
    // The packed copy stores lengths and counts in 16 bits; anything larger stays in the maps.
    bool oversized = h.exact.size() + h.prefix.size() > UINT16_MAX;
    for (const auto& [k, r] : h.exact) oversized = oversized || k.size() > UINT16_MAX;
    for (const auto& [k, r] : h.prefix) oversized = oversized || k.size() > UINT16_MAX;
    if (oversized || h.exact.size() + h.prefix.size() > opts_.linear_path_limit) {
      h.use_maps = true;
      return;
    }
    for (auto& [k, r] : h.exact) h.linear.push_back({k, r, true});
    std::vector<RouteTable::PathRule> prefixes;
    for (auto& [k, r] : h.prefix) prefixes.push_back({k, r, false});
    // Longest first; equal lengths cannot both match one path, so their order is irrelevant.
    std::sort(prefixes.begin(), prefixes.end(),
              [](const auto& a, const auto& b) { return a.key.size() > b.key.size(); });
    for (auto& p : prefixes) h.linear.push_back(std::move(p));
    h.exact.clear();
    h.prefix.clear();
  }

  void finish() {
    for (auto& [host, h] : table_->hosts_) finish_host(h);
    if (table_->any_host_) finish_host(*table_->any_host_);
    table_->pack_hosts();
  }

  const Snapshot& snap_;
  const BuildOptions& opts_;
  std::shared_ptr<RouteTable> table_;
  std::unordered_map<std::string, const Json*> services_;
  std::unordered_map<std::string, const Json*> secrets_;
  std::unordered_map<std::string, std::vector<const Json*>> slices_;
  std::unordered_map<std::string, const Backend*> backends_;
  std::unordered_map<std::string, const Certificate*> certs_;
};

std::shared_ptr<const RouteTable> build_route_table(const Snapshot& snapshot,
                                                    const BuildOptions& options) {
  return RouteTableBuilder(snapshot, options).build();
}

const Route* RouteTable::match_path(const HostRoutes& h, std::string_view path) noexcept {
  if (!h.use_maps) {
    for (const PathRule& r : h.linear) {
      if (r.exact) {
        if (path == r.key) return r.route;
      } else if (r.key.empty() || (path.starts_with(r.key) &&
                                   (path.size() == r.key.size() || path[r.key.size()] == '/'))) {
        return r.route;
      }
    }
    return nullptr;
  }
  // A matching Exact path is as long as the request path, so nothing can beat it.
  if (const Route* const* r = h.exact.find(path)) return *r;
  if (h.prefix.empty()) return nullptr;
  // Try the element boundaries of the path from the longest down to the root.
  size_t n = path.size();
  if (n > 0 && path[n - 1] == '/') --n;
  for (;;) {
    if (const Route* const* r = h.prefix.find(path.substr(0, n))) return *r;
    if (n == 0) return nullptr;
    size_t slash = path.rfind('/', n - 1);
    n = slash == std::string_view::npos ? 0 : slash;
  }
}

namespace {

constexpr size_t align8(size_t n) {
  return (n + 7) & ~size_t{7};
}

}  // namespace

void RouteTable::pack_hosts() {
  size_t slots = 8;
  while (slots < hosts_.size() * 2) slots *= 2;
  host_slots_.assign(hosts_.size() ? slots : 0, HostSlot{});
  host_mask_ = host_slots_.empty() ? 0 : slots - 1;
  size_t bytes = 0;
  for (const auto& [key, h] : hosts_) {
    if (key.size() > kMaxHostLength) continue;
    bytes += sizeof(BlockHeader) + h.linear.size() * sizeof(RuleHeader) + align8(key.size());
    for (const PathRule& r : h.linear) bytes += align8(r.key.size());
  }
  arena_.assign(bytes / 8, 0);
  char* base = reinterpret_cast<char*>(arena_.data());
  size_t at = 0;
  for (auto& [key, h] : hosts_) {
    if (key.size() > kMaxHostLength) continue;  // normalize_host never produces such a name
    const size_t start = at;
    BlockHeader header{h.use_maps ? &h : nullptr, h.fallback, static_cast<uint16_t>(key.size()),
                       static_cast<uint16_t>(h.linear.size()), 0};
    std::memcpy(base + at, &header, sizeof header);
    at += sizeof header;
    size_t key_at = at + h.linear.size() * sizeof(RuleHeader);
    std::memcpy(base + key_at, key.data(), key.size());
    key_at += align8(key.size());
    for (const PathRule& r : h.linear) {
      RuleHeader rule{r.route, static_cast<uint32_t>(key_at - start),
                      static_cast<uint16_t>(r.key.size()), r.exact, 0};
      std::memcpy(base + at, &rule, sizeof rule);
      at += sizeof rule;
      std::memcpy(base + key_at, r.key.data(), r.key.size());
      key_at += align8(r.key.size());
    }
    at = key_at;
    const uint64_t hash = std::hash<std::string_view>{}(key);
    size_t i = hash & host_mask_;
    while (host_slots_[i].used) i = (i + 1) & host_mask_;
    host_slots_[i] = {hash, static_cast<uint32_t>(start), 1};
  }
}

const char* RouteTable::find_host_block(std::string_view name) const noexcept {
  const uint64_t hash = std::hash<std::string_view>{}(name);
  const char* base = reinterpret_cast<const char*>(arena_.data());
  for (size_t i = hash & host_mask_;; i = (i + 1) & host_mask_) {
    const HostSlot& s = host_slots_[i];
    if (!s.used) return nullptr;
    if (s.hash != hash) continue;
    const char* block = base + s.offset;
    BlockHeader header;
    std::memcpy(&header, block, sizeof header);
    const char* key = block + sizeof header + header.rule_count * sizeof(RuleHeader);
    if (header.key_len == name.size() && std::memcmp(key, name.data(), name.size()) == 0) {
      return block;
    }
  }
}

const Route* RouteTable::match(std::string_view host, std::string_view target) const noexcept {
  std::string_view path = target.substr(0, target.find_first_of("?#"));
  const char* block = nullptr;
  if (!host_slots_.empty()) {
    HostBuffer buf;
    std::string_view name = normalize_host(host, buf);
    if (!name.empty()) {
      block = find_host_block(name);
      if (!block) {
        std::string_view wildcard = wildcard_candidate(name, buf);
        if (!wildcard.empty()) block = find_host_block(wildcard);
      }
    }
  }
  if (!block) {
    if (!any_host_) return global_default_;
    const Route* r = match_path(*any_host_, path);
    return r ? r : any_host_->fallback;
  }
  BlockHeader header;
  std::memcpy(&header, block, sizeof header);
  if (header.maps) {
    const Route* r = match_path(*header.maps, path);
    return r ? r : header.fallback;
  }
  // Same scan as match_path's linear branch, over the packed copy of the rules.
  const char* rules = block + sizeof header;
  for (uint16_t i = 0; i < header.rule_count; ++i) {
    RuleHeader rule;
    std::memcpy(&rule, rules + i * sizeof(RuleHeader), sizeof rule);
    std::string_view key(block + rule.key_offset, rule.key_len);
    if (rule.exact) {
      if (path == key) return rule.route;
    } else if (key.empty() ||
               (path.starts_with(key) && (path.size() == key.size() || path[key.size()] == '/'))) {
      return rule.route;
    }
  }
  return header.fallback;
}

const Certificate* RouteTable::certificate(std::string_view sni) const noexcept {
  if (!certs_by_host_.empty()) {
    HostBuffer buf;
    std::string_view name = normalize_host(sni, buf);
    if (!name.empty()) {
      const Certificate* const* c = certs_by_host_.find(name);
      if (!c) {
        std::string_view wildcard = wildcard_candidate(name, buf);
        if (!wildcard.empty()) c = certs_by_host_.find(wildcard);
      }
      if (c) return *c;
    }
  }
  return default_certificate_;
}

void RouteTable::rewrite_path(const Route& route, std::string_view path, std::string& out) {
  const std::string& target = route.options.rewrite_target;
  if (target.empty() || route.is_default_backend) {
    out.append(path);
    return;
  }
  std::string_view rest;
  if (route.path_type != PathType::kExact && route.match_length <= path.size()) {
    rest = path.substr(route.match_length);
  }
  std::string_view base = target;
  if (!rest.empty() && base.ends_with('/')) base.remove_suffix(1);
  out.append(base);
  if (!rest.empty() && rest.front() != '/') out.push_back('/');
  out.append(rest);
}

}  // namespace k8c::ingress
