// The embedded backend: a kine-style log table in SQLite (WAL, synchronous=FULL) where every
// write is one row whose primary key is its revision, plus an in-memory copy of the latest state
// so reads and compare-and-swap checks never touch the disk.
//
// Failure model: a write is acknowledged only after its transaction committed with an fsync.
// If a transaction fails before COMMIT it is rolled back, its writes fail with unavailable and
// the store keeps serving. If COMMIT itself fails, whether the batch reached the disk is unknown
// (the fsync lesson: the page cache can no longer be trusted), so the store turns fail-stop:
// every pending and later write fails with unavailable, reads keep serving the last acknowledged
// state, and reopening the file is the way back (reopen reads what actually reached the disk).
//
// Threads: one writer (commits, then runs every `done` callback of the batch in order) and one
// thread per watch. write() on a closed store runs `done` at once, on the caller's thread.
#pragma once

#include "control/store/store.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace k8c::store {

struct SqliteOptions {
  // Recent events kept in memory for live watchers; a watcher that falls further behind reads
  // the log from SQLite instead, so a slow watcher costs disk reads, never writer stalls or
  // unbounded memory.
  size_t event_ring_events = 10000;
  size_t event_ring_bytes = 64u << 20;
  // Events handed to one watch callback at most.
  size_t watch_batch = 1000;
  // Operations in one group-commit transaction at most: bounds a transaction's latency and
  // memory when a burst queues up behind a slow fsync.
  size_t max_batch = 4096;
  // SQLite VFS name for every connection; empty means the default. Tests use it to inject I/O
  // faults underneath SQLite.
  std::string vfs;
};

struct SqliteStats {
  int64_t transactions = 0;  // committed write transactions (one fsync each)
  int64_t writes = 0;        // writes that produced a revision
  int64_t log_reads = 0;     // watch catch-up pages read from SQLite (ring misses)
};

class SqliteStore final : public Store {
 public:
  // Opens or creates the database at `path` (parent directories too). Throws std::runtime_error
  // naming the path and the SQLite error when the file is unreadable or not a database.
  explicit SqliteStore(const std::string& path, SqliteOptions options = {});
  ~SqliteStore() override;

  void write(Write w, std::function<void(WriteResult)> done) override;
  RangeResult range(std::string_view start, std::string_view end, int64_t limit = 0,
                    int64_t revision = 0) override;
  std::unique_ptr<Watch> watch(std::string prefix, int64_t after, WatchCallback on_events,
                               WatchError on_error) override;
  std::unique_ptr<Watch> watch_with_progress(std::string prefix, int64_t after,
                                             WatchCallback on_events, WatchError on_error,
                                             WatchProgress on_progress) override;
  Errc compact(int64_t revision) override;
  int64_t revision() const override;
  int64_t compacted_revision() const override;
  // Idempotent. From inside a write callback (the writer thread, which cannot join itself) it
  // only stops accepting writes; a later close() or the destructor finishes the job.
  void close() override;

  SqliteStats stats() const;
  // Makes the next COMMIT fail as an fsync error would, to exercise the fail-stop path.
  void fail_next_commit_for_testing();

  struct Core;

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace k8c::store
