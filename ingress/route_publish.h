// Publishing route tables to request threads without ever making a reader wait for a build.
//
// The builder thread calls RouteTableHolder::publish(); each proxy thread owns one
// RouteTableReader. A reader's fast path is a single atomic integer load per request: only when
// the generation moved does it take the (briefly locked, in libstdc++) atomic shared_ptr load, so
// request threads do not touch the shared reference count on every request. An old table is freed
// when the last reader that held it moves on, RCU style.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "ingress/route_table.h"

namespace k8c::ingress {

class RouteTableHolder {
 public:
  // Starts with an empty table, so readers never see null.
  RouteTableHolder();

  void publish(std::shared_ptr<const RouteTable> table);
  std::shared_ptr<const RouteTable> load() const { return table_.load(std::memory_order_acquire); }
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const RouteTable>> table_;
  std::atomic<uint64_t> generation_{0};
};

// One per thread; not thread-safe itself. Lifetime rule: a Route* from current() stays valid until
// this reader's next current() call. A session that keeps a route across an asynchronous wait,
// while other sessions on the same thread call current(), must keep its own copy of the shared_ptr
// returned by current().
class RouteTableReader {
 public:
  explicit RouteTableReader(const RouteTableHolder& holder)
      : holder_(holder), generation_(holder.generation()), table_(holder.load()) {}

  const std::shared_ptr<const RouteTable>& current() {
    uint64_t g = holder_.generation();
    if (g != generation_) [[unlikely]] {
      // Record the generation seen before loading: if another publish lands in between, the next
      // call simply loads again.
      generation_ = g;
      table_ = holder_.load();
    }
    return table_;
  }
  // Whether current() came from a publish, not the empty table the holder starts with: until the
  // first table is built from the cluster, "no route" means "not ready yet", not "not found".
  bool published() const { return generation_ != 0; }

 private:
  const RouteTableHolder& holder_;
  uint64_t generation_;
  std::shared_ptr<const RouteTable> table_;
};

}  // namespace k8c::ingress
