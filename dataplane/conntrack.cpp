#include "dataplane/conntrack.h"

#include <algorithm>
#include <bit>

namespace k8c::dp {

Conntrack::Conntrack(uint32_t capacity, const Timeouts& timeouts)
    : capacity_(std::max<uint32_t>(capacity, 1)),
      timeouts_(timeouts),
      flows_(capacity_),
      live_(capacity_),
      free_(capacity_),
      free_top_(capacity_),
      slot_ns_(std::max<uint64_t>(timeouts.sweep_ns / capacity_, 1)) {
  // Hand out low indices first: a lightly loaded table then touches little memory.
  for (uint32_t i = 0; i < capacity_; ++i) free_[i] = capacity_ - 1 - i;
  uint64_t slots = std::bit_ceil(uint64_t{capacity_} * 4);
  index_ = TableArray<Slot>(slots);
  mask_ = static_cast<uint32_t>(slots - 1);
  for (uint64_t i = 0; i < slots; ++i) index_[i] = {0, kEmpty};
}

Conntrack::Hit Conntrack::lookup(const FlowKey& key, uint64_t h, uint64_t now_ns) {
  uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (uint32_t i = static_cast<uint32_t>(h) & mask_;; i = (i + 1) & mask_) {
    const Slot& s = index_[i];
    if (s.ref == kEmpty) return {};
    if (s.tag == tag && key_of(s.ref) == key) {
      Flow* f = &flows_[s.ref >> 1];
      if (f->expires_ns <= now_ns) {
        erase(f);
        return {};
      }
      return {f, (s.ref & 1) != 0};
    }
  }
}

Flow* Conntrack::find(const FlowKey& key) const {
  uint64_t h = flow_hash(key);
  uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (uint32_t i = static_cast<uint32_t>(h) & mask_;; i = (i + 1) & mask_) {
    const Slot& s = index_[i];
    if (s.ref == kEmpty) return nullptr;
    if (s.tag == tag && key_of(s.ref) == key) return &flows_[s.ref >> 1];
  }
}

bool Conntrack::contains(const FlowKey& key) const {
  return find(key) != nullptr;
}

void Conntrack::index_insert(const FlowKey& key, uint32_t ref) {
  uint64_t h = flow_hash(key);
  uint32_t i = static_cast<uint32_t>(h) & mask_;
  while (index_[i].ref != kEmpty) i = (i + 1) & mask_;
  index_[i] = {static_cast<uint32_t>(h >> 32), ref};
}

// Backward-shift deletion (Knuth 6.4 algorithm R): no tombstones, so lookups of absent keys
// stay short however long the table has been churning.
void Conntrack::index_erase(const FlowKey& key, uint32_t ref) {
  uint32_t i = static_cast<uint32_t>(flow_hash(key)) & mask_;
  while (index_[i].ref != ref) i = (i + 1) & mask_;
  for (uint32_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    if (index_[j].ref == kEmpty) break;
    uint32_t home = static_cast<uint32_t>(flow_hash(key_of(index_[j].ref))) & mask_;
    // Move j into the hole at i unless its home lies cyclically in (i, j].
    bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = {0, kEmpty};
}

Flow* Conntrack::insert(const FlowKey& fwd, const FlowKey& rev, uint64_t now_ns, InsertError* err) {
  Flow* a = find(fwd);
  if (a && a->expires_ns <= now_ns) {
    erase(a);
    a = nullptr;
  }
  Flow* b = find(rev);
  if (b && b->expires_ns <= now_ns) {
    erase(b);
    b = nullptr;
  }
  if (a || b || fwd == rev) {
    if (err) *err = InsertError::kConflict;
    return nullptr;
  }
  if (free_top_ == 0) {
    if (err) *err = InsertError::kFull;
    return nullptr;
  }
  uint32_t idx = free_[--free_top_];
  Flow& f = flows_[idx];
  f = Flow{};
  f.fwd = fwd;
  f.rev = rev;
  live_[idx] = 1;
  used_.store(used_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  index_insert(fwd, idx * 2);
  index_insert(rev, idx * 2 + 1);
  if (err) *err = InsertError::kNone;
  return &f;
}

void Conntrack::erase(Flow* flow) {
  uint32_t idx = static_cast<uint32_t>(flow - flows_.get());
  if (!live_[idx]) return;
  if (erase_hook_) erase_hook_(erase_arg_, *flow);
  index_erase(flow->fwd, idx * 2);
  index_erase(flow->rev, idx * 2 + 1);
  live_[idx] = 0;
  free_[free_top_++] = idx;
  used_.store(used_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

uint64_t Conntrack::timeout_for(FlowState s) const {
  switch (s) {
    case FlowState::kSynSent:
      return timeouts_.tcp_syn_ns;
    case FlowState::kEstablished:
      return timeouts_.tcp_established_ns;
    case FlowState::kClosing:
      return timeouts_.tcp_closing_ns;
    case FlowState::kClosed:
      return timeouts_.tcp_closed_ns;
    case FlowState::kUdp:
      return timeouts_.udp_ns;
    case FlowState::kUdpReplied:
      return timeouts_.udp_replied_ns;
  }
  return timeouts_.tcp_closed_ns;
}

void Conntrack::touch(Flow& f, bool reply, uint8_t flags, uint64_t now_ns) const {
  switch (f.state) {
    case FlowState::kUdp:
      if (reply) f.state = FlowState::kUdpReplied;
      break;
    case FlowState::kUdpReplied:
      break;
    default:
      if (flags & tcp_flag::kRst) {
        f.state = FlowState::kClosed;
      } else if (flags & tcp_flag::kFin) {
        if (f.state != FlowState::kClosed) f.state = FlowState::kClosing;
      } else if (f.state == FlowState::kSynSent && reply && (flags & tcp_flag::kSyn) &&
                 (flags & tcp_flag::kAck)) {
        f.state = FlowState::kEstablished;
      }
      break;
  }
  f.expires_ns = now_ns + timeout_for(f.state);
}

size_t Conntrack::age(uint64_t now_ns, uint32_t max_slots) {
  if (now_ns < aged_ns_ + slot_ns_) return 0;
  if (now_ns - aged_ns_ > timeouts_.sweep_ns) aged_ns_ = now_ns - timeouts_.sweep_ns;
  const uint64_t due = (now_ns - aged_ns_) / slot_ns_;
  const auto n = static_cast<uint32_t>(std::min<uint64_t>(due, max_slots));
  aged_ns_ += n * slot_ns_;
  return expire(now_ns, n);
}

size_t Conntrack::expire(uint64_t now_ns, uint32_t budget) {
  size_t removed = 0;
  for (uint32_t n = 0; n < budget && n < capacity_; ++n) {
    uint32_t i = sweep_;
    sweep_ = sweep_ + 1 == capacity_ ? 0 : sweep_ + 1;
    if (live_[i] && flows_[i].expires_ns <= now_ns) {
      erase(&flows_[i]);
      ++removed;
    }
  }
  return removed;
}

}  // namespace k8c::dp
