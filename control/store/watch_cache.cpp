// Design notes.
//
// Ingestion runs on the store watch's thread: each event is encoded once, outside any lock, and
// then published under an exclusive lock together with the new revision.
//
// Cache watchers keep no queue of their own. Each has a thread that remembers the last revision
// it delivered and copies newer events out of the shared window (the bytes are shared_ptrs, so
// a copy is cheap). Ingestion therefore never waits for a watcher, and memory is bounded by the
// window however many watchers there are. A watcher that falls so far behind that the window no
// longer holds its position is ended with Errc::compacted, and its client relists (HTTP 410).
//
// If the store watch reports compacted (the cache fell behind the store's history), the cache
// relists and follows from the new list revision. Its watchers cannot be given an exact event
// stream across that gap, so they are ended with compacted as well and relist from the cache.
#include "control/store/watch_cache.h"

#include "common/log.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <shared_mutex>
#include <thread>

namespace k8c::store {

namespace {

constexpr size_t kWatchBatch = 1000;

struct WatcherState;

struct State {
  mutable std::shared_mutex mu;
  std::map<std::string, CachedObject, std::less<>> objects;
  std::deque<CachedEvent> events;  // increasing revision
  int64_t floor = 0;               // every event after `floor` is in `events`
  std::atomic<int64_t> rev{0};
  std::atomic<int64_t> epoch{0};  // bumped by a relist
  std::atomic<int> dead{0};       // nonzero: an Errc that ended the cache (store closed)

  // Readers in wait_for().
  mutable std::mutex nmu;
  mutable std::condition_variable ncv;

  // Live watchers, each with its own wakeup: a commit wakes only the watchers it concerns, and
  // the others are moved past it here, so a watcher on a quiet prefix is never mistaken for a
  // slow one when other prefixes' writes slide the window, however late its thread runs.
  // Lock order: mu, then reg_mu, then a watcher's wmu.
  std::mutex reg_mu;
  std::vector<WatcherState*> watchers;

  void notify() {
    { std::lock_guard l(nmu); }
    ncv.notify_all();
  }
  // After events with `keys` were applied up to revision `to` (the caller holds mu
  // exclusively): wakes the watchers with a key under their prefix; the others learn that
  // nothing of theirs happened up to `to`.
  void dispatch(const std::vector<std::string>& keys, int64_t to);
  // Epoch and death changes concern every watcher.
  void wake_all();
};

struct WatcherState {
  std::shared_ptr<State> st;
  std::string prefix;
  int64_t epoch = 0;
  Errc start_err = Errc::ok;
  std::function<void(const std::vector<CachedEvent>&)> on_events;
  std::function<void(Errc)> on_error;
  std::atomic<bool> stopped{false};
  std::thread thread;

  std::mutex wmu;
  std::condition_variable wcv;
  int64_t last = 0;        // delivered up to here
  bool signaled = true;    // an event of ours may be pending; the first scan replays the window
  bool idle = false;       // waiting with everything delivered
  int64_t skipped_to = 0;  // revisions up to here held nothing of ours

  void wake() {
    {
      std::lock_guard l(wmu);
      signaled = true;
    }
    wcv.notify_one();
  }

  void error(Errc e) {
    if (!stopped) on_error(e);
  }

