#include "control/store/sqlite_store.h"

#include "common/log.h"

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace k8c::store {

namespace {

struct SqlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thin RAII wrappers: the SQLite C API is small enough that a wrapper library would add a
// dependency without removing much code.
class Db {
 public:
  Db(const std::string& path, bool create, const std::string& vfs) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, vfs.empty() ? nullptr : vfs.c_str());
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw SqlError(msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    // Checkpoints briefly lock readers out; waiting beats failing a read.
    sqlite3_busy_timeout(db_, 10000);
  }
  ~Db() { sqlite3_close_v2(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw SqlError(msg);
    }
  }
  // For ROLLBACK after a failure, where a second error adds nothing.
  void exec_quiet(const char* sql) { sqlite3_exec(db_, sql, nullptr, nullptr, nullptr); }

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(const Db& db, const char* sql) : db_(db.get()) {
    if (sqlite3_prepare_v2(db_, sql, -1, &s_, nullptr) != SQLITE_OK) {
      throw SqlError(sqlite3_errmsg(db_));
    }
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  // Keys and values are blobs so that ordering is memcmp, the same as std::string's.
  Stmt& bind(int i, std::string_view v) {
    check(sqlite3_bind_blob64(s_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_TRANSIENT));
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SqlError(sqlite3_errmsg(db_));
  }
  int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  std::string blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    int n = sqlite3_column_bytes(s_, col);
    return p ? std::string(p, static_cast<size_t>(n)) : std::string();
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw SqlError(sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS kv (
  id INTEGER PRIMARY KEY,
  name BLOB NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv(name, id);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
)";

bool is_unbounded(std::string_view end) {
  return end.size() == 1 && end[0] == '\0';
}

size_t event_bytes(const Event& e) {
  return e.kv.key.size() + e.kv.value.size() + sizeof(Event);
}

}  // namespace

struct SqliteStore::Core {
  std::string path;
  SqliteOptions opt;
  std::unique_ptr<Db> wdb;  // writer thread only (and open/close)

  // Read connections, lent to range() at old revisions and to watch catch-up.
  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::vector<std::unique_ptr<Db>> idle;
  int lent = 0;
  bool pool_closed = false;

  // Published state: only the writer mutates it, under an exclusive lock, after COMMIT.
  mutable std::shared_mutex mu;
  std::map<std::string, KeyValue, std::less<>> state;
  std::deque<Event> ring;  // events for revisions [ring_first, rev], gap-free
  int64_t ring_first = 1;
  size_t ring_bytes = 0;
  std::atomic<int64_t> rev{0};
  std::atomic<int64_t> compacted{0};

  // Watch threads sleep here until the revision moves or the store closes.
  std::mutex nmu;
  std::condition_variable ncv;
  std::atomic<bool> closed{false};

  struct Op {
    bool compact = false;
    Write w;
    std::function<void(WriteResult)> done;
    int64_t compact_rev = 0;
    std::promise<Errc>* compact_done = nullptr;
  };
  std::mutex qmu;
  std::condition_variable qcv;
  std::deque<Op> queue;
  bool accepting = true;
  std::thread writer;
  std::mutex close_mu;

  bool failed = false;  // writer thread only: fail-stop after an ambiguous COMMIT
  std::atomic<bool> fail_next{false};
  std::atomic<int64_t> stat_tx{0}, stat_writes{0}, stat_log_reads{0};

  std::unique_ptr<Stmt> insert_stmt;
  std::unique_ptr<Stmt> meta_stmt;

  std::unique_ptr<Db> acquire() {
    std::lock_guard l(pool_mu);
    if (pool_closed) return nullptr;
    ++lent;
    if (!idle.empty()) {
      auto db = std::move(idle.back());
      idle.pop_back();
      return db;
    }
    try {
      auto db = std::make_unique<Db>(path, false, opt.vfs);
      db->exec("PRAGMA query_only=1");
      return db;
    } catch (const SqlError& e) {
      --lent;
      spdlog::error("sqlite store {}: opening a read connection: {}", path, e.what());
      return nullptr;
    }
  }
  void release(std::unique_ptr<Db> db) {
    std::lock_guard l(pool_mu);
    --lent;
    if (!pool_closed) idle.push_back(std::move(db));
    pool_cv.notify_all();
  }

  void load();
  void run_writer();
  void commit_writes(std::deque<Op>& batch, size_t begin, size_t end);
  Errc run_compact(int64_t r);
  void fail(std::deque<Op>& batch, size_t begin, size_t end, const std::string& why);
};

void SqliteStore::Core::load() {
  wdb->exec("PRAGMA journal_mode=WAL");
  // FULL in WAL mode syncs the WAL on every commit: an acknowledged write survives power loss.
  wdb->exec("PRAGMA synchronous=FULL");
  wdb->exec(kSchema);
  int64_t c = 0;
  {
    Stmt s(*wdb, "SELECT v FROM meta WHERE k = 'compacted'");
    if (s.step()) c = s.i64(0);
  }
  int64_t max_id = 0;
  {
    Stmt s(*wdb, "SELECT COALESCE(MAX(id), 0) FROM kv");
    if (s.step()) max_id = s.i64(0);
  }
  Stmt s(*wdb,
         "SELECT k.name, k.value, k.create_revision, k.id FROM kv k "
         "JOIN (SELECT MAX(id) AS id FROM kv GROUP BY name) m ON k.id = m.id WHERE k.deleted = 0");
  while (s.step()) {
    KeyValue kv{s.blob(0), s.blob(1), s.i64(2), s.i64(3)};
    std::string key = kv.key;
    state.emplace(std::move(key), std::move(kv));
  }
  compacted = c;
  // Compaction may have deleted the newest row (a tombstone), and the compacted revision is at
  // most the revision at compaction time, so the larger of the two is where the log left off.
  rev = std::max(max_id, c);
  ring_first = rev + 1;
  insert_stmt = std::make_unique<Stmt>(
      *wdb,
      "INSERT INTO kv(id, name, created, deleted, create_revision, prev_revision, value) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  meta_stmt = std::make_unique<Stmt>(*wdb,
                                     "INSERT INTO meta(k, v) VALUES ('compacted', ?1) ON "
                                     "CONFLICT(k) DO UPDATE SET v = excluded.v");
}

void SqliteStore::Core::fail(std::deque<Op>& batch, size_t begin, size_t end,
                             const std::string& why) {
  for (size_t i = begin; i < end; ++i) {
    WriteResult r;
    r.err = Errc::unavailable;
    r.message = why;
    batch[i].done(std::move(r));
  }
}

void SqliteStore::Core::run_writer() {
  for (;;) {
    std::deque<Op> batch;
    {
      std::unique_lock l(qmu);
      qcv.wait(l, [&] { return !queue.empty() || !accepting; });
      if (queue.empty()) return;  // closing and drained
      // A cap keeps one transaction's latency and its overlay's memory bounded when a burst
      // queues up; the rest goes into the next transaction right away.
      if (queue.size() <= opt.max_batch) {
        batch.swap(queue);
      } else {
        auto cut = queue.begin() + static_cast<std::ptrdiff_t>(opt.max_batch);
        batch.assign(std::make_move_iterator(queue.begin()), std::make_move_iterator(cut));
        queue.erase(queue.begin(), cut);
      }
    }
    // Compactions split the batch so that a compaction sees every write queued before it.
    size_t i = 0;
    while (i < batch.size()) {
      if (batch[i].compact) {
        batch[i].compact_done->set_value(run_compact(batch[i].compact_rev));
        ++i;
        continue;
      }
      size_t j = i;
      while (j < batch.size() && !batch[j].compact) ++j;
      commit_writes(batch, i, j);
      i = j;
    }
  }
}

void SqliteStore::Core::commit_writes(std::deque<Op>& batch, size_t begin, size_t end) {
  if (failed) {
    fail(batch, begin, end, "sqlite store " + path + " stopped after a failed commit; reopen it");
    return;
  }
  std::vector<WriteResult> results(end - begin);
  std::vector<Event> events;
  // Keys written earlier in this batch: later writes (and their CAS checks) see these first, so
  // conflicting writes resolve in submission order. nullopt marks a removal.
  std::unordered_map<std::string, std::optional<KeyValue>> overlay;
  int64_t next = rev.load();
  auto lookup = [&](const std::string& key) -> const KeyValue* {
    if (auto it = overlay.find(key); it != overlay.end())
      return it->second ? &*it->second : nullptr;
    auto it = state.find(key);  // the writer is the only mutator, so no lock is needed to read
    return it == state.end() ? nullptr : &it->second;
  };
  // Update and remove need the key to exist, at the expected revision when one is given.
  auto precondition_holds = [](const Write& w, const KeyValue* cur, WriteResult& r) {
    if (!cur) {
      r.err = Errc::not_found;
      return false;
    }
    if (w.expect_mod_revision != 0 && w.expect_mod_revision != cur->mod_revision) {
      r.err = Errc::conflict;
      r.current = *cur;
      return false;
    }
    return true;
  };
  try {
    wdb->exec("BEGIN IMMEDIATE");
    for (size_t k = begin; k < end; ++k) {
      const Write& w = batch[k].w;
      WriteResult& r = results[k - begin];
      const KeyValue* cur = lookup(w.key);
      Event ev;
      int64_t prev = 0;
      switch (w.op) {
        case Write::Op::create:
          if (cur) {
            r.err = Errc::already_exists;
            r.current = *cur;
            continue;
          }
          ev.created = true;
          ev.kv = KeyValue{w.key, w.value, next + 1, next + 1};
          break;
        case Write::Op::update:
          if (!precondition_holds(w, cur, r)) continue;
          prev = cur->mod_revision;
          ev.kv = KeyValue{w.key, w.value, cur->create_revision, next + 1};
          break;
        case Write::Op::remove:
          if (!precondition_holds(w, cur, r)) continue;
          prev = cur->mod_revision;
          r.current = *cur;
          ev.type = Event::Type::remove;
          // The tombstone row carries the last value, as kine does, so a watch replayed from the
          // log can report what was deleted.
          ev.kv = KeyValue{w.key, cur->value, cur->create_revision, next + 1};
          break;
      }
      ++next;
      insert_stmt->reset()
          .bind(1, next)
          .bind(2, std::string_view(w.key))
          .bind(3, int64_t{ev.created})
          .bind(4, int64_t{ev.type == Event::Type::remove})
          .bind(5, ev.kv.create_revision)
          .bind(6, prev)
          .bind(7, std::string_view(ev.kv.value));
      insert_stmt->step();
      r.revision = next;
      if (ev.type == Event::Type::remove) {
        overlay[w.key] = std::nullopt;
      } else {
        r.current = ev.kv;
        overlay[w.key] = ev.kv;
      }
      events.push_back(std::move(ev));
    }
    insert_stmt->reset();
  } catch (const SqlError& e) {
    // Nothing was committed, so the outcome is known: the batch did not happen.
    insert_stmt->reset();
    wdb->exec_quiet("ROLLBACK");
    spdlog::error("sqlite store {}: write transaction failed: {}", path, e.what());
    fail(batch, begin, end, std::string("sqlite store ") + path + ": " + e.what());
    return;
  }
  if (events.empty()) {
    wdb->exec_quiet("ROLLBACK");
  } else {
    std::string err;
    if (fail_next.exchange(false)) {
      err = "injected commit failure";
    } else if (sqlite3_exec(wdb->get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      err = sqlite3_errmsg(wdb->get());
    }
    if (!err.empty()) {
      // The batch may or may not be on disk; see the failure model in sqlite_store.h.
      wdb->exec_quiet("ROLLBACK");
      failed = true;
      spdlog::error("sqlite store {}: commit failed ({}); refusing further writes until reopened",
                    path, err);
      fail(batch, begin, end, "sqlite store " + path + ": commit failed: " + err);
      return;
    }
    ++stat_tx;
    stat_writes += static_cast<int64_t>(events.size());
    {
      std::unique_lock l(mu);
      for (auto& [key, kv] : overlay) {
        if (kv) {
          state.insert_or_assign(key, std::move(*kv));
        } else {
          state.erase(key);
        }
      }
      for (auto& ev : events) {
        ring_bytes += event_bytes(ev);
        ring.push_back(std::move(ev));
      }
      while (!ring.empty() &&
             (ring.size() > opt.event_ring_events || ring_bytes > opt.event_ring_bytes)) {
        ring_bytes -= event_bytes(ring.front());
        ring.pop_front();
        ++ring_first;
      }
      rev = next;
    }
    { std::lock_guard l(nmu); }
    ncv.notify_all();
  }
  for (size_t k = begin; k < end; ++k) batch[k].done(std::move(results[k - begin]));
}

Errc SqliteStore::Core::run_compact(int64_t r) {
  if (failed) return Errc::unavailable;
  if (r > rev.load()) return Errc::future_revision;
  if (r <= compacted.load()) return Errc::compacted;
  try {
    wdb->exec("BEGIN IMMEDIATE");
    // Keep the newest live row of each key at or before r (the state at r); drop every row it
    // supersedes and every tombstone, which nothing after r needs.
    Stmt del(*wdb,
             "DELETE FROM kv WHERE id <= ?1 AND (deleted = 1 OR id < (SELECT MAX(k2.id) FROM kv k2 "
             "WHERE k2.name = kv.name AND k2.id <= ?1))");
    del.bind(1, r).step();
    meta_stmt->reset().bind(1, r).step();
    meta_stmt->reset();
  } catch (const SqlError& e) {
    meta_stmt->reset();
    wdb->exec_quiet("ROLLBACK");
    spdlog::error("sqlite store {}: compaction to {} failed: {}", path, r, e.what());
    return Errc::unavailable;
  }
  if (sqlite3_exec(wdb->get(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    spdlog::error("sqlite store {}: compaction commit failed ({}); refusing further writes", path,
                  sqlite3_errmsg(wdb->get()));
    wdb->exec_quiet("ROLLBACK");
    failed = true;
    return Errc::unavailable;
  }
  {
    std::unique_lock l(mu);
    compacted = r;
  }
  return Errc::ok;
}

SqliteStore::SqliteStore(const std::string& path, SqliteOptions options)
    : core_(std::make_shared<Core>()) {
  core_->path = path;
  core_->opt = options;
  if (core_->opt.watch_batch == 0) core_->opt.watch_batch = 1;
  if (core_->opt.max_batch == 0) core_->opt.max_batch = 1;
  try {
    auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    core_->wdb = std::make_unique<Db>(path, true, core_->opt.vfs);
    core_->load();
  } catch (const std::exception& e) {
    core_->insert_stmt.reset();
    core_->meta_stmt.reset();
    core_->wdb.reset();
    throw std::runtime_error("sqlite store " + path + ": " + e.what());
  }
  core_->writer = std::thread([c = core_.get()] { c->run_writer(); });
}

SqliteStore::~SqliteStore() {
  close();
}

void SqliteStore::write(Write w, std::function<void(WriteResult)> done) {
  {
    std::lock_guard l(core_->qmu);
    if (core_->accepting) {
      core_->queue.push_back(Core::Op{false, std::move(w), std::move(done), 0, nullptr});
      core_->qcv.notify_one();
      return;
    }
  }
  WriteResult r;
  r.err = Errc::unavailable;
  r.message = "sqlite store " + core_->path + " is closed";
  done(std::move(r));
}

RangeResult SqliteStore::range(std::string_view start, std::string_view end, int64_t limit,
                               int64_t revision) {
  RangeResult res;
  bool unbounded = is_unbounded(end);
  std::string end_s = end.empty() ? std::string(start) + '\0' : std::string(end);
  auto& c = *core_;
  {
    std::shared_lock l(c.mu);
    int64_t cur = c.rev.load();
    if (revision > cur) {
      res.err = Errc::future_revision;
      return res;
    }
    if (revision > 0 && revision <= c.compacted.load()) {
      res.err = Errc::compacted;
      return res;
    }
    if (revision <= 0 || revision == cur) {
      res.revision = cur;
      if (!unbounded && end_s <= start) return res;
      for (auto it = c.state.lower_bound(start);
           it != c.state.end() && (unbounded || it->first < end_s); ++it) {
        if (limit > 0 && static_cast<int64_t>(res.kvs.size()) == limit) {
          res.more = true;
          break;
        }
        res.kvs.push_back(it->second);
      }
      return res;
    }
  }
  res.revision = revision;
  if (!unbounded && end_s <= start) return res;
  auto db = c.acquire();
  if (!db) {
    res.err = Errc::unavailable;
    return res;
  }
  try {
    db->exec("BEGIN");
    int64_t comp = 0;
    {
      Stmt s(*db, "SELECT v FROM meta WHERE k = 'compacted'");
      if (s.step()) comp = s.i64(0);
    }
    if (revision <= comp) {
      res.err = Errc::compacted;
    } else {
      std::string sql =
          "SELECT k.name, k.value, k.create_revision, k.id FROM kv k JOIN (SELECT MAX(id) AS id "
          "FROM kv WHERE name >= ?1 AND id <= ?3";
      sql += unbounded ? "" : " AND name < ?2";
      sql += " GROUP BY name) m ON k.id = m.id WHERE k.deleted = 0 ORDER BY k.name LIMIT ?4";
      Stmt s(*db, sql.c_str());
      s.bind(1, start).bind(3, revision).bind(4, limit > 0 ? limit + 1 : int64_t{-1});
      if (!unbounded) s.bind(2, std::string_view(end_s));
      while (s.step()) {
        if (limit > 0 && static_cast<int64_t>(res.kvs.size()) == limit) {
          res.more = true;
          break;
        }
        res.kvs.push_back(KeyValue{s.blob(0), s.blob(1), s.i64(2), s.i64(3)});
      }
    }
    db->exec("COMMIT");
  } catch (const SqlError& e) {
    db->exec_quiet("ROLLBACK");
    spdlog::error("sqlite store {}: range at {} failed: {}", c.path, revision, e.what());
    res = RangeResult{};
    res.err = Errc::unavailable;
  }
  c.release(std::move(db));
  return res;
}

namespace {

struct WatchState {
  std::shared_ptr<SqliteStore::Core> core;
  std::string prefix;
  int64_t last = 0;
  Errc start_err = Errc::ok;
  WatchCallback on_events;
  WatchError on_error;
  WatchProgress on_progress;
  std::atomic<bool> stopped{false};
  std::thread thread;

  void run();
  // Reads one page of the log after `last`; returns false after reporting an error.
  bool read_log(int64_t target, std::vector<Event>& out, int64_t& upto);
  void error(Errc e) {
    if (!stopped) on_error(e);
  }
};

class SqliteWatch final : public Watch {
 public:
  explicit SqliteWatch(std::shared_ptr<WatchState> st) : st_(std::move(st)) {}
  ~SqliteWatch() override;

 private:
  std::shared_ptr<WatchState> st_;
};

}  // namespace

namespace {

SqliteWatch::~SqliteWatch() {
  st_->stopped = true;
  { std::lock_guard l(st_->core->nmu); }
  st_->core->ncv.notify_all();
  if (st_->thread.get_id() == std::this_thread::get_id()) {
    // Destroyed from its own callback: the thread finishes that callback and exits on its own,
    // keeping its state alive through the shared_ptr it holds.
    st_->thread.detach();
  } else {
    st_->thread.join();
  }
}

bool WatchState::read_log(int64_t target, std::vector<Event>& out, int64_t& upto) {
  auto& c = *core;
  auto db = c.acquire();
  if (!db) {
    error(Errc::unavailable);
    return false;
  }
  ++c.stat_log_reads;
  bool ok = true;
  try {
    // One read transaction, so the compaction check and the rows come from the same snapshot.
    db->exec("BEGIN");
    int64_t comp = 0;
    {
      Stmt s(*db, "SELECT v FROM meta WHERE k = 'compacted'");
      if (s.step()) comp = s.i64(0);
    }
    if (last < comp) {
      db->exec("COMMIT");
      c.release(std::move(db));
      error(Errc::compacted);
      return false;
    }
    std::string end = prefix_end(prefix);
    bool bounded = !prefix.empty() && !is_unbounded(end);
    std::string sql =
        "SELECT id, name, value, create_revision, created, deleted FROM kv WHERE id > ?1 AND "
        "id <= ?2";
    if (!prefix.empty()) sql += " AND name >= ?3";
    if (bounded) sql += " AND name < ?4";
    sql += " ORDER BY id LIMIT ?5";
    Stmt s(*db, sql.c_str());
    int64_t page = static_cast<int64_t>(c.opt.watch_batch);
    s.bind(1, last).bind(2, target).bind(5, page);
    if (!prefix.empty()) s.bind(3, std::string_view(prefix));
    if (bounded) s.bind(4, std::string_view(end));
    while (s.step()) {
      Event e;
      e.kv = KeyValue{s.blob(1), s.blob(2), s.i64(3), s.i64(0)};
      e.created = s.i64(4) != 0;
      e.type = s.i64(5) != 0 ? Event::Type::remove : Event::Type::put;
      out.push_back(std::move(e));
    }
    db->exec("COMMIT");
    upto = static_cast<int64_t>(out.size()) == page ? out.back().kv.mod_revision : target;
  } catch (const SqlError& e) {
    db->exec_quiet("ROLLBACK");
    spdlog::error("sqlite store {}: watch catch-up after {} failed: {}", c.path, last, e.what());
    ok = false;
  }
  c.release(std::move(db));
  if (!ok) error(Errc::unavailable);
  return ok;
}

void WatchState::run() {
  auto& c = *core;
  if (start_err != Errc::ok) {
    error(start_err);
    return;
  }
  for (;;) {
    int64_t target = 0;
    {
      std::unique_lock l(c.nmu);
      c.ncv.wait(l, [&] { return stopped || c.closed || c.rev.load() > last; });
      if (stopped) return;
      target = c.rev.load();
    }
    if (target <= last) {  // closed and fully delivered
      error(Errc::unavailable);
      return;
    }
    std::vector<Event> evs;
    int64_t upto = target;
    bool from_ring = false;
    {
      std::shared_lock l(c.mu);
      if (last + 1 >= c.ring_first) {
        from_ring = true;
        size_t i = static_cast<size_t>(last + 1 - c.ring_first);
        for (int64_t r = last + 1; r <= target; ++r, ++i) {
          const Event& e = c.ring[i];
          if (e.kv.key.starts_with(prefix)) {
            evs.push_back(e);
            if (evs.size() == c.opt.watch_batch) {
              upto = r;
              break;
            }
          }
        }
      }
    }
    if (!from_ring && !read_log(target, evs, upto)) return;
    if (stopped) return;
    if (!evs.empty()) on_events(evs);
    last = upto;
    if (on_progress && !stopped) on_progress(last);
  }
}

}  // namespace

std::unique_ptr<Watch> SqliteStore::watch(std::string prefix, int64_t after,
                                          WatchCallback on_events, WatchError on_error) {
  return watch_with_progress(std::move(prefix), after, std::move(on_events), std::move(on_error),
                             nullptr);
}

std::unique_ptr<Watch> SqliteStore::watch_with_progress(std::string prefix, int64_t after,
                                                        WatchCallback on_events,
                                                        WatchError on_error,
                                                        WatchProgress on_progress) {
  auto st = std::make_shared<WatchState>();
  st->core = core_;
  st->prefix = std::move(prefix);
  st->on_events = std::move(on_events);
  st->on_error = std::move(on_error);
  st->on_progress = std::move(on_progress);
  {
    std::shared_lock l(core_->mu);
    if (core_->closed) {
      st->start_err = Errc::unavailable;
    } else if (after <= 0) {
      st->last = core_->rev.load();
    } else if (after < core_->compacted.load()) {
      // etcd's rule: compaction at R keeps every event after R, so watching from R itself
      // works. Refusing it would make a cache that lists at R right after compact(R) relist
      // forever.
      st->start_err = Errc::compacted;
    } else {
      st->last = after;  // a future revision simply waits for it, as etcd does
    }
  }
  // Errors go through the watch thread too, so callbacks never run inside the caller's locks.
  st->thread = std::thread([st] { st->run(); });
  return std::make_unique<SqliteWatch>(st);
}

Errc SqliteStore::compact(int64_t revision) {
  std::promise<Errc> p;
  auto f = p.get_future();
  {
    std::lock_guard l(core_->qmu);
    if (!core_->accepting) return Errc::unavailable;
    core_->queue.push_back(Core::Op{true, Write{}, nullptr, revision, &p});
    core_->qcv.notify_one();
  }
  return f.get();
}

int64_t SqliteStore::revision() const {
  return core_->rev.load();
}
int64_t SqliteStore::compacted_revision() const {
  return core_->compacted.load();
}

void SqliteStore::close() {
  auto& c = *core_;
  if (std::this_thread::get_id() == c.writer.get_id()) {
    // From a write callback the writer cannot be joined; the owner's later close() (or the
    // destructor) finishes the job. Until then, stop taking writes.
    std::lock_guard l(c.qmu);
    c.accepting = false;
    c.qcv.notify_all();
    return;
  }
  std::lock_guard cl(c.close_mu);
  if (!c.writer.joinable()) return;  // already closed
  {
    std::lock_guard l(c.qmu);
    c.accepting = false;
  }
  c.qcv.notify_all();
  c.writer.join();  // drains the queue first: every queued write gets its real outcome
  c.closed = true;
  { std::lock_guard l(c.nmu); }
  c.ncv.notify_all();
  {
    std::unique_lock l(c.pool_mu);
    c.pool_closed = true;
    c.pool_cv.wait(l, [&] { return c.lent == 0; });
    c.idle.clear();
  }
  c.insert_stmt.reset();
  c.meta_stmt.reset();
  c.wdb.reset();
}

SqliteStats SqliteStore::stats() const {
  return SqliteStats{core_->stat_tx.load(), core_->stat_writes.load(),
                     core_->stat_log_reads.load()};
}

void SqliteStore::fail_next_commit_for_testing() {
  core_->fail_next = true;
}

}  // namespace k8c::store
