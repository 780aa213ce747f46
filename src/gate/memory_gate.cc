// MemoryGate (see memory_gate.h): the embedded, in-process Gate.
//
// Layout, per event:
//   - 64 shards of users, chosen by the top bits of the user id's hash; each
//     shard is a mutex and a compact open-addressing table (UserTable) whose
//     slot holds the user's single (seq, user_seq) inline. Users holding more
//     than one seq point into a per-shard overflow list instead.
//   - `admitted`, an atomic count, taken with compare-and-swap so it can never
//     pass `total`.
//   - `next_seq` and a min-heap of released seqs, under a small mutex that is
//     only taken when a seq is handed out or given back (at most `total` times
//     plus releases), never on a rejection.
//
// Invariants:
//   - Admit and Release run entirely under the user's shard mutex, so a user's
//     holdings change one decision at a time; Snapshot and Rebuild take every
//     shard mutex and therefore see or replace a state with no decision half made.
//   - Let A = next_seq - |free|, the seqs handed out. Admit raises `admitted`
//     before it takes a seq; Release frees the seq before it lowers `admitted`.
//     So A <= admitted <= total at every moment, and when the free heap is empty
//     an admitter that won the count always finds next_seq < total.
//   - Locks are ordered map -> shard(s, ascending) -> seq; callbacks run after
//     every lock is released, so a callback may call the gate again.
//
// Memory (the reason for the custom table): at per_user = 1 a user costs one
// 16-byte slot (load factor 0.57..0.85) plus its id (length byte + bytes) in
// the shard's arena, about 30-45 bytes, against ~150 for a node-based map of
// strings to vectors.
#include "gate/memory_gate.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>

#include "gate/rebuild_input.h"

namespace firstcome {
namespace {

constexpr int kShardBits = 6;
constexpr std::size_t kShards = std::size_t{1} << kShardBits;

struct Held {
  std::int64_t seq;
  std::int32_t user_seq;
};

std::uint64_t HashOf(std::string_view s) { return std::hash<std::string_view>{}(s); }

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

std::uint64_t InlineValue(Held h) {
  return (static_cast<std::uint64_t>(h.user_seq) << 40) | static_cast<std::uint64_t>(h.seq);
}
Held InlineHeld(std::uint64_t v) {
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

struct EventState {
  std::array<Shard, kShards> shards;      // each guarded by its own mu
  std::atomic<std::int64_t> admitted{0};  // atomic: raised by compare-and-swap
  std::mutex seq_mu;
  std::int64_t next_seq = 0;            // guarded by seq_mu
  std::vector<std::int64_t> free_heap;  // min-heap, guarded by seq_mu

  // Every shard and the seq mutex, in lock order.
  std::vector<std::unique_lock<std::mutex>> LockAll() {
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(kShards + 1);
    for (Shard& s : shards) locks.emplace_back(s.mu);
    locks.emplace_back(seq_mu);
    return locks;
  }
};

struct IdHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return HashOf(s); }
};

Status CheckEvent(const Event& event) {
  if (event.id.empty() || event.total < 1 || event.total > kMaxTotal || event.per_user < 1 ||
      event.per_user > kMaxPerUser) {
    return Status::Invalid("memory gate: event '" + event.id + "' has no valid total/per_user");
  }
  return Status::Ok();
}

Status CheckUser(std::string_view user_id) {
  if (user_id.empty() || user_id.size() > kMaxIdLength) {
    return Status::Invalid("memory gate: user id must be 1.." + std::to_string(kMaxIdLength) +
                           " characters");
  }
  return Status::Ok();
}

class MemoryGate final : public Gate {
 public:
  void Admit(const Event& event, std::string_view user_id, AdmitCallback done) override {
    if (Status s = CheckEvent(event); !s.ok()) return done(std::move(s));
    if (Status s = CheckUser(user_id); !s.ok()) return done(std::move(s));
    Result<Admission> answer = Decide(event, user_id);
    done(std::move(answer));
  }

  void Release(const Event& event, std::string_view user_id, std::int64_t seq,
               DoneCallback done) override {
    Status s = ReleaseNow(event, user_id, seq);
    done(std::move(s));
  }

