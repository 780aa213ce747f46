// The Gate port: decides, atomically and per request, whether a user gets a
// coupon of an event, and assigns its seq.
//
// Invariants every implementation keeps, across any number of API processes
// sharing it:
//   - admitted(event) never exceeds event.total;
//   - a user never holds more than event.per_user admissions;
//   - a seq is held by at most one user; seqs are 1..total. A released seq
//     is handed out again before any new one (so seqs stay dense);
//   - a rejection (already_issued, sold_out) changes nothing.
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

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace firstcome {

enum class AdmitVerdict { kAdmitted, kAlreadyIssued, kSoldOut };

struct Admission {
  AdmitVerdict verdict = AdmitVerdict::kSoldOut;
  std::int64_t seq = 0;       // kAdmitted: the seq just taken
  std::int32_t user_seq = 0;  // kAdmitted: this is the user's n-th coupon (1-based)
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
  };
  std::vector<Holder> holders;
  std::vector<std::int64_t> free_seqs;  // released, waiting to be handed out again
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

  // Undo an admission whose issuance could not be made durable: the user no
  // longer holds `seq`, the count drops by one and `seq` becomes free again.
  virtual void Release(const Event& event, std::string_view user_id, std::int64_t seq,
                       DoneCallback done) = 0;

  // The seqs a user holds (empty when none). Blocking, with a timeout.
  virtual Result<std::vector<std::int64_t>> SeqsOfUser(const Event& event,
                                                       std::string_view user_id) = 0;
  // Current admitted count. Blocking, with a timeout.
  virtual Result<std::int64_t> AdmittedCount(const Event& event) = 0;

  // Full state of one event (audit). Blocking.
  virtual Result<GateSnapshot> Snapshot(const Event& event) = 0;

  // Replaces the gate's state for `event` by the given issuances (from the log
  // or the store): count, holders, next_seq = max seq, and every seq below it
  // not held becomes free. Used on start (memory) and by `audit --repair`.
  virtual Status Rebuild(const Event& event, const std::vector<Issuance>& issuances) = 0;

  // Forgets an event entirely (used when it is deleted). Blocking.
  virtual Status Forget(const Event& event) = 0;

  // ok when the gate can decide right now.
  virtual Status Health() = 0;
};

}  // namespace firstcome
