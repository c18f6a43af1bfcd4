#include "dataplane/neighbour.h"

#include "dataplane/parse.h"

#include <algorithm>
#include <bit>

namespace k8c::dp {

std::unique_ptr<NeighbourTable> NeighbourTable::build(uint32_t subnet, uint32_t mask,
                                                      const Mac* gateway,
                                                      std::span<const Entry> entries) {
  auto t = std::make_unique<NeighbourTable>();
  // Load factor at most 1/2, so a miss ends within a probe or two.
  size_t size = std::bit_ceil(std::max<size_t>(16, entries.size() * 2));
  t->slots_.resize(size);
  t->mask_ = static_cast<uint32_t>(size - 1);
  t->subnet_mask_ = mask;
  t->subnet_ = subnet & mask;
  if (gateway) {
    t->gateway_ = *gateway;
    t->has_gateway_ = true;
  }
  for (const Entry& e : entries) {
    for (uint32_t i = t->home(e.ip);; i = (i + 1) & t->mask_) {
      Slot& s = t->slots_[i];
      if (s.used && s.ip == e.ip) {  // a later entry for the same address wins
        s.mac = e.mac;
        break;
      }
      if (!s.used) {
        s = {e.ip, e.mac, true};
        ++t->count_;
        break;
      }
    }
  }
  return t;
}

uint16_t build_arp_request(uint8_t* buf, uint16_t cap, const Mac& mac, uint32_t sender_ip,
                           uint32_t target_ip) {
  constexpr uint16_t kLen = 60;
  if (cap < kLen) return 0;
  std::memset(buf, 0, kLen);
  std::memset(buf, 0xff, 6);
  std::memcpy(buf + 6, mac.data(), 6);
  store<uint16_t>(buf + 12, hton16(proto::kEtherArp));
  uint8_t* a = buf + kEthHdrLen;
  store<uint16_t>(a, hton16(1));
  store<uint16_t>(a + 2, hton16(proto::kEtherIpv4));
  a[4] = 6;
  a[5] = 4;
  store<uint16_t>(a + 6, hton16(1));
  std::memcpy(a + 8, mac.data(), 6);
  store<uint32_t>(a + 14, sender_ip);
  store<uint32_t>(a + 24, target_ip);
  return kLen;
}

}  // namespace k8c::dp
