// Memory for the large tables a polling lcore reads per packet (conntrack flows and index,
// affinity records): on 2 MiB pages when the system allows it, so that a million-flow table
// costs a few dozen TLB entries instead of tens of thousands of page walks.
//
// In order: reserved huge pages (MAP_HUGETLB, when /proc/sys/vm/nr_hugepages has some free),
// then transparent huge pages (a 2 MiB-aligned mapping with madvise(MADV_HUGEPAGE), which works
// in THP's `madvise` mode), then plain pages. Small tables (under 1 MiB) come from the heap:
// a huge page would mostly be waste. Without an EAL on purpose: tests, benches and the fuzzer
// build the same tables. Allocation happens once, before the polling loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace k8c::dp {

enum class PageKind : uint8_t {
  kHeap,             // small: operator new
  kHugeTlb,          // reserved huge pages (MAP_HUGETLB)
  kTransparentHuge,  // anonymous mapping advised MADV_HUGEPAGE (the kernel may still split it)
  kSmall,            // anonymous mapping of 4 KiB pages (the advice was refused)
};

const char* page_kind_name(PageKind k);

// A zero-filled, 64-byte aligned block. Throws std::bad_alloc when no memory is left.
class TableMemory {
 public:
  TableMemory() = default;
  explicit TableMemory(size_t bytes);
  ~TableMemory();
  TableMemory(TableMemory&& o) noexcept { swap(o); }
  TableMemory& operator=(TableMemory&& o) noexcept {
    TableMemory(std::move(o)).swap(*this);
    return *this;
  }
  TableMemory(const TableMemory&) = delete;
  TableMemory& operator=(const TableMemory&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  PageKind kind() const { return kind_; }

 private:
  void swap(TableMemory& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(mapped_, o.mapped_);
    std::swap(kind_, o.kind_);
  }
  void* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes to munmap; 0 for heap blocks
  PageKind kind_ = PageKind::kHeap;
};

// A fixed array of n default-constructed T in TableMemory.
template <class T>
class TableArray {
  static_assert(std::is_trivially_destructible_v<T>);
  static_assert(alignof(T) <= 64);

 public:
  TableArray() = default;
  explicit TableArray(size_t n) : mem_(n * sizeof(T)), n_(n) {
    T* p = get();
    for (size_t i = 0; i < n; ++i) new (p + i) T();
  }
  T* get() const { return static_cast<T*>(mem_.data()); }
  T& operator[](size_t i) const { return get()[i]; }
  size_t size() const { return n_; }
  PageKind page_kind() const { return mem_.kind(); }

 private:
  TableMemory mem_;
  size_t n_ = 0;
};

}  // namespace k8c::dp
