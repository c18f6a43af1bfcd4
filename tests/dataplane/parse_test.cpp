#include "dataplane/parse.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/dataplane/fixtures/packet_builder.h"

namespace k8c::dp {
namespace {

using namespace fixtures;

const uint32_t kSrc = ipv4(10, 0, 0, 1);
const uint32_t kDst = ipv4(10, 96, 0, 10);

DropReason parse_frame(Frame& f, Parsed* out = nullptr) {
  Parsed p;
  DropReason r = parse(view(f), p);
  if (out) *out = p;
  return r;
}

void refresh_ip_checksum(Frame& f) {
  uint8_t* ip = f.data() + l3_offset(f);
  store<uint16_t>(ip + ip_off::kCsum, 0);
  store<uint16_t>(ip + ip_off::kCsum, csum(ip, (ip[0] & 0x0f) * 4));
}

TEST(Parse, Tcp) {
  Frame f = tcp(kSrc, 40000, kDst, 80, tcp_flag::kSyn, 5);
  Parsed p;
  ASSERT_EQ(parse_frame(f, &p), DropReason::kNone);
  EXPECT_EQ(p.l3, L3::kIpv4);
  EXPECT_EQ(p.l4_proto, proto::kTcp);
  EXPECT_TRUE(p.l4_valid);
  EXPECT_EQ(p.src, hton32(kSrc));
  EXPECT_EQ(p.dst, hton32(kDst));
  EXPECT_EQ(p.sport, hton16(40000));
  EXPECT_EQ(p.dport, hton16(80));
  EXPECT_EQ(p.tcp_flags, tcp_flag::kSyn);
  EXPECT_EQ(p.l4_off, kEthHdrLen + kIpv4HdrLen);
  EXPECT_FALSE(p.fragment);
  EXPECT_FALSE(p.ip_options);
}

TEST(Parse, VlanTaggedUdp) {
  IpOptions o;
  o.vlan = true;
  Frame f = udp(kSrc, 5000, kDst, 53, 10, o);
  Parsed p;
  ASSERT_EQ(parse_frame(f, &p), DropReason::kNone);
  EXPECT_EQ(p.l3_off, kEthHdrLen + kVlanHdrLen);
  EXPECT_EQ(p.dport, hton16(53));
}

TEST(Parse, EthernetPaddingIsAllowed) {
  Frame f = udp(kSrc, 5000, kDst, 53, 0);
  f.resize(60, 0);  // padded to the Ethernet minimum
  Parsed p;
  ASSERT_EQ(parse_frame(f, &p), DropReason::kNone);
  EXPECT_EQ(p.ip_end, kEthHdrLen + kIpv4HdrLen + kUdpHdrLen);
}

TEST(Parse, ArpAndOtherEthertypes) {
  Frame a = arp(1, kClientMac, kSrc, kDst);
  Parsed p;
  ASSERT_EQ(parse_frame(a, &p), DropReason::kNone);
  EXPECT_EQ(p.l3, L3::kArp);
  Frame v6(60, 0);
  put16(v6.data() + 12, 0x86dd);
  ASSERT_EQ(parse_frame(v6, &p), DropReason::kNone);
  EXPECT_EQ(p.l3, L3::kOther);
}

TEST(Parse, FragmentsAndOptionsAreReported) {
  IpOptions frag;
  frag.frag = 0x2000;  // MF
  Frame f = udp(kSrc, 1, kDst, 2, 16, frag);
  Parsed p;
  ASSERT_EQ(parse_frame(f, &p), DropReason::kNone);
  EXPECT_TRUE(p.fragment);
  EXPECT_FALSE(p.l4_valid);

  IpOptions later;
  later.frag = 185;  // offset only
  Frame g = udp(kSrc, 1, kDst, 2, 16, later);
  ASSERT_EQ(parse_frame(g, &p), DropReason::kNone);
  EXPECT_TRUE(p.fragment);

  IpOptions opt;
  opt.options = {0x94, 0x04, 0x00, 0x00};  // router alert
  Frame h = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn, 0, opt);
  ASSERT_EQ(parse_frame(h, &p), DropReason::kNone);
  EXPECT_TRUE(p.ip_options);
  EXPECT_EQ(p.l4_off, kEthHdrLen + 24);
  EXPECT_EQ(p.dport, hton16(2));
}

TEST(Parse, UnknownL4ProtocolParses) {
  std::vector<uint8_t> payload(8, 0);
  Frame f = ipv4_frame(kSrc, kDst, 47 /* GRE */, payload);
  Parsed p;
  ASSERT_EQ(parse_frame(f, &p), DropReason::kNone);
  EXPECT_EQ(p.l4_proto, 47);
  EXPECT_FALSE(p.l4_valid);
}

TEST(Parse, DropReasons) {
  Frame f(10, 0);
  EXPECT_EQ(parse_frame(f), DropReason::kTruncatedEthernet);

  f.assign(16, 0);
  put16(f.data() + 12, proto::kEtherVlan);
  EXPECT_EQ(parse_frame(f), DropReason::kTruncatedVlan);

  f = arp(1, kClientMac, kSrc, kDst);
  f.resize(kEthHdrLen + 20);
  EXPECT_EQ(parse_frame(f), DropReason::kTruncatedArp);

  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  f.resize(kEthHdrLen + 12);
  EXPECT_EQ(parse_frame(f), DropReason::kTruncatedIp);

  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  f[kEthHdrLen] = 0x65;
  EXPECT_EQ(parse_frame(f), DropReason::kBadIpVersion);

  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  f[kEthHdrLen] = 0x44;
  EXPECT_EQ(parse_frame(f), DropReason::kBadIpHeaderLength);

  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  f[kEthHdrLen] = 0x4f;  // 60-byte header in a 54-byte frame
  EXPECT_EQ(parse_frame(f), DropReason::kTruncatedIp);

  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  put16(f.data() + kEthHdrLen + ip_off::kTotalLen, 200);
  refresh_ip_checksum(f);
  EXPECT_EQ(parse_frame(f), DropReason::kBadIpTotalLength);

  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  put16(f.data() + kEthHdrLen + ip_off::kTotalLen, 10);
  refresh_ip_checksum(f);
  EXPECT_EQ(parse_frame(f), DropReason::kBadIpTotalLength);

  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  f[kEthHdrLen + ip_off::kTtl] ^= 1;
  EXPECT_EQ(parse_frame(f), DropReason::kBadIpChecksum);

  // A TCP header cut short, both by the frame and by the IPv4 total length.
  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  put16(f.data() + kEthHdrLen + ip_off::kTotalLen, kIpv4HdrLen + 10);
  refresh_ip_checksum(f);
  f.resize(kEthHdrLen + kIpv4HdrLen + 10);
  EXPECT_EQ(parse_frame(f), DropReason::kTruncatedL4);

  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  f[kEthHdrLen + kIpv4HdrLen + 12] = 0x30;  // data offset 3 words
  EXPECT_EQ(parse_frame(f), DropReason::kBadL4Header);

  f = tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn);
  f[kEthHdrLen + kIpv4HdrLen + 12] = 0xf0;  // 60-byte header in a 20-byte segment
  EXPECT_EQ(parse_frame(f), DropReason::kTruncatedL4);

