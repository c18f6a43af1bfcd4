// Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4), weighted.
//
// Control-plane code: tables are built off the fast path and only read per packet.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace k8c::dp {

inline constexpr uint32_t kMaglevDefaultSize = 65537;
inline constexpr uint16_t kMaglevEmpty = 0xffff;

struct MaglevBackend {
  uint64_t key;     // stable identity (e.g. endpoint IP and port); the permutation derives from it
  uint32_t weight;  // relative share of slots; 0 means no slots
};

bool is_prime(uint32_t n);

// 64-bit mixer (splitmix64 finaliser): deterministic across processes and builds, which the
// permutation needs so that every node and every restart computes the same table.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

class MaglevTable {
 public:
  MaglevTable() = default;

  // Fills `size` slots (a prime; at most 65535 backends) with backend indices. Each round, a
  // backend with weight w claims w slots, walking its own permutation
  // (offset + j * skip) mod M and skipping taken slots, so shares follow weights and a change
  // to one backend moves few slots of the others. With no positive weight the table is empty
  // and lookup() returns kMaglevEmpty. The
  // result depends on the backends' keys and weights, not on their order.
  static MaglevTable build(std::span<const MaglevBackend> backends,
                           uint32_t size = kMaglevDefaultSize);

  uint16_t lookup(uint64_t hash) const {
    return slots_.empty() ? kMaglevEmpty : slots_[hash % slots_.size()];
  }
  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
  bool empty() const { return slots_.empty(); }
  const std::vector<uint16_t>& slots() const { return slots_; }

 private:
  std::vector<uint16_t> slots_;
};

}  // namespace k8c::dp
