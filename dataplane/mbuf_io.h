// The two steps between a DPDK port and the pipeline that every burst loop takes: an mbuf seen
// as the PacketView the pipeline reads, and a TX burst whose leftovers are freed and counted.
// Shared by the runtime's poll loop (eal_runtime.cpp) and the benches that run its steps.
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>

#include "dataplane/packet.h"
#include "dataplane/service_table.h"

namespace k8c::dp {

inline constexpr uint16_t kNoPort =
    UINT16_MAX;  // no port has this id (RTE_MAX_ETHPORTS is far below)

// Scatter RX is never enabled, so every frame is one segment; the view covers it and the
// segment's tailroom, which reply builders may use. A frame's input port says whether the node's
// kernel sent it (another lcore may have received it from the tap and steered it here).
inline PacketView view_of(rte_mbuf* m, uint16_t kernel_port) {
  uint32_t cap = uint32_t{m->data_len} + rte_pktmbuf_tailroom(m);
  return {rte_pktmbuf_mtod(m, uint8_t*), m->data_len,
          static_cast<uint16_t>(std::min<uint32_t>(cap, 0xffff)), m->port == kernel_port};
}

// Transmits frames on a queue; what the queue does not take is freed and counted as failed.
// Returns how many were sent.
inline uint16_t transmit(uint16_t port, uint16_t queue, rte_mbuf** frames, uint16_t n,
                         Counter& failed) {
  if (n == 0) return 0;
  uint16_t sent = rte_eth_tx_burst(port, queue, frames, n);
  if (sent < n) {
    failed.add(n - sent);
    rte_pktmbuf_free_bulk(frames + sent, n - sent);
  }
  return sent;
}

}  // namespace k8c::dp
