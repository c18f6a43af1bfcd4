// Table memory: zero-filled, aligned, usable whatever page kind the system grants.
#include "dataplane/table_memory.h"

#include <gtest/gtest.h>

#include <cstring>

namespace k8c::dp {
namespace {

TEST(TableMemory, SmallTablesComeFromTheHeap) {
  TableMemory m(4096);
  ASSERT_NE(m.data(), nullptr);
  EXPECT_EQ(m.kind(), PageKind::kHeap);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data()) % 64, 0u);
  const auto* p = static_cast<const uint8_t*>(m.data());
  for (size_t i = 0; i < m.size(); ++i) ASSERT_EQ(p[i], 0) << i;
}

TEST(TableMemory, LargeTablesAreMappedOnHugePageBoundaries) {
  constexpr size_t kBytes = (size_t{5} << 20) + 123;  // not a multiple of 2 MiB
  TableMemory m(kBytes);
  ASSERT_NE(m.data(), nullptr);
  EXPECT_NE(m.kind(), PageKind::kHeap) << page_kind_name(m.kind());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data()) % (size_t{2} << 20), 0u);
  EXPECT_EQ(m.size(), kBytes);
  auto* p = static_cast<uint8_t*>(m.data());
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[kBytes - 1], 0);
  std::memset(p, 0xab, kBytes);  // all of it is writable
  EXPECT_EQ(p[kBytes / 2], 0xab);
}

TEST(TableMemory, MovesOwnership) {
  TableMemory a(size_t{3} << 20);
  void* p = a.data();
  TableMemory b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  a = std::move(b);
  EXPECT_EQ(a.data(), p);
}

struct Item {
  uint32_t a = 7;
  uint64_t b = 9;
};

TEST(TableArray, ConstructsEveryElement) {
  TableArray<Item> small(10), large(200'000);
  for (size_t i = 0; i < small.size(); ++i) EXPECT_EQ(small[i].a, 7u);
  EXPECT_EQ(large.size(), 200'000u);
  EXPECT_EQ(large[0].b, 9u);
  EXPECT_EQ(large[199'999].a, 7u);
  EXPECT_NE(large.page_kind(), PageKind::kHeap);
  TableArray<Item> empty;
  EXPECT_EQ(empty.size(), 0u);
}

}  // namespace
}  // namespace k8c::dp
