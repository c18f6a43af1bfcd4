// Ingress status: the controller reports where it listens in status.loadBalancer.ingress, which is
// what `kubectl get ingress` shows in its ADDRESS column.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/json.h"

namespace k8c::ingress {

// The status.loadBalancer.ingress array for the addresses the proxy is reachable at. Each address
// is an IPv4 or IPv6 literal ("[::1]" brackets allowed) or a DNS name, optionally with ":port"
// (dropped: the API has no port there for Ingress). IPs become {"ip": ...}, names
// {"hostname": ...}; duplicates are dropped and order is kept. Unspecified addresses (0.0.0.0, ::)
// are rejected because clients cannot connect to them: publish the node address instead. On
// failure returns nullopt and sets *error.
std::optional<Json> load_balancer_ingress(std::span<const std::string> addresses,
                                          std::string* error);
std::optional<Json> load_balancer_ingress(std::string_view address, std::string* error);

// A merge patch for the status subresource that sets status.loadBalancer.ingress.
Json status_patch(const Json& lb_ingress);

// True when `ingress` already reports exactly `lb_ingress`, so no write is needed.
bool status_up_to_date(const Json& ingress, const Json& lb_ingress);

}  // namespace k8c::ingress