  Result<std::vector<std::int64_t>> SeqsOfUser(const Event& event,
                                               std::string_view user_id) override {
    std::vector<std::int64_t> seqs;
    if (Status s = CheckUser(user_id); !s.ok()) return s;
    const std::uint64_t hash = HashOf(user_id);
    std::shared_lock map_lock(mu_);
    EventState* state = FindLocked(event.id);
    if (state == nullptr) return seqs;
    Shard& shard = state->shards[hash >> (64 - kShardBits)];
    std::lock_guard lock(shard.mu);
    if (auto* slot = shard.Find(user_id, UserTable::TagOf(hash))) {
      std::vector<Held> held;
      shard.HeldOf(slot->value, &held);
      for (const Held& h : held) seqs.push_back(h.seq);
    }
    return seqs;
  }

  Result<std::int64_t> AdmittedCount(const Event& event) override {
    std::shared_lock map_lock(mu_);
    EventState* state = FindLocked(event.id);
    return state == nullptr ? std::int64_t{0} : state->admitted.load();
  }

  Result<GateSnapshot> Snapshot(const Event& event) override {
    GateSnapshot snap;
    std::shared_lock map_lock(mu_);
    EventState* state = FindLocked(event.id);
    if (state == nullptr) return snap;
    auto locks = state->LockAll();
    snap.admitted = state->admitted.load();
    snap.next_seq = state->next_seq;
    snap.free_seqs = state->free_heap;
    std::sort(snap.free_seqs.begin(), snap.free_seqs.end());
    for (const Shard& shard : state->shards) {
      shard.ForEach([&](std::string_view user, const std::vector<Held>& held) {
        GateSnapshot::Holder holder{std::string(user), {}};
        for (const Held& h : held) holder.seqs.push_back(h.seq);
        snap.holders.push_back(std::move(holder));
      });
    }
    return snap;
  }

  Status Rebuild(const Event& event, const std::vector<Issuance>& issuances) override {
    if (Status s = CheckEvent(event); !s.ok()) return s;
    // Validate everything before touching the live state: a refused rebuild
    // leaves the gate as it was.
    auto input = CheckRebuildInput(
        event, issuances, RebuildRules{.check_user = &CheckUser, .max_user_seq = kMaxPerUser});
    if (!input.ok()) return input.status();
    const std::set<std::int64_t>& held_seqs = input->held_seqs;
    const std::int64_t max_seq = input->max_seq;

    std::shared_lock map_lock = SharedLockWith(event.id);
    EventState* state = FindLocked(event.id);
    auto locks = state->LockAll();
    for (Shard& shard : state->shards) shard.Clear();
    for (const Issuance& i : issuances) {
      const std::uint64_t hash = HashOf(i.user_id);
      const std::uint32_t tag = UserTable::TagOf(hash);
      Shard& shard = state->shards[hash >> (64 - kShardBits)];
      if (!shard.Add(shard.Find(i.user_id, tag), i.user_id, tag, Held{i.seq, i.user_seq})) {
        return Status::Internal("rebuild: memory gate shard is full");
      }
    }
    state->admitted.store(static_cast<std::int64_t>(held_seqs.size()));
    state->next_seq = max_seq;
    state->free_heap.clear();
    for (std::int64_t seq = 1; seq <= max_seq; ++seq) {
      if (held_seqs.count(seq) == 0) state->free_heap.push_back(seq);
    }
    // Ascending order is already a valid min-heap.
    return Status::Ok();
  }

  Status Forget(const Event& event) override {
    std::unique_lock map_lock(mu_);
    auto it = events_.find(std::string_view(event.id));
    if (it != events_.end()) events_.erase(it);
    return Status::Ok();
  }

  Status Health() override { return Status::Ok(); }

 private:
  EventState* FindLocked(std::string_view event_id) {
    auto it = events_.find(event_id);
    return it == events_.end() ? nullptr : it->second.get();
  }

  // A shared lock on the event map under which `event_id` exists.
  std::shared_lock<std::shared_mutex> SharedLockWith(const std::string& event_id) {
    // Forget may run between the exclusive and the shared lock; it is only
    // used for deleted events, so creating the (empty) state again is harmless.
    for (;;) {
      {
        std::shared_lock lock(mu_);
        if (FindLocked(event_id) != nullptr) return lock;
      }
      std::unique_lock lock(mu_);
      events_.try_emplace(event_id, std::make_unique<EventState>());
    }
  }

