// The rate-limited work queue of client-go (workqueue.RateLimitingInterface) and a small
// controller loop on top of it, as controller-runtime runs reconcile(key).
//
// Queue semantics, the ones controllers depend on:
//  - add(k) while k waits in the queue does nothing (dedupe);
//  - a key handed out by get() is "processing" until done(k); no other get() returns it
//    meanwhile; an add(k) during processing is remembered and k is queued again at done(k);
//  - add_after(k, d) queues k once d has passed (the earliest pending time wins);
//  - add_rate_limited(k) = add_after(k, backoff(k)) with per-key exponential backoff;
//    forget(k) resets that backoff (call it when k reconciled cleanly);
//  - shutdown() wakes every get(), which then returns nullopt; later adds are ignored.
// All members are thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace k8c::client {

using Clock = std::chrono::steady_clock;

struct RateLimiterOptions {
  // client-go's DefaultItemBasedRateLimiter: 5ms doubling per failure, capped at 1000s.
  std::chrono::milliseconds base_delay{5};
  std::chrono::milliseconds max_delay{1000 * 1000};
};

// Per-key exponential failure backoff. Not thread-safe by itself; WorkQueue guards it.
template <class Key>
class ItemExponentialBackoff {
 public:
  explicit ItemExponentialBackoff(RateLimiterOptions opts = {}) : opts_(opts) {}

  // The delay for this failure of `key`: base * 2^(failures so far), capped.
  std::chrono::milliseconds when(const Key& key) {
    int n = failures_[key]++;
    // Doubling past 2^40 overflows long before any sane cap; stop shifting there.
    if (n > 40) return opts_.max_delay;
    auto d = opts_.base_delay * (int64_t{1} << n);
    return d > opts_.max_delay ? opts_.max_delay : d;
  }
  int failures(const Key& key) const {
    auto it = failures_.find(key);
    return it == failures_.end() ? 0 : it->second;
  }
  void forget(const Key& key) { failures_.erase(key); }

 private:
  RateLimiterOptions opts_;
  std::map<Key, int> failures_;
};

template <class Key = std::string>
class WorkQueue {
 public:
  explicit WorkQueue(RateLimiterOptions opts = {}) : limiter_(opts) {}
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const Key& key) {
    std::lock_guard lock(mu_);
    add_locked(key);
  }

  void add_after(const Key& key, std::chrono::milliseconds delay) {
    if (delay <= std::chrono::milliseconds::zero()) return add(key);
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    auto at = Clock::now() + delay;
    auto it = waiting_.find(key);
    if (it != waiting_.end()) {
      if (it->second <= at) return;  // already due sooner
      by_time_.erase({it->second, key});
      it->second = at;
    } else {
      waiting_.emplace(key, at);
    }
    by_time_.insert({at, key});
    // Getters sleeping until a later deadline must recompute theirs.
    cv_.notify_all();
  }

  void add_rate_limited(const Key& key) {
    std::chrono::milliseconds delay;
    {
      std::lock_guard lock(mu_);
      if (shutting_down_) return;
      delay = limiter_.when(key);
    }
    add_after(key, delay);
  }

  void forget(const Key& key) {
    std::lock_guard lock(mu_);
    limiter_.forget(key);
  }
  int num_requeues(const Key& key) const {
    std::lock_guard lock(mu_);
    return limiter_.failures(key);
  }

  // Blocks until a key is ready or the queue shuts down (nullopt).
  std::optional<Key> get() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (shutting_down_) return std::nullopt;
      promote_due_locked(Clock::now());
      if (!queue_.empty()) break;
      if (by_time_.empty()) {
        cv_.wait(lock);
      } else {
        // A copy: the set entry may be erased by another thread while this one sleeps.
        const Clock::time_point due = by_time_.begin()->first;
        cv_.wait_until(lock, due);
      }
    }
    Key key = std::move(queue_.front());
    queue_.pop_front();
    processing_.insert(key);
    dirty_.erase(key);
    return key;
  }

  // Marks `key` processed; if it was added meanwhile it goes back in the queue now.
  void done(const Key& key) {
    std::lock_guard lock(mu_);
    processing_.erase(key);
    if (dirty_.count(key) && !shutting_down_) {
      queue_.push_back(key);
      cv_.notify_one();
    }
  }

  void shutdown() {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    cv_.notify_all();
  }
  bool shutting_down() const {
    std::lock_guard lock(mu_);
    return shutting_down_;
  }

  // Keys ready to be handed out (delayed keys count once due).
  size_t len() {
    std::lock_guard lock(mu_);
    promote_due_locked(Clock::now());
    return queue_.size();
  }
  // Keys waiting for their add_after time.
  size_t num_waiting() const {
    std::lock_guard lock(mu_);
    return waiting_.size();
  }

 private:
  void add_locked(const Key& key) {
    if (shutting_down_) return;
    if (!dirty_.insert(key).second) return;  // already queued (or queued again while processing)
    if (processing_.count(key)) return;      // done() will queue it
    queue_.push_back(key);
    cv_.notify_one();
  }

  void promote_due_locked(Clock::time_point now) {
    while (!by_time_.empty() && by_time_.begin()->first <= now) {
      Key key = by_time_.begin()->second;
      by_time_.erase(by_time_.begin());
      waiting_.erase(key);
      add_locked(key);
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Key> queue_;
  std::set<Key> dirty_;       // needs processing: queued, or re-added while processing
  std::set<Key> processing_;  // handed out, done() not yet called
  std::map<Key, Clock::time_point> waiting_;             // add_after: key -> due time
  std::set<std::pair<Clock::time_point, Key>> by_time_;  // the same, ordered by due time
  ItemExponentialBackoff<Key> limiter_;
  bool shutting_down_ = false;
};

// What reconcile(key) asks for next, as in controller-runtime.
struct ReconcileResult {
  bool requeue = false;                        // again, with rate-limited backoff
  std::chrono::milliseconds requeue_after{0};  // again after this long (backoff reset)
  std::string error;                           // non-empty: failed; retried with backoff
};

// Runs `workers` threads that take keys from a queue and reconcile them. The reconcile function
// must be idempotent and act on current state (read from informer caches), never on the event
// that queued the key. One key is never reconciled by two workers at once.
class Controller {
 public:
  using Reconcile = std::function<ReconcileResult(const std::string& key)>;

  Controller(std::string name, Reconcile reconcile, int workers = 1,
             RateLimiterOptions backoff = {});
  ~Controller();  // stops
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  WorkQueue<std::string>& queue() { return queue_; }
  void enqueue(const std::string& key) { queue_.add(key); }

  void start();
  // Shuts the queue down and joins the workers; a reconcile in progress finishes first.
  void stop();
  const std::string& name() const { return name_; }

 private:
  void worker();

  std::string name_;
  Reconcile reconcile_;
  int workers_;
  WorkQueue<std::string> queue_;
  std::vector<std::thread> threads_;
};

}  // namespace k8c::client
