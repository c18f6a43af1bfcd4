// The ingress.k8c.io/ annotations an Ingress may carry, parsed into typed per-route settings.
//
// Every value is a string (Kubernetes annotations always are). A value that does not parse is
// ignored: the setting keeps its default and a one-line error naming the annotation, the value and
// the expected form is recorded, so an operator sees it in logs and Events instead of the proxy
// quietly doing something else. An unknown name under ingress.k8c.io/ is reported the same way,
// because a typo (say "proxy-body-sise") would otherwise be silently ineffective.
//
//   ingress.k8c.io/rewrite-target         "/path". The part of the request path matched by the
//                                         rule is replaced by this value; the rest of the path
//                                         and the query string are kept. Must start with '/';
//                                         '$' (regex captures), '?', '#', spaces and control
//                                         characters are rejected because rule paths are not
//                                         regexes here. Not applied to defaultBackend routes.
//   ingress.k8c.io/ssl-redirect           "true" | "false". Redirect plain HTTP to HTTPS (308).
//                                         Default: true when a certificate covers the rule's host.
//   ingress.k8c.io/proxy-body-size        "<n>", "<n>k", "<n>m" or "<n>g" (binary units, either
//                                         case), "0" = unlimited. Over the limit the proxy answers
//                                         413. Default: RouteDefaults::proxy_body_size (1m).
//   ingress.k8c.io/proxy-connect-timeout  "<n>" seconds, or "<n>ms" / "<n>s" / "<n>m"; at least
//   ingress.k8c.io/proxy-read-timeout     1 ms and at most 24 h. Zero is rejected rather than read
//   ingress.k8c.io/proxy-send-timeout     as "no timeout": a stuck upstream must not pin a
//                                         connection forever. Defaults: 5 s connect, 60 s read and
//                                         send (the same as ingress-nginx).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace k8c::ingress {

inline constexpr std::string_view kAnnotationPrefix = "ingress.k8c.io/";
inline constexpr std::string_view kRewriteTarget = "ingress.k8c.io/rewrite-target";
inline constexpr std::string_view kSslRedirect = "ingress.k8c.io/ssl-redirect";
inline constexpr std::string_view kProxyBodySize = "ingress.k8c.io/proxy-body-size";
inline constexpr std::string_view kProxyConnectTimeout = "ingress.k8c.io/proxy-connect-timeout";
inline constexpr std::string_view kProxyReadTimeout = "ingress.k8c.io/proxy-read-timeout";
inline constexpr std::string_view kProxySendTimeout = "ingress.k8c.io/proxy-send-timeout";

// Controller-wide defaults, overridden per Ingress by the annotations above.
struct RouteDefaults {
  uint64_t proxy_body_size = uint64_t{1} << 20;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds read_timeout{60'000};
  std::chrono::milliseconds send_timeout{60'000};
};

struct RouteOptions {
  std::string rewrite_target;        // empty: the path goes upstream unchanged
  std::optional<bool> ssl_redirect;  // unset: decided by whether the host has a certificate
  uint64_t proxy_body_size = 0;      // bytes; 0 = unlimited
  std::chrono::milliseconds connect_timeout{0};
  std::chrono::milliseconds read_timeout{0};
  std::chrono::milliseconds send_timeout{0};
  std::vector<std::string> errors;  // one line per rejected annotation
};

// Parses metadata.annotations (an object, or null/absent) of one Ingress.
RouteOptions parse_annotations(const Json* annotations, const RouteDefaults& defaults);

// The individual value parsers, exposed for the proxy's own flags. On failure they return nullopt
// and set *error to what was expected.
std::optional<uint64_t> parse_body_size(std::string_view value, std::string* error);
std::optional<std::chrono::milliseconds> parse_timeout(std::string_view value, std::string* error);
std::optional<bool> parse_bool(std::string_view value, std::string* error);
bool valid_rewrite_target(std::string_view value, std::string* error);

}  // namespace k8c::ingress
