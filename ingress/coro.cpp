#include "ingress/coro.h"

#include <bit>
#include <cstdint>
#include <new>

namespace k8c::ingress::coro {

namespace {

constexpr unsigned kMinShift = 6;  // 64 B
constexpr unsigned kClasses = 9;   // 64 B .. 16 KiB
constexpr std::size_t kMaxFreeBytesPerClass = std::size_t{1} << 20;

struct FreeBlock {
  FreeBlock* next;
};

// Trivially destructible, so it is usable during thread exit; the Reaper below empties it.
struct Pool {
  FreeBlock* head[kClasses];
  std::size_t free_bytes[kClasses];
  bool closed;
};
constinit thread_local Pool t_pool{};

struct Reaper {
  bool armed = false;
  ~Reaper() {
    Pool& p = t_pool;
    p.closed = true;
    for (unsigned c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = p.head[c]) {
        p.head[c] = b->next;
        ::operator delete(b);
      }
      p.free_bytes[c] = 0;
    }
  }
};
thread_local Reaper t_reaper;

// The smallest class whose blocks hold `n` bytes; kClasses when none does.
unsigned class_of(std::size_t n) {
  if (n <= (std::size_t{1} << kMinShift)) return 0;
  unsigned c = static_cast<unsigned>(std::bit_width(n - 1)) - kMinShift;
  return c < kClasses ? c : kClasses;
}

}  // namespace

void* pool_allocate(std::size_t size) {
  unsigned c = class_of(size);
  if (c == kClasses) return ::operator new(size);
  Pool& p = t_pool;
  if (FreeBlock* b = p.head[c]) {
    p.head[c] = b->next;
    p.free_bytes[c] -= std::size_t{1} << (c + kMinShift);
    return b;
  }
  return ::operator new (std::size_t{1} << (c + kMinShift));
}

void pool_deallocate(void* ptr, std::size_t size) noexcept {
  if (!ptr) return;
  unsigned c = class_of(size);
  if (c == kClasses) {
    ::operator delete(ptr);
    return;
  }
  Pool& p = t_pool;
  std::size_t block = std::size_t{1} << (c + kMinShift);
  if (p.closed || p.free_bytes[c] + block > kMaxFreeBytesPerClass) {
    ::operator delete(ptr);
    return;
  }
  t_reaper.armed = true;  // this thread now holds blocks: free them when it exits
  auto* b = static_cast<FreeBlock*>(ptr);
  b->next = p.head[c];
  p.head[c] = b;
  p.free_bytes[c] += block;
}

}  // namespace k8c::ingress::coro
