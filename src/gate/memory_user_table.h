// The per-shard user records of MemoryGate: a compact open-addressing table
// from user id to the seqs the user holds (UserTable) and the Shard that
// wraps it with its mutex. Internal to src/gate: only memory_gate.cc
// includes it.
//
// Memory (the reason for the custom table): at per_user = 1 a user costs one
// 16-byte slot (load factor 0.57..0.85) plus its id (length byte + bytes) in
// the shard's arena, about 30-45 bytes, against ~150 for a node-based map of
// strings to vectors.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <string_view>
#include <vector>

namespace firstcome::memory_gate {

constexpr int kShardBits = 6;
constexpr std::size_t kShards = std::size_t{1} << kShardBits;

struct Held {
  std::int64_t seq;
  std::int32_t user_seq;
};

inline std::uint64_t HashOf(std::string_view s) { return std::hash<std::string_view>{}(s); }

// An open-addressing hash table from user id to a 64-bit value, with linear
// probing and backward-shift deletion (no tombstones). Keys live in an arena
// as <length byte><bytes>; a slot is 16 bytes. The home slot is derived from
// 32 hash bits (`tag`) by multiply-shift, so the capacity need not be a power
// of two and can grow by 1.5x (less memory slack than doubling). No lock of
// its own: used only under its Shard's mutex.
class UserTable {
 public:
  struct Slot {
    std::uint32_t tag;
    std::uint32_t key;  // arena offset; kEmpty marks a free slot
    std::uint64_t value;
  };
  static constexpr std::uint32_t kEmpty = std::numeric_limits<std::uint32_t>::max();

  static std::uint32_t TagOf(std::uint64_t hash) {
    return static_cast<std::uint32_t>(hash >> (64 - kShardBits - 32));
  }

  std::size_t size() const { return size_; }

  Slot* Find(std::string_view key, std::uint32_t tag) {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = Home(tag);; i = Next(i)) {
      Slot& s = slots_[i];
      if (s.key == kEmpty) return nullptr;
      if (s.tag == tag && KeyAt(s.key) == key) return &s;
    }
  }

  // `key` must be absent. nullptr when the arena is full (4 GiB per shard).
  Slot* Insert(std::string_view key, std::uint32_t tag, std::uint64_t value) {
    if ((size_ + 1) * 100 > slots_.size() * kMaxLoadPercent) {
      Rehash(std::max<std::size_t>(16, slots_.size() + slots_.size() / 2));
    }
    if (arena_.size() + 1 + key.size() >= kEmpty) return nullptr;
    const auto offset = static_cast<std::uint32_t>(arena_.size());
    arena_.push_back(static_cast<char>(key.size()));
    arena_.insert(arena_.end(), key.begin(), key.end());
    std::size_t i = Home(tag);
    while (slots_[i].key != kEmpty) i = Next(i);
    slots_[i] = Slot{tag, offset, value};
    ++size_;
    return &slots_[i];
  }

  void Erase(Slot* slot) {
    garbage_ += 1 + KeyAt(slot->key).size();
    std::size_t hole = static_cast<std::size_t>(slot - slots_.data());
    slots_[hole].key = kEmpty;
    --size_;
    // Backward shift: pull later entries of the probe run into the hole when
    // their home is at or before it, so lookups never need tombstones.
    for (std::size_t j = Next(hole); slots_[j].key != kEmpty; j = Next(j)) {
      const std::size_t home = Home(slots_[j].tag);
      if (Distance(home, j) >= Distance(hole, j)) {
        slots_[hole] = slots_[j];
        slots_[j].key = kEmpty;
        hole = j;
      }
    }
    // Ids of removed users are garbage in the arena; compact once they dominate.
    if (garbage_ > 4096 && garbage_ * 2 > arena_.size()) Rehash(slots_.size());
  }

  void Clear() {
    slots_ = {};
    arena_ = {};
    size_ = 0;
    garbage_ = 0;
  }

  template <class Visit>
  void ForEach(Visit visit) const {
    for (const Slot& s : slots_) {
      if (s.key != kEmpty) visit(KeyAt(s.key), s.value);
    }
  }

 private:
  static constexpr std::size_t kMaxLoadPercent = 85;

  std::size_t Home(std::uint32_t tag) const {
    return static_cast<std::size_t>((static_cast<std::uint64_t>(tag) * slots_.size()) >> 32);
  }
  std::size_t Next(std::size_t i) const { return i + 1 == slots_.size() ? 0 : i + 1; }
  std::size_t Distance(std::size_t from, std::size_t to) const {
    return to >= from ? to - from : to + slots_.size() - from;
  }
  std::string_view KeyAt(std::uint32_t offset) const {
    return {arena_.data() + offset + 1, static_cast<unsigned char>(arena_[offset])};
  }

