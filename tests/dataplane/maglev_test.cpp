#include "dataplane/maglev.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace k8c::dp {
namespace {

std::vector<MaglevBackend> equal_backends(size_t n, uint32_t weight = 1) {
  std::vector<MaglevBackend> b;
  for (size_t i = 0; i < n; ++i) b.push_back({0x0a000000ULL << 16 | (i + 1) << 16 | 8080, weight});
  return b;
}

std::vector<size_t> shares(const MaglevTable& t, size_t n) {
  std::vector<size_t> c(n, 0);
  for (uint16_t s : t.slots()) c.at(s)++;
  return c;
}

TEST(Maglev, Primes) {
  EXPECT_TRUE(is_prime(65537));
  EXPECT_TRUE(is_prime(251));
  EXPECT_FALSE(is_prime(65536));
  EXPECT_FALSE(is_prime(1));
}

TEST(Maglev, EverySlotIsFilled) {
  MaglevTable t = MaglevTable::build(equal_backends(7), 251);
  ASSERT_EQ(t.size(), 251u);
  for (uint16_t s : t.slots()) EXPECT_LT(s, 7);
}

// The acceptance figure: 100 equal backends at M=65537, every backend's slot count within 1%
// of M/N.
TEST(Maglev, BalanceWithinOnePercent) {
  constexpr size_t kN = 100;
  MaglevTable t = MaglevTable::build(equal_backends(kN));
  ASSERT_EQ(t.size(), kMaglevDefaultSize);
  double ideal = double(kMaglevDefaultSize) / kN;
  for (size_t c : shares(t, kN)) EXPECT_LE(std::abs(double(c) - ideal) / ideal, 0.01) << c;
}

TEST(Maglev, MinimalDisruptionOnRemoval) {
  constexpr size_t kN = 100;
  auto all = equal_backends(kN);
  MaglevTable before = MaglevTable::build(all);
  constexpr size_t kRemoved = 37;
  auto rest = all;
  rest.erase(rest.begin() + kRemoved);
  MaglevTable after = MaglevTable::build(rest);

  // Map indices of `after` back to the original numbering.
  auto original = [&](uint16_t i) { return i >= kRemoved ? i + 1 : i; };
  size_t moved = 0, freed = 0;
  for (uint32_t s = 0; s < before.size(); ++s) {
    if (before.slots()[s] == kRemoved) {
      ++freed;
      continue;
    }
    if (original(after.slots()[s]) != before.slots()[s]) ++moved;
  }
  EXPECT_GT(freed, 0u);
  // Slots that did not belong to the removed backend mostly stay put: the paper reports a few
  // percent at most; we require less than 1/N of the table beyond the removed backend's share.
  EXPECT_LT(double(moved) / before.size(), 1.0 / kN) << moved;
}

TEST(Maglev, MinimalDisruptionOnAddition) {
  auto b = equal_backends(50);
  MaglevTable before = MaglevTable::build(b);
  b.push_back({0xdeadbeefULL, 1});
  MaglevTable after = MaglevTable::build(b);
  size_t moved = 0;
  for (uint32_t s = 0; s < before.size(); ++s)
    if (after.slots()[s] != 50 && after.slots()[s] != before.slots()[s]) ++moved;
  EXPECT_LT(double(moved) / before.size(), 1.0 / 50);
}

TEST(Maglev, Deterministic) {
  auto b = equal_backends(13);
  EXPECT_EQ(MaglevTable::build(b).slots(), MaglevTable::build(b).slots());
  // The order the backends are listed in does not change which backend owns a slot.
  auto r = b;
  std::reverse(r.begin(), r.end());
  MaglevTable x = MaglevTable::build(b, 251), y = MaglevTable::build(r, 251);
  for (uint32_t s = 0; s < 251; ++s) ASSERT_EQ(b[x.slots()[s]].key, r[y.slots()[s]].key) << s;
}

TEST(Maglev, WeightsShapeShares) {
  std::vector<MaglevBackend> b = {{1, 1}, {2, 2}, {3, 3}, {4, 0}};
  MaglevTable t = MaglevTable::build(b);
  auto c = shares(t, 4);
  double m = t.size();
  EXPECT_NEAR(c[0] / m, 1.0 / 6, 0.01);
  EXPECT_NEAR(c[1] / m, 2.0 / 6, 0.01);
  EXPECT_NEAR(c[2] / m, 3.0 / 6, 0.01);
  EXPECT_EQ(c[3], 0u);
}

TEST(Maglev, EmptyTables) {
  EXPECT_TRUE(MaglevTable::build({}).empty());
  std::vector<MaglevBackend> zero = {{1, 0}};
  MaglevTable t = MaglevTable::build(zero);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.lookup(12345), kMaglevEmpty);
}

}  // namespace
}  // namespace k8c::dp
