// Publication of route tables: readers see new tables after publish, keep a consistent table
// while they hold it, and never block or crash while a writer swaps tables continuously.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "ingress/route_publish.h"
#include "ingress/test_objects.h"

namespace k8c::ingress {
namespace {

using namespace objects;

// A table where every host routes "/" to a Service named after the generation, so a reader can
// tell which table answered.
std::shared_ptr<const RouteTable> table_for(int generation) {
  Snapshot s;
  std::string svc = "gen-" + std::to_string(generation);
  s.services = {service("default", svc, {service_port("", 80, 80)})};
  s.ingresses.push_back(
      ingress("default", "app")
          .rules({rule("a.com", {path("/", "Prefix", service_backend(svc, 80))}),
                  rule("b.com", {path("/", "Prefix", service_backend(svc, 80))})}));
  return build_route_table(s);
}

TEST(Publish, HolderStartsWithAnEmptyTable) {
  RouteTableHolder holder;
  RouteTableReader reader(holder);
  ASSERT_NE(reader.current(), nullptr);
  EXPECT_EQ(reader.current()->match("a.com", "/"), nullptr);
}

TEST(Publish, ReaderKnowsWhetherItsTableWasPublished) {
  RouteTableHolder holder;
  RouteTableReader before(holder);
  EXPECT_FALSE(before.published());
  holder.publish(table_for(1));
  EXPECT_FALSE(before.published());  // until it looks again
  before.current();
  EXPECT_TRUE(before.published());
  RouteTableReader after(holder);
  EXPECT_TRUE(after.published());
}

TEST(Publish, ReaderPicksUpTheNewTable) {
  RouteTableHolder holder;
  RouteTableReader reader(holder);
  holder.publish(table_for(1));
  EXPECT_EQ(reader.current()->match("a.com", "/")->backend->service_name, "gen-1");
  holder.publish(table_for(2));
  EXPECT_EQ(reader.current()->match("a.com", "/")->backend->service_name, "gen-2");
}

TEST(Publish, PublishingNullKeepsReadersSafe) {
  RouteTableHolder holder;
  holder.publish(table_for(1));
  holder.publish(nullptr);
  RouteTableReader reader(holder);
  ASSERT_NE(reader.current(), nullptr);
  EXPECT_EQ(reader.current()->match("a.com", "/"), nullptr);
}

TEST(Publish, HeldTableOutlivesLaterPublishes) {
  RouteTableHolder holder;
  holder.publish(table_for(1));
  RouteTableReader reader(holder);
  std::shared_ptr<const RouteTable> held = reader.current();
  const Route* r = held->match("a.com", "/");
  holder.publish(table_for(2));
  EXPECT_EQ(reader.current()->match("a.com", "/")->backend->service_name, "gen-2");
  EXPECT_EQ(r->backend->service_name, "gen-1");  // still valid: `held` keeps it alive
}

TEST(Publish, ConcurrentReadersAlwaysSeeAConsistentTable) {
  RouteTableHolder holder;
  holder.publish(table_for(0));
  constexpr int kPublishes = 200;
  std::atomic<bool> done{false};
  std::atomic<int> inconsistent{0};
  std::atomic<long> lookups{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      RouteTableReader reader(holder);
      int last_seen = 0;
      while (!done.load(std::memory_order_acquire)) {
        const RouteTable& table = *reader.current();
        const Route* a = table.match("a.com", "/x");
        const Route* b = table.match("b.com", "/y");
        // Both hosts come from one table, so they always agree, and generations never go back.
        if (!a || !b || a->backend != b->backend) {
          inconsistent.fetch_add(1);
          continue;
        }
        int gen = std::stoi(a->backend->service_name.substr(4));
        if (gen < last_seen) inconsistent.fetch_add(1);
        last_seen = gen;
        lookups.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int g = 1; g <= kPublishes; ++g) holder.publish(table_for(g));
  // Let the readers observe the final table before stopping them.
  RouteTableReader check(holder);
  EXPECT_EQ(check.current()->match("a.com", "/")->backend->service_name,
            "gen-" + std::to_string(kPublishes));
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_GT(lookups.load(), 0);
}

}  // namespace
}  // namespace k8c::ingress
