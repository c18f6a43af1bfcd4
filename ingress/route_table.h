// The ingress route table: an immutable snapshot built from Ingress, IngressClass, Service,
// EndpointSlice and Secret objects (JSON exactly as the API returns them), and the lookup the
// proxy runs on every request. Building happens off the request path; the proxy swaps tables in
// through RouteTableHolder (route_publish.h) and never blocks on a build.
//
// Semantics (networking.k8s.io/v1; see ingress/README.md for the reasoning):
//
// Class selection. An Ingress is ours when spec.ingressClassName (or, for objects created before
//   ingressClassName existed, the kubernetes.io/ingress.class annotation) names an IngressClass
//   whose spec.controller is BuildOptions::controller, or names BuildOptions::class_name and no
//   IngressClass of that name exists for another controller. An Ingress with no class at all is
//   ours only if one of our IngressClasses carries ingressclass.kubernetes.io/is-default-class:
//   "true".
//
// Hosts. Matching ignores the port and case of the Host header and one trailing dot. An exact
//   host beats a wildcard host ("*.foo.com" covers exactly one label: bar.foo.com, not foo.com nor
//   baz.bar.foo.com), which beats rules without a host. The host is chosen first and the path only
//   within that host, as the API documents ("first evaluated for a host match, then routed to the
//   backend associated with the matching IngressRuleValue"): a request for an exact host whose
//   paths do not match does not fall through to wildcard or host-less rules.
//
// Paths. The query string is not part of the path. Exact compares the whole path, case
//   sensitively. Prefix compares '/'-separated elements: "/foo" and "/foo/" match "/foo", "/foo/"
//   and "/foo/bar" but not "/foobar"; "/" matches everything. ImplementationSpecific is matched as
//   Prefix. The longest matching path wins; on a tie Exact beats Prefix (which means a matching
//   Exact path always wins, since it is as long as the request path). Paths are compared as sent,
//   without percent-decoding: normalising the request target is the proxy's job.
//
// Merging. Rules for the same host from several Ingresses are merged. When two rules claim the
//   same host, path type class (Exact, or Prefix-like) and normalised path, the one from the oldest
//   Ingress wins (creationTimestamp, then namespace/name, then order inside the Ingress); the loser
//   is reported in diagnostics().
//
// defaultBackend. When a host matches but none of its paths does, the request goes to the
//   defaultBackend of the oldest Ingress that contributed rules to that host and has one. When no
//   host matches, or that host's Ingresses have none, it goes to the table-wide default: the
//   defaultBackend of the oldest Ingress that has one. Otherwise match() returns null (404).
//
// Backends. A Service port is named by number or name and resolved through the Service to its
//   name, then to endpoints through the EndpointSlices labelled kubernetes.io/service-name with a
//   port of that name. Only ready (conditions.ready true or absent) and not terminating endpoints
//   are kept. A route whose Service or port is missing still matches, with no endpoints and
//   Backend::error set, so the proxy answers 503 rather than routing somewhere else.
//
// TLS. spec.tls[].hosts map SNI names to the Secret's tls.crt/tls.key (PEM, base64-decoded from
//   data). A tls entry without hosts provides the default certificate. SNI lookup: exact name,
//   then the wildcard covering it, then the default certificate. Same-host conflicts: oldest wins.
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "ingress/annotations.h"
#include "ingress/flat_map.h"

namespace k8c::ingress {

enum class PathType : uint8_t { kExact, kPrefix, kImplementationSpecific };

struct Endpoint {
  std::string address;  // first address of the EndpointSlice endpoint (IPv4, IPv6 or FQDN)
  uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

struct Backend {
  std::string service_namespace;
  std::string service_name;
  std::string port_name;            // the Service port's name; empty for an unnamed port
  int32_t service_port = 0;         // the Service port's number; 0 when it could not be resolved
  std::string external_name;        // set for type ExternalName: dial this name at service_port
  std::vector<Endpoint> endpoints;  // ready, not terminating; sorted and deduplicated
  std::string error;                // why this backend cannot serve; empty when resolved
};

struct Certificate {
  std::string secret_namespace;
  std::string secret_name;
  std::string resource_version;  // lets the TLS layer reuse an SSL_CTX until the Secret changes
  std::string cert_pem;
  std::string key_pem;
};

struct Route {
  std::string ingress;  // "namespace/name" of the Ingress that owns the rule
  std::string host;     // the rule's host as written (lowercased); empty for "any host"
  std::string path;     // the rule's path as written; empty for a defaultBackend route
  PathType path_type = PathType::kPrefix;
  bool is_default_backend = false;
  uint32_t match_length = 0;  // bytes of the request path the rule consumes (for rewrite-target)
  const Backend* backend = nullptr;  // never null in a built table
  bool ssl_redirect = false;         // effective: annotation, else "host has a certificate"
  bool has_certificate = false;      // a certificate covers this route's host
  RouteOptions options;              // parsed annotations of the owning Ingress
};

// One problem found while building: the object it concerns ("Ingress ns/name") and a message fit
// for a log line or an Event.
struct Diagnostic {
  std::string object;
  std::string message;
};

// The objects a table is built from, as listed from the API (or held in informer caches).
struct Snapshot {
  std::vector<Json> ingresses;
  std::vector<Json> ingress_classes;
  std::vector<Json> services;
  std::vector<Json> endpoint_slices;
  std::vector<Json> secrets;
};

struct BuildOptions {
  std::string class_name = "k8c";
  std::string controller = "k8c.io/ingress-controller";
  RouteDefaults defaults;
  // Hosts with at most this many paths are matched by a scan in precedence order, which beats
  // hashing every path prefix when there are a handful of rules; larger hosts use hash maps.
  size_t linear_path_limit = 8;
};

class RouteTable {
 public:
  // The route for a request, or null for a 404. `host` is the Host header (or the authority of an
  // absolute-form target) as received; `target` is the request path, possibly with a query.
  // Never allocates and never throws; the pointer lives as long as the table.
  const Route* match(std::string_view host, std::string_view target) const noexcept;