  f = udp(kSrc, 1, kDst, 2, 8);
  put16(f.data() + kEthHdrLen + kIpv4HdrLen + 4, 30);
  EXPECT_EQ(parse_frame(f), DropReason::kBadL4Length);

  f = udp(kSrc, 1, kDst, 2, 8);
  put16(f.data() + kEthHdrLen + kIpv4HdrLen + 4, 4);
  EXPECT_EQ(parse_frame(f), DropReason::kBadL4Length);

  std::vector<uint8_t> four(4, 0);
  f = ipv4_frame(kSrc, kDst, proto::kUdp, four);
  EXPECT_EQ(parse_frame(f), DropReason::kTruncatedL4);
  f = ipv4_frame(kSrc, kDst, proto::kIcmp, four);
  EXPECT_EQ(parse_frame(f), DropReason::kTruncatedL4);
}

// Every prefix of a valid frame parses or fails cleanly (run under ASan, this is the "never
// read past len" guarantee for the common shapes).
TEST(Parse, EveryTruncationIsSafe) {
  IpOptions opt;
  opt.options = {1, 1, 1, 1};
  opt.vlan = true;
  std::vector<Frame> frames = {tcp(kSrc, 1, kDst, 2, tcp_flag::kSyn, 20), udp(kSrc, 1, kDst, 2, 20),
                               icmp_echo(kSrc, kDst, 1, 1), arp(1, kClientMac, kSrc, kDst),
                               tcp(kSrc, 1, kDst, 2, 0, 4, opt)};
  for (const Frame& full : frames) {
    for (size_t n = 0; n < full.size(); ++n) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
      Parsed p;
      PacketView v{cut.data(), static_cast<uint16_t>(n), static_cast<uint16_t>(n)};
      DropReason r = parse(v, p);
      if (r == DropReason::kNone) {
        EXPECT_LE(p.l4_off, n);
        EXPECT_LE(p.ip_end, n);
      }
    }
  }
}

