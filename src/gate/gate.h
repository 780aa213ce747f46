// The Gate port: decides, atomically and per request, whether a user gets a
// coupon of an event, and assigns its seq.
//
// The gate holds each event's total itself: Event::total only seeds it the
// first time the gate sees the event (or on Rebuild); SetTotal changes it for
// every process sharing the gate at once.
//
// Invariants every implementation keeps, across any number of API processes
// sharing it:
//   - admitted(event) never exceeds the event's total held by the gate;
//   - a user never holds more than event.per_user admissions;
//   - a seq is held by at most one user; seqs are 1..total. A released seq
//     is handed out again before any new one (so seqs stay dense);
//   - a rejection (already_issued, sold_out, gone) changes nothing;
//   - state is per (event id, incarnation): an incarnation that was
//     forgotten (its event deleted) admits nobody again (kGone), and a new
//     incarnation of the id starts empty.
//   - every admission is *pending* (recorded with its user, seq, user_seq and
//     admission time) until Acknowledge says the log holds its record, Release
//     or Withdraw gives it back, or Rebuild/Forget replace the state. A pending
//     admission is either unclaimed or claimed (ClaimUnlogged); a claimed one
//     is never withdrawn: a settler is logging it (docs/design.md, "API crash
//     self-healing").
// Implementations: MemoryGate (in-process, src/gate/memory_gate.*) and
// RedisGate (one Lua script per decision, src/gate/redis_gate.*).
//
// Thread safety:
//   - every Gate method: may be called concurrently from any thread.
//   - callbacks (Admit's and Release's `done`): run exactly once, inline on
//     the calling thread before the call returns or on a gate thread (each
//     implementation says which), never with a gate lock held; must not
//     block (they hold up other answers); may call back into Admit and
//     Release.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace firstcome {

// How long a forgotten incarnation is remembered as gone by a shared gate.
// An API process whose catalog still shows a deleted event (it could not
// reach the store since) is refused admissions this long; see docs/design.md.
inline constexpr std::chrono::hours kGoneMarkerTtl{24};

// kGone: the event's incarnation was forgotten (deleted); a process whose
// catalog has not seen the deletion yet hears this instead of an admission.
enum class AdmitVerdict { kAdmitted, kAlreadyIssued, kSoldOut, kGone };

struct Admission {
  AdmitVerdict verdict = AdmitVerdict::kSoldOut;
  std::int64_t seq = 0;       // kAdmitted: the seq just taken
  std::int32_t user_seq = 0;  // kAdmitted: this is the user's n-th coupon (1-based)
  // kAdmitted: when the gate recorded the admission as pending (its clock;
  // Redis's for RedisGate). The record's issued_at, so every copy of the
  // record (the issuer's, a resend, a settler's) is the same issuance.
  UnixMillis admitted_at = 0;
  // kAlreadyIssued: the seqs the user holds (may be empty when the answer came
  // from a cached sold-out flag).
  std::vector<std::int64_t> held_seqs;
};

// Everything the gate knows about one event, for audit and repair.
struct GateSnapshot {
  std::int64_t admitted = 0;  // current count (admissions minus releases)
  std::int64_t next_seq = 0;  // highest seq ever handed out
  struct Holder {
    std::string user_id;
    std::vector<std::int64_t> seqs;
    std::vector<std::int32_t> user_seqs;  // user_seqs[i] is the user_seq of seqs[i]
  };
  std::vector<Holder> holders;
  std::vector<std::int64_t> free_seqs;  // released, waiting to be handed out again
  std::int64_t total = 0;               // the total the gate holds (0: not set yet)
};

// What SetTotal did.
struct TotalChange {
  enum class Verdict {
    kChanged,
    kBelowAdmitted,  // more are admitted than the new total
    kBelowHeldSeq,   // a seq above the new total is held (seqs stay in 1..total)
    kGone,           // the incarnation was forgotten
  };
  Verdict verdict = Verdict::kChanged;
  std::int64_t admitted = 0;  // kBelowAdmitted: the admitted count
  std::int64_t next_seq = 0;  // kBelowHeldSeq: the highest seq handed out
};

