// Packet-level vocabulary shared by every data-plane stage: the view of one frame, the verdict
// the pipeline returns for it, and the drop reasons exported as metrics.
//
// Multi-byte header fields are kept in network byte order end to end on the fast path (flow
// keys, service-table keys, checksum arithmetic), so no stage byte-swaps a field only to swap it
// back. The Internet checksum is byte-order independent (RFC 1071 §2(B)), which is what makes
// this work for the incremental updates too.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace k8c::dp {

// The byte-order helpers below assume it; every target DPDK runs on here is little-endian.
static_assert(std::endian::native == std::endian::little);

// One frame in memory the caller owns. With DPDK it is rte_pktmbuf_mtod() and data_len of a
// single-segment mbuf; stages rewrite headers in place and never change the length, except reply
// builders, which may grow it up to `cap`.
struct PacketView {
  uint8_t* data;
  uint16_t len;
  uint16_t cap;  // bytes writable at data; reply builders need at most 64
  // Sent by the node's kernel on the exception path's tap (a process or a pod on this node is
  // the client), not received from the wire.
  bool from_kernel = false;
};

using Mac = std::array<uint8_t, 6>;

enum class Action : uint8_t {
  kForward,       // rewritten in place; transmit on Verdict::port
  kReply,         // rewritten into an answer; transmit back where it came from
  kDrop,          // Verdict::reason says why
  kPassToKernel,  // not ours: hand it to the kernel (tap / virtio-user exception path)
};

// Every reason a packet can be dropped. The names are the `reason` label of the drop counter.
enum class DropReason : uint8_t {
  kNone = 0,
  kTruncatedEthernet,
  kTruncatedVlan,
  kTruncatedArp,
  kBadArp,
  kTruncatedIp,
  kBadIpVersion,
  kBadIpHeaderLength,
  kBadIpTotalLength,
  kBadIpChecksum,
  kIpOptions,
  kFragment,
  kTruncatedL4,
  kBadL4Header,
  kBadL4Length,
  kUnknownL4Protocol,
  kIcmpUnsupported,
  kNoService,
  kNoBackend,
  kNoLocalBackend,
  kConntrackFull,
  kTupleConflict,
  kSnatPortsExhausted,
  kNoNeighbour,  // the next hop's MAC is not known yet (an ARP request is on its way)
  kCount,
};

inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);

constexpr std::string_view drop_reason_name(DropReason r) {
  constexpr std::string_view kNames[] = {"none",
                                         "truncated_ethernet",
                                         "truncated_vlan",
                                         "truncated_arp",
                                         "bad_arp",
                                         "truncated_ip",
                                         "bad_ip_version",
                                         "bad_ip_header_length",
                                         "bad_ip_total_length",
                                         "bad_ip_checksum",
                                         "ip_options",
                                         "fragment",
                                         "truncated_l4",
                                         "bad_l4_header",
                                         "bad_l4_length",
                                         "unknown_l4_protocol",
                                         "icmp_unsupported",
                                         "no_service",
                                         "no_backend",
                                         "no_local_backend",
                                         "conntrack_full",
                                         "tuple_conflict",
                                         "snat_ports_exhausted",
                                         "no_neighbour"};
  static_assert(std::size(kNames) == kDropReasonCount);
  auto i = static_cast<size_t>(r);
  return i < kDropReasonCount ? kNames[i] : std::string_view("invalid");
}

struct Verdict {
  Action action = Action::kDrop;
  DropReason reason = DropReason::kNone;
  uint16_t port = 0;  // output port for kForward

  static constexpr Verdict drop(DropReason r) { return {Action::kDrop, r, 0}; }
  static constexpr Verdict pass() { return {Action::kPassToKernel, DropReason::kNone, 0}; }
  static constexpr Verdict reply() { return {Action::kReply, DropReason::kNone, 0}; }
  static constexpr Verdict forward(uint16_t port) {
    return {Action::kForward, DropReason::kNone, port};
  }
};

// Headers are not aligned in a frame (14-byte Ethernet header), so every access goes through
// memcpy, which compiles to a single unaligned load or store on x86.
template <class T>
inline T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline void store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

inline constexpr uint16_t bswap16(uint16_t v) {
  return static_cast<uint16_t>((v << 8) | (v >> 8));
}
inline constexpr uint32_t bswap32(uint32_t v) {
  return __builtin_bswap32(v);
}
// Host-order to network-order conversions for configuration (never needed per packet).
inline constexpr uint16_t hton16(uint16_t v) {
  return bswap16(v);
}
inline constexpr uint32_t hton32(uint32_t v) {
  return bswap32(v);
}

inline constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;  // host order
}

namespace proto {
inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherVlan = 0x8100;
inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
}  // namespace proto

namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kAck = 0x10;
}  // namespace tcp_flag

}  // namespace k8c::dp
