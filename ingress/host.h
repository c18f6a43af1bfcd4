// Host-name normalisation shared by the route table (Host header) and, later, the TLS layer
// (SNI), so both sides compare names the same way when deciding a 421.
#pragma once

#include <cstddef>
#include <string_view>

namespace k8c::ingress {

// Longest name we compare. DNS names are at most 253 characters; anything longer can only be
// garbage or an attack, so it is treated as "no host".
inline constexpr size_t kMaxHostLength = 253;

// A stack buffer large enough for normalize_host plus the one byte the wildcard trick needs.
struct HostBuffer {
  char bytes[kMaxHostLength + 2];
};

// Normalises a Host header value or SNI name: drops a ":port" suffix (keeping IPv6 brackets),
// one trailing dot (an FQDN "foo.com." is the same host) and lowercases ASCII. The result lives in
// `buf` at offset 1, so that wildcard_candidate can prepend '*' without copying. Returns an empty
// view when the name is empty or longer than kMaxHostLength.
std::string_view normalize_host(std::string_view host, HostBuffer& buf) noexcept;

// For a name returned by normalize_host, the single wildcard pattern that may cover it:
// "bar.foo.com" -> "*.foo.com". Kubernetes wildcards cover exactly one DNS label, so there is only
// ever one candidate. Overwrites the byte before the first dot inside `buf`, so call it after the
// exact lookup. Returns an empty view when the name has no dot or an empty first label.
std::string_view wildcard_candidate(std::string_view normalized, HostBuffer& buf) noexcept;

}  // namespace k8c::ingress
