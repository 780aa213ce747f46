// MemoryGate (see memory_gate.h): the embedded, in-process Gate.
//
// Layout, per event:
//   - 64 shards of users, chosen by the top bits of the user id's hash; each
//     shard is a mutex and a compact open-addressing table (UserTable) whose
//     slot holds the user's single (seq, user_seq) inline. Users holding more
//     than one seq point into a per-shard overflow list instead.
//   - `admitted`, an atomic count, taken with compare-and-swap so it can never
//     pass `total`, the event's total, an atomic the gate holds itself.
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
//   - `total` (the event's, held here: SetTotal changes it) only rises
//     freely; lowering it is one step under seq_mu that refuses when more are
//     admitted or a seq above it is held (see SetTotal and Decide).
//   - Pending admissions (gate.h) are a map seq -> entry under seq_mu, which
//     an admission takes anyway: an entry is added with the seq it names and
//     goes with it (GiveBack) or on Acknowledge.
//   - State is per (event id, incarnation): Forget drops it and remembers the
//     incarnation as gone (Admit answers kGone); a new incarnation of the id
//     starts from nothing. The hot path pays one integer comparison for this.
//
// The shard tables are in memory_user_table.h.
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
#include <unordered_set>

#include "gate/memory_user_table.h"
#include "gate/rebuild_input.h"

namespace firstcome {
namespace {

using memory_gate::HashOf;
using memory_gate::Held;
using memory_gate::kShardBits;
using memory_gate::kShards;
using memory_gate::Shard;
using memory_gate::UserTable;

struct EventState {
  explicit EventState(const Event& event) : incarnation(event.incarnation), total(event.total) {}

  const std::int64_t incarnation;
  std::array<Shard, kShards> shards;      // each guarded by its own mu
  std::atomic<std::int64_t> admitted{0};  // atomic: raised by compare-and-swap
  // The event's total. Atomic: read on every admission without a lock;
  // changed by SetTotal under seq_mu (see Decide and SetTotal for the order).
  std::atomic<std::int64_t> total;
  std::mutex seq_mu;
  std::int64_t next_seq = 0;            // guarded by seq_mu
  std::vector<std::int64_t> free_heap;  // min-heap, guarded by seq_mu
  struct Pending {
    std::string user_id;
    std::int32_t user_seq = 0;
    UnixMillis admitted_at = 0;
    bool claimed = false;
  };
  std::unordered_map<std::int64_t, Pending> pending;  // guarded by seq_mu

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

Status GoneStatus(const Event& event) {
  return Status::NotFound("memory gate: event '" + event.id + "' was deleted");
}

class MemoryGate final : public Gate {
 public:
  explicit MemoryGate(MemoryGateOptions options) : options_(options) {}

  void Admit(const Event& event, std::string_view user_id, AdmitCallback done) override {
    done(*AdmitNow(event, user_id));
  }

  std::optional<Result<Admission>> AdmitNow(const Event& event, std::string_view user_id) override {
    if (Status s = CheckEvent(event); !s.ok()) return Result<Admission>(std::move(s));
    if (Status s = CheckUser(user_id); !s.ok()) return Result<Admission>(std::move(s));
    return Decide(event, user_id);
  }

  void Release(const Event& event, std::string_view user_id, std::int64_t seq,
               DoneCallback done) override {
    Status s = ReleaseNow(event, user_id, seq, false);
    done(std::move(s));
  }

  void Withdraw(const Event& event, std::string_view user_id, std::int64_t seq,
                DoneCallback done) override {
    Status s = ReleaseNow(event, user_id, seq, true);
    done(std::move(s));
  }

  void Acknowledge(const Issuance& record, DoneCallback done) override {
    if (options_.track_pending) {
      std::shared_lock map_lock(mu_);
      if (EventState* state = FindLocked(record.event_id, record.incarnation)) {
        std::lock_guard seq_lock(state->seq_mu);
        auto p = state->pending.find(record.seq);
        if (p != state->pending.end() && p->second.user_id == record.user_id &&
            p->second.user_seq == record.user_seq && p->second.admitted_at == record.issued_at) {
          state->pending.erase(p);
        }
      }
    }
    done(Status::Ok());
  }

