#include "control/client/object_sync.h"

#include "common/log.h"

#include <algorithm>
#include <exception>

namespace k8c::client {

ObjectSync::ObjectSync(std::shared_ptr<ApiClient> client, std::vector<SyncSource> sources,
                       Rebuild rebuild, ObjectSyncOptions opts)
    : ObjectSync(
          [&] {
            std::vector<std::unique_ptr<Informer>> informers;
            for (auto& s : sources) {
              informers.push_back(make_informer(client, s.resource, std::move(s.ns),
                                                std::move(s.label_selector),
                                                std::move(s.field_selector), std::move(s.options)));
            }
            return informers;
          }(),
          std::move(rebuild), std::move(opts)) {}

ObjectSync::ObjectSync(std::vector<std::unique_ptr<Informer>> informers, Rebuild rebuild,
                       ObjectSyncOptions opts)
    : informers_(std::move(informers)), rebuild_(std::move(rebuild)), opts_(std::move(opts)) {
  for (auto& inf : informers_) {
    inf->add_handlers({[this](const ObjectPtr&) { changed(); },
                       [this](const ObjectPtr&, const ObjectPtr&) { changed(); },
                       [this](const ObjectPtr&) { changed(); }});
  }
}

ObjectSync::~ObjectSync() {
  stop();
}

void ObjectSync::start() {
  {
    std::lock_guard lock(mu_);
    if (started_) return;
    started_ = true;
  }
  for (auto& inf : informers_) inf->start();
  thread_ = std::thread([this] { run(); });
}

void ObjectSync::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  // The informers first: after they stop no handler runs, so nothing touches `this` from their
  // threads while the rebuild thread is joined.
  for (auto& inf : informers_) inf->stop();
  if (thread_.joinable()) thread_.join();
}

void ObjectSync::changed() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

bool ObjectSync::wait_for_first_build(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return builds_.load() > 0 || stopping_; }) &&
         builds_.load() > 0;
}

SyncView ObjectSync::view() const {
  SyncView view;
  view.reserve(informers_.size());
  for (const auto& inf : informers_) {
    auto objects = inf->store().list();
    std::sort(objects.begin(), objects.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
      auto ka = std::pair(object_namespace(*a), object_name(*a));
      auto kb = std::pair(object_namespace(*b), object_name(*b));
      return ka < kb;
    });
    view.push_back(std::move(objects));
  }
  return view;
}

void ObjectSync::run() {
  // Wait for every informer's first list: a snapshot built from a partial view would, for
  // instance, publish Services without their endpoints and blackhole them for a moment.
  for (auto& inf : informers_) {
    while (!inf->wait_for_sync(std::chrono::milliseconds(100))) {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
  }
  while (true) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
      dirty_ = false;
    }
    try {
      rebuild_(view());
    } catch (const std::exception& e) {
      // A builder must not throw; if one does, the previous snapshot stays and the next change
      // tries again, rather than the sync thread dying and freezing the snapshot for good.
      spdlog::error("{}: rebuild failed: {}", opts_.name.empty() ? "sync" : opts_.name, e.what());
    }
    builds_.fetch_add(1);
    cv_.notify_all();

    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return dirty_ || stopping_; });
    if (stopping_) return;
    // Coalesce: absorb events until the view has been quiet for `debounce`, but never delay a
    // rebuild past `max_delay`, or a steady trickle of updates would starve it.
    auto deadline = std::chrono::steady_clock::now() + opts_.max_delay;
    while (opts_.debounce.count() > 0 && std::chrono::steady_clock::now() < deadline) {
      dirty_ = false;
      auto until = std::min(deadline, std::chrono::steady_clock::now() + opts_.debounce);
      if (!cv_.wait_until(lock, until, [&] { return dirty_ || stopping_; })) break;
      if (stopping_) return;
    }
  }
}

}  // namespace k8c::client