  // The certificate for an SNI name (exact, then wildcard, then the default certificate), or null.
  const Certificate* certificate(std::string_view sni) const noexcept;

  const Route* default_backend() const noexcept { return global_default_; }
  std::span<const Diagnostic> diagnostics() const noexcept { return diagnostics_; }
  // "namespace/name" of every Ingress this controller serves, for status updates.
  std::span<const std::string> served_ingresses() const noexcept { return served_; }
  size_t host_count() const noexcept { return hosts_.size() + (any_host_ ? 1 : 0); }
  size_t route_count() const noexcept { return routes_.size(); }
  const std::deque<Route>& routes() const noexcept { return routes_; }

  // The path sent upstream for a request routed by `route`: with rewrite-target, the part of
  // `path` (no query) the rule matched is replaced by the target. Appends to `out`, so a proxy can
  // reuse one buffer per connection.
  static void rewrite_path(const Route& route, std::string_view path, std::string& out);

 private:
  friend class RouteTableBuilder;

  struct PathRule {
    std::string key;  // Exact: the path; Prefix: the path without trailing slashes ("/" -> "")
    const Route* route = nullptr;
    bool exact = false;
  };
  struct HostRoutes {
    std::vector<PathRule> linear;  // precedence order; used when the host has few paths
    FlatStringMap<const Route*> exact;
    FlatStringMap<const Route*> prefix;
    const Route* fallback = nullptr;  // defaultBackend for this host (already includes global)
    bool use_maps = false;
  };

  static const Route* match_path(const HostRoutes& h, std::string_view path) noexcept;

  // The request-path copy of hosts_, packed so that a lookup touches two cache lines or so: an
  // open-addressing slot array, and per host one contiguous block holding a header, the rule
  // headers, the host name and the rule paths. With 10,000 hosts, the chain of pointers through
  // a node-based layout (slot, entry, key, rule vector) cost more than everything else together.
  struct HostSlot {
    uint64_t hash = 0;
    uint32_t offset = 0;  // byte offset of the host's block in arena_
    uint32_t used = 0;
  };
  struct BlockHeader {
    const HostRoutes* maps;  // non-null for hosts matched through their hash maps
    const Route* fallback;
    uint16_t key_len;
    uint16_t rule_count;
    uint32_t reserved;
  };
  struct RuleHeader {
    const Route* route;
    uint32_t key_offset;  // from the start of the block
    uint16_t key_len;
    uint8_t exact;
    uint8_t reserved;
  };
  const char* find_host_block(std::string_view name) const noexcept;
  void pack_hosts();

  std::deque<Route> routes_;
  std::deque<Backend> backends_;
  std::deque<Certificate> certificates_;
  FlatStringMap<HostRoutes> hosts_;  // exact and "*.suffix" hosts, lowercased
  std::unique_ptr<HostRoutes> any_host_;
  std::vector<HostSlot> host_slots_;
  size_t host_mask_ = 0;
  std::vector<uint64_t> arena_;  // uint64_t elements keep every block 8-byte aligned
  const Route* global_default_ = nullptr;
  FlatStringMap<const Certificate*> certs_by_host_;
  const Certificate* default_certificate_ = nullptr;
  std::vector<Diagnostic> diagnostics_;
  std::vector<std::string> served_;
};

// Builds a table. Never throws on malformed objects: what cannot be used is skipped and reported
// in diagnostics().
std::shared_ptr<const RouteTable> build_route_table(const Snapshot& snapshot,
                                                    const BuildOptions& options = {});

}  // namespace k8c::ingress