  Result<std::vector<Issuance>> ClaimUnlogged(const Event& event, std::chrono::milliseconds age,
                                              std::size_t max) override {
    std::vector<Issuance> claimed;
    if (!options_.track_pending) return claimed;
    std::shared_lock map_lock(mu_);
    EventState* state = FindLocked(event.id, event.incarnation);
    if (state == nullptr) return claimed;
    const UnixMillis cutoff = NowMillis() - age.count();
    std::lock_guard seq_lock(state->seq_mu);
    std::vector<std::pair<UnixMillis, std::int64_t>> old;  // (admitted_at, seq)
    for (const auto& [seq, p] : state->pending) {
      if (p.admitted_at <= cutoff) old.emplace_back(p.admitted_at, seq);
    }
    std::sort(old.begin(), old.end());
    if (old.size() > max) old.resize(max);
    for (const auto& [at, seq] : old) {
      EventState::Pending& p = state->pending.at(seq);
      p.claimed = true;
      claimed.push_back(Issuance{.event_id = event.id,
                                 .user_id = p.user_id,
                                 .seq = seq,
                                 .user_seq = p.user_seq,
                                 .coupon_id = CouponId(event.id, seq),
                                 .issued_at = at,
                                 .incarnation = event.incarnation});
    }
    return claimed;
  }

  Result<std::vector<std::int64_t>> SeqsOfUser(const Event& event,
                                               std::string_view user_id) override {
    std::vector<std::int64_t> seqs;
    if (Status s = CheckUser(user_id); !s.ok()) return s;
    const std::uint64_t hash = HashOf(user_id);
    std::shared_lock map_lock(mu_);
    EventState* state = FindLocked(event);
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
    EventState* state = FindLocked(event);
    return state == nullptr ? std::int64_t{0} : state->admitted.load();
  }

  Result<bool> IsSeqHeld(const Event& event, std::int64_t seq) override {
    std::shared_lock map_lock(mu_);
    EventState* state = FindLocked(event);
    if (state == nullptr || seq < 1) return false;
    std::lock_guard seq_lock(state->seq_mu);
    // Every seq in 1..next_seq is held or free (see the top).
    return seq <= state->next_seq && std::find(state->free_heap.begin(), state->free_heap.end(),
                                               seq) == state->free_heap.end();
  }

  Result<GateSnapshot> Snapshot(const Event& event) override {
    GateSnapshot snap;
    std::shared_lock map_lock(mu_);
    EventState* state = FindLocked(event);
    if (state == nullptr) return snap;
    auto locks = state->LockAll();
    snap.admitted = state->admitted.load();
    snap.next_seq = state->next_seq;
    snap.total = state->total.load();
    snap.free_seqs = state->free_heap;
    std::sort(snap.free_seqs.begin(), snap.free_seqs.end());
    for (const Shard& shard : state->shards) {
      shard.ForEach([&](std::string_view user, const std::vector<Held>& held) {
        GateSnapshot::Holder holder{std::string(user), {}, {}};
        for (const Held& h : held) {
          holder.seqs.push_back(h.seq);
          holder.user_seqs.push_back(h.user_seq);
        }
        snap.holders.push_back(std::move(holder));
      });
    }
    return snap;
  }

  Result<TotalChange> SetTotal(const Event& event, std::int64_t total) override {
    if (Status s = CheckEvent(event); !s.ok()) return s;
    if (total < 1 || total > kMaxTotal) return Status::Invalid("memory gate: total out of range");
    TotalChange change;
    std::shared_lock<std::shared_mutex> map_lock;
    EventState* state = StateFor(event, &map_lock);
    if (state == nullptr) {
      change.verdict = TotalChange::Verdict::kGone;
      return change;
    }
    std::lock_guard seq_lock(state->seq_mu);
    const std::int64_t old = state->total.load();
    if (total >= old) {  // raising: every admission allowed so far still is
      state->total.store(total);
      return change;
    }
    // Lowering. The new total is published before the count is read, and an
    // admitter re-reads the total after raising the count (Decide): with
    // sequentially consistent atomics either this load sees its increment
    // (and refuses), or its re-read sees the new total (and it backs out).
    state->total.store(total);
    const std::int64_t admitted = state->admitted.load();
    if (admitted > total) {
      state->total.store(old);
      change.verdict = TotalChange::Verdict::kBelowAdmitted;
      change.admitted = admitted;
      return change;
    }
    // Seqs above the new total must all be free (none held): they are dropped.
    // Seqs are taken under seq_mu, which is held here.
    if (state->next_seq > total) {
      const auto above = std::count_if(state->free_heap.begin(), state->free_heap.end(),
                                       [&](std::int64_t seq) { return seq > total; });
      if (above != state->next_seq - total) {
        state->total.store(old);
        change.verdict = TotalChange::Verdict::kBelowHeldSeq;
        change.next_seq = state->next_seq;
        return change;
      }
      std::erase_if(state->free_heap, [&](std::int64_t seq) { return seq > total; });
      std::make_heap(state->free_heap.begin(), state->free_heap.end(), std::greater<>());
      state->next_seq = total;
    }
    return change;
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

    {
      // A rebuild is an operator's explicit statement of the incarnation's
      // state (audit --repair): it brings a forgotten one back, as RedisGate's
      // rebuild overwrites its gone marker.
      std::unique_lock exclusive(mu_);
      gone_.erase(std::to_string(event.incarnation) + ':' + event.id);
    }
    std::shared_lock<std::shared_mutex> map_lock;
    EventState* state = StateFor(event, &map_lock);
    if (state == nullptr) return GoneStatus(event);
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
    state->total.store(event.total);
    state->next_seq = max_seq;
    state->free_heap.clear();
    state->pending.clear();  // the rebuilt state is what log and store hold
    for (std::int64_t seq = 1; seq <= max_seq; ++seq) {
      if (held_seqs.count(seq) == 0) state->free_heap.push_back(seq);
    }
    // Ascending order is already a valid min-heap.
    return Status::Ok();
  }

