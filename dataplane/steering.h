// Software flow steering between polling lcores: which lcore owns a frame's flow.
//
// With several RX queues, the port (RSS, or af_packet's kernel fanout) spreads frames by a hash
// of their 5-tuple. NAT breaks that for the data plane: a flow's reply (backend -> client, or
// backend -> node:SNAT port) has another 5-tuple than its first packet (client -> VIP), so it
// lands on any queue, usually not the one whose lcore holds the flow in its conntrack table. A
// symmetric RSS key only helps when nothing is rewritten.
//
// So each lcore looks at what it received and hands frames it does not own to the owner (an
// rte_ring per lcore, in the runtime). The owner is a function of what both directions of a
// flow share:
//   - to a VIP, or to a NodePort of the node address (the first direction): the client's
//     (address, port), which is the source;
//   - to the node address on a port of the SNAT range (a reply to a masqueraded flow): the lcore
//     whose range holds the port (ServiceTable::snat_owner), which is where the flow was SNATed
//     because its first packet was steered to its client's owner;
//   - to the node address on one of its kernel's ephemeral ports (maybe a reply to the node's
//     own connection to a VIP, through the exception path): that client endpoint's owner;
//   - to any other address (a reply to a flow that kept the client address): the destination,
//     which is the client;
//   - anything else (ARP, ICMP, the kernel's own traffic, fragments): the lcore that got it.
// Header-only and EAL-free, so the unit test runs it next to the pipeline.
#pragma once

#include <algorithm>
#include <cstdint>

#include "dataplane/maglev.h"
#include "dataplane/packet.h"
#include "dataplane/parse.h"
#include "dataplane/service_table.h"

namespace k8c::dp {

// Where the node kernel's ephemeral ports start, above the NodePort range (30000-32767).
inline constexpr uint16_t kKernelEphemeralMin = 32768;

// The owner among `lcores` of the client endpoint (address, port), both in network order.
inline unsigned client_owner(uint32_t ip, uint16_t port, unsigned lcores) {
  uint64_t h = mix64(uint64_t{ip} << 16 | port);
  return static_cast<unsigned>(((h >> 32) * lcores) >> 32);
}

// The lcore owning this frame's flow; `self` when the frame has no flow or is not one the
// pipeline would track. `t` is the lcore's current table.
inline unsigned flow_owner(const uint8_t* d, uint16_t len, const ServiceTable& t, unsigned lcores,
                           unsigned self) {
  uint16_t l3 = kEthHdrLen;
  if (len < l3 + kIpv4HdrLen) return self;
  uint16_t ethertype = load<uint16_t>(d + 12);
  if (ethertype == hton16(proto::kEtherVlan)) {
    l3 += kVlanHdrLen;
    if (len < l3 + kIpv4HdrLen) return self;
    ethertype = load<uint16_t>(d + l3 - 2);
  }
  if (ethertype != hton16(proto::kEtherIpv4)) return self;
  const uint8_t* ip = d + l3;
  uint8_t pr = ip[ip_off::kProto];
  if (pr != proto::kTcp && pr != proto::kUdp) return self;
  // A fragment's ports are unknown (the pipeline drops or passes it wherever it lands).
  if (load<uint16_t>(ip + ip_off::kFrag) & hton16(0x3fff)) return self;
  uint16_t l4 = static_cast<uint16_t>(l3 + (ip[0] & 0x0f) * 4);
  if ((ip[0] >> 4) != 4 || len < l4 + 4) return self;
  uint32_t src = load<uint32_t>(ip + ip_off::kSrc), dst = load<uint32_t>(ip + ip_off::kDst);
  uint16_t sport = load<uint16_t>(d + l4), dport = load<uint16_t>(d + l4 + 2);
  switch (t.address_kind(dst)) {
    case AddressKind::kVip:
      return client_owner(src, sport, lcores);
    case AddressKind::kNodeIp: {
      if (t.lookup(dst, dport, pr)) return client_owner(src, sport, lcores);
      uint16_t port = bswap16(dport);
      const NodeConfig& n = t.node();
      if (port >= n.snat_port_min && port <= n.snat_port_max)
        return std::min(t.snat_owner(port), lcores - 1);
      // Above the NodePort range: the node kernel's ephemeral ports (32768-60999 by default),
      // so maybe the answer to its own connection to a VIP, whose flow lives with that client.
      if (port >= kKernelEphemeralMin) return client_owner(dst, dport, lcores);
      return self;
    }
    case AddressKind::kNone:
      return client_owner(dst, dport, lcores);
  }
  return self;
}

}  // namespace k8c::dp
