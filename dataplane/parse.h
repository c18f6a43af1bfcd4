// Header parsing: validates the frame once and records where each header starts, so later
// stages index straight into it. Nothing here reads past PacketView::len.
#pragma once

#include <cstdint>

#include "dataplane/packet.h"

namespace k8c::dp {

inline constexpr uint16_t kEthHdrLen = 14;
inline constexpr uint16_t kVlanHdrLen = 4;
inline constexpr uint16_t kArpLen = 28;
inline constexpr uint16_t kIpv4HdrLen = 20;
inline constexpr uint16_t kTcpHdrLen = 20;
inline constexpr uint16_t kUdpHdrLen = 8;
inline constexpr uint16_t kIcmpHdrLen = 8;

// Byte offsets inside the IPv4 header.
namespace ip_off {
inline constexpr uint16_t kTotalLen = 2;
inline constexpr uint16_t kFrag = 6;
inline constexpr uint16_t kTtl = 8;
inline constexpr uint16_t kProto = 9;
inline constexpr uint16_t kCsum = 10;
inline constexpr uint16_t kSrc = 12;
inline constexpr uint16_t kDst = 16;
}  // namespace ip_off

// Byte offsets inside the TCP/UDP header.
namespace l4_off {
inline constexpr uint16_t kSport = 0;
inline constexpr uint16_t kDport = 2;
inline constexpr uint16_t kUdpLen = 4;
inline constexpr uint16_t kUdpCsum = 6;
inline constexpr uint16_t kTcpFlags = 13;
inline constexpr uint16_t kTcpCsum = 16;
}  // namespace l4_off

enum class L3 : uint8_t { kOther, kArp, kIpv4 };

// What the parser learned. Addresses and ports are in network order, as in the frame.
struct Parsed {
  L3 l3 = L3::kOther;
  uint8_t l4_proto = 0;
  uint8_t tcp_flags = 0;
  bool fragment = false;    // MF set or offset != 0: L4 ports are absent or unreliable
  bool ip_options = false;  // IHL > 5
  bool l4_valid = false;    // a complete TCP/UDP/ICMP header follows the IPv4 header
  uint16_t l3_off = 0;      // start of the ARP or IPv4 header
  uint16_t l4_off = 0;      // start of the L4 header (IPv4 only)
  uint16_t ip_end = 0;      // l3_off + IPv4 total length: bytes beyond it are Ethernet padding
  uint32_t src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
};

// Parses Ethernet (one optional 802.1Q tag), ARP and IPv4 with its L4 header. Returns kNone on
// success; the frame is then safe to index at every offset recorded in `out`.
//
// Decisions: IPv4 header checksums are verified here (a corrupted header must not create a
// flow). L4 checksums are not: NICs verify them, and NAT updates them incrementally, which
// keeps a bad one bad for the receiver to reject. Fragments and IP options are reported, not
// dropped: only traffic for addresses the data plane owns is dropped for them (the pipeline
// decides), everything else still reaches the kernel.
DropReason parse(const PacketView& pkt, Parsed& out);

}  // namespace k8c::dp