class Gate {
 public:
  using AdmitCallback = std::function<void(Result<Admission>)>;
  using DoneCallback = std::function<void(Status)>;

  virtual ~Gate() = default;

  // Hot path. One atomic decision for (event, user). Never blocks on I/O: the
  // callback runs exactly once (see Thread safety above).
  // An error Status means nothing was decided (caller answers 503).
  virtual void Admit(const Event& event, std::string_view user_id, AdmitCallback done) = 0;

  // Gives a held seq back whatever its record's state (a revocation, a
  // repair): the user no longer holds `seq`, the count drops by one, `seq`
  // becomes free again, and its pending admission (if any) goes with it.
  // The issuer undoes its own admissions with Withdraw instead.
  virtual void Release(const Event& event, std::string_view user_id, std::int64_t seq,
                       DoneCallback done) = 0;

  // Withdraw: the issuer's undo of its own admission whose record certainly
  // did not reach the log. Like Release, but only while the admission is
  // pending and unclaimed: once a settler claimed it (or already logged it
  // and acknowledged it) its record is, or is being, logged, so the seq must
  // stay the user's. Refused with Status::Exists then; NotFound when the user
  // does not hold the seq.
  virtual void Withdraw(const Event& event, std::string_view user_id, std::int64_t seq,
                        DoneCallback done) = 0;

  // The log holds `record` (an admission's issuance): it is no longer pending.
  // A no-op when the pending admission of that seq is another one (other user,
  // user_seq or admitted_at) or there is none. Never blocks on I/O; `done`
  // runs as Release's.
  virtual void Acknowledge(const Issuance& record, DoneCallback done) = 0;

  // Claims up to `max` pending admissions of the event admitted at least `age`
  // ago (by the gate's clock), oldest first, and returns them as issuance
  // records (admitted_at as issued_at). Claimed ones stay pending (and are
  // returned again) until acknowledged: a settler that dies mid-way leaves
  // them to the next pass. Blocking, with a timeout.
  virtual Result<std::vector<Issuance>> ClaimUnlogged(const Event& event,
                                                      std::chrono::milliseconds age,
                                                      std::size_t max) = 0;

  // The seqs a user holds (empty when none). Blocking, with a timeout.
  virtual Result<std::vector<std::int64_t>> SeqsOfUser(const Event& event,
                                                       std::string_view user_id) = 0;
  // Current admitted count. Blocking, with a timeout.
  virtual Result<std::int64_t> AdmittedCount(const Event& event) = 0;
  // Whether some user holds `seq` now (handed out, not released). Blocking,
  // with a timeout.
  virtual Result<bool> IsSeqHeld(const Event& event, std::int64_t seq) = 0;

  // Full state of one event (audit). Blocking.
  virtual Result<GateSnapshot> Snapshot(const Event& event) = 0;

  // Sets the event's total to `total` in one atomic step, for every process
  // sharing the gate. Refused (nothing changes) when more than `total` are
  // admitted, or when a seq above `total` is held; otherwise the free seqs
  // above it are dropped and next_seq is lowered to it, so seqs stay dense in
  // 1..total. Blocking, with a timeout.
  virtual Result<TotalChange> SetTotal(const Event& event, std::int64_t total) = 0;

  // Replaces the gate's state for `event` by the given issuances (from the log
  // or the store): count, holders, next_seq = max seq, every seq below it not
  // held becomes free, and the total is event.total. Used on start (memory)
  // and by `audit --repair`; it also brings back a forgotten incarnation.
  virtual Status Rebuild(const Event& event, const std::vector<Issuance>& issuances) = 0;

  // Forgets the event's incarnation (its event is deleted): its state goes,
  // and Admit of that incarnation answers kGone from then on (RedisGate: for
  // kGoneMarkerTtl). Blocking.
  virtual Status Forget(const Event& event) = 0;

  // ok when the gate can decide right now.
  virtual Status Health() = 0;
};

}  // namespace firstcome