  Result<Admission> Decide(const Event& event, std::string_view user_id) {
    const std::uint64_t hash = HashOf(user_id);
    const std::uint32_t tag = UserTable::TagOf(hash);
    std::shared_lock map_lock = SharedLockWith(event.id);
    EventState& state = *FindLocked(event.id);
    Shard& shard = state.shards[hash >> (64 - kShardBits)];
    std::lock_guard lock(shard.mu);

    Admission a;
    UserTable::Slot* slot = shard.Find(user_id, tag);
    const std::size_t held_count = shard.CountOf(slot);
    std::vector<Held> held;
    if (held_count > 0) shard.HeldOf(slot->value, &held);
    // The user first: a holder asking again after the sell-out hears already_issued.
    if (held_count >= static_cast<std::size_t>(event.per_user)) {
      a.verdict = AdmitVerdict::kAlreadyIssued;
      for (const Held& h : held) a.held_seqs.push_back(h.seq);
      return a;
    }
    std::int64_t count = state.admitted.load(std::memory_order_relaxed);
    do {
      if (count >= event.total) {
        a.verdict = AdmitVerdict::kSoldOut;
        return a;
      }
    } while (!state.admitted.compare_exchange_weak(count, count + 1, std::memory_order_acq_rel));

    std::int64_t seq = 0;
    {
      std::lock_guard seq_lock(state.seq_mu);
      if (!state.free_heap.empty()) {
        std::pop_heap(state.free_heap.begin(), state.free_heap.end(), std::greater<>());
        seq = state.free_heap.back();
        state.free_heap.pop_back();
      } else if (state.next_seq < event.total) {
        seq = ++state.next_seq;
      }
    }
    if (seq == 0) {
      // Unreachable while the invariant A <= admitted holds (see the top).
      state.admitted.fetch_sub(1);
      return Status::Internal("memory gate: no seq left below total although the count allows");
    }
    // The lowest user_seq the user does not hold: a released user_seq is
    // reused (its issuance never became durable), as RedisGate does.
    std::int32_t user_seq = 1;
    while (std::any_of(held.begin(), held.end(),
                       [&](const Held& h) { return h.user_seq == user_seq; }))
      ++user_seq;
    if (!shard.Add(slot, user_id, tag, Held{seq, user_seq})) {
      GiveBack(state, seq);
      return Status::Unavailable("memory gate: shard is full");
    }
    a.verdict = AdmitVerdict::kAdmitted;
    a.seq = seq;
    a.user_seq = user_seq;
    return a;
  }

  // Frees `seq` and then lowers the count (this order keeps A <= admitted).
  static void GiveBack(EventState& state, std::int64_t seq) {
    {
      std::lock_guard seq_lock(state.seq_mu);
      state.free_heap.push_back(seq);
      std::push_heap(state.free_heap.begin(), state.free_heap.end(), std::greater<>());
    }
    state.admitted.fetch_sub(1, std::memory_order_acq_rel);
  }

  Status ReleaseNow(const Event& event, std::string_view user_id, std::int64_t seq) {
    if (Status s = CheckUser(user_id); !s.ok()) return s;
    const std::uint64_t hash = HashOf(user_id);
    std::shared_lock map_lock(mu_);
    EventState* state = FindLocked(event.id);
    if (state == nullptr) return Status::NotFound("memory gate: the user does not hold that seq");
    Shard& shard = state->shards[hash >> (64 - kShardBits)];
    std::lock_guard lock(shard.mu);
    if (!shard.Remove(shard.Find(user_id, UserTable::TagOf(hash)), seq)) {
      return Status::NotFound("memory gate: the user does not hold that seq");
    }
    GiveBack(*state, seq);
    return Status::Ok();
  }

  // Guards the map (exclusive to add or erase an event, shared to use one);
  // each event state guards itself.
  std::shared_mutex mu_;
  // guarded by mu_
  std::unordered_map<std::string, std::unique_ptr<EventState>, IdHash, std::equal_to<>> events_;
};

}  // namespace

std::unique_ptr<Gate> NewMemoryGate() { return std::make_unique<MemoryGate>(); }

}  // namespace firstcome
