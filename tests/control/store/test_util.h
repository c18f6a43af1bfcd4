// Helpers shared by the store tests.
#pragma once

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "control/store/store.h"

namespace k8c::store::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "k8c-store-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string db() const { return (path_ / "state.db").string(); }

 private:
  std::filesystem::path path_;
};

// A one-shot gate. Waits are bounded so that a broken test fails instead of hanging.
class Gate {
 public:
  void open() {
    std::lock_guard l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait(std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, limit, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Collects watch events (store Events or cache CachedEvents) and errors from the watch thread
// for the test thread to wait on. Waits are bounded so a broken test fails instead of hanging.
template <typename E>
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<E> events;
  std::vector<Errc> errors;
  int calls = 0;

  std::function<void(const std::vector<E>&)> on_events() {
    return [this](const std::vector<E>& evs) {
      std::lock_guard l(mu);
      ++calls;
      events.insert(events.end(), evs.begin(), evs.end());
      cv.notify_all();
    };
  }
  std::function<void(Errc)> on_error() {
    return [this](Errc e) {
      std::lock_guard l(mu);
      errors.push_back(e);
      cv.notify_all();
    };
  }
  bool wait_events(size_t n) {
    std::unique_lock l(mu);
    return cv.wait_for(l, std::chrono::seconds(60), [&] { return events.size() >= n; });
  }
  bool wait_error() {
    std::unique_lock l(mu);
    return cv.wait_for(l, std::chrono::seconds(60), [&] { return !errors.empty(); });
  }
};

}  // namespace k8c::store::testing
