// Real I/O faults underneath SQLite: a VFS shim over the default one that makes fsync fail on
// demand, to check what the store does when a commit cannot be made durable.
#include "control/store/sqlite_store.h"
#include "tests/control/store/test_util.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>

namespace k8c::store {
namespace {

using testing::TempDir;

std::atomic<bool> g_fail_sync{false};
std::atomic<int> g_failed_syncs{0};
sqlite3_vfs* g_real = nullptr;

struct FaultyFile {
  sqlite3_file base;
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

FaultyFile* F(sqlite3_file* f) {
  return reinterpret_cast<FaultyFile*>(f);
}
sqlite3_file* R(sqlite3_file* f) {
  return F(f)->real();
}

int x_close(sqlite3_file* f) {
  return R(f)->pMethods->xClose(R(f));
}
int x_read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
  return R(f)->pMethods->xRead(R(f), b, n, o);
}
int x_write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  return R(f)->pMethods->xWrite(R(f), b, n, o);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 n) {
  return R(f)->pMethods->xTruncate(R(f), n);
}
// While set, fsync blocks until released, so a test can look at the store mid-commit.
std::atomic<testing::Gate*> g_hold_entered{nullptr};
std::atomic<testing::Gate*> g_hold_release{nullptr};

int x_sync(sqlite3_file* f, int flags) {
  if (auto* entered = g_hold_entered.exchange(nullptr)) {
    entered->open();
    g_hold_release.load()->wait();
  }
  if (g_fail_sync) {
    ++g_failed_syncs;
    return SQLITE_IOERR_FSYNC;
  }
  return R(f)->pMethods->xSync(R(f), flags);
}
int x_size(sqlite3_file* f, sqlite3_int64* n) {
  return R(f)->pMethods->xFileSize(R(f), n);
}
int x_lock(sqlite3_file* f, int l) {
  return R(f)->pMethods->xLock(R(f), l);
}
int x_unlock(sqlite3_file* f, int l) {
  return R(f)->pMethods->xUnlock(R(f), l);
}
int x_check(sqlite3_file* f, int* out) {
  return R(f)->pMethods->xCheckReservedLock(R(f), out);
}
int x_fcntl(sqlite3_file* f, int op, void* arg) {
  return R(f)->pMethods->xFileControl(R(f), op, arg);
}
int x_sector(sqlite3_file* f) {
  return R(f)->pMethods->xSectorSize(R(f));
}
int x_caps(sqlite3_file* f) {
  return R(f)->pMethods->xDeviceCharacteristics(R(f));
}
int x_shm_map(sqlite3_file* f, int pg, int sz, int ext, void volatile** p) {
  return R(f)->pMethods->xShmMap(R(f), pg, sz, ext, p);
}
int x_shm_lock(sqlite3_file* f, int off, int n, int flags) {
  return R(f)->pMethods->xShmLock(R(f), off, n, flags);
}
void x_shm_barrier(sqlite3_file* f) {
  R(f)->pMethods->xShmBarrier(R(f));
}
int x_shm_unmap(sqlite3_file* f, int del) {
  return R(f)->pMethods->xShmUnmap(R(f), del);
}

// Version 2 (shared memory for WAL, no memory mapping): SQLite falls back to read() without
// xFetch, which keeps every byte going through the shim.
const sqlite3_io_methods kMethods = {
    2,          x_close,       x_read,      x_write, x_truncate, x_sync, x_size,
    x_lock,     x_unlock,      x_check,     x_fcntl, x_sector,   x_caps, x_shm_map,
    x_shm_lock, x_shm_barrier, x_shm_unmap, nullptr, nullptr};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out) {
  int rc = g_real->xOpen(g_real, name, R(f), flags, out);
  f->pMethods = rc == SQLITE_OK ? &kMethods : nullptr;
  return rc;
}

sqlite3_vfs g_vfs;

