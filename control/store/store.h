// The storage interface, shaped like etcd v3 so the embedded (SQLite) and distributed (etcd)
// backends are interchangeable, as kine does it. Keys are flat strings such as
// "/registry/pods/default/web-0"; values are opaque bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace k8c::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

enum class Errc {
  ok,
  not_found,        // the key does not exist (update/delete/get)
  already_exists,   // create on an existing key
  conflict,         // the key's mod_revision differs from the expected one
  compacted,        // the requested revision was compacted away
  future_revision,  // the requested revision is newer than the store's
  unavailable,      // the backend cannot take writes (I/O error, closed)
};
const char* to_string(Errc e);

struct Write {
  enum class Op { create, update, remove };
  Op op = Op::create;
  std::string key;
  std::string value;                // create/update
  int64_t expect_mod_revision = 0;  // update/remove: 0 means unconditional
};

struct WriteResult {
  Errc err = Errc::ok;
  int64_t revision = 0;  // the revision this write produced (ok)
  KeyValue current;  // on conflict/already_exists: the stored state; on remove: the removed value
                     // (its last mod_revision); on create/update: the new state
  std::string message;  // human detail for unavailable
};

struct RangeResult {
  Errc err = Errc::ok;
  std::vector<KeyValue> kvs;  // ordered by key
  int64_t revision = 0;       // the revision the range was read at
  bool more = false;          // limit cut the result
};

struct Event {
  enum class Type { put, remove };
  Type type = Type::put;
  KeyValue kv;           // put: the new value. remove: key, mod_revision = the deletion revision,
                         // value = the last value before deletion, create_revision of that value.
  bool created = false;  // put that created the key (ADDED rather than MODIFIED)
};

// A live watch; destroying it stops delivery (after any callback in flight returns).
class Watch {
 public:
  virtual ~Watch() = default;
};

// Delivered in revision order, never concurrently for one watch. An error callback with
// Errc::compacted means the start revision is gone (the caller relists: HTTP 410).
using WatchCallback = std::function<void(const std::vector<Event>& events)>;
using WatchError = std::function<void(Errc)>;
// Progress: every event up to `revision` that matches the watch has been delivered. Lets a
// consumer (the watch cache) track the store's revision while its prefix is quiet.
using WatchProgress = std::function<void(int64_t revision)>;

class Store {
 public:
  virtual ~Store() = default;

  // Applies one write. `done` runs once the write is durable (or has failed), on a store thread.
  // It may run on the thread that commits the next batch, so it must not wait for the store
  // (no write_sync or compact inside it); keep it short.
  // Writes submitted concurrently are grouped into one transaction and one fsync.
  virtual void write(Write w, std::function<void(WriteResult)> done) = 0;

  // Convenience: submits and waits.
  WriteResult write_sync(Write w);

  // Keys in [start, end) (end empty: just `start`; use prefix_end() for prefixes), at
  // `revision` (0: latest), at most `limit` (0: no limit).
  virtual RangeResult range(std::string_view start, std::string_view end, int64_t limit = 0,
                            int64_t revision = 0) = 0;

  // Events on keys with `prefix` after revision `after` (0: from now), then live ones. If
  // `after` < compacted_revision(), on_error(compacted): every event after the compacted
  // revision is kept, so `after` == compacted_revision() works, as in etcd.
  virtual std::unique_ptr<Watch> watch(std::string prefix, int64_t after, WatchCallback on_events,
                                       WatchError on_error) = 0;
  // As watch(), plus progress notifications after each delivery round. Backends without
  // progress support fall back to the plain watch (on_progress is never called). A distinct
  // name, so that a backend overriding watch() does not hide it.
  virtual std::unique_ptr<Watch> watch_with_progress(std::string prefix, int64_t after,
                                                     WatchCallback on_events, WatchError on_error,
                                                     WatchProgress on_progress) {
    (void)on_progress;
    return watch(std::move(prefix), after, std::move(on_events), std::move(on_error));
  }

  // Drops history at or before `revision`; later reads and watches of it fail with compacted
  // (range at a revision <= it; watch with `after` < it, see watch()).
  virtual Errc compact(int64_t revision) = 0;

  virtual int64_t revision() const = 0;
  virtual int64_t compacted_revision() const = 0;

  // Flushes and stops accepting writes; pending callbacks complete with unavailable.
  virtual void close() = 0;
};

// The first key after every key that starts with `prefix` (etcd's prefix range end).
std::string prefix_end(std::string_view prefix);

// Opens a backend from a URL: "sqlite:///path/state.db" (or "sqlite://path"). Throws
// std::runtime_error naming the problem.
std::unique_ptr<Store> open(const std::string& url);

}  // namespace k8c::store