  Status Forget(const Event& event) override {
    std::unique_lock map_lock(mu_);
    MarkGoneLocked(event.id, event.incarnation);
    auto it = events_.find(std::string_view(event.id));
    if (it != events_.end() && it->second->incarnation == event.incarnation) events_.erase(it);
    return Status::Ok();
  }

  Status Health() override { return Status::Ok(); }

 private:
  // Forgotten incarnations remembered at most (a bound on memory; a process
  // deletes rehearsal events, not millions of them).
  static constexpr std::size_t kMaxGone = 10000;

  // The state of the event's incarnation, or null when there is none.
  EventState* FindLocked(const Event& event) { return FindLocked(event.id, event.incarnation); }
  EventState* FindLocked(std::string_view id, std::int64_t incarnation) {
    auto it = events_.find(id);
    if (it == events_.end() || it->second->incarnation != incarnation) return nullptr;
    return it->second.get();
  }

  void MarkGoneLocked(const std::string& id, std::int64_t incarnation) {
    if (gone_.size() >= kMaxGone) gone_.clear();
    gone_.insert(std::to_string(incarnation) + ':' + id);
  }

  // Takes a shared lock on the event map into *lock under which the event's
  // incarnation has a state (made when missing), and returns that state; null
  // when the incarnation was forgotten. Hot path: one shared lock and a lookup.
  EventState* StateFor(const Event& event, std::shared_lock<std::shared_mutex>* lock) {
    for (;;) {
      {
        std::shared_lock shared(mu_);
        if (EventState* state = FindLocked(event)) {
          *lock = std::move(shared);
          return state;
        }
      }
      std::unique_lock exclusive(mu_);
      if (gone_.count(std::to_string(event.incarnation) + ':' + event.id) != 0) return nullptr;
      auto& slot = events_[event.id];
      if (slot != nullptr && slot->incarnation != event.incarnation) {
        // Another incarnation of the id took over (its predecessor was deleted
        // without this gate being told): the old one is gone for good, so
        // two incarnations can never take turns replacing each other.
        MarkGoneLocked(event.id, slot->incarnation);
        slot.reset();
      }
      if (slot == nullptr) slot = std::make_unique<EventState>(event);
      // Forget may run between the exclusive and the shared lock; the loop
      // then finds the incarnation gone.
    }
  }

  Result<Admission> Decide(const Event& event, std::string_view user_id) {
    const std::uint64_t hash = HashOf(user_id);
    const std::uint32_t tag = UserTable::TagOf(hash);
    Admission a;
    std::shared_lock<std::shared_mutex> map_lock;
    EventState* found = StateFor(event, &map_lock);
    if (found == nullptr) {
      a.verdict = AdmitVerdict::kGone;
      return a;
    }
    EventState& state = *found;
    Shard& shard = state.shards[hash >> (64 - kShardBits)];
    std::lock_guard lock(shard.mu);

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
      if (count >= state.total.load()) {
        a.verdict = AdmitVerdict::kSoldOut;
        return a;
      }
    } while (!state.admitted.compare_exchange_weak(count, count + 1));
    // A total lowered meanwhile (SetTotal) is seen here or sees this count.
    if (count + 1 > state.total.load()) {
      state.admitted.fetch_sub(1);
      a.verdict = AdmitVerdict::kSoldOut;
      return a;
    }