  void Rehash(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    std::vector<char> old_arena = std::move(arena_);
    slots_.assign(capacity, Slot{0, kEmpty, 0});
    arena_.clear();
    arena_.reserve(old_arena.size() - garbage_ + (old_arena.size() - garbage_) / 2);
    garbage_ = 0;
    for (const Slot& s : old) {
      if (s.key == kEmpty) continue;
      const auto offset = static_cast<std::uint32_t>(arena_.size());
      const std::size_t len = 1 + static_cast<unsigned char>(old_arena[s.key]);
      arena_.insert(arena_.end(), old_arena.begin() + s.key, old_arena.begin() + s.key + len);
      std::size_t i = Home(s.tag);
      while (slots_[i].key != kEmpty) i = Next(i);
      slots_[i] = Slot{s.tag, offset, s.value};
    }
  }

  std::vector<Slot> slots_;
  std::vector<char> arena_;
  std::size_t size_ = 0;
  std::size_t garbage_ = 0;  // arena bytes of erased keys
};

// A slot's value: one holding inline (user_seq in bits 40..55, seq in 0..39;
// seq <= kMaxTotal < 2^30 and user_seq <= kMaxPerUser < 2^16), or, with the
// top bit set, an index into the shard's overflow lists.
constexpr std::uint64_t kOverflowBit = std::uint64_t{1} << 63;
constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << 40) - 1;

inline std::uint64_t InlineValue(Held h) {
  return (static_cast<std::uint64_t>(h.user_seq) << 40) | static_cast<std::uint64_t>(h.seq);
}
inline Held InlineHeld(std::uint64_t v) {
  return Held{static_cast<std::int64_t>(v & kSeqMask), static_cast<std::int32_t>(v >> 40)};
}

// One slice of an event's users. Every member function must be called with
// `mu` held.
class Shard {
 public:
  std::mutex mu;  // guards everything below

  UserTable::Slot* Find(std::string_view user, std::uint32_t tag) { return users_.Find(user, tag); }

  std::size_t CountOf(const UserTable::Slot* s) const {
    if (s == nullptr) return 0;
    return (s->value & kOverflowBit) ? overflow_[Index(s->value)].size() : 1;
  }

  void HeldOf(std::uint64_t value, std::vector<Held>* out) const {
    if (value & kOverflowBit) {
      const auto& list = overflow_[Index(value)];
      out->insert(out->end(), list.begin(), list.end());
    } else {
      out->push_back(InlineHeld(value));
    }
  }

  // Records that the user (found at `slot`, or absent when nullptr) now also
  // holds `h`. False only when the shard is out of arena space.
  bool Add(UserTable::Slot* slot, std::string_view user, std::uint32_t tag, Held h) {
    if (slot == nullptr) return users_.Insert(user, tag, InlineValue(h)) != nullptr;
    if (slot->value & kOverflowBit) {
      overflow_[Index(slot->value)].push_back(h);
      return true;
    }
    std::uint32_t index;
    if (!overflow_free_.empty()) {
      index = overflow_free_.back();
      overflow_free_.pop_back();
    } else {
      index = static_cast<std::uint32_t>(overflow_.size());
      overflow_.emplace_back();
    }
    overflow_[index] = {InlineHeld(slot->value), h};
    slot->value = kOverflowBit | index;
    return true;
  }

  // False when the user does not hold `seq`.
  bool Remove(UserTable::Slot* slot, std::int64_t seq) {
    if (slot == nullptr) return false;
    if (!(slot->value & kOverflowBit)) {
      if (InlineHeld(slot->value).seq != seq) return false;
      users_.Erase(slot);
      return true;
    }
    const std::uint32_t index = Index(slot->value);
    auto& list = overflow_[index];
    auto it = std::find_if(list.begin(), list.end(), [&](const Held& h) { return h.seq == seq; });
    if (it == list.end()) return false;
    list.erase(it);
    if (list.size() == 1) {
      slot->value = InlineValue(list.front());
      list = {};
      overflow_free_.push_back(index);
    }
    return true;
  }

  template <class Visit>
  void ForEach(Visit visit) const {
    std::vector<Held> held;
    users_.ForEach([&](std::string_view user, std::uint64_t value) {
      held.clear();
      HeldOf(value, &held);
      visit(user, held);
    });
  }

  void Clear() {
    users_.Clear();
    overflow_ = {};
    overflow_free_ = {};
  }

 private:
  static std::uint32_t Index(std::uint64_t v) { return static_cast<std::uint32_t>(v); }

  UserTable users_;                           // guarded by mu
  std::vector<std::vector<Held>> overflow_;   // guarded by mu
  std::vector<std::uint32_t> overflow_free_;  // guarded by mu
};

}  // namespace firstcome::memory_gate