void register_faulty_vfs() {
  if (g_real) return;
  g_real = sqlite3_vfs_find(nullptr);
  g_vfs = *g_real;
  g_vfs.zName = "k8c-faulty";
  g_vfs.szOsFile = static_cast<int>(sizeof(FaultyFile)) + g_real->szOsFile;
  g_vfs.xOpen = x_open;
  g_vfs.pNext = nullptr;
  ASSERT_EQ(sqlite3_vfs_register(&g_vfs, 0), SQLITE_OK);
}

Write create(std::string key) {
  return Write{Write::Op::create, std::move(key), "v", 0};
}

TEST(SqliteFault, FsyncFailureFailsTheBatchAndStopsWrites) {
  register_faulty_vfs();
  TempDir dir;
  SqliteOptions opt;
  opt.vfs = "k8c-faulty";
  {
    SqliteStore s(dir.db(), opt);
    ASSERT_EQ(s.write_sync(create("/a")).err, Errc::ok);
    g_fail_sync = true;
    auto r = s.write_sync(create("/b"));
    g_fail_sync = false;
    EXPECT_GT(g_failed_syncs.load(), 0);
    EXPECT_EQ(r.err, Errc::unavailable);
    EXPECT_FALSE(r.message.empty());
    // Nobody may see /b: it was never acknowledged.
    EXPECT_TRUE(s.range("/b", "").kvs.empty());
    EXPECT_EQ(s.revision(), 1);
    // Fail-stop, even though the disk "recovered": the outcome of /b is unknown.
    EXPECT_EQ(s.write_sync(create("/c")).err, Errc::unavailable);
    EXPECT_EQ(s.range("/a", "").kvs.size(), 1u);
  }
  // Reopening reads what actually reached the file. /b may or may not be there (its bytes were
  // written, only the fsync "failed"), but the state is consistent and revisions continue.
  SqliteStore s(dir.db(), opt);
  EXPECT_EQ(s.range("/a", "").kvs.size(), 1u);
  int64_t rev = s.revision();
  EXPECT_TRUE(rev == 1 || rev == 2) << rev;
  EXPECT_EQ(s.range("/b", "").kvs.size(), static_cast<size_t>(rev - 1));
  auto c = s.write_sync(create("/c"));
  ASSERT_EQ(c.err, Errc::ok);
  EXPECT_EQ(c.revision, rev + 1);
}

TEST(SqliteFault, NothingIsVisibleBeforeItsFsyncCompletes) {
  register_faulty_vfs();
  TempDir dir;
  SqliteOptions opt;
  opt.vfs = "k8c-faulty";
  SqliteStore s(dir.db(), opt);
  ASSERT_EQ(s.write_sync(create("/a")).err, Errc::ok);
  std::mutex mu;
  std::vector<int64_t> seen;
  auto w = s.watch(
      "/", 0,
      [&](const std::vector<Event>& evs) {
        std::lock_guard l(mu);
        for (auto& e : evs) seen.push_back(e.kv.mod_revision);
      },
      [](Errc) {});
  testing::Gate entered, release, acked;
  g_hold_release = &release;
  g_hold_entered = &entered;
  s.write(create("/b"), [&](WriteResult r) {
    EXPECT_EQ(r.err, Errc::ok);
    acked.open();
  });
  ASSERT_TRUE(entered.wait());
  // The commit's bytes are written but not yet synced: no reader may see them.
  EXPECT_TRUE(s.range("/b", "").kvs.empty());
  EXPECT_EQ(s.revision(), 1);
  EXPECT_EQ(s.range("/", prefix_end("/"), 0, 1).kvs.size(), 1u);
  {
    std::lock_guard l(mu);
    EXPECT_TRUE(seen.empty());
  }
  release.open();
  ASSERT_TRUE(acked.wait());
  EXPECT_EQ(s.range("/b", "").kvs.size(), 1u);
  EXPECT_EQ(s.revision(), 2);
}

}  // namespace
}  // namespace k8c::store
