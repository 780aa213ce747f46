// RedisGate: the distributed Gate. One Lua script decides each admission in one
// atomic step on the Redis server; requests are pipelined over a small pool of
// connections. Keys are hash-tagged by event ({event}) so one event lives in
// one cluster slot.
//
// Keys of one incarnation I of event E (all in the slot of "{E}"; events made
// before incarnations existed, I = 0, have no "I:" part):
//   fc:{E}:I:count  admitted count (admissions minus releases)
//   fc:{E}:I:next   highest seq ever handed out
//   fc:{E}:I:users  hash user -> "seq:user_seq[,seq:user_seq...]"
//   fc:{E}:I:free   sorted set of released seqs (score = seq), handed out first
//   fc:{E}:I:total  the event's total (set on the first admission, changed by
//                   SetTotal); "gone" for kGoneMarkerTtl once forgotten
//   fc:{E}:I:pending     hash seq -> "user_seq:admitted_at:claimed:user", the
//                        admissions not yet acknowledged as logged (gate.h)
//   fc:{E}:I:pending_at  sorted set of those seqs, score = admitted_at (ms,
//                        Redis's clock), for the settler's oldest-first claim
// Invariants (kept by the scripts, which Redis runs atomically): count = number
// of (user, seq) pairs in users; every seq in 1..next is either held by exactly
// one user or in free; count <= total and next <= total; a pending seq is
// held by the user its entry names, and pending and pending_at have the same
// seqs.
//
// Thread safety (adds to gate.h):
//   - Admit, Release, Withdraw, Acknowledge: may be called concurrently from
//     any thread; they only queue (a full queue answers Unavailable at once).
//   - SeqsOfUser, AdmittedCount, Snapshot, SetTotal, Rebuild, Forget, Health,
//     ClaimUnlogged: may be called concurrently from any thread; they share
//     one control connection, so they run one at a time.
//   - callbacks: run on one of the `connections` worker threads, one after
//     another for a pipelined batch (a slow one delays the rest); inline on
//     the calling thread when answered at once (cached sold-out flag, full
//     queue); on the destroying thread for requests still queued then.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "gate/gate.h"

namespace firstcome {

struct RedisGateOptions {
  std::string url = "redis://127.0.0.1:6379";  // redis://host:port[/db]
  // High availability (docs/design.md, "Losing a server"). With sentinels
  // ("host:port[,host:port]") the primary is found through them (only the
  // database of `url` is used) and followed through failovers; admissions
  // after the primary changed wait for the failover fence (redis_fence.h).
  std::string sentinels;
  std::string master_name = "firstcome";
  // WAIT for this many replicas after each pipelined batch that admitted
  // someone; fewer in time: the batch's admissions are released and answered
  // Unavailable (nothing taken, nothing logged).
  int wait_replicas = 0;
  // The fence's check: rebuild every event's gate state from the log and the
  // store through the Gate given. Empty: this process waits for another's.
  std::function<Status(Gate&)> check_after_failover;
  // How long the check waits first for in-flight admissions of the old
  // primary to reach the log (the log's delivery timeout and a margin).
  std::chrono::milliseconds fence_grace{3500};
  int connections = 4;
  std::chrono::milliseconds timeout{1000};
  // How long a locally cached sold-out flag is trusted before asking again.
  std::chrono::milliseconds sold_out_cache{500};
  // Bound of the admit queue; a full queue answers Unavailable at once.
  std::size_t max_queued = 10000;
};

// Connects (one control connection, scripts loaded) before returning, so a
// wrong URL or an unreachable Redis is reported here as Unavailable/Invalid.
Result<std::unique_ptr<Gate>> OpenRedisGate(const RedisGateOptions& options);

}  // namespace firstcome
