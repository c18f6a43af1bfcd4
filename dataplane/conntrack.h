// Per-lcore connection tracking: a fixed-capacity flow table, allocated once, with no locks
// and no allocation per packet. Each flow is findable by both its original tuple and its reply
// tuple, and the two tuples alone determine the NAT applied in either direction.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/packet.h"
#include "dataplane/table_memory.h"

namespace k8c::dp {

// A 5-tuple in network byte order, padded to 16 bytes (the padding is always zero).
//
// Hashing and comparison read it as two words assembled from the fields, not loaded from the
// struct's memory: a key just built field by field on the stack would otherwise be read back
// with wider loads than it was written with, which stalls store forwarding for ~15 cycles per
// packet on the established path.
struct FlowKey {
  uint32_t src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  uint8_t pad[3] = {0, 0, 0};

  uint64_t addresses() const { return uint64_t{src} | uint64_t{dst} << 32; }
  uint64_t ports() const { return uint64_t{sport} | uint64_t{dport} << 16 | uint64_t{proto} << 32; }
  bool operator==(const FlowKey& o) const {
    return addresses() == o.addresses() && ports() == o.ports();
  }
};
static_assert(sizeof(FlowKey) == 16);

// Every translation unit must compute the same hash for a key: the index is filled by one and
// probed by others. DPDK's compile flags (-march=corei7) give x86 builds SSE4.2; a target that
// includes this without them would silently use the other formula.
#if defined(__x86_64__) && !defined(__SSE4_2__)
#error "dataplane/conntrack.h needs SSE4.2 on x86-64: link the target with PkgConfig::DPDK"
#endif

inline uint64_t flow_hash(const FlowKey& k) {
  uint64_t a = k.addresses();
  uint64_t b = k.ports();
#if defined(__SSE4_2__)
  // Two CRC32 steps: a few cycles, and good enough spread for a table indexed by low bits.
  uint64_t h = __builtin_ia32_crc32di(0x9e3779b9, a);
  h = __builtin_ia32_crc32di(h, b);
  return h | (__builtin_ia32_crc32di(0x85ebca6b, a ^ b) << 32);
#else
  uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ b;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 32);
#endif
}

enum class FlowState : uint8_t {
  kSynSent,      // TCP: client SYN seen
  kEstablished,  // TCP: SYN-ACK seen, or a flow picked up mid-stream
  kClosing,      // TCP: a FIN seen in either direction
  kClosed,       // TCP: RST seen
  kUdp,          // UDP, no reply yet
  kUdpReplied,   // UDP, the backend answered
};

struct Timeouts {
  uint64_t tcp_syn_ns = 30 * 1'000'000'000ULL;
  uint64_t tcp_established_ns = 900 * 1'000'000'000ULL;  // IPVS's tcp timeout
  uint64_t tcp_closing_ns = 120 * 1'000'000'000ULL;
  uint64_t tcp_closed_ns = 10 * 1'000'000'000ULL;
  uint64_t udp_ns = 30 * 1'000'000'000ULL;
  uint64_t udp_replied_ns = 300 * 1'000'000'000ULL;  // IPVS's udp timeout
  // The aging sweep visits every flow slot once per this period, so its work follows the
  // table's size and the clock, not the packet rate. A packet that finds its flow expired
  // removes it at once, whatever the sweep.
  uint64_t sweep_ns = 1'000'000'000ULL;
};

namespace flow_flag {
inline constexpr uint8_t kDraining = 0x01;  // backend is terminating: the flow ends by a deadline
inline constexpr uint8_t kSnat = 0x02;
// The backend left the service table: the flow runs on (TCP) but is no longer counted.
inline constexpr uint8_t kOrphan = 0x04;
// The client is behind the node's kernel (pipeline.h, kernel_frame_for_services): its answers go
// back into the exception path's tap, whatever its address.
inline constexpr uint8_t kKernelClient = 0x08;
}  // namespace flow_flag

// One cache line. The checksum deltas are precomputed at insert, so forwarding an established
// packet is a lookup, four stores and two checksum adjustments.
struct alignas(64) Flow {
  FlowKey fwd;  // as the client sent it: client -> frontend
  FlowKey rev;  // as the backend answers: backend -> client (or -> SNAT address)
  uint64_t expires_ns = 0;
  // Low bits of the service-table snapshot generation that `backend` indexes into (its
  // service is the backend's).
  uint32_t generation = 0;
  uint32_t backend = 0;
  // The FlowGauges id the flow counts against from insert to erase, across table rebuilds.
  uint32_t gauge = UINT32_MAX;
  uint16_t fwd_ip_delta = 0, fwd_l4_delta = 0, rev_ip_delta = 0, rev_l4_delta = 0;
  FlowState state = FlowState::kSynSent;
  uint8_t flags = 0;
};
static_assert(sizeof(Flow) == 64);

class Conntrack {
 public:
  enum class InsertError : uint8_t { kNone, kFull, kConflict };

  // All memory is allocated here: `capacity` flows and an index of 4x as many slots (two keys
  // per flow at a load factor of at most 1/2).
  explicit Conntrack(uint32_t capacity, const Timeouts& timeouts = {});

