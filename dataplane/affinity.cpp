#include "dataplane/affinity.h"

#include <bit>

namespace k8c::dp {

AffinityTable::AffinityTable(uint32_t capacity) {
  uint32_t size = std::bit_ceil(std::max<uint32_t>(capacity, kProbe));
  entries_ = TableArray<Entry>(size);
  mask_ = size - 1;
  for (uint32_t i = 0; i < size; ++i) entries_[i] = {0, 0, 0, 0, 0};
}

bool AffinityTable::find(uint32_t service_id, uint32_t client, uint64_t now_ns, uint32_t* ip,
                         uint16_t* port) const {
  uint32_t h = home(service_id, client);
  for (uint32_t n = 0; n < kProbe; ++n) {
    const Entry& e = entries_[(h + n) & mask_];
    if (e.expires_ns > now_ns && e.service_id == service_id && e.client == client) {
      *ip = e.ip;
      *port = e.port;
      return true;
    }
  }
  return false;
}

void AffinityTable::remember(uint32_t service_id, uint32_t client, uint32_t ip, uint16_t port,
                             uint64_t expires_ns) {
  uint32_t h = home(service_id, client);
  Entry* victim = &entries_[h];
  for (uint32_t n = 0; n < kProbe; ++n) {
    Entry& e = entries_[(h + n) & mask_];
    if (e.service_id == service_id && e.client == client && e.expires_ns != 0) {
      victim = &e;
      break;
    }
    if (e.expires_ns < victim->expires_ns) victim = &e;
  }
  *victim = {service_id, client, ip, port, expires_ns};
}

}  // namespace k8c::dp
