#include "dataplane/parse.h"

#include "dataplane/checksum.h"

namespace k8c::dp {

namespace {

DropReason parse_l4(const uint8_t* l4, uint16_t avail, Parsed& out) {
  switch (out.l4_proto) {
    case proto::kTcp: {
      if (avail < kTcpHdrLen) return DropReason::kTruncatedL4;
      uint16_t doff = static_cast<uint16_t>((l4[12] >> 4) * 4);
      if (doff < kTcpHdrLen) return DropReason::kBadL4Header;
      if (doff > avail) return DropReason::kTruncatedL4;
      out.tcp_flags = l4[l4_off::kTcpFlags];
      break;
    }
    case proto::kUdp: {
      if (avail < kUdpHdrLen) return DropReason::kTruncatedL4;
      uint16_t ulen = bswap16(load<uint16_t>(l4 + l4_off::kUdpLen));
      if (ulen < kUdpHdrLen || ulen != avail) return DropReason::kBadL4Length;
      break;
    }
    case proto::kIcmp:
      if (avail < kIcmpHdrLen) return DropReason::kTruncatedL4;
      out.l4_valid = true;
      return DropReason::kNone;
    default:
      return DropReason::kNone;  // the pipeline decides whether an unknown protocol is ours
  }
  out.sport = load<uint16_t>(l4 + l4_off::kSport);
  out.dport = load<uint16_t>(l4 + l4_off::kDport);
  out.l4_valid = true;
  return DropReason::kNone;
}

// The frame shape nearly all traffic has (untagged IPv4 without options, TCP or UDP, not a
// fragment), checked and parsed in one straight run: about a third of the general path's
// instructions. False, with `out` partly written, when the frame is anything else or fails a
// check: the general path then parses it afresh and names the reason.
inline bool parse_common(const PacketView& pkt, Parsed& out) {
  constexpr uint16_t kIp = kEthHdrLen, kL4 = kEthHdrLen + kIpv4HdrLen;
  const uint8_t* d = pkt.data;
  if (pkt.len < kL4 + kUdpHdrLen) return false;
  if (load<uint16_t>(d + 12) != hton16(proto::kEtherIpv4) || d[kIp] != 0x45) return false;
  const uint8_t* ip = d + kIp;
  const uint8_t pr = ip[ip_off::kProto];
  const uint16_t total = bswap16(load<uint16_t>(ip + ip_off::kTotalLen));
  if (total < kIpv4HdrLen || total > pkt.len - kIp) return false;
  if (load<uint16_t>(ip + ip_off::kFrag) & hton16(0x3fff)) return false;
  if (ipv4_header_csum20(ip) != 0) return false;
  const uint8_t* l4 = d + kL4;
  const uint16_t l4_len = static_cast<uint16_t>(total - kIpv4HdrLen);
  if (pr == proto::kTcp) {
    if (l4_len < kTcpHdrLen) return false;
    const uint16_t doff = static_cast<uint16_t>((l4[12] >> 4) * 4);
    if (doff < kTcpHdrLen || doff > l4_len) return false;
    out.tcp_flags = l4[l4_off::kTcpFlags];
  } else if (pr == proto::kUdp) {
    if (l4_len < kUdpHdrLen || bswap16(load<uint16_t>(l4 + l4_off::kUdpLen)) != l4_len)
      return false;
    out.tcp_flags = 0;
  } else {
    return false;
  }
  out.l3 = L3::kIpv4;
  out.l4_proto = pr;
  out.fragment = false;
  out.ip_options = false;
  out.l4_valid = true;
  out.l3_off = kIp;
  out.l4_off = kL4;
  out.ip_end = static_cast<uint16_t>(kIp + total);
  out.src = load<uint32_t>(ip + ip_off::kSrc);
  out.dst = load<uint32_t>(ip + ip_off::kDst);
  out.sport = load<uint16_t>(l4 + l4_off::kSport);
  out.dport = load<uint16_t>(l4 + l4_off::kDport);
  return true;
}

}  // namespace

DropReason parse(const PacketView& pkt, Parsed& out) {
  if (parse_common(pkt, out)) return DropReason::kNone;
  const uint8_t* d = pkt.data;
  uint16_t len = pkt.len;
  out = Parsed{};
  if (len < kEthHdrLen) return DropReason::kTruncatedEthernet;
  uint16_t off = kEthHdrLen;
  uint16_t type = bswap16(load<uint16_t>(d + 12));
  if (type == proto::kEtherVlan) {
    if (len < kEthHdrLen + kVlanHdrLen) return DropReason::kTruncatedVlan;
    type = bswap16(load<uint16_t>(d + 16));
    off += kVlanHdrLen;
  }
  out.l3_off = off;
  if (type == proto::kEtherArp) {
    if (len - off < kArpLen) return DropReason::kTruncatedArp;
    out.l3 = L3::kArp;
    return DropReason::kNone;
  }
  if (type != proto::kEtherIpv4) return DropReason::kNone;  // L3::kOther: IPv6, LLDP, ...

  const uint8_t* ip = d + off;
  uint16_t avail = static_cast<uint16_t>(len - off);
  if (avail < kIpv4HdrLen) return DropReason::kTruncatedIp;
  if ((ip[0] >> 4) != 4) return DropReason::kBadIpVersion;
  uint16_t ihl = static_cast<uint16_t>((ip[0] & 0x0f) * 4);
  if (ihl < kIpv4HdrLen) return DropReason::kBadIpHeaderLength;
  if (ihl > avail) return DropReason::kTruncatedIp;
  uint16_t total = bswap16(load<uint16_t>(ip + ip_off::kTotalLen));
  if (total < ihl || total > avail) return DropReason::kBadIpTotalLength;
  if ((ihl == kIpv4HdrLen ? ipv4_header_csum20(ip) : csum(ip, ihl)) != 0)
    return DropReason::kBadIpChecksum;

  out.l3 = L3::kIpv4;
  out.ip_options = ihl > kIpv4HdrLen;
  out.l4_off = static_cast<uint16_t>(off + ihl);
  out.ip_end = static_cast<uint16_t>(off + total);
  out.l4_proto = ip[ip_off::kProto];
  out.src = load<uint32_t>(ip + ip_off::kSrc);
  out.dst = load<uint32_t>(ip + ip_off::kDst);
  // Flags/offset word: MF is 0x2000, the offset is the low 13 bits; DF (0x4000) is fine.
  out.fragment = (bswap16(load<uint16_t>(ip + ip_off::kFrag)) & 0x3fff) != 0;
  if (out.fragment) return DropReason::kNone;  // no reliable L4 header to look at
  return parse_l4(d + out.l4_off, static_cast<uint16_t>(total - ihl), out);
}

}  // namespace k8c::dp