  void run() {
    if (start_err != Errc::ok) {
      error(start_err);
      return;
    }
    State& s = *st;
    for (;;) {
      int64_t from = 0;
      {
        std::unique_lock l(wmu);
        // Nothing of ours arrived since the last scan, so the revisions skipped meanwhile count
        // as delivered.
        if (!signaled && skipped_to > last) last = skipped_to;
        idle = true;
        wcv.wait(l, [&] {
          return stopped || signaled || s.epoch.load() != epoch || s.dead.load() != 0;
        });
        idle = false;
        signaled = false;
        if (stopped) return;
        from = last;
      }
      std::vector<CachedEvent> out;
      int64_t upto = from;
      bool more = false;
      Errc err = Errc::ok;
      {
        std::shared_lock l(s.mu);
        int64_t cur = s.rev.load();
        if (s.epoch.load() != epoch || from < s.floor) {
          err = Errc::compacted;
        } else if (cur <= from) {
          err = static_cast<Errc>(s.dead.load());  // nothing left to deliver
        } else {
          upto = cur;
          auto it = std::upper_bound(
              s.events.begin(), s.events.end(), from,
              [](int64_t r, const CachedEvent& e) { return r < e.object.mod_revision; });
          for (; it != s.events.end(); ++it) {
            if (!it->object.key.starts_with(prefix)) continue;
            out.push_back(*it);
            if (out.size() == kWatchBatch) {
              upto = it->object.mod_revision;
              more = upto < cur;
              break;
            }
          }
        }
      }
      if (err != Errc::ok) {
        error(err);
        return;
      }
      if (stopped) return;
      if (!out.empty()) on_events(out);
      std::lock_guard l(wmu);
      last = upto;
      if (more) signaled = true;
    }
  }
};

void State::dispatch(const std::vector<std::string>& keys, int64_t to) {
  std::lock_guard r(reg_mu);
  for (WatcherState* w : watchers) {
    bool ours = std::any_of(keys.begin(), keys.end(),
                            [&](const std::string& k) { return k.starts_with(w->prefix); });
    {
      std::lock_guard l(w->wmu);
      if (!ours) {
        if (w->idle && !w->signaled)
          w->last = std::max(w->last, to);
        else
          w->skipped_to = std::max(w->skipped_to, to);
        continue;
      }
      w->signaled = true;
    }
    w->wcv.notify_one();
  }
}

void State::wake_all() {
  std::lock_guard r(reg_mu);
  for (WatcherState* w : watchers) w->wake();
}

class CacheWatchImpl final : public CacheWatch {
 public:
  explicit CacheWatchImpl(std::shared_ptr<WatcherState> w) : w_(std::move(w)) {}
  ~CacheWatchImpl() override {
    w_->stopped = true;
    {
      std::lock_guard r(w_->st->reg_mu);
      auto& ws = w_->st->watchers;
      ws.erase(std::remove(ws.begin(), ws.end(), w_.get()), ws.end());
    }
    w_->wake();
    if (w_->thread.get_id() == std::this_thread::get_id()) {
      w_->thread.detach();  // from inside its own callback; the thread exits after it returns
    } else {
      w_->thread.join();
    }
  }

 private:
  std::shared_ptr<WatcherState> w_;
};

}  // namespace

struct WatchCache::Impl {
  Store& store;
  std::string prefix;
  Encoder encode;
  size_t window;
  std::shared_ptr<State> st = std::make_shared<State>();

  std::mutex watch_mu;
  std::condition_variable watch_cv;
  std::unique_ptr<Watch> store_watch;
  bool closing = false;
  // Error handlers in flight. A handler may run on a detached thread (its watch was replaced),
  // so the destructor waits for it rather than joining.
  int handling = 0;

  Impl(Store& s, std::string p, Encoder e, size_t w)
      : store(s), prefix(std::move(p)), encode(std::move(e)), window(std::max<size_t>(w, 1)) {}

  CachedObject make(const KeyValue& kv) {
    return CachedObject{kv.key, std::make_shared<const std::string>(encode(kv)), kv.create_revision,
                        kv.mod_revision};
  }

  // Returns false if the store could not be listed.
  bool relist(bool initial) {
    RangeResult r = store.range(prefix, prefix_end(prefix));
    if (r.err != Errc::ok) {
      spdlog::error("watch cache {}: list failed: {}", prefix, to_string(r.err));
      return false;
    }
    std::map<std::string, CachedObject, std::less<>> objects;
    for (auto& kv : r.kvs) {
      // Only this thread mutates `objects`, so reading it unlocked is safe. Reusing the bytes of
      // an unchanged object keeps "encoded once per revision" true across relists.
      auto old = st->objects.find(kv.key);
      CachedObject o = old != st->objects.end() && old->second.mod_revision == kv.mod_revision
                           ? old->second
                           : make(kv);
      objects.emplace(kv.key, std::move(o));
    }
    {
      std::unique_lock l(st->mu);
      st->objects = std::move(objects);
      st->events.clear();
      st->floor = r.revision;
      st->rev = r.revision;
      if (!initial) ++st->epoch;
    }
    st->notify();
    st->wake_all();
    follow(r.revision);
    return true;
  }

  void follow(int64_t from) {
    std::lock_guard l(watch_mu);
    if (closing) return;
    // Replacing the old watch from inside its own error callback is safe: it detaches.
    store_watch = store.watch_with_progress(
        prefix, from, [this](const std::vector<Event>& evs) { ingest(evs); },
        [this](Errc e) { on_store_error(e); }, [this](int64_t r) { progress(r); });
  }

