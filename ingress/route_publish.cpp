#include "ingress/route_publish.h"

namespace k8c::ingress {

RouteTableHolder::RouteTableHolder() : table_(build_route_table(Snapshot{})) {}

void RouteTableHolder::publish(std::shared_ptr<const RouteTable> table) {
  if (!table) table = build_route_table(Snapshot{});
  table_.store(std::move(table), std::memory_order_release);
  // Bumped after the store, so a reader that sees the new generation loads this table or newer.
  generation_.fetch_add(1, std::memory_order_release);
}

}  // namespace k8c::ingress
