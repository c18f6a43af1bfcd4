#include "dataplane/maglev.h"

#include <algorithm>
#include <numeric>

namespace k8c::dp {

bool is_prime(uint32_t n) {
  if (n < 2) return false;
  for (uint32_t d = 2; uint64_t{d} * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

MaglevTable MaglevTable::build(std::span<const MaglevBackend> backends, uint32_t size) {
  MaglevTable t;
  if (size < 2 || backends.empty() || backends.size() >= kMaglevEmpty) return t;
  size_t n = backends.size();
  uint32_t gcd = 0;
  for (const auto& b : backends) gcd = std::gcd(gcd, b.weight);
  if (gcd == 0) return t;

  // Per backend: current position in its permutation, its skip, and its turns per round.
  // The position advances by `skip` with a conditional subtract instead of a modulo, which is
  // most of what makes 1000 backends at M=65537 build in about a millisecond.
  struct Walk {
    uint32_t pos, skip, turns;
  };
  // Fill in key order, not input order: endpoints arrive in whatever order a watch delivers
  // them, and every node must still compute the same table.
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return backends[a].key < backends[b].key; });
  std::vector<Walk> walk(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t h1 = mix64(backends[i].key ^ 0x6d61676c65763031ULL);
    uint64_t h2 = mix64(backends[i].key ^ 0x6d61676c65763032ULL);
    walk[i] = {static_cast<uint32_t>(h1 % size), static_cast<uint32_t>(h2 % (size - 1)) + 1,
               backends[i].weight / gcd};
  }
  t.slots_.assign(size, kMaglevEmpty);
  uint32_t filled = 0;
  while (filled < size) {
    for (uint32_t i : order) {
      if (filled == size) break;
      Walk& w = walk[i];
      for (uint32_t turn = 0; turn < w.turns && filled < size; ++turn) {
        while (t.slots_[w.pos] != kMaglevEmpty) {
          w.pos += w.skip;
          if (w.pos >= size) w.pos -= size;
        }
        t.slots_[w.pos] = static_cast<uint16_t>(i);
        ++filled;
      }
    }
  }
  return t;
}

}  // namespace k8c::dp