    // The lowest user_seq the user does not hold: a released user_seq is
    // reused (its issuance never became durable), as RedisGate does.
    std::int32_t user_seq = 1;
    while (std::any_of(held.begin(), held.end(),
                       [&](const Held& h) { return h.user_seq == user_seq; }))
      ++user_seq;
    const UnixMillis now = NowMillis();
    std::int64_t seq = 0;
    {
      std::lock_guard seq_lock(state.seq_mu);
      if (!state.free_heap.empty()) {
        std::pop_heap(state.free_heap.begin(), state.free_heap.end(), std::greater<>());
        seq = state.free_heap.back();
        state.free_heap.pop_back();
      } else if (state.next_seq < state.total.load()) {
        seq = ++state.next_seq;
      }
      if (seq != 0 && options_.track_pending) {
        state.pending[seq] = EventState::Pending{std::string(user_id), user_seq, now, false};
      }
    }
    if (seq == 0) {
      // Unreachable while the invariant A <= admitted holds (see the top).
      state.admitted.fetch_sub(1);
      return Status::Internal("memory gate: no seq left below total although the count allows");
    }
    if (!shard.Add(slot, user_id, tag, Held{seq, user_seq})) {
      GiveBack(state, seq);
      return Status::Unavailable("memory gate: shard is full");
    }
    a.verdict = AdmitVerdict::kAdmitted;
    a.seq = seq;
    a.user_seq = user_seq;
    a.admitted_at = now;
    return a;
  }

  // Frees `seq` (its pending admission goes with it) and then lowers the
  // count (this order keeps A <= admitted).
  static void GiveBack(EventState& state, std::int64_t seq) {
    {
      std::lock_guard seq_lock(state.seq_mu);
      state.pending.erase(seq);
      state.free_heap.push_back(seq);
      std::push_heap(state.free_heap.begin(), state.free_heap.end(), std::greater<>());
    }
    state.admitted.fetch_sub(1, std::memory_order_acq_rel);
  }

  // Release, or with `only_unclaimed` Withdraw (gate.h).
  Status ReleaseNow(const Event& event, std::string_view user_id, std::int64_t seq,
                    bool only_unclaimed) {
    if (Status s = CheckUser(user_id); !s.ok()) return s;
    const std::uint64_t hash = HashOf(user_id);
    const Status not_held = Status::NotFound("memory gate: the user does not hold that seq");
    std::shared_lock map_lock(mu_);
    EventState* state = FindLocked(event);
    if (state == nullptr) return not_held;
    Shard& shard = state->shards[hash >> (64 - kShardBits)];
    std::lock_guard lock(shard.mu);
    UserTable::Slot* slot = shard.Find(user_id, UserTable::TagOf(hash));
    if (only_unclaimed && options_.track_pending) {
      std::lock_guard seq_lock(state->seq_mu);
      auto p = state->pending.find(seq);
      if (p == state->pending.end() || p->second.user_id != user_id || p->second.claimed) {
        std::vector<Held> held;
        if (shard.CountOf(slot) > 0) shard.HeldOf(slot->value, &held);
        const bool holds =
            std::any_of(held.begin(), held.end(), [&](const Held& h) { return h.seq == seq; });
        if (!holds) return not_held;
        return Status::Exists("memory gate: the admission was claimed by a settler (it is logged)");
      }
    }
    if (!shard.Remove(slot, seq)) return not_held;
    GiveBack(*state, seq);
    return Status::Ok();
  }

  const MemoryGateOptions options_;
  // Guards the map (exclusive to add or erase an event, shared to use one);
  // each event state guards itself.
  std::shared_mutex mu_;
  // guarded by mu_; one state per event id, of its current incarnation
  std::unordered_map<std::string, std::unique_ptr<EventState>, IdHash, std::equal_to<>> events_;
  // guarded by mu_; "<incarnation>:<id>" of every forgotten incarnation
  std::unordered_set<std::string> gone_;
};

}  // namespace

std::unique_ptr<Gate> NewMemoryGate(MemoryGateOptions options) {
  return std::make_unique<MemoryGate>(options);
}

}  // namespace firstcome
