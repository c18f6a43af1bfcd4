// A build-once, read-many string-keyed hash map for the request path.
//
// Written by hand because the standard container measured badly here: libstdc++ 12's transparent
// (string_view) lookup in std::unordered_map recomputes the hash of every node it walks in a
// bucket chain when hash codes are not cached, and each probe chases node pointers. With 10,000
// hosts that find() was half of a ~800 ns lookup (perf, on a loaded machine). This map keeps one
// contiguous slot array (stored 64-bit hash + entry index, linear probing, load factor at most
// 1/2), so a lookup is one hash, usually one slot read and one key compare. Abseil's
// flat_hash_map would do, but is not a dependency of the project. Entries are only added while
// building; references into the map are invalidated by insertion, like std::vector's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace k8c::ingress {

template <typename V>
class FlatStringMap {
 public:
  using Entry = std::pair<std::string, V>;

  std::pair<V*, bool> try_emplace(std::string_view key, V value = V{}) {
    if (V* found = find(key)) return {found, false};
    if ((entries_.size() + 1) * 2 > slots_.size()) grow();
    entries_.emplace_back(std::string(key), std::move(value));
    place(hash(key), static_cast<uint32_t>(entries_.size()));
    return {&entries_.back().second, true};
  }

  V& operator[](std::string_view key) { return *try_emplace(key).first; }

  const V* find(std::string_view key) const noexcept {
    if (entries_.empty()) return nullptr;
    const uint64_t h = hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.index == 0) return nullptr;
      if (s.hash == h) {
        const Entry& e = entries_[s.index - 1];
        if (e.first == key) return &e.second;
      }
    }
  }
  V* find(std::string_view key) noexcept {
    return const_cast<V*>(static_cast<const FlatStringMap*>(this)->find(key));
  }

  size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  void clear() {
    entries_.clear();
    slots_.clear();
    mask_ = 0;
  }
  auto begin() noexcept { return entries_.begin(); }
  auto end() noexcept { return entries_.end(); }
  auto begin() const noexcept { return entries_.begin(); }
  auto end() const noexcept { return entries_.end(); }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t index = 0;  // 1-based into entries_; 0 marks an empty slot
  };

  static uint64_t hash(std::string_view key) noexcept { return std::hash<std::string_view>{}(key); }

  void place(uint64_t h, uint32_t index) {
    size_t i = h & mask_;
    while (slots_[i].index != 0) i = (i + 1) & mask_;
    slots_[i] = {h, index};
  }

  void grow() {
    size_t n = slots_.empty() ? 8 : slots_.size() * 2;
    slots_.assign(n, Slot{});
    mask_ = n - 1;
    for (size_t i = 0; i < entries_.size(); ++i) {
      place(hash(entries_[i].first), static_cast<uint32_t>(i + 1));
    }
  }

  std::vector<Entry> entries_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace k8c::ingress
