// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// Words are loaded in host order straight from the frame and stored back the same way: the
// one's-complement sum commutes with byte swapping, so no conversion is needed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/packet.h"

namespace k8c::dp {

// Folds a 32-bit one's-complement accumulator into 16 bits.
inline uint16_t csum_fold(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Unfolded one's-complement sum of `len` bytes, added to `sum`.
inline uint32_t csum_partial(const uint8_t* p, size_t len, uint32_t sum = 0) {
  uint64_t acc = sum;
  while (len >= 4) {
    acc += load<uint32_t>(p);
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    acc += load<uint16_t>(p);
    p += 2;
    len -= 2;
  }
  if (len) {
    uint8_t last[2] = {*p, 0};  // pad the odd byte as the high-order byte of its word
    acc += load<uint16_t>(last);
  }
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  return static_cast<uint32_t>(acc);
}

// The checksum field value for `len` bytes whose checksum field is zero (or for verification:
// returns 0 when the bytes, checksum included, are valid).
inline uint16_t csum(const uint8_t* p, size_t len, uint32_t sum = 0) {
  return static_cast<uint16_t>(~csum_fold(csum_partial(p, len, sum)));
}

// csum() of an option-less IPv4 header: five words, no loop (the generic loop, vectorised for
// any length, costs several times as many instructions on every packet).
inline uint16_t ipv4_header_csum20(const uint8_t* ip) {
  uint64_t acc = uint64_t{load<uint32_t>(ip)} + load<uint32_t>(ip + 4) + load<uint32_t>(ip + 8) +
                 load<uint32_t>(ip + 12) + load<uint32_t>(ip + 16);
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  return static_cast<uint16_t>(~csum_fold(static_cast<uint32_t>(acc)));
}

// Pseudo-header sum for TCP/UDP over IPv4; addresses in network order as read from the frame.
inline uint32_t pseudo_header_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len) {
  uint32_t s = (src & 0xffff) + (src >> 16) + (dst & 0xffff) + (dst >> 16);
  s += hton16(proto) + hton16(l4_len);
  return s;
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). A Delta accumulates the (~m + m') terms of every
// field a rewrite changes, so one flow's NAT can be precomputed once and applied per packet
// with two additions and a fold.
struct CsumDelta {
  uint32_t sum = 0;

  void replace16(uint16_t old_v, uint16_t new_v) { sum += static_cast<uint16_t>(~old_v) + new_v; }
  void replace32(uint32_t old_v, uint32_t new_v) {
    replace16(static_cast<uint16_t>(old_v), static_cast<uint16_t>(new_v));
    replace16(static_cast<uint16_t>(old_v >> 16), static_cast<uint16_t>(new_v >> 16));
  }
  uint16_t folded() const { return csum_fold(sum); }
};

// Applies a folded delta to the checksum stored at p.
inline void csum_apply(uint8_t* p, uint16_t delta) {
  uint16_t hc = load<uint16_t>(p);
  uint32_t s = static_cast<uint16_t>(~hc) + uint32_t{delta};
  store<uint16_t>(p, static_cast<uint16_t>(~csum_fold(s)));
}

// UDP over IPv4 may carry no checksum (0), which must stay 0; a computed 0 is sent as 0xffff
// (RFC 768), because 0 would read as "no checksum".
inline void udp_csum_apply(uint8_t* p, uint16_t delta) {
  if (load<uint16_t>(p) == 0) return;
  csum_apply(p, delta);
  if (load<uint16_t>(p) == 0) store<uint16_t>(p, 0xffff);
}

}  // namespace k8c::dp