  void ingest(const std::vector<Event>& evs) {
    std::vector<CachedEvent> ces;
    std::vector<std::string> keys;
    ces.reserve(evs.size());
    keys.reserve(evs.size());
    for (const auto& e : evs) {
      ces.push_back(CachedEvent{e.type, e.created, make(e.kv)});
      keys.push_back(e.kv.key);
    }
    {
      std::unique_lock l(st->mu);
      for (auto& ce : ces) {
        if (ce.type == Event::Type::put) {
          st->objects.insert_or_assign(ce.object.key, ce.object);
        } else {
          st->objects.erase(ce.object.key);
        }
        st->rev = ce.object.mod_revision;
        st->events.push_back(std::move(ce));
      }
      while (st->events.size() > window) {
        st->floor = st->events.front().object.mod_revision;
        st->events.pop_front();
      }
      st->dispatch(keys, st->rev.load());
    }
    st->notify();
  }

  void progress(int64_t r) {
    if (r <= st->rev.load()) return;
    {
      std::unique_lock l(st->mu);
      if (r > st->rev.load()) st->rev = r;
      st->dispatch({}, st->rev.load());
    }
    st->notify();
  }

  void on_store_error(Errc e) {
    {
      std::lock_guard l(watch_mu);
      if (closing) return;
      ++handling;
    }
    if (e == Errc::compacted) {
      spdlog::warn("watch cache {}: fell behind the store's history; relisting", prefix);
      if (!relist(false)) e = Errc::unavailable;
    }
    if (e != Errc::compacted) {
      spdlog::error("watch cache {}: store watch ended: {}", prefix, to_string(e));
      st->dead = static_cast<int>(e);
      st->notify();
      st->wake_all();
    }
    std::lock_guard l(watch_mu);
    --handling;
    watch_cv.notify_all();
  }
};

WatchCache::WatchCache(Store& store, std::string prefix, Encoder encode, size_t event_window)
    : impl_(std::make_unique<Impl>(store, std::move(prefix), std::move(encode), event_window)) {
  if (!impl_->relist(true)) {
    impl_->st->dead = static_cast<int>(Errc::unavailable);
  }
}

WatchCache::~WatchCache() {
  std::unique_ptr<Watch> w;
  {
    std::unique_lock l(impl_->watch_mu);
    impl_->closing = true;
    impl_->watch_cv.wait(l, [&] { return impl_->handling == 0; });
    w = std::move(impl_->store_watch);
  }
  w.reset();  // joins the ingestion thread
  // Watchers that outlive the cache end with unavailable instead of waiting forever.
  impl_->st->dead = static_cast<int>(Errc::unavailable);
  impl_->st->notify();
  impl_->st->wake_all();
}

std::vector<CachedObject> WatchCache::list(std::string_view prefix, int64_t* revision) const {
  const State& s = *impl_->st;
  std::shared_lock l(s.mu);
  std::vector<CachedObject> out;
  for (auto it = s.objects.lower_bound(prefix);
       it != s.objects.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(it->second);
  }
  if (revision) *revision = s.rev.load();
  return out;
}

std::optional<CachedObject> WatchCache::get(std::string_view key, int64_t* revision) const {
  const State& s = *impl_->st;
  std::shared_lock l(s.mu);
  if (revision) *revision = s.rev.load();
  auto it = s.objects.find(key);
  if (it == s.objects.end()) return std::nullopt;
  return it->second;
}

int64_t WatchCache::revision() const {
  return impl_->st->rev.load();
}

bool WatchCache::wait_for(int64_t revision, std::chrono::milliseconds timeout) const {
  const State& s = *impl_->st;
  std::unique_lock l(s.nmu);
  return s.ncv.wait_for(l, timeout, [&] { return s.rev.load() >= revision; });
}

std::unique_ptr<CacheWatch> WatchCache::watch(
    std::string prefix, int64_t after,
    std::function<void(const std::vector<CachedEvent>&)> on_events,
    std::function<void(Errc)> on_error) {
  auto w = std::make_shared<WatcherState>();
  w->st = impl_->st;
  w->prefix = std::move(prefix);
  w->on_events = std::move(on_events);
  w->on_error = std::move(on_error);
  {
    std::shared_lock l(impl_->st->mu);
    w->epoch = impl_->st->epoch.load();
    if (after <= 0) {
      w->last = impl_->st->rev.load();
    } else if (after < impl_->st->floor) {
      w->start_err = Errc::compacted;
    } else {
      w->last = after;
    }
  }
  {
    std::lock_guard r(impl_->st->reg_mu);
    impl_->st->watchers.push_back(w.get());
  }
  w->thread = std::thread([w] { w->run(); });
  return std::make_unique<CacheWatchImpl>(w);
}

}  // namespace k8c::store
