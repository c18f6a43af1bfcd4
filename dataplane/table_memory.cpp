#include "dataplane/table_memory.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>

namespace k8c::dp {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHeapLimit = size_t{1} << 20;

size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

}  // namespace

const char* page_kind_name(PageKind k) {
  switch (k) {
    case PageKind::kHeap:
      return "heap";
    case PageKind::kHugeTlb:
      return "hugetlb";
    case PageKind::kTransparentHuge:
      return "transparent-huge";
    case PageKind::kSmall:
      return "small";
  }
  return "invalid";
}

TableMemory::TableMemory(size_t bytes) {
  if (bytes == 0) return;
  if (bytes < kHeapLimit) {
    data_ = ::operator new (bytes, std::align_val_t{64});
    std::memset(data_, 0, bytes);
    size_ = bytes;
    kind_ = PageKind::kHeap;
    return;
  }
  size_t len = round_up(bytes, kHugePage);
  // Reserved huge pages: fails at once (ENOMEM) when none are free.
  void* p =
      mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
  if (p != MAP_FAILED) {
    data_ = p;
    size_ = bytes;
    mapped_ = len;
    kind_ = PageKind::kHugeTlb;
    return;
  }
  // Transparent huge pages need 2 MiB-aligned virtual ranges: map one page more, trim both ends.
  size_t over = len + kHugePage;
  p = mmap(nullptr, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  auto base = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = round_up(base, kHugePage);
  if (aligned > base) munmap(p, aligned - base);
  uintptr_t end = base + over, aligned_end = aligned + len;
  if (end > aligned_end) munmap(reinterpret_cast<void*>(aligned_end), end - aligned_end);
  data_ = reinterpret_cast<void*>(aligned);
  size_ = bytes;
  mapped_ = len;
#ifdef MADV_HUGEPAGE
  kind_ = madvise(data_, len, MADV_HUGEPAGE) == 0 ? PageKind::kTransparentHuge : PageKind::kSmall;
#else
  kind_ = PageKind::kSmall;
#endif
}

TableMemory::~TableMemory() {
  if (!data_) return;
  if (mapped_)
    munmap(data_, mapped_);
  else
    ::operator delete (data_, std::align_val_t{64});
}

}  // namespace k8c::dp
