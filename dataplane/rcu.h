// Rcu<T>: publishes immutable snapshots to polling lcores without locks, and frees a replaced
// snapshot only once every reader has been seen outside it.
//
// The design is rte_rcu_qsbr's (quiescent-state-based reclamation), written on std::atomic so
// it runs without an EAL in tests and in the control-plane thread:
//
//   lcore loop (reader r)                       control thread (single writer)
//   ---------------------                       ------------------------------
//   rcu.online(r)                               rcu.publish(build_new_table())
//   for (;;) {                                    -> swaps the pointer, then bumps the epoch
//     const T* t = rcu.current();                    and retires the old snapshot at that epoch
//     rx burst; process every packet with t     rcu.reclaim()  (periodically)
//     tx burst                                    -> frees retired snapshots whose epoch every
//     rcu.quiescent(r)   // t is dead now            online reader has reported
//   }
//   rcu.offline(r)  // before blocking or exiting, so the writer does not wait on it
//
// One quiescent() per burst is one relaxed load and one release store to a cache line only
// reader r writes, which is why it costs nothing measurable per packet. The DPDK port layer
// can equally use rte_rcu_qsbr_quiescent() on an rte_rcu_qsbr with the same token protocol;
// this class exists so that the pipeline and its tests need no EAL.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace k8c::dp {

template <class T>
class Rcu {
 public:
  explicit Rcu(unsigned max_readers) : readers_(max_readers) {}
  ~Rcu() {
    delete current_.load(std::memory_order_relaxed);
    for (auto& r : retired_) delete r.ptr;
  }
  Rcu(const Rcu&) = delete;
  Rcu& operator=(const Rcu&) = delete;

  // Reader side. current() may return nullptr before the first publish.
  // seq_cst so that a reader coming online() cannot see a snapshot older than one whose
  // retirement already skipped it; on x86 this is still a plain load.
  const T* current() const { return current_.load(std::memory_order_seq_cst); }
  void quiescent(unsigned reader) {
    readers_[reader].seen.store(epoch_.load(std::memory_order_seq_cst), std::memory_order_release);
  }
  void online(unsigned reader) {
    readers_[reader].seen.store(epoch_.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
    readers_[reader].online.store(true, std::memory_order_seq_cst);
    // Re-read: a publish between the two stores would otherwise be missed.
    quiescent(reader);
  }
  void offline(unsigned reader) { readers_[reader].online.store(false, std::memory_order_release); }

  // Writer side: one thread at a time (the mutex only orders writers among themselves).
  void publish(std::unique_ptr<T> next) {
    std::lock_guard lock(writer_);
    T* old = current_.exchange(next.release(), std::memory_order_seq_cst);
    uint64_t token = epoch_.fetch_add(1, std::memory_order_seq_cst) + 1;
    if (old) retired_.push_back({old, token});
  }

  // Called with each retired snapshot just before it is freed, when no reader can touch it any
  // more: the place to fold counters the lcores wrote into it into totals that outlive it. Runs
  // in the thread calling reclaim(), under the writer lock.
  void set_retire_hook(std::function<void(const T&)> hook) {
    std::lock_guard lock(writer_);
    retire_hook_ = std::move(hook);
  }

  // Frees every retired snapshot no reader can still hold; returns how many remain retired.
  size_t reclaim() {
    std::lock_guard lock(writer_);
    uint64_t safe = UINT64_MAX;
    for (const auto& r : readers_)
      if (r.online.load(std::memory_order_seq_cst))
        safe = std::min(safe, r.seen.load(std::memory_order_acquire));
    std::erase_if(retired_, [&](const Retired& r) {
      if (r.token > safe) return false;
      if (retire_hook_) retire_hook_(*r.ptr);
      delete r.ptr;
      return true;
    });
    return retired_.size();
  }

  // Blocks until every online reader has passed a quiescent point after the latest publish,
  // then frees what it can. Only for the control thread (rte_rcu_qsbr_synchronize's role).
  void synchronize() {
    while (reclaim() != 0) std::this_thread::yield();
  }

  size_t retired() {
    std::lock_guard lock(writer_);
    return retired_.size();
  }

 private:
  // One cache line per reader, so quiescent() never contends with another lcore.
  struct alignas(64) Reader {
    std::atomic<uint64_t> seen{0};
    std::atomic<bool> online{false};
  };
  struct Retired {
    T* ptr;
    uint64_t token;
  };

  std::atomic<T*> current_{nullptr};
  std::atomic<uint64_t> epoch_{0};
  std::vector<Reader> readers_;
  std::mutex writer_;
  std::vector<Retired> retired_;
  std::function<void(const T&)> retire_hook_;
};

}  // namespace k8c::dp
