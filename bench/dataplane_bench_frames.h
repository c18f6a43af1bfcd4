// What the data-plane benchmarks share: one ClusterIP Service with its NodePort, a million
// distinct client tuples, and a writer that turns a frame template into the frame of any of
// them (a 64-byte copy and two checksum adjustments: the stand-in for a NIC's DMA).
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/checksum.h"
#include "dataplane/pipeline.h"
#include "tests/dataplane/fixtures/packet_builder.h"

namespace k8c::dp::bench {

using fixtures::Frame;

inline constexpr uint32_t kNodeIp = ipv4(192, 168, 1, 10);
inline constexpr uint32_t kVip = ipv4(10, 96, 0, 10);
inline constexpr uint16_t kFrameLen = 64;  // 60 + FCS on the wire

inline std::unique_ptr<ServiceTable> make_table(size_t n_backends) {
  NodeConfig node;
  node.node_ip = kNodeIp;
  node.mac = fixtures::kNodeMac;
  node.gateway_mac = fixtures::kGatewayMac;
  ServiceSpec s;
  s.id = 1;
  s.name = "bench/web:http";
  s.cluster_ip = kVip;
  s.port = 80;
  s.node_port = 30080;
  for (size_t i = 0; i < n_backends; ++i) {
    BackendSpec b;
    b.ip = ipv4(10, 1, 0, 0) + static_cast<uint32_t>(i) + 1;
    b.port = 8080;
    s.backends.push_back(b);
  }
  std::vector<ServiceSpec> specs = {s};
  return ServiceTable::build(node, specs, nullptr);
}

// The i-th client tuple. Host order.
inline uint32_t client_ip(uint32_t i) {
  return ipv4(10, 64, 0, 0) + (i >> 6);
}
inline uint16_t client_port(uint32_t i) {
  return static_cast<uint16_t>(1024 + (i & 63) * 1000 + (i >> 22));
}

// A 64-byte frame from the i-th client tuple.
inline Frame client_frame(uint32_t i, uint8_t flags, uint32_t dst, uint16_t dport) {
  Frame f = fixtures::tcp(client_ip(i), client_port(i), dst, dport, flags, 6);
  f.resize(kFrameLen, 0);
  return f;
}

// Writes the frame of any client tuple from one template.
class FrameWriter {
 public:
  FrameWriter(uint8_t flags, uint32_t dst, uint16_t dport) {
    Frame t = client_frame(0, flags, dst, dport);
    std::memcpy(tmpl_, t.data(), kFrameLen);
    src0_ = load<uint32_t>(tmpl_ + kIp + ip_off::kSrc);
    sport0_ = load<uint16_t>(tmpl_ + kL4);
  }
  void write(uint8_t* b, uint32_t flow) const {
    std::memcpy(b, tmpl_, kFrameLen);
    uint32_t src = hton32(client_ip(flow));
    uint16_t sport = hton16(client_port(flow));
    CsumDelta d;
    d.replace32(src0_, src);
    store(b + kIp + ip_off::kSrc, src);
    csum_apply(b + kIp + ip_off::kCsum, d.folded());
    d.replace16(sport0_, sport);
    store(b + kL4, sport);
    csum_apply(b + kL4 + l4_off::kTcpCsum, d.folded());
  }

 private:
  static constexpr uint16_t kIp = kEthHdrLen, kL4 = kEthHdrLen + kIpv4HdrLen;
  alignas(64) uint8_t tmpl_[kFrameLen];
  uint32_t src0_ = 0;
  uint16_t sport0_ = 0;
};

}  // namespace k8c::dp::bench
