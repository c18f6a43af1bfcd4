#include "control/client/workqueue.h"

#include "common/log.h"

#include <exception>

namespace k8c::client {

Controller::Controller(std::string name, Reconcile reconcile, int workers,
                       RateLimiterOptions backoff)
    : name_(std::move(name)),
      reconcile_(std::move(reconcile)),
      workers_(workers < 1 ? 1 : workers),
      queue_(backoff) {}

Controller::~Controller() {
  stop();
}

void Controller::start() {
  if (!threads_.empty()) return;
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { worker(); });
}

void Controller::stop() {
  queue_.shutdown();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Controller::worker() {
  while (auto key = queue_.get()) {
    ReconcileResult r;
    try {
      r = reconcile_(*key);
    } catch (const std::exception& e) {
      // A throwing reconcile is a failed reconcile: retry with backoff rather than lose the key
      // or take the process down.
      r.error = std::string("exception: ") + e.what();
    } catch (...) {
      r.error = "unknown exception";
    }
    if (!r.error.empty()) {
      spdlog::warn("{}: reconcile {} failed (retry {}): {}", name_, *key,
                   queue_.num_requeues(*key) + 1, r.error);
      queue_.add_rate_limited(*key);
    } else if (r.requeue_after > std::chrono::milliseconds::zero()) {
      queue_.forget(*key);
      queue_.add_after(*key, r.requeue_after);
    } else if (r.requeue) {
      queue_.add_rate_limited(*key);
    } else {
      queue_.forget(*key);
    }
    queue_.done(*key);
  }
}

}  // namespace k8c::client