// parse() takes a short path for the common shape (untagged IPv4, no options, TCP or UDP) and
// the general one for the rest, a VLAN tag included. So the same frame with a tag added must
// parse the same way, field by field (offsets moved by the tag): a differential test of the two
// paths over valid frames and thousands of damaged ones.
TEST(Parse, CommonFramesParseAsTheGeneralPathDoes) {
  std::mt19937 rng(11);
  auto tagged = [](const Frame& f) {
    Frame t(f.begin(), f.begin() + 12);
    for (uint8_t b : {0x81, 0x00, 0x00, 0x05}) t.push_back(b);
    t.insert(t.end(), f.begin() + 12, f.end());
    return t;
  };
  int common = 0;
  for (int n = 0; n < 20000; ++n) {
    Frame f = n % 2 ? tcp(kSrc, 40000, kDst, 80, tcp_flag::kAck, n % 30)
                    : udp(kSrc, 5000, kDst, 53, static_cast<size_t>(n % 30));
    if (n % 5 == 1) f.resize(f.size() + rng() % 20, 0);  // Ethernet padding
    int flips = n % 7 == 0 ? 0 : 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < flips; ++i) {
      // Damage the IPv4 or L4 header; refresh the IP checksum half of the time, so that the
      // damage itself is what is judged.
      size_t at = kEthHdrLen + rng() % (kIpv4HdrLen + kTcpHdrLen);
      if (at < f.size()) f[at] = static_cast<uint8_t>(rng());
    }
    if (rng() % 2 && (f[kEthHdrLen] >> 4) == 4 && (f[kEthHdrLen] & 0x0f) >= 5 &&
        f.size() >= kEthHdrLen + (f[kEthHdrLen] & 0x0fu) * 4)
      refresh_ip_checksum(f);
    if (rng() % 8 == 0) f.resize(rng() % f.size());
    Frame t = tagged(f.size() >= 14 ? f : Frame(14, 0));
    if (f.size() < 14) continue;
    Parsed a, b;
    DropReason ra = parse_frame(f, &a), rb = parse_frame(t, &b);
    ASSERT_EQ(drop_reason_name(ra), drop_reason_name(rb)) << "frame " << n;
    if (ra != DropReason::kNone) continue;
    common += a.l3 == L3::kIpv4 && a.l4_valid && !a.fragment && !a.ip_options;
    EXPECT_EQ(a.l3, b.l3);
    EXPECT_EQ(a.l4_proto, b.l4_proto);
    EXPECT_EQ(a.tcp_flags, b.tcp_flags);
    EXPECT_EQ(a.fragment, b.fragment);
    EXPECT_EQ(a.ip_options, b.ip_options);
    EXPECT_EQ(a.l4_valid, b.l4_valid);
    EXPECT_EQ(a.l3_off + kVlanHdrLen, b.l3_off);
    if (a.l3 == L3::kIpv4) {
      EXPECT_EQ(a.l4_off + kVlanHdrLen, b.l4_off);
      EXPECT_EQ(a.ip_end + kVlanHdrLen, b.ip_end);
    }
    EXPECT_EQ(a.src, b.src);
    EXPECT_EQ(a.dst, b.dst);
    EXPECT_EQ(a.sport, b.sport);
    EXPECT_EQ(a.dport, b.dport);
  }
  EXPECT_GT(common, 2000);  // the short path was taken often, not just the general one
}

TEST(Parse, DropReasonNamesAreUniqueAndSnakeCase) {
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    std::string_view a = drop_reason_name(static_cast<DropReason>(i));
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string_view::npos)
        << a;
    for (size_t j = i + 1; j < kDropReasonCount; ++j)
      EXPECT_NE(a, drop_reason_name(static_cast<DropReason>(j)));
  }
  EXPECT_EQ(drop_reason_name(DropReason::kFragment), "fragment");
  EXPECT_EQ(drop_reason_name(DropReason::kIpOptions), "ip_options");
}

}  // namespace
}  // namespace k8c::dp
