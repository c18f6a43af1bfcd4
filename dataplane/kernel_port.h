// The kernel side of the exception path (EalRuntime's tap): giving the kernel interface the
// node address, so that the kernel answers ARP and ICMP for it and owns its non-Service traffic
// (ssh, the health checks, anything the node itself serves).
#pragma once

#include <cstdint>
#include <string>

namespace k8c::dp {

// Adds ip/prefix_len (host order) to the interface `ifname` unless it has that address
// already, and brings the interface up. False with *error naming the problem.
bool add_interface_address(const std::string& ifname, uint32_t ip, unsigned prefix_len,
                           std::string* error);

}  // namespace k8c::dp
