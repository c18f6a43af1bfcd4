// FlatStringMap: the open-addressing map behind host, path and certificate lookups.
#include "ingress/flat_map.h"

#include <gtest/gtest.h>

#include <string>

namespace k8c::ingress {
namespace {

TEST(FlatStringMap, EmptyMapFindsNothing) {
  FlatStringMap<int> m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.find("a"), nullptr);
  EXPECT_EQ(m.find(""), nullptr);
}

TEST(FlatStringMap, InsertFindAndKeepFirstValue) {
  FlatStringMap<int> m;
  auto [v, inserted] = m.try_emplace("a.com", 1);
  EXPECT_TRUE(inserted);
  EXPECT_EQ(*v, 1);
  auto [again, inserted_again] = m.try_emplace("a.com", 2);
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(*again, 1);
  m["b.com"] = 3;
  EXPECT_EQ(*m.find("b.com"), 3);
  EXPECT_EQ(m.find("c.com"), nullptr);
  EXPECT_EQ(m.size(), 2u);
  m.try_emplace("", 9);
  EXPECT_EQ(*m.find(""), 9);
}

TEST(FlatStringMap, ManyKeysSurviveGrowth) {
  FlatStringMap<int> m;
  for (int i = 0; i < 20000; ++i) m.try_emplace("host-" + std::to_string(i) + ".example.com", i);
  EXPECT_EQ(m.size(), 20000u);
  for (int i = 0; i < 20000; ++i) {
    const int* v = m.find("host-" + std::to_string(i) + ".example.com");
    ASSERT_NE(v, nullptr) << i;
    EXPECT_EQ(*v, i);
  }
  for (int i = 20000; i < 21000; ++i) {
    EXPECT_EQ(m.find("host-" + std::to_string(i) + ".example.com"), nullptr);
  }
  int sum = 0;
  for (const auto& [k, v] : m) sum += v;
  EXPECT_EQ(sum, 20000 * 19999 / 2);
}

TEST(FlatStringMap, ClearEmptiesAndStaysUsable) {
  FlatStringMap<int> m;
  m["x"] = 1;
  m.clear();
  EXPECT_EQ(m.find("x"), nullptr);
  m["y"] = 2;
  EXPECT_EQ(*m.find("y"), 2);
}

}  // namespace
}  // namespace k8c::ingress
