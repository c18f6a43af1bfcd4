// Next-hop MACs, and the two small channels between the lcores and the control thread that keep
// them current.
//
// A forwarded frame needs the Ethernet address of the host it goes to: the backend after DNAT,
// the client on the reply path. The NeighbourTable is an immutable snapshot (published through
// its own Rcu, apart from the service table, so a learned MAC never costs a Maglev rebuild) that
// maps on-link addresses to MACs and sends everything else to the gateway.
//
// It is filled the way a host fills its ARP cache, without the lcores ever writing to it:
//   - an lcore gleans (sender IP, sender MAC) from every ARP frame it sees and reports what the
//     snapshot does not know yet through its NeighbourEvents ring; it reports a miss (a frame it
//     could not send for want of a MAC) the same way;
//   - the control thread drains the rings, publishes a new snapshot, and asks for the MACs it
//     lacks (backends, misses, the gateway) by handing ARP requests to lcore 0 through a
//     FrameMailbox, which the lcore transmits between bursts.
// Both channels are single-producer single-consumer rings of fixed size: full means the event is
// dropped (it is repeated soon enough), never that anyone waits or allocates.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "dataplane/maglev.h"
#include "dataplane/packet.h"

namespace k8c::dp {

template <class T, uint32_t N>
class SpscRing {
  static_assert((N & (N - 1)) == 0, "N must be a power of two");

 public:
  bool push(const T& v) {
    uint32_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_.load(std::memory_order_acquire) == N) return false;
    items_[h & (N - 1)] = v;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  bool pop(T* v) {
    uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t == head_.load(std::memory_order_acquire)) return false;
    *v = items_[t & (N - 1)];
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  bool empty() const {
    return tail_.load(std::memory_order_acquire) == head_.load(std::memory_order_acquire);
  }

 private:
  alignas(64) std::atomic<uint32_t> head_{0};
  alignas(64) std::atomic<uint32_t> tail_{0};
  T items_[N];
};

struct NeighbourEvent {
  enum Kind : uint8_t { kLearned, kMiss };
  Kind kind;
  uint32_t ip;  // network order
  Mac mac;      // kLearned only
};

// lcore -> control. The lcore also remembers the last miss it reported, so a burst of frames to
// one unresolved address reports it once.
struct NeighbourEvents {
  SpscRing<NeighbourEvent, 256> ring;
  uint32_t last_miss = 0;
};

// control -> lcore: whole frames to transmit (ARP requests, gratuitous ARPs).
struct ControlFrame {
  uint16_t len;
  uint8_t data[64];
};
using FrameMailbox = SpscRing<ControlFrame, 64>;

class NeighbourTable {
 public:
  struct Entry {
    uint32_t ip;  // network order
    Mac mac;
  };
  // subnet/mask (network order) say which addresses are on-link; mask 0 means none are known to
  // be, so every address without an entry goes to the gateway. gateway may be null (unknown).
  static std::unique_ptr<NeighbourTable> build(uint32_t subnet, uint32_t mask, const Mac* gateway,
                                               std::span<const Entry> entries);

  // The MAC a frame to dst (network order) goes to, or nullptr when it is not known yet.
  const Mac* next_hop(uint32_t dst) const {
    for (uint32_t i = home(dst);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.ip == dst && s.used) return &s.mac;
      if (!s.used) break;
    }
    if ((dst & subnet_mask_) == subnet_ && subnet_mask_) return nullptr;
    return has_gateway_ ? &gateway_ : nullptr;
  }
  // Whether dst's MAC is the one recorded (used to glean only news).
  bool knows(uint32_t ip, const Mac& mac) const {
    for (uint32_t i = home(ip);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return false;
      if (s.ip == ip) return s.mac == mac;
    }
  }
  bool on_link(uint32_t ip) const { return subnet_mask_ && (ip & subnet_mask_) == subnet_; }
  size_t size() const { return count_; }

 private:
  // Every forwarded frame asks for a next hop, after its flow's cache miss: one multiply
  // (Fibonacci hashing, the high bits) keeps that dependent tail short.
  uint32_t home(uint32_t ip) const {
    return static_cast<uint32_t>((uint64_t{ip} * 0x9e3779b97f4a7c15ULL) >> 32) & mask_;
  }
  struct Slot {
    uint32_t ip = 0;
    Mac mac{};
    bool used = false;
  };
  std::vector<Slot> slots_;
  uint32_t mask_ = 0;
  uint32_t subnet_ = 0, subnet_mask_ = 0;
  Mac gateway_{};
  bool has_gateway_ = false;
  size_t count_ = 0;
};

// An ARP request for target_ip from (mac, sender_ip), broadcast; both addresses in network order.
// Returns the frame length (60) or 0 if cap is too small.
uint16_t build_arp_request(uint8_t* buf, uint16_t cap, const Mac& mac, uint32_t sender_ip,
                           uint32_t target_ip);

}  // namespace k8c::dp