  struct Hit {
    Flow* flow = nullptr;
    bool reply = false;  // matched the reply tuple
  };
  // Finds a live flow; an expired one is removed and not returned.
  Hit lookup(const FlowKey& key, uint64_t now_ns) { return lookup(key, flow_hash(key), now_ns); }
  Hit lookup(const FlowKey& key, uint64_t hash, uint64_t now_ns);
  // Whether a key is present, expired or not (SNAT port choice must avoid both).
  bool contains(const FlowKey& key) const;
  // Inserts a flow under both tuples. The caller fills the rest of the returned Flow. An
  // expired flow holding either tuple is removed first; a live one is a conflict.
  Flow* insert(const FlowKey& fwd, const FlowKey& rev, uint64_t now_ns, InsertError* err);
  void erase(Flow* flow);
  // Called for every flow erased, whatever the reason (ended, expired, replaced), before its
  // slot is reused: how the pipeline keeps its active-flow gauges. One plain function pointer,
  // set once, so erasing costs no allocation and no virtual call.
  using EraseHook = void (*)(void* arg, const Flow& flow);
  void set_erase_hook(EraseHook hook, void* arg) {
    erase_hook_ = hook;
    erase_arg_ = arg;
  }

  // Advances the TCP/UDP state machine for one packet and refreshes the expiry.
  void touch(Flow& flow, bool reply, uint8_t tcp_flags, uint64_t now_ns) const;
  uint64_t timeout_for(FlowState s) const;

  // Removes expired flows among the next `budget` flow slots. Returns flows removed.
  size_t expire(uint64_t now_ns, uint32_t budget);
  // The paced sweep, for every poll-loop iteration: expire() over the slots due since the last
  // call at a whole table per Timeouts::sweep_ns, and at most max_slots of them. A sweep left
  // behind (an idle loop, a burst of work) owes one whole pass at most and catches up over the
  // next calls. Returns flows removed.
  size_t age(uint64_t now_ns, uint32_t max_slots);

  // Any thread may read it (the metrics thread does); only the owning lcore writes it.
  uint32_t size() const { return used_.load(std::memory_order_relaxed); }
  uint32_t capacity() const { return capacity_; }
  const Timeouts& timeouts() const { return timeouts_; }

  // Two prefetch stages for a burst, as l3fwd does: first the index slot a key hashes to,
  // then (once that line has arrived) the flow of the first slot in its probe run that carries
  // its tag, so that a burst's cache misses overlap instead of being paid one after another.
  // The first slot of the run alone would do for only three keys in four at the index's load
  // of 1/4: every fourth packet would then wait for its flow from memory.
  void prefetch_slot(uint64_t hash) const { __builtin_prefetch(&index_[hash & mask_]); }
  void prefetch_flow(uint64_t hash) const {
    // The scan returns the pointer and the prefetch comes after it: GCC deletes a loop whose
    // only effect is a prefetch, as it may any loop without side effects.
    if (const Flow* f = flow_hint(hash)) __builtin_prefetch(f);
  }
  // What prefetch_flow requests: the flow of the first slot in hash's probe run that carries
  // its tag, among the run's first kHintScan slots (a cache line's worth); null if none. Not a
  // lookup: a flow whose tag matches but whose key does not is possible, and harmless here.
  const Flow* flow_hint(uint64_t hash) const {
    constexpr int kHintScan = 8;
    const auto tag = static_cast<uint32_t>(hash >> 32);
    auto i = static_cast<uint32_t>(hash) & mask_;
    for (int n = 0; n < kHintScan; ++n, i = (i + 1) & mask_) {
      const Slot& s = index_[i];
      if (s.ref == kEmpty) return nullptr;
      if (s.tag == tag) return &flows_[s.ref >> 1];
    }
    return nullptr;
  }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    uint32_t tag;  // high hash bits: most mismatches never touch the flow's cache line
    uint32_t ref;  // flow index * 2 + (1 if reply tuple); kEmpty if free
  };
  const FlowKey& key_of(uint32_t ref) const {
    const Flow& f = flows_[ref >> 1];
    return (ref & 1) ? f.rev : f.fwd;
  }
  Flow* find(const FlowKey& key) const;
  void index_insert(const FlowKey& key, uint32_t ref);
  void index_erase(const FlowKey& key, uint32_t ref);

  uint32_t capacity_;
  Timeouts timeouts_;
  // On huge pages when possible (table_memory.h): at a million flows these are ~150 MB, and
  // with 4 KiB pages nearly every packet would pay a page walk on top of its cache misses.
  TableArray<Flow> flows_;
  TableArray<uint8_t> live_;
  TableArray<uint32_t> free_;  // stack of free flow indices
  uint32_t free_top_;
  std::atomic<uint32_t> used_{0};  // relaxed single-writer updates: plain moves on x86
  TableArray<Slot> index_;
  uint32_t mask_;
  uint32_t sweep_ = 0;
  uint64_t slot_ns_;      // the sweep's time per slot: Timeouts::sweep_ns / capacity
  uint64_t aged_ns_ = 0;  // the clock age() has swept up to
  EraseHook erase_hook_ = nullptr;
  void* erase_arg_ = nullptr;
};

}  // namespace k8c::dp
