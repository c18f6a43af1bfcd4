#include "dataplane/checksum.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/dataplane/fixtures/packet_builder.h"

namespace k8c::dp {
namespace {

using namespace fixtures;

TEST(Checksum, BuiltFramesVerify) {
  Frame f = tcp(ipv4(10, 0, 0, 1), 40000, ipv4(10, 96, 0, 10), 80, tcp_flag::kSyn, 11);
  const uint8_t* ip = f.data() + kEthHdrLen;
  EXPECT_EQ(csum(ip, kIpv4HdrLen), 0);
  EXPECT_EQ(l4_checksum(f), l4_checksum_recomputed(f));
}

TEST(Checksum, KnownIpv4HeaderValue) {
  // The commonly cited worked example (e.g. Wikipedia's "IPv4 header checksum"): b861.
  const uint8_t hdr[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                         0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(bswap16(csum(hdr, sizeof hdr)), 0xb861);
}

TEST(Checksum, FixedHeaderSumMatchesTheGenericOne) {
  const uint8_t hdr[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                         0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(bswap16(ipv4_header_csum20(hdr)), 0xb861);
  std::mt19937 rng(3);
  uint8_t h[kIpv4HdrLen];
  for (int n = 0; n < 10000; ++n) {
    for (uint8_t& b : h) b = static_cast<uint8_t>(rng());
    ASSERT_EQ(ipv4_header_csum20(h), csum(h, kIpv4HdrLen));
  }
  for (uint8_t& b : h) b = 0xff;  // the fold's carry corner
  EXPECT_EQ(ipv4_header_csum20(h), csum(h, kIpv4HdrLen));
}

TEST(Checksum, OddLengthPadsWithZero) {
  const uint8_t odd[] = {0x01, 0x02, 0x03};
  const uint8_t even[] = {0x01, 0x02, 0x03, 0x00};
  EXPECT_EQ(csum(odd, 3), csum(even, 4));
}

// RFC 1624: rewriting addresses and ports with an incremental update gives exactly what a full
// recomputation gives, for the IPv4 header and for the TCP/UDP pseudo-header checksum.
TEST(Checksum, IncrementalMatchesFullRecomputation) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    bool is_tcp = i % 2;
    Frame f = is_tcp ? tcp(rng(), static_cast<uint16_t>(rng()), rng(), static_cast<uint16_t>(rng()),
                           tcp_flag::kAck, rng() % 64)
                     : udp(rng(), static_cast<uint16_t>(rng()), rng(), static_cast<uint16_t>(rng()),
                           rng() % 64);
    uint8_t* ip = f.data() + kEthHdrLen;
    uint8_t* l4 = ip + kIpv4HdrLen;
    uint32_t new_src = static_cast<uint32_t>(rng()), new_dst = static_cast<uint32_t>(rng());
    uint16_t new_sport = static_cast<uint16_t>(rng()), new_dport = static_cast<uint16_t>(rng());
    CsumDelta d3;
    d3.replace32(load<uint32_t>(ip + ip_off::kSrc), new_src);
    d3.replace32(load<uint32_t>(ip + ip_off::kDst), new_dst);
    CsumDelta d4 = d3;
    d4.replace16(load<uint16_t>(l4), new_sport);
    d4.replace16(load<uint16_t>(l4 + 2), new_dport);
    store(ip + ip_off::kSrc, new_src);
    store(ip + ip_off::kDst, new_dst);
    store(l4, new_sport);
    store(l4 + 2, new_dport);
    csum_apply(ip + ip_off::kCsum, d3.folded());
    if (is_tcp)
      csum_apply(l4 + l4_off::kTcpCsum, d4.folded());
    else
      udp_csum_apply(l4 + l4_off::kUdpCsum, d4.folded());
    ASSERT_EQ(ip_checksum(f), ip_checksum_recomputed(f)) << i;
    ASSERT_EQ(l4_checksum(f), l4_checksum_recomputed(f)) << i;
  }
}

TEST(Checksum, UdpWithoutChecksumStaysWithout) {
  Frame f = udp(ipv4(10, 0, 0, 1), 1000, ipv4(10, 0, 0, 2), 53, 4);
  uint8_t* l4 = f.data() + kEthHdrLen + kIpv4HdrLen;
  store<uint16_t>(l4 + l4_off::kUdpCsum, 0);
  CsumDelta d;
  d.replace16(load<uint16_t>(l4), hton16(2000));
  udp_csum_apply(l4 + l4_off::kUdpCsum, d.folded());
  EXPECT_EQ(load<uint16_t>(l4 + l4_off::kUdpCsum), 0);
}

}  // namespace
}  // namespace k8c::dp
