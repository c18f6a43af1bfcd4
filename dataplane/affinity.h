// sessionAffinity: ClientIP for one lcore: (service id, client IP) -> backend, with the
// Service's timeout. A bounded-probe cache, allocated once: when a probe window is full the
// entry closest to expiry is overwritten, which at worst costs one client its stickiness.
//
// Affinity is per lcore. The port layer should therefore use L3-only RSS (RTE_ETH_RSS_IPV4,
// hashing addresses, not ports) so that all of one client's connections reach one lcore.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/maglev.h"
#include "dataplane/table_memory.h"

namespace k8c::dp {

class AffinityTable {
 public:
  explicit AffinityTable(uint32_t capacity);

  // Looks up a live record; ip/port are the backend's, in network order.
  bool find(uint32_t service_id, uint32_t client, uint64_t now_ns, uint32_t* ip,
            uint16_t* port) const;
  void remember(uint32_t service_id, uint32_t client, uint32_t ip, uint16_t port,
                uint64_t expires_ns);

 private:
  static constexpr uint32_t kProbe = 8;
  struct Entry {
    uint32_t service_id;
    uint32_t client;
    uint32_t ip;
    uint16_t port;
    uint64_t expires_ns;  // 0: empty
  };
  uint32_t home(uint32_t service_id, uint32_t client) const {
    return static_cast<uint32_t>(mix64(uint64_t{service_id} << 32 | client)) & mask_;
  }
  TableArray<Entry> entries_;  // per lcore, read per new flow: huge pages when large
  uint32_t mask_;
};

}  // namespace k8c::dp
